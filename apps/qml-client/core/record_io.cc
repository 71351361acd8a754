#include "apps/qml-client/core/record_io.h"

#include <array>

namespace profiles::client {
namespace {

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

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
  crc = ~crc;
  for (unsigned char byte : data) crc = kCrcTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::string EncodeFrame(std::string_view payload) {
  std::string frame(kFrameHeaderBytes, '\0');
  PutLittleEndian32(static_cast<uint32_t>(payload.size()), frame.data());
  const uint32_t crc = Crc32(payload, Crc32(std::string_view(frame.data(), 4)));
  PutLittleEndian32(crc, frame.data() + 4);
  frame.append(payload);
  return frame;
}

FrameReader::FrameReader(QIODevice* device) : device_(device), good_end_(device->pos()) {}

FrameStatus FrameReader::Next(std::string* payload) {
  char header[kFrameHeaderBytes];
  const qint64 got = device_->read(header, kFrameHeaderBytes);
  if (got == 0) return FrameStatus::kEnd;
  if (got != static_cast<qint64>(kFrameHeaderBytes)) return FrameStatus::kTorn;
  const uint32_t length = GetLittleEndian32(header);
  if (length > kMaxFramePayload) return FrameStatus::kCorrupt;
  if (length > device_->bytesAvailable()) return FrameStatus::kTorn;
  payload->resize(length);
  if (device_->read(payload->data(), length) != static_cast<qint64>(length)) {
    return FrameStatus::kTorn;
  }
  if (Crc32(*payload, Crc32(std::string_view(header, 4))) != GetLittleEndian32(header + 4)) {
    return FrameStatus::kCorrupt;
  }
  good_end_ += static_cast<qint64>(kFrameHeaderBytes) + length;
  return FrameStatus::kOk;
}

}  // namespace profiles::client
