#ifndef PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_
#define PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_

// Real pictures of realistic size for tests: avatars as phones send them are
// 100-256 KiB, and every bug found so far hid behind 67-byte test avatars.
//
//   const std::string avatar = profiles::testing::RealisticPng(200 * 1024, /*seed=*/7);
//   const std::string photo = profiles::testing::RealisticJpeg(
//       200 * 1024, /*seed=*/7, {{kJpegApp1, GpsExif()}, {kJpegCom, "a comment"}});
//
// And metadata as cameras and editors write it (GPS EXIF, XMP, comments),
// for tests that it is removed. Every picture is made by the library that
// reads its format (or, for PNG, by hand over zlib), so it decodes.
//
// Pure and thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace profiles::testing {

// A valid, decodable PNG (8-bit RGB, a colour gradient with photographic
// noise, so it does not compress below its size) of between 90% and 100% of
// `max_bytes`. Different seeds give different pictures (and SHA-256s).
// REQUIRES: 4096 <= max_bytes.
std::string RealisticPng(size_t max_bytes, uint32_t seed);

// Such a PNG of exactly `width`×`height` pixels.
std::string TestPng(uint32_t width, uint32_t height, uint32_t seed);
// An 8-bit grey PNG of one flat colour: a few hundred bytes even at
// 4096×4096.
std::string FlatPng(uint32_t width, uint32_t height);
// `png` with a chunk (a correct CRC included) inserted right after IHDR.
std::string WithPngChunk(std::string_view png, std::string_view type, std::string_view data);

// One APPn or COM segment of a JPEG: its marker (0xE1 for APP1) and payload.
struct JpegSegment {
  uint8_t marker;
  std::string payload;
};
inline constexpr uint8_t kJpegApp1 = 0xE1;
inline constexpr uint8_t kJpegApp13 = 0xED;
inline constexpr uint8_t kJpegCom = 0xFE;

// A baseline JPEG (libjpeg-turbo, quality 90, JFIF) of a noisy colour
// gradient, with `segments` written after the JFIF segment.
std::string TestJpeg(int width, int height, uint32_t seed,
                     const std::vector<JpegSegment>& segments = {});
// Such a JPEG, 640 pixels wide, of between 90% and 100% of `max_bytes`.
// REQUIRES: 16384 <= max_bytes.
std::string RealisticJpeg(size_t max_bytes, uint32_t seed,
                          const std::vector<JpegSegment>& segments = {});
// A grey JPEG of one flat colour: small at any size.
std::string FlatJpeg(int width, int height);

// A lossy WebP (libwebp) of a noisy gradient. With `exif` or `xmp` given,
// the extended format (VP8X) carrying them as EXIF and "XMP " chunks, as
// libwebpmux writes it.
std::string TestWebp(int width, int height, uint32_t seed, std::string_view exif = {},
                     std::string_view xmp = {});

// A GIF89a (giflib) of `frames` frames that loops (NETSCAPE2.0), with
// `comment` as a comment extension and `xmp` as an "XMP DataXMP"
// application extension when given.
std::string TestGif(int width, int height, uint32_t seed, int frames = 1,
                    std::string_view comment = {}, std::string_view xmp = {});

// What the metadata below holds, to look for in a picture's bytes.
inline constexpr std::string_view kTestCameraModel = "PictureTest Phone 9 Pro";
inline constexpr std::string_view kTestXmpNamespace = "http://ns.adobe.com/xap/1.0/";
inline constexpr std::string_view kTestXmpCity = "Montmartre-sur-Test";

// The payload of an EXIF APP1 segment as phones write it: "Exif\0\0" and a
// little-endian TIFF structure whose first IFD holds Make, Model
// (kTestCameraModel), Orientation (`orientation`, 1 is upright) and a GPS
// IFD with latitude, longitude, altitude, map datum and processing method
// ("GPS"). Without the "Exif\0\0" prefix it is a WebP EXIF chunk or a PNG
// eXIf chunk.
std::string GpsExif(int orientation = 1);
// An XMP packet placing the photo at kTestXmpCity and a GPS position.
std::string XmpPacket();
// The payload of an XMP APP1 segment: kTestXmpNamespace, NUL, XmpPacket().
std::string XmpApp1();

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_TEST_IMAGES_H_
