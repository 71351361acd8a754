#include "tests/support/test_images.h"

#include <zlib.h>

#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace profiles::testing {
namespace {

// PNG is written by hand over zlib (which Debian's gRPC already pulls in):
// the four chunks a valid RGB picture needs are a few lines, while an image
// library would be a new dependency of every server test.
void AppendBigEndian(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void AppendChunk(std::string& out, std::string_view type, std::string_view data) {
  AppendBigEndian(out, static_cast<uint32_t>(data.size()));
  const size_t type_start = out.size();
  out.append(type);
  out.append(data);
  const auto* crc_input = reinterpret_cast<const Bytef*>(out.data() + type_start);
  AppendBigEndian(out, static_cast<uint32_t>(
                           crc32(0, crc_input, static_cast<uInt>(type.size() + data.size()))));
}

std::string EncodePng(uint32_t width, uint32_t height, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(height) * (width * 3 + 1));
  for (uint32_t y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    for (uint32_t x = 0; x < width; ++x) {
      const int base[3] = {static_cast<int>(255 * x / width), static_cast<int>(255 * y / height),
                           static_cast<int>((seed * 37 + x + y) % 256)};
      for (int channel : base) {
        const int value = channel + noise(random);
        raw.push_back(static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value));
      }
    }
  }
  uLongf compressed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(compressed_size, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size, raw.data(),
            static_cast<uLong>(raw.size()), Z_BEST_SPEED);
  compressed.resize(compressed_size);

  std::string header;
  AppendBigEndian(header, width);
  AppendBigEndian(header, height);
  header += std::string_view("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace

  std::string png("\x89PNG\r\n\x1a\n", 8);
  AppendChunk(png, "IHDR", header);
  AppendChunk(png, "IDAT", compressed);
  AppendChunk(png, "IEND", "");
  return png;
}

}  // namespace

std::string RealisticPng(size_t max_bytes, uint32_t seed) {
  constexpr uint32_t kWidth = 256;
  uint32_t height = 16;
  std::string png = EncodePng(kWidth, height, seed);
  // The noise makes the size nearly proportional to the height: scale, then
  // trim by rows until it fits.
  height = static_cast<uint32_t>(static_cast<double>(height) * 0.95 *
                                 static_cast<double>(max_bytes) / static_cast<double>(png.size()));
  if (height < 1) height = 1;
  png = EncodePng(kWidth, height, seed);
  while (png.size() > max_bytes && height > 1) {
    height = height * 98 / 100;
    png = EncodePng(kWidth, height, seed);
  }
  return png;
}

}  // namespace profiles::testing
