#include "tests/support/test_images.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <gif_lib.h>
#include <webp/encode.h>
#include <webp/mux.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

namespace profiles::testing {
namespace {

// PNG is written by hand over zlib: the four chunks a valid picture needs
// are a few lines, and tests can insert chunks of their own between them.
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

// A colour gradient with photographic noise: compresses like a photo.
std::vector<uint8_t> NoisyRgb(uint32_t width, uint32_t height, uint32_t seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  std::vector<uint8_t> rgb;
  rgb.reserve(size_t{height} * width * 3);
  for (uint32_t y = 0; y < height; ++y) {
    for (uint32_t x = 0; x < width; ++x) {
      const int base[3] = {static_cast<int>(255 * x / width), static_cast<int>(255 * y / height),
                           static_cast<int>((seed * 37 + x + y) % 256)};
      for (int channel : base) {
        const int value = channel + noise(random);
        rgb.push_back(static_cast<uint8_t>(value < 0 ? 0 : value > 255 ? 255 : value));
      }
    }
  }
  return rgb;
}

std::string PngFromRows(uint32_t width, uint32_t height, uint8_t colour_type,
                        const std::vector<uint8_t>& raw) {
  uLongf compressed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string compressed(compressed_size, '\0');
  compress2(reinterpret_cast<Bytef*>(compressed.data()), &compressed_size, raw.data(),
            static_cast<uLong>(raw.size()), Z_BEST_SPEED);
  compressed.resize(compressed_size);
  std::string header;
  AppendBigEndian(header, width);
  AppendBigEndian(header, height);
  header.push_back(8);  // bits per sample
  header.push_back(static_cast<char>(colour_type));
  header += std::string_view("\x00\x00\x00", 3);  // deflate, adaptive filters, no interlace
  std::string png("\x89PNG\r\n\x1a\n", 8);
  AppendChunk(png, "IHDR", header);
  AppendChunk(png, "IDAT", compressed);
  AppendChunk(png, "IEND", "");
  return png;
}

// 8-bit RGB: NoisyRgb's rows behind filter type None.
std::string EncodePng(uint32_t width, uint32_t height, uint32_t seed) {
  const std::vector<uint8_t> rgb = NoisyRgb(width, height, seed);
  std::vector<uint8_t> raw;
  raw.reserve(static_cast<size_t>(height) * (width * 3 + 1));
  for (uint32_t y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    const auto row = rgb.begin() + static_cast<std::ptrdiff_t>(size_t{y} * width * 3);
    raw.insert(raw.end(), row, row + static_cast<std::ptrdiff_t>(width * 3));
  }
  return PngFromRows(width, height, /*colour_type=*/2, raw);
}

// libjpeg's default error handler prints and exits: these pictures are
// made from known-good parameters, so a failure is a broken test.
std::string EncodeJpeg(int width, int height, int components, const std::vector<uint8_t>& pixels,
                       int quality, const std::vector<JpegSegment>& segments) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr errors;
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = components;
  cinfo.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  for (const JpegSegment& segment : segments) {
    jpeg_write_marker(&cinfo, segment.marker,
                      reinterpret_cast<const JOCTET*>(segment.payload.data()),
                      static_cast<unsigned int>(segment.payload.size()));
  }
  const size_t stride = static_cast<size_t>(width) * static_cast<size_t>(components);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string jpeg(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return jpeg;
}

void AppendLittleEndian(std::string& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
}

// One TIFF IFD entry; `value` holds the value's bytes, little-endian.
struct TiffEntry {
  uint16_t tag;
  uint16_t type;  // 1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL, 7 UNDEFINED
  uint32_t count;
  std::string value;
};

// An IFD that starts at `offset` in its TIFF structure, followed by the
// values that do not fit in their entries.
std::string TiffIfd(const std::vector<TiffEntry>& entries, uint32_t offset) {
  std::string ifd;
  std::string overflow;
  const uint32_t overflow_at = offset + 2 + 12 * static_cast<uint32_t>(entries.size()) + 4;
  AppendLittleEndian(ifd, static_cast<uint32_t>(entries.size()), 2);
  for (const TiffEntry& entry : entries) {
    AppendLittleEndian(ifd, entry.tag, 2);
    AppendLittleEndian(ifd, entry.type, 2);
    AppendLittleEndian(ifd, entry.count, 4);
    if (entry.value.size() <= 4) {
      ifd += entry.value;
      ifd.append(4 - entry.value.size(), '\0');
    } else {
      AppendLittleEndian(ifd, overflow_at + static_cast<uint32_t>(overflow.size()), 4);
      overflow += entry.value;
      if (overflow.size() % 2 != 0) overflow.push_back('\0');
    }
  }
  AppendLittleEndian(ifd, 0, 4);  // no next IFD
  return ifd + overflow;
}

TiffEntry Ascii(uint16_t tag, std::string_view text) {
  std::string value(text);
  value.push_back('\0');
  return {tag, 2, static_cast<uint32_t>(value.size()), value};
}

// Degrees, minutes and seconds as three RATIONALs.
TiffEntry Rationals(uint16_t tag, std::vector<std::pair<uint32_t, uint32_t>> fractions) {
  std::string value;
  for (const auto& [numerator, denominator] : fractions) {
    AppendLittleEndian(value, numerator, 4);
    AppendLittleEndian(value, denominator, 4);
  }
  return {tag, 5, static_cast<uint32_t>(fractions.size()), value};
}

struct GifOutput {
  std::string bytes;
};

int WriteGif(GifFileType* gif, const GifByteType* data, int length) {
  static_cast<GifOutput*>(gif->UserData)
      ->bytes.append(reinterpret_cast<const char*>(data), static_cast<size_t>(length));
  return length;
}

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "test_images: %s failed\n", what);
  std::abort();
}

}  // namespace

