#include "services/profile/pictures/safe_picture.h"

#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <zlib.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

using testing::FlatJpeg;
using testing::FlatPng;
using testing::GpsExif;
using testing::kJpegApp1;
using testing::kJpegApp13;
using testing::kJpegCom;
using testing::kTestCameraModel;
using testing::kTestXmpCity;
using testing::kTestXmpNamespace;
using ::testing::StartsWith;
using testing::WithPngChunk;
using testing::XmpApp1;
using testing::XmpPacket;

constexpr std::string_view kComment = "taken in the garden at 12 Rue de l'Exemple";

bool Contains(std::string_view bytes, std::string_view part) {
  return bytes.find(part) != std::string_view::npos;
}

// The decoded pixels of a JPEG (libjpeg's default error handler: the test
// only decodes pictures that are valid).
std::vector<uint8_t> JpegPixels(const std::string& jpeg) {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr errors;
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size());
  jpeg_read_header(&cinfo, TRUE);
  jpeg_start_decompress(&cinfo);
  const size_t stride = size_t{cinfo.output_width} * static_cast<size_t>(cinfo.output_components);
  std::vector<uint8_t> pixels(stride * cinfo.output_height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return pixels;
}

// A PNG chunk: length, type, data, CRC.
std::string PngChunk(std::string_view type, std::string_view data) {
  std::string chunk;
  for (int shift = 24; shift >= 0; shift -= 8) {
    chunk.push_back(static_cast<char>(data.size() >> shift));
  }
  chunk.append(type);
  chunk.append(data);
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(chunk.data() + 4),
                          static_cast<uInt>(chunk.size() - 4));
  for (int shift = 24; shift >= 0; shift -= 8) chunk.push_back(static_cast<char>(crc >> shift));
  return chunk;
}

// What a user is told about `bytes`; empty if the picture is accepted.
std::string Refusal(std::string_view bytes) {
  absl::StatusOr<SafePicture> safe = MakePictureSafe(bytes);
  if (safe.ok()) return "";
  EXPECT_EQ(safe.status().code(), absl::StatusCode::kInvalidArgument) << safe.status();
  return std::string(safe.status().message());
}

// The metadata of the test pictures, none of which may be left.
void ExpectNoMetadata(const std::string& bytes) {
  for (std::string_view trace :
       {std::string_view("Exif"), std::string_view("GPS"), std::string_view("WGS-84"),
        kTestCameraModel, kTestXmpNamespace, kTestXmpCity, std::string_view("XMP"), kComment}) {
    EXPECT_FALSE(Contains(bytes, trace)) << "still holds \"" << trace << "\"";
  }
}

// A Photoshop APP13 segment (IPTC) naming a city.
std::string PhotoshopApp13() {
  std::string payload("Photoshop 3.0\0008BIM\004\004\0\0\0\0\0\040", 26);
  payload += "\x1c\x02\x5a\x00\x1a";
  payload += std::string(kTestXmpCity).substr(0, 26);
  payload.resize(26 + 5 + 26, ' ');
  return payload;
}

TEST(MakePictureSafeTest, APhoneJpegLosesLocationCameraAndCommentsButNoPixel) {
  const std::string photo = testing::RealisticJpeg(220 * 1024, /*seed=*/11,
                                                   {{kJpegApp1, GpsExif()},
                                                    {kJpegApp1, XmpApp1()},
                                                    {kJpegApp13, PhotoshopApp13()},
                                                    {kJpegCom, std::string(kComment)}});
  ASSERT_GE(photo.size(), 100u * 1024);
  ASSERT_LE(photo.size(), 256u * 1024);
  ASSERT_TRUE(Contains(photo, "Exif") && Contains(photo, "GPS") &&
              Contains(photo, kTestXmpNamespace) && Contains(photo, kComment));

  absl::StatusOr<SafePicture> safe = MakePictureSafe(photo);
  ASSERT_TRUE(safe.ok()) << safe.status();
  ExpectNoMetadata(safe->bytes);
  EXPECT_EQ(safe->mime_type, "image/jpeg");
  EXPECT_EQ(safe->width, 640);
  EXPECT_GT(safe->height, 100);
  EXPECT_LT(safe->bytes.size(), photo.size());
  EXPECT_TRUE(Contains(safe->bytes, std::string_view("JFIF\0", 5)));
  // Lossless: the same pixels, and the result is already safe.
  EXPECT_EQ(JpegPixels(safe->bytes), JpegPixels(photo));
  absl::StatusOr<SafePicture> again = MakePictureSafe(safe->bytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->bytes, safe->bytes);
}

TEST(MakePictureSafeTest, AJpegKeepsItsOrientationAndNothingElseOfItsExif) {
  const std::string photo =
      testing::TestJpeg(120, 80, 5, {{kJpegApp1, GpsExif(/*orientation=*/6)}});
  absl::StatusOr<SafePicture> safe = MakePictureSafe(photo);
  ASSERT_TRUE(safe.ok()) << safe.status();
  for (std::string_view trace :
       {std::string_view("GPS"), std::string_view("WGS-84"), kTestCameraModel}) {
    EXPECT_FALSE(Contains(safe->bytes, trace)) << trace;
  }
  // Big-endian TIFF, one entry: Orientation (0x0112), SHORT, 1, value 6.
  EXPECT_TRUE(Contains(
      safe->bytes,
      std::string_view("Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06", 26)));
  EXPECT_EQ(JpegPixels(safe->bytes), JpegPixels(photo));
}

