// PNG: the chunk walk that drops metadata, and the check that the rest
// decodes (libpng).

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "services/profile/pictures/picture_formats.h"

namespace profiles::pictures_internal {
namespace {

constexpr std::string_view kFormat = "PNG";
constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);

// Ancillary chunks that say how to show the pixels or animate them. Every
// other ancillary chunk goes: tEXt, zTXt, iTXt (XMP lives there), eXIf and
// tIME by name, and private or future chunks too, since whatever they hold
// (pre-standard "exIf", C2PA manifests) is not needed to draw the picture.
constexpr std::string_view kKeptAncillary[] = {
    "tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCv",
    "cLLi", "bKGD", "hIST", "pHYs", "sPLT", "acTL", "fcTL", "fdAT",
};

bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool Keeps(std::string_view type) {
  const bool critical = (static_cast<uint8_t>(type[0]) & 0x20) == 0;
  // Unknown critical chunks are kept so that the decoder refuses them.
  return critical || std::find(std::begin(kKeptAncillary), std::end(kKeptAncillary), type) !=
                         std::end(kKeptAncillary);
}

// libpng's error handlers: errors jump back to DecodePngInto (libpng's
// default prints and jumps too, but to a buffer the caller must set up);
// warnings are benign ("known incorrect sRGB profile"): the picture shows.
struct PngReport {
  bool header_read = false;
  bool too_large = false;
  bool failed = false;
  int width = 0;
  int height = 0;
  char message[160] = {};
};

[[noreturn]] void OnPngError(png_structp png, png_const_charp message) {
  auto* report = static_cast<PngReport*>(png_get_error_ptr(png));
  std::snprintf(report->message, sizeof report->message, "%s", message);
  png_longjmp(png, 1);
}

void OnPngWarning(png_structp, png_const_charp) {}

struct PngInput {
  const unsigned char* data;
  size_t size;
  size_t position;
};

void ReadPng(png_structp png, png_bytep out, size_t length) {
  auto* input = static_cast<PngInput*>(png_get_io_ptr(png));
  if (input->size - input->position < length) png_error(png, "it ends too early");
  std::memcpy(out, input->data + input->position, length);
  input->position += length;
}

// The longest row of a picture `max_side` wide, without transforms: 16-bit
// RGBA.
size_t MaxRowBytes(int max_side) { return size_t{8} * static_cast<size_t>(max_side); }

// Decodes every row (of every interlace pass) into one row buffer. No C++
// object with a destructor lives here: libpng leaves by longjmp.
void DecodePngInto(const unsigned char* data, size_t size, int max_side, png_bytep row,
                   PngReport* report) {
  PngInput input{data, size, 0};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, report, OnPngError, OnPngWarning);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    report->failed = true;
    std::snprintf(report->message, sizeof report->message, "out of memory");
    return;
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    report->failed = true;
    return;
  }
  png_set_read_fn(png, &input, ReadPng);
  // libpng's own limit (a million pixels a side) would refuse a large
  // picture with a message of its own; the check below says how large.
  png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_read_info(png, info);
  report->header_read = true;
  report->width = static_cast<int>(std::min<png_uint_32>(png_get_image_width(png, info), 1 << 30));
  report->height =
      static_cast<int>(std::min<png_uint_32>(png_get_image_height(png, info), 1 << 30));
  if (report->width > max_side || report->height > max_side) {
    report->too_large = true;
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) > MaxRowBytes(max_side)) png_error(png, "its rows are too long");
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < report->height; ++y) png_read_row(png, row, nullptr);
  }
  // The chunks after the image data, up to IEND.
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
}

}  // namespace

absl::StatusOr<std::string> StripPngMetadata(std::string_view png) {
  if (png.substr(0, kSignature.size()) != kSignature) return NotA(kFormat);
  std::string out(kSignature);
  out.reserve(png.size());
  size_t pos = kSignature.size();
  bool header_seen = false;
  auto damaged = [&](std::string_view detail) {
    return header_seen ? Incomplete(kFormat, detail) : NotA(kFormat, detail);
  };
  while (true) {
    if (png.size() - pos < 8) {
      return damaged(pos == png.size() ? "it ends before its IEND chunk"
                                       : "it ends inside a chunk");
    }
    const uint32_t length = Be32(png, pos);
    const std::string_view type = png.substr(pos + 4, 4);
    if (!std::all_of(type.begin(), type.end(), IsAsciiLetter) || length > 0x7FFFFFFFu) {
      return damaged("a chunk header is garbled");
    }
    if (!header_seen && (type != "IHDR" || length != 13)) {
      return damaged("it does not start with an IHDR chunk");
    }
    if (png.size() - pos - 8 < size_t{length} + 4) {
      return damaged("it ends inside its " + std::string(type) + " chunk");
    }
    const std::string_view chunk = png.substr(pos, size_t{length} + 12);
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(chunk.data() + 4), length + 4);
    if (Be32(chunk, length + 8) != static_cast<uint32_t>(crc)) {
      return damaged("its " + std::string(type) + " chunk is damaged (wrong checksum)");
    }
    header_seen = true;
    pos += chunk.size();
    if (Keeps(type)) out.append(chunk);
    // Anything after IEND is dropped.
    if (type == "IEND") return out;
  }
}

absl::StatusOr<PictureSize> DecodePng(std::string_view png, int max_side) {
  std::vector<png_byte> row(MaxRowBytes(max_side));
  PngReport report;
  DecodePngInto(reinterpret_cast<const unsigned char*>(png.data()), png.size(), max_side,
                row.data(), &report);
  if (report.too_large) return CheckSize(report.width, report.height, max_side);
  if (report.failed) {
    return report.header_read ? Incomplete(kFormat, report.message) : NotA(kFormat, report.message);
  }
  if (absl::Status size = CheckSize(report.width, report.height, max_side); !size.ok()) return size;
  return PictureSize{report.width, report.height};
}

}  // namespace profiles::pictures_internal