std::string TestPng(uint32_t width, uint32_t height, uint32_t seed) {
  return EncodePng(width, height, seed);
}

std::string FlatPng(uint32_t width, uint32_t height) {
  std::vector<uint8_t> raw;
  raw.reserve(size_t{height} * (width + 1));
  for (uint32_t y = 0; y < height; ++y) {
    raw.push_back(0);  // filter type None
    raw.insert(raw.end(), width, 0x80);
  }
  return PngFromRows(width, height, /*colour_type=*/0, raw);
}

std::string WithPngChunk(std::string_view png, std::string_view type, std::string_view data) {
  constexpr size_t kAfterIhdr = 8 + 12 + 13;
  std::string chunk;
  AppendChunk(chunk, type, data);
  std::string out(png);
  out.insert(kAfterIhdr, chunk);
  return out;
}

std::string TestJpeg(int width, int height, uint32_t seed,
                     const std::vector<JpegSegment>& segments) {
  return EncodeJpeg(width, height, 3,
                    NoisyRgb(static_cast<uint32_t>(width), static_cast<uint32_t>(height), seed), 90,
                    segments);
}

std::string RealisticJpeg(size_t max_bytes, uint32_t seed,
                          const std::vector<JpegSegment>& segments) {
  constexpr int kWidth = 640;
  int height = 32;
  std::string jpeg = TestJpeg(kWidth, height, seed, segments);
  height = static_cast<int>(static_cast<double>(height) * 0.95 * static_cast<double>(max_bytes) /
                            static_cast<double>(jpeg.size()));
  if (height < 1) height = 1;
  jpeg = TestJpeg(kWidth, height, seed, segments);
  while (jpeg.size() > max_bytes && height > 1) {
    height = height * 98 / 100;
    jpeg = TestJpeg(kWidth, height, seed, segments);
  }
  return jpeg;
}

std::string FlatJpeg(int width, int height) {
  return EncodeJpeg(
      width, height, 1,
      std::vector<uint8_t>(static_cast<size_t>(width) * static_cast<size_t>(height), 0x80), 75, {});
}

std::string TestWebp(int width, int height, uint32_t seed, std::string_view exif,
                     std::string_view xmp) {
  const std::vector<uint8_t> rgb =
      NoisyRgb(static_cast<uint32_t>(width), static_cast<uint32_t>(height), seed);
  uint8_t* encoded = nullptr;
  const size_t size = WebPEncodeRGB(rgb.data(), width, height, width * 3, 80.0F, &encoded);
  Check(size > 0, "WebPEncodeRGB");
  std::string webp(reinterpret_cast<const char*>(encoded), size);
  WebPFree(encoded);
  if (exif.empty() && xmp.empty()) return webp;

  WebPMux* mux = WebPMuxNew();
  const WebPData image{reinterpret_cast<const uint8_t*>(webp.data()), webp.size()};
  Check(WebPMuxSetImage(mux, &image, 1) == WEBP_MUX_OK, "WebPMuxSetImage");
  if (!exif.empty()) {
    const WebPData chunk{reinterpret_cast<const uint8_t*>(exif.data()), exif.size()};
    Check(WebPMuxSetChunk(mux, "EXIF", &chunk, 1) == WEBP_MUX_OK, "WebPMuxSetChunk EXIF");
  }
  if (!xmp.empty()) {
    const WebPData chunk{reinterpret_cast<const uint8_t*>(xmp.data()), xmp.size()};
    Check(WebPMuxSetChunk(mux, "XMP ", &chunk, 1) == WEBP_MUX_OK, "WebPMuxSetChunk XMP");
  }
  WebPData assembled;
  WebPDataInit(&assembled);
  Check(WebPMuxAssemble(mux, &assembled) == WEBP_MUX_OK, "WebPMuxAssemble");
  std::string out(reinterpret_cast<const char*>(assembled.bytes), assembled.size);
  WebPDataClear(&assembled);
  WebPMuxDelete(mux);
  return out;
}

