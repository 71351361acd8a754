// JPEG: the segment walk that drops metadata, and the check that the rest
// decodes (libjpeg-turbo).

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on

#include <csetjmp>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "services/profile/pictures/picture_formats.h"

namespace profiles::pictures_internal {
namespace {

constexpr std::string_view kFormat = "JPEG";

constexpr uint8_t kEoi = 0xD9;
constexpr uint8_t kSos = 0xDA;
constexpr uint8_t kApp0 = 0xE0;
constexpr uint8_t kApp1 = 0xE1;
constexpr uint8_t kApp2 = 0xE2;
constexpr uint8_t kApp14 = 0xEE;
constexpr uint8_t kApp15 = 0xEF;
constexpr uint8_t kCom = 0xFE;

// A progressive file can hold thousands of tiny scans that each revisit
// every block: libjpeg-turbo's own advice is to stop such files.
constexpr int kMaxScans = 500;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

void AppendSegment(std::string& out, uint8_t marker, std::string_view payload) {
  const size_t length = payload.size() + 2;
  out.push_back('\xFF');
  out.push_back(static_cast<char>(marker));
  out.push_back(static_cast<char>(length >> 8));
  out.push_back(static_cast<char>(length & 0xFF));
  out.append(payload);
}

// The orientation (1-8) an EXIF payload ("Exif\0\0" and a TIFF structure)
// states in its first IFD, or 0 when it states none or cannot be read.
int ExifOrientation(std::string_view payload) {
  constexpr std::string_view kExif("Exif\0\0", 6);
  if (!StartsWith(payload, kExif)) return 0;
  const std::string_view tiff = payload.substr(kExif.size());
  if (tiff.size() < 8) return 0;
  bool little;
  if (StartsWith(tiff, std::string_view("II*\0", 4))) {
    little = true;
  } else if (StartsWith(tiff, std::string_view("MM\0*", 4))) {
    little = false;
  } else {
    return 0;
  }
  auto u16 = [&](size_t at) { return little ? Le16(tiff, at) : Be16(tiff, at); };
  auto u32 = [&](size_t at) { return little ? Le32(tiff, at) : Be32(tiff, at); };
  const size_t ifd = u32(4);
  if (ifd > tiff.size() || tiff.size() - ifd < 2) return 0;
  const size_t entries = u16(ifd);
  for (size_t i = 0; i < entries; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.size()) return 0;
    if (u16(entry) != 0x0112) continue;
    const uint32_t type = u16(entry + 2);
    const uint32_t count = u32(entry + 4);
    const uint32_t value = u16(entry + 8);  // a SHORT sits at the start of the value field
    return type == 3 && count == 1 && value >= 1 && value <= 8 ? static_cast<int>(value) : 0;
  }
  return 0;
}

// An EXIF payload that holds only `orientation`: a big-endian TIFF header
// and one IFD with one entry.
std::string OrientationOnlyExif(int orientation) {
  std::string exif("Exif\0\0MM\0*\0\0\0\x08", 14);
  exif.append(std::string_view("\0\x01", 2));                    // one entry
  exif.append(std::string_view("\x01\x12\0\x03\0\0\0\x01", 8));  // Orientation, SHORT, 1
  exif.push_back('\0');
  exif.push_back(static_cast<char>(orientation));
  exif.append(std::string_view("\0\0\0\0\0\0", 6));  // padding; no next IFD
  return exif;
}

// What to copy of an APPn or COM segment: nullopt drops it.
std::optional<std::string> KeptPayload(uint8_t marker, std::string_view payload,
                                       bool& orientation_kept) {
  switch (marker) {
    case kApp0:
      // JFIF's density fields say how big a pixel is; its optional
      // thumbnail is the uncropped original, so it goes (JFXX extension
      // segments, which only hold thumbnails, go whole).
      if (!StartsWith(payload, std::string_view("JFIF\0", 5)) || payload.size() < 14) {
        return std::nullopt;
      }
      return std::string(payload.substr(0, 12)) + std::string("\0\0", 2);
    case kApp1: {
      const int orientation = ExifOrientation(payload);
      if (orientation <= 1 || orientation_kept) return std::nullopt;
      orientation_kept = true;
      return OrientationOnlyExif(orientation);
    }
    case kApp2:
      if (StartsWith(payload, std::string_view("ICC_PROFILE\0", 12))) return std::string(payload);
      return std::nullopt;
    case kApp14:
      if (StartsWith(payload, "Adobe")) return std::string(payload);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// The libjpeg error manager: errors jump back to DecodeJpegInto (libjpeg's
// default calls exit()); warnings, which libjpeg gives for corrupt or
// missing data it papers over, are remembered and refuse the picture too.
struct JpegErrors {
  jpeg_error_mgr manager;  // first: libjpeg sees a jpeg_error_mgr*
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool warned;
};

[[noreturn]] void OnJpegError(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  longjmp(errors->jump, 1);
}

void OnJpegMessage(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  if (!errors->warned) (*cinfo->err->format_message)(cinfo, errors->message);
  errors->warned = true;
}

void OnJpegProgress(j_common_ptr cinfo) {
  auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (decompress->input_scan_number <= kMaxScans) return;
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  std::snprintf(errors->message, sizeof errors->message, "it has more than %d scans", kMaxScans);
  longjmp(errors->jump, 1);
}

// What DecodeJpegInto found. Plain data, so it is valid on both sides of a
// longjmp.
struct JpegReport {
  bool header_read = false;
  bool too_large = false;
  bool failed = false;
  int width = 0;
  int height = 0;
  char message[JMSG_LENGTH_MAX] = {};
};

// Decodes every row of `data` into one reused row buffer. No C++ object
// with a destructor lives in this function: libjpeg leaves it by longjmp,
// which would skip destructors. Everything it allocates belongs to
// libjpeg's pools, freed by jpeg_destroy_decompress on both paths.
void DecodeJpegInto(const unsigned char* data, size_t size, int max_side, JpegReport* report) {
  jpeg_decompress_struct cinfo;
  JpegErrors errors;
  jpeg_progress_mgr progress;
  cinfo.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = OnJpegError;
  errors.manager.emit_message = OnJpegMessage;
  errors.message[0] = '\0';
  errors.warned = false;
  progress.progress_monitor = OnJpegProgress;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    report->failed = true;
    std::memcpy(report->message, errors.message, sizeof report->message);
    return;
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  report->header_read = true;
  report->width = static_cast<int>(cinfo.image_width);
  report->height = static_cast<int>(cinfo.image_height);
  // Before jpeg_start_decompress, which allocates for the whole picture.
  if (cinfo.image_width > static_cast<JDIMENSION>(max_side) ||
      cinfo.image_height > static_cast<JDIMENSION>(max_side)) {
    report->too_large = true;
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_start_decompress(&cinfo);
  JSAMPARRAY row = (*cinfo.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&cinfo), JPOOL_IMAGE,
                                              cinfo.output_width * cinfo.output_components, 1);
  while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, row, 1);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (errors.warned) {
    report->failed = true;
    std::memcpy(report->message, errors.message, sizeof report->message);
  }
}

// libjpeg's messages start with a capital ("Premature end of JPEG file").
std::string Sentence(const char* message) {
  std::string text(message);
  if (!text.empty()) text[0] = absl::ascii_tolower(static_cast<unsigned char>(text[0]));
  return text;
}

}  // namespace

absl::StatusOr<std::string> StripJpegMetadata(std::string_view jpeg) {
  if (jpeg.size() < 2 || Byte(jpeg, 0) != 0xFF || Byte(jpeg, 1) != 0xD8) return NotA(kFormat);
  std::string out("\xFF\xD8", 2);
  out.reserve(jpeg.size());
  bool orientation_kept = false;
  // Damage before the first scan means the file never was a JPEG; after,
  // that it was cut short or corrupted.
  bool in_image_data = false;
  auto damaged = [&](std::string_view detail) {
    return in_image_data ? Incomplete(kFormat, detail) : NotA(kFormat, detail);
  };
  size_t pos = 2;
  while (true) {
    if (pos >= jpeg.size()) return Incomplete(kFormat, "it ends before its end marker");
    if (Byte(jpeg, pos) != 0xFF) return damaged("a segment is followed by stray bytes");
    while (pos < jpeg.size() && Byte(jpeg, pos) == 0xFF) ++pos;  // fill bytes
    if (pos >= jpeg.size()) return Incomplete(kFormat, "it ends before its end marker");
    const uint8_t marker = Byte(jpeg, pos++);
    // Anything after the end marker is dropped: phones append a video
    // (motion photos) or further pictures (MPF) there.
    if (marker == kEoi) return out.append("\xFF\xD9", 2);
    if (marker == 0x00 || marker == 0xD8) return damaged("a marker is out of place");
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length, no payload
      out.push_back('\xFF');
      out.push_back(static_cast<char>(marker));
      continue;
    }
    if (jpeg.size() - pos < 2) return damaged("it ends inside a segment");
    const size_t length = Be16(jpeg, pos);
    if (length < 2) return damaged("a segment has an impossible length");
    if (jpeg.size() - pos < length) return damaged("it ends inside a segment");
    const std::string_view payload = jpeg.substr(pos + 2, length - 2);
    pos += length;
    if ((marker >= kApp0 && marker <= kApp15) || marker == kCom) {
      if (std::optional<std::string> kept = KeptPayload(marker, payload, orientation_kept)) {
        AppendSegment(out, marker, *kept);
      }
      continue;
    }
    AppendSegment(out, marker, payload);
    if (marker != kSos) continue;
    // The scan's entropy-coded data runs to the next marker: 0xFF followed
    // by neither a stuffed 0x00, a restart marker nor another 0xFF.
    in_image_data = true;
    const size_t start = pos;
    while (true) {
      if (jpeg.size() - pos < 2) return Incomplete(kFormat, "it ends inside its image data");
      if (Byte(jpeg, pos) == 0xFF) {
        const uint8_t next = Byte(jpeg, pos + 1);
        if (next != 0x00 && next != 0xFF && (next < 0xD0 || next > 0xD7)) break;
      }
      ++pos;
    }
    out.append(jpeg.substr(start, pos - start));
  }
}

absl::StatusOr<PictureSize> DecodeJpeg(std::string_view jpeg, int max_side) {
  JpegReport report;
  DecodeJpegInto(reinterpret_cast<const unsigned char*>(jpeg.data()), jpeg.size(), max_side,
                 &report);
  if (report.too_large) return CheckSize(report.width, report.height, max_side);
  if (report.failed) {
    return report.header_read ? Incomplete(kFormat, Sentence(report.message))
                              : NotA(kFormat, Sentence(report.message));
  }
  if (absl::Status size = CheckSize(report.width, report.height, max_side); !size.ok()) return size;
  return PictureSize{report.width, report.height};
}

}  // namespace profiles::pictures_internal
