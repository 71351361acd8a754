#ifndef PROFILES_SERVICES_PROFILE_PICTURES_PICTURE_FORMATS_H_
#define PROFILES_SERVICES_PROFILE_PICTURES_PICTURE_FORMATS_H_

// Internal to profile_pictures: one pair of functions per format, used by
// MakePictureSafe() (safe_picture.h).
//
// Strip*Metadata walks the file's segments or chunks and copies those that
// draw the picture. It is written by hand because none of the decoding
// libraries rewrites a file without re-encoding it (libpng, libjpeg and
// giflib only decode and encode pixels; libexif only reads), and a re-encode
// would lose quality. The walk also checks the file's structure (lengths,
// PNG CRCs, the end marker), so it refuses truncated files by itself.
//
// Decode* decodes every pixel of a picture, one row at a time, after
// checking its size from the header; it returns the size.
//
// All return INVALID_ARGUMENT with a message for the user (the helpers
// below). Pure and thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles::pictures_internal {

struct PictureSize {
  int width = 0;
  int height = 0;
};

absl::StatusOr<std::string> StripJpegMetadata(std::string_view jpeg);
absl::StatusOr<PictureSize> DecodeJpeg(std::string_view jpeg, int max_side);

absl::StatusOr<std::string> StripPngMetadata(std::string_view png);
absl::StatusOr<PictureSize> DecodePng(std::string_view png, int max_side);

absl::StatusOr<std::string> StripWebpMetadata(std::string_view webp);
absl::StatusOr<PictureSize> DecodeWebp(std::string_view webp, int max_side,
                                       int64_t max_total_pixels);

absl::StatusOr<std::string> StripGifMetadata(std::string_view gif);
absl::StatusOr<PictureSize> DecodeGif(std::string_view gif, int max_side, int64_t max_total_pixels);

// "the bytes start like a PNG but are not one" (+ " (detail)").
absl::Status NotA(std::string_view format, std::string_view detail = {});
// "the picture is not a complete PNG: detail".
absl::Status Incomplete(std::string_view format, std::string_view detail);
// OK, or "the picture is 5000×300 pixels; at most 4096×4096" (or "has no
// pixels").
absl::Status CheckSize(int64_t width, int64_t height, int max_side);
// "the animation is too long: ...".
absl::Status TooManyFrames(int64_t max_total_pixels);

// The byte at `at`, and big- and little-endian reads. REQUIRES: the bytes
// are there.
inline uint8_t Byte(std::string_view s, size_t at) { return static_cast<uint8_t>(s[at]); }
inline uint32_t Be16(std::string_view s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 8) | static_cast<uint8_t>(s[at + 1]);
}
inline uint32_t Be32(std::string_view s, size_t at) {
  return (Be16(s, at) << 16) | Be16(s, at + 2);
}
inline uint32_t Le16(std::string_view s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at + 1])} << 8) | static_cast<uint8_t>(s[at]);
}
inline uint32_t Le32(std::string_view s, size_t at) {
  return (Le16(s, at + 2) << 16) | Le16(s, at);
}

}  // namespace profiles::pictures_internal

#endif  // PROFILES_SERVICES_PROFILE_PICTURES_PICTURE_FORMATS_H_
