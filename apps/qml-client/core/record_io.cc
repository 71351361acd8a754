#include "apps/qml-client/core/record_io.h"

#include <zlib.h>

namespace profiles::client {
namespace {

void PutLittleEndian32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

uint32_t GetLittleEndian32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

}  // namespace

uint32_t Crc32(std::string_view data, uint32_t crc) {
  // zlib's table-driven (and, where available, vectorised) CRC-32 is the
  // same IEEE polynomial and continuation convention as the framing's.
  return static_cast<uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

void WriteFrameHeader(std::string_view payload, char* header) {
  PutLittleEndian32(static_cast<uint32_t>(payload.size()), header);
  const uint32_t crc = Crc32(payload, Crc32(std::string_view(header, 4)));
  PutLittleEndian32(crc, header + 4);
}

std::string EncodeFrame(std::string_view payload) {
  std::string frame(kFrameHeaderBytes, '\0');
  WriteFrameHeader(payload, frame.data());
  frame.append(payload);
  return frame;
}

FrameStatus DecodeFrame(std::string_view frame, std::string_view* payload) {
  if (frame.size() < kFrameHeaderBytes) return FrameStatus::kTorn;
  const uint32_t length = GetLittleEndian32(frame.data());
  if (length > kMaxFramePayload) return FrameStatus::kCorrupt;
  if (frame.size() != kFrameHeaderBytes + length) return FrameStatus::kTorn;
  const std::string_view bytes = frame.substr(kFrameHeaderBytes);
  if (Crc32(bytes, Crc32(frame.substr(0, 4))) != GetLittleEndian32(frame.data() + 4)) {
    return FrameStatus::kCorrupt;
  }
  *payload = bytes;
  return FrameStatus::kOk;
}

FrameReader::FrameReader(QIODevice* device)
    : device_(device), size_(device->size()), good_end_(device->pos()) {}

// The size is known, so a read that returns less than is there is the
// device failing (kUnreadable), never a torn file: telling the two apart
// keeps an I/O error from being "repaired" by cutting good records off.
FrameStatus FrameReader::Next(std::string* payload) {
  const qint64 available = size_ - device_->pos();
  if (available <= 0) return FrameStatus::kEnd;
  if (available < static_cast<qint64>(kFrameHeaderBytes)) return FrameStatus::kTorn;
  char header[kFrameHeaderBytes];
  if (device_->read(header, kFrameHeaderBytes) != static_cast<qint64>(kFrameHeaderBytes)) {
    return FrameStatus::kUnreadable;
  }
  const uint32_t length = GetLittleEndian32(header);
  if (length > kMaxFramePayload) return FrameStatus::kCorrupt;
  if (length > available - static_cast<qint64>(kFrameHeaderBytes)) return FrameStatus::kTorn;
  payload->resize(length);
  if (device_->read(payload->data(), length) != static_cast<qint64>(length)) {
    return FrameStatus::kUnreadable;
  }
  if (Crc32(*payload, Crc32(std::string_view(header, 4))) != GetLittleEndian32(header + 4)) {
    return FrameStatus::kCorrupt;
  }
  good_end_ += static_cast<qint64>(kFrameHeaderBytes) + length;
  return FrameStatus::kOk;
}

}  // namespace profiles::client