std::string TestGif(int width, int height, uint32_t seed, int frames, std::string_view comment,
                    std::string_view xmp) {
  GifOutput output;
  int error = 0;
  GifFileType* gif = EGifOpen(&output, WriteGif, &error);
  Check(gif != nullptr, "EGifOpen");
  EGifSetGifVersion(gif, true);
  GifColorType colours[256];
  for (int i = 0; i < 256; ++i) {
    colours[i] = {static_cast<GifByteType>(i), static_cast<GifByteType>(255 - i),
                  static_cast<GifByteType>((i * 7) % 256)};
  }
  ColorMapObject* palette = GifMakeMapObject(256, colours);
  Check(EGifPutScreenDesc(gif, width, height, 8, 0, palette) == GIF_OK, "EGifPutScreenDesc");
  GifFreeMapObject(palette);
  const uint8_t loop[] = {1, 0, 0};  // sub-block 1: loop forever
  Check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
            EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_OK &&
            EGifPutExtensionBlock(gif, 3, loop) == GIF_OK && EGifPutExtensionTrailer(gif) == GIF_OK,
        "NETSCAPE2.0 extension");
  if (!comment.empty()) {
    Check(EGifPutComment(gif, std::string(comment).c_str()) == GIF_OK, "EGifPutComment");
  }
  if (!xmp.empty()) {
    Check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
              EGifPutExtensionBlock(gif, 11, "XMP DataXMP") == GIF_OK,
          "XMP extension");
    // Sub-blocks of at most 255 bytes (real XMP in GIF abuses sub-block
    // lengths as its "magic trailer"; plain sub-blocks are enough here).
    for (size_t at = 0; at < xmp.size(); at += 255) {
      const std::string_view part = xmp.substr(at, 255);
      Check(EGifPutExtensionBlock(gif, static_cast<int>(part.size()), part.data()) == GIF_OK,
            "XMP block");
    }
    Check(EGifPutExtensionTrailer(gif) == GIF_OK, "XMP trailer");
  }
  std::mt19937 random(seed);
  std::vector<GifPixelType> row(static_cast<size_t>(width));
  for (int frame = 0; frame < frames; ++frame) {
    const uint8_t control[] = {0x04, 10, 0, 0};  // keep the frame, 0.1 s, no transparency
    Check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, control) == GIF_OK, "graphic control");
    Check(EGifPutImageDesc(gif, 0, 0, width, height, false, nullptr) == GIF_OK, "EGifPutImageDesc");
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        row[static_cast<size_t>(x)] =
            static_cast<GifPixelType>((x * 255 / width + frame * 16 + random() % 24) % 256);
      }
      Check(EGifPutLine(gif, row.data(), width) == GIF_OK, "EGifPutLine");
    }
  }
  Check(EGifCloseFile(gif, &error) == GIF_OK, "EGifCloseFile");
  return output.bytes;
}

std::string GpsExif(int orientation) {
  std::vector<TiffEntry> gps = {
      {0x0000, 1, 4, std::string("\x02\x03\x00\x00", 4)},  // GPSVersionID 2.3
      Ascii(0x0001, "N"),                                  // GPSLatitudeRef
      Rationals(0x0002, {{48, 1}, {51, 1}, {2960, 100}}),  // GPSLatitude 48°51'29.6"
      Ascii(0x0003, "E"),                                  // GPSLongitudeRef
      Rationals(0x0004, {{2, 1}, {17, 1}, {4020, 100}}),   // GPSLongitude 2°17'40.2"
      {0x0005, 1, 1, std::string(1, '\0')},                // GPSAltitudeRef: above sea level
      Rationals(0x0006, {{35, 1}}),                        // GPSAltitude 35 m
      Ascii(0x0012, "WGS-84"),                             // GPSMapDatum
      {0x001B, 7, 11, std::string("ASCII\0\0\0GPS", 11)},  // GPSProcessingMethod
  };
  auto ifd0 = [&](uint32_t gps_offset) {
    std::string gps_pointer;
    AppendLittleEndian(gps_pointer, gps_offset, 4);
    std::string orientation_value;
    AppendLittleEndian(orientation_value, static_cast<uint32_t>(orientation), 2);
    return std::vector<TiffEntry>{
        Ascii(0x010F, "PictureTest"),       // Make
        Ascii(0x0110, kTestCameraModel),    // Model
        {0x0112, 3, 1, orientation_value},  // Orientation
        {0x8825, 4, 1, gps_pointer},        // GPSInfo IFD pointer
    };
  };
  const uint32_t gps_offset = 8 + static_cast<uint32_t>(TiffIfd(ifd0(0), 8).size());
  std::string exif("Exif\0\0II*\0", 10);
  AppendLittleEndian(exif, 8, 4);  // first IFD right after the header
  exif += TiffIfd(ifd0(gps_offset), 8);
  exif += TiffIfd(gps, gps_offset);
  return exif;
}

std::string XmpPacket() {
  return std::string(
             "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>"
             "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF "
             "xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
             "<rdf:Description rdf:about=\"\" xmlns:xmp=\"") +
         std::string(kTestXmpNamespace) +
         "\" xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\" "
         "xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" photoshop:City=\"" +
         std::string(kTestXmpCity) +
         "\" exif:GPSLatitude=\"48,51.4933N\" exif:GPSLongitude=\"2,17.67E\"/>"
         "</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
}

std::string XmpApp1() {
  std::string payload(kTestXmpNamespace);
  payload.push_back('\0');
  return payload + XmpPacket();
}

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