TEST(MakePictureSafeTest, PicturesWithoutMetadataComeBackByteForByte) {
  for (const std::string& picture :
       {testing::TestJpeg(64, 48, 1), testing::TestPng(64, 48, 1), testing::TestWebp(64, 48, 1),
        testing::TestGif(64, 48, 1, /*frames=*/2)}) {
    absl::StatusOr<SafePicture> safe = MakePictureSafe(picture);
    ASSERT_TRUE(safe.ok()) << safe.status();
    EXPECT_EQ(safe->bytes, picture) << safe->mime_type;
    EXPECT_EQ(safe->width, 64);
    EXPECT_EQ(safe->height, 48);
  }
}

TEST(MakePictureSafeTest, BytesAfterThePictureAreDropped) {
  const std::string jpeg = testing::TestJpeg(32, 32, 2);
  // A "motion photo": a video appended after the JPEG's end.
  absl::StatusOr<SafePicture> safe = MakePictureSafe(jpeg + "....ftypmp42 video with GPS");
  ASSERT_TRUE(safe.ok()) << safe.status();
  EXPECT_EQ(safe->bytes, jpeg);
}

TEST(MakePictureSafeTest, APngLosesTextExifAndTimeButKeepsHowToShowIt) {
  const std::string gamma("\x00\x00\xB1\x8F", 4);  // gAMA 1/2.2: kept
  const std::string expected = WithPngChunk(testing::RealisticPng(150 * 1024, 4), "gAMA", gamma);
  std::string png = expected;
  png = WithPngChunk(png, "tEXt", std::string("Comment\0", 8) + std::string(kComment));
  png = WithPngChunk(png, "eXIf", GpsExif().substr(6));
  png = WithPngChunk(png, "iTXt", std::string("XML:com.adobe.xmp\0\0\0\0\0", 22) + XmpPacket());
  png = WithPngChunk(png, "tIME", std::string("\x07\xE8\x05\x11\x0C\x22\x38", 7));
  png = WithPngChunk(png, "prVt", "a private chunk");
  absl::StatusOr<SafePicture> safe = MakePictureSafe(png);
  ASSERT_TRUE(safe.ok()) << safe.status();
  ExpectNoMetadata(safe->bytes);
  EXPECT_EQ(safe->bytes, expected);
  EXPECT_EQ(safe->mime_type, "image/png");
  EXPECT_EQ(safe->width, 256);
}

TEST(MakePictureSafeTest, AWebpLosesExifAndXmpAndItsHeaderSaysSo) {
  const std::string webp = testing::TestWebp(320, 240, 6, GpsExif().substr(6), XmpPacket());
  ASSERT_EQ(webp.substr(12, 4), "VP8X");
  ASSERT_EQ(static_cast<uint8_t>(webp[20]) & 0x0C, 0x0C);  // EXIF and XMP flags
  ASSERT_TRUE(Contains(webp, "EXIF") && Contains(webp, kTestCameraModel));

  absl::StatusOr<SafePicture> safe = MakePictureSafe(webp);
  ASSERT_TRUE(safe.ok()) << safe.status();
  ExpectNoMetadata(safe->bytes);
  EXPECT_FALSE(Contains(safe->bytes, "EXIF"));
  EXPECT_EQ(safe->bytes.substr(12, 4), "VP8X");
  EXPECT_EQ(static_cast<uint8_t>(safe->bytes[20]) & 0x0C, 0);
  const uint32_t riff_size = static_cast<uint8_t>(safe->bytes[4]) |
                             static_cast<uint8_t>(safe->bytes[5]) << 8 |
                             static_cast<uint8_t>(safe->bytes[6]) << 16 |
                             static_cast<uint32_t>(static_cast<uint8_t>(safe->bytes[7])) << 24;
  EXPECT_EQ(riff_size, safe->bytes.size() - 8);
  EXPECT_EQ(safe->mime_type, "image/webp");
  EXPECT_EQ(safe->width, 320);
  EXPECT_EQ(safe->height, 240);
  EXPECT_TRUE(MakePictureSafe(safe->bytes).ok());
}

TEST(MakePictureSafeTest, AGifLosesCommentsAndXmpButStillLoops) {
  const std::string gif = testing::TestGif(96, 64, 7, /*frames=*/3, kComment, XmpPacket());
  ASSERT_TRUE(Contains(gif, kComment) && Contains(gif, "XMP DataXMP"));
  absl::StatusOr<SafePicture> safe = MakePictureSafe(gif);
  ASSERT_TRUE(safe.ok()) << safe.status();
  ExpectNoMetadata(safe->bytes);
  EXPECT_TRUE(Contains(safe->bytes, "NETSCAPE2.0"));
  EXPECT_EQ(safe->mime_type, "image/gif");
  EXPECT_EQ(safe->width, 96);
  EXPECT_EQ(safe->height, 64);
  absl::StatusOr<SafePicture> again = MakePictureSafe(safe->bytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->bytes, safe->bytes);
}

