#ifndef PROFILES_APPS_QML_CLIENT_CORE_RECORD_IO_H_
#define PROFILES_APPS_QML_CLIENT_CORE_RECORD_IO_H_

// The framing of the client's store files (journal and snapshot).
//
// Written by hand on purpose: protobuf's delimited-message helpers
// (google/protobuf/util/delimited_message_util.h) write a bare varint length
// with no checksum, so a torn or bit-flipped tail cannot be told apart from a
// valid record, and Qt has no record log. A store file is
//
//   magic    the 4 bytes "PRFS"
//   frames   repeated until the end of the file:
//     length   uint32 little-endian: payload bytes, at most kMaxFramePayload
//     crc      uint32 little-endian: CRC-32 (IEEE 802.3) of the 4 length
//              bytes followed by the payload
//     payload  one serialized protobuf message
//
// A reader stops at the first frame that is incomplete (a torn write) or
// whose length or checksum is wrong (corruption); everything before it is
// intact. This framing has been the same since schema version 1.
//
// All functions are thread-compatible; a FrameReader is used by one thread.

#include <QtCore/QIODevice>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace profiles::client {

inline constexpr std::string_view kFileMagic = "PRFS";
inline constexpr size_t kFrameHeaderBytes = 8;
// Far above any real record (an avatar is at most 256 KiB); a larger length
// can only be corruption.
inline constexpr uint32_t kMaxFramePayload = 16 * 1024 * 1024;

// CRC-32 (IEEE 802.3; computed by zlib's crc32) of `data`, continuing from
// `crc` (the result for the bytes before `data`).
uint32_t Crc32(std::string_view data, uint32_t crc = 0);

// The frame holding `payload`. REQUIRES: payload.size() <= kMaxFramePayload.
std::string EncodeFrame(std::string_view payload);
// Writes the kFrameHeaderBytes of the frame of `payload` at `header`, for a
// caller that builds frames in place (payload right after the header).
// REQUIRES: payload.size() <= kMaxFramePayload.
void WriteFrameHeader(std::string_view payload, char* header);

enum class FrameStatus {
  kOk,          // a frame was read
  kEnd,         // clean end of the file
  kTorn,        // the file ends inside a frame
  kCorrupt,     // a length above kMaxFramePayload or a checksum mismatch
  kUnreadable,  // the device failed to read (an I/O error, not a bad file)
};

// The payload of the one whole frame `frame` holds (header and payload,
// nothing after): kOk, kTorn if it is shorter than its length says or
// longer, kCorrupt for a bad length or checksum. Used to read one record
// back from where it was written (stored_picture.h).
FrameStatus DecodeFrame(std::string_view frame, std::string_view* payload);

// Reads frames sequentially from `device` (a random-access one: a file or a
// buffer), which must stay open, positioned where the reader left it and not
// grow while read. Does not own `device`.
class FrameReader {
 public:
  explicit FrameReader(QIODevice* device);

  // Reads the next frame's payload into `*payload`. After anything but kOk,
  // the reader must not be used again.
  FrameStatus Next(std::string* payload);

  // The offset just after the last good frame (or the start position).
  qint64 good_end() const { return good_end_; }

 private:
  QIODevice* device_;
  // Taken once: QFile::size() is an fstat(2) per call, and a store of
  // 10,000 profiles has as many frames.
  qint64 size_;
  qint64 good_end_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_RECORD_IO_H_
