#include "apps/qml-client/core/record_io.h"

#include <QtCore/QBuffer>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace profiles::client {
namespace {

TEST(Crc32, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32("6789", Crc32("12345")), 0xCBF43926u);
}

// Bytes written by the hand-rolled CRC-32 this code used before zlib's: files
// of earlier releases must keep reading.
TEST(Crc32, FramesAreByteIdenticalToEarlierReleases) {
  const std::string frame(
      "\x0a\x00\x00\x00\x42\xba\x85\x6f"
      "PRFS frame",
      18);
  EXPECT_EQ(EncodeFrame("PRFS frame"), frame);
  std::string big(3 * 1024 * 1024 + 7, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  const std::string_view view(big);
  EXPECT_EQ(Crc32(view), Crc32(view.substr(5), Crc32(view.substr(0, 5))));
}

FrameStatus ReadOne(const std::string& bytes, std::string* payload) {
  QByteArray data(bytes.data(), static_cast<qsizetype>(bytes.size()));
  QBuffer buffer(&data);
  buffer.open(QIODevice::ReadOnly);
  FrameReader reader(&buffer);
  return reader.Next(payload);
}

TEST(FrameReader, ReadsFramesBackAndStopsCleanlyAtTheEnd) {
  const std::string bytes = EncodeFrame("first") + EncodeFrame("") + EncodeFrame("third");
  QByteArray data(bytes.data(), static_cast<qsizetype>(bytes.size()));
  QBuffer buffer(&data);
  buffer.open(QIODevice::ReadOnly);
  FrameReader reader(&buffer);
  std::string payload;
  ASSERT_EQ(reader.Next(&payload), FrameStatus::kOk);
  EXPECT_EQ(payload, "first");
  ASSERT_EQ(reader.Next(&payload), FrameStatus::kOk);
  EXPECT_EQ(payload, "");
  ASSERT_EQ(reader.Next(&payload), FrameStatus::kOk);
  EXPECT_EQ(payload, "third");
  EXPECT_EQ(reader.Next(&payload), FrameStatus::kEnd);
  EXPECT_EQ(reader.good_end(), static_cast<qint64>(bytes.size()));
}

TEST(FrameReader, ATruncatedFrameIsTorn) {
  const std::string frame = EncodeFrame("payload");
  std::string payload;
  for (size_t length = 1; length < frame.size(); ++length) {
    EXPECT_EQ(ReadOne(frame.substr(0, length), &payload), FrameStatus::kTorn) << length;
  }
}

TEST(FrameReader, AnyFlippedByteIsCorruptOrTorn) {
  const std::string frame = EncodeFrame("payload");
  std::string payload;
  for (size_t i = 0; i < frame.size(); ++i) {
    std::string damaged = frame;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
    EXPECT_NE(ReadOne(damaged, &payload), FrameStatus::kOk) << i;
  }
}

TEST(FrameReader, AnAbsurdLengthIsCorruptNotAnAllocation) {
  std::string frame = EncodeFrame("x");
  frame[3] = '\x7F';
  std::string payload;
  EXPECT_EQ(ReadOne(frame, &payload), FrameStatus::kCorrupt);
}

}  // namespace
}  // namespace profiles::client