TEST(MakePictureSafeTest, TruncatedPicturesAreRefused) {
  const std::vector<std::pair<std::string, std::string>> pictures = {
      {"JPEG", testing::RealisticJpeg(120 * 1024, 8, {{kJpegApp1, GpsExif()}})},
      {"PNG", testing::RealisticPng(120 * 1024, 8)},
      {"WebP", testing::TestWebp(400, 300, 8, GpsExif().substr(6))},
      {"GIF", testing::TestGif(200, 150, 8, /*frames=*/2)},
  };
  for (const auto& [format, picture] : pictures) {
    for (size_t cut : {picture.size() * 3 / 5, picture.size() - 1}) {
      EXPECT_THAT(Refusal(picture.substr(0, cut)),
                  StartsWith("the picture is not a complete " + format + ": "))
          << format << " cut at " << cut << " of " << picture.size();
    }
  }
}

TEST(MakePictureSafeTest, DamageThatOnlyTheDecoderSeesIsRefused) {
  // The file's structure is intact; its image data is cut short.
  const std::string jpeg = testing::RealisticJpeg(60 * 1024, 9);
  EXPECT_THAT(Refusal(jpeg.substr(0, jpeg.size() / 2) + "\xFF\xD9"),
              StartsWith("the picture is not a complete JPEG: "));

  // TestPng: signature, IHDR (25 bytes), one IDAT, IEND (12 bytes).
  const std::string png = testing::TestPng(200, 100, 9);
  const std::string idat = png.substr(33 + 8, png.size() - 33 - 12 - 12);
  const std::string header_and_end = png.substr(0, 33) + png.substr(png.size() - 12);
  EXPECT_THAT(Refusal(WithPngChunk(header_and_end, "IDAT", idat.substr(0, idat.size() / 2))),
              StartsWith("the picture is not a complete PNG: "));
  EXPECT_EQ(WithPngChunk(header_and_end, "IDAT", idat), png);
}

TEST(MakePictureSafeTest, TextBehindAPictureSignatureIsRefused) {
  const std::string text = "Dear diary, today I renamed notes.txt to avatar.png.\n";
  EXPECT_THAT(Refusal("\x89PNG\r\n\x1a\n" + text),
              StartsWith("the bytes start like a PNG but are not one"));
  EXPECT_THAT(Refusal("\xFF\xD8\xFF" + text),
              StartsWith("the bytes start like a JPEG but are not one"));
  EXPECT_THAT(Refusal("GIF89a" + text), StartsWith("the bytes start like a GIF but are not one"));
  EXPECT_THAT(Refusal(std::string("RIFF\x40\0\0\0WEBP", 12) + text + text),
              StartsWith("the bytes start like a WebP but are not one"));
  EXPECT_EQ(Refusal(text), "the picture must be a PNG, JPEG, WebP or GIF image");
}

TEST(MakePictureSafeTest, AHugePictureIsRefusedFromItsHeaderAlone) {
  // Headers claiming 5000×5000 in front of image data far too short for
  // that: the size is what is refused, so nothing was decoded.
  constexpr std::string_view kRefusal = "the picture is 5000×5000 pixels; at most 4096×4096";
  const std::string png =
      std::string("\x89PNG\r\n\x1a\n", 8) +
      PngChunk("IHDR", std::string("\0\0\x13\x88\0\0\x13\x88\x08\x02\0\0\0", 13)) +
      PngChunk("IDAT", "short") + PngChunk("IEND", "");
  EXPECT_EQ(Refusal(png), kRefusal);

  std::string jpeg = testing::TestJpeg(64, 48, 10);
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg.replace(sof + 5, 4, "\x13\x88\x13\x88");  // height, width
  EXPECT_EQ(Refusal(jpeg), kRefusal);
}

TEST(MakePictureSafeTest, SidesOfUpTo4096PixelsAreAccepted) {
  absl::StatusOr<SafePicture> largest = MakePictureSafe(FlatJpeg(4096, 4096));
  ASSERT_TRUE(largest.ok()) << largest.status();
  EXPECT_EQ(largest->width, 4096);
  EXPECT_EQ(largest->height, 4096);
  absl::StatusOr<SafePicture> tall = MakePictureSafe(FlatPng(16, 4096));
  ASSERT_TRUE(tall.ok()) << tall.status();
  EXPECT_EQ(tall->height, 4096);

  EXPECT_EQ(Refusal(FlatJpeg(4097, 8)), "the picture is 4097×8 pixels; at most 4096×4096");
  EXPECT_EQ(Refusal(FlatPng(8, 4097)), "the picture is 8×4097 pixels; at most 4096×4096");
}

}  // namespace
}  // namespace profiles
