#include "services/profile/pictures/safe_picture.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/pictures/picture_formats.h"

namespace profiles {
namespace pictures_internal {

absl::Status NotA(std::string_view format, std::string_view detail) {
  // (Debian's Abseil has its own string_view, which StrCat takes; std's
  // is joined by hand.)
  std::string message = "the bytes start like a " + std::string(format) + " but are not one";
  if (!detail.empty()) message += " (" + std::string(detail) + ")";
  return absl::InvalidArgumentError(message);
}

absl::Status Incomplete(std::string_view format, std::string_view detail) {
  return absl::InvalidArgumentError("the picture is not a complete " + std::string(format) + ": " +
                                    std::string(detail));
}

absl::Status CheckSize(int64_t width, int64_t height, int max_side) {
  if (width < 1 || height < 1) return absl::InvalidArgumentError("the picture has no pixels");
  if (width <= max_side && height <= max_side) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("the picture is ", width, "×", height,
                                                 " pixels; at most ", max_side, "×", max_side));
}

absl::Status TooManyFrames(int64_t max_total_pixels) {
  return absl::InvalidArgumentError(
      absl::StrCat("the animation is too long: its frames may hold at most ",
                   max_total_pixels / (1000 * 1000), " million pixels together"));
}

}  // namespace pictures_internal

namespace {

using pictures_internal::PictureSize;

absl::StatusOr<SafePicture> Finish(absl::StatusOr<std::string> stripped,
                                   absl::StatusOr<PictureSize> (*decode)(std::string_view),
                                   std::string_view mime_type) {
  if (!stripped.ok()) return stripped.status();
  // Only the bytes that will be served are decoded: what is stored is
  // exactly what was checked, and one decode is enough.
  absl::StatusOr<PictureSize> size = decode(*stripped);
  if (!size.ok()) return size.status();
  return SafePicture{.bytes = *std::move(stripped),
                     .mime_type = mime_type,
                     .width = size->width,
                     .height = size->height};
}

absl::StatusOr<PictureSize> DecodeJpeg(std::string_view bytes) {
  return pictures_internal::DecodeJpeg(bytes, kMaxPictureSide);
}
absl::StatusOr<PictureSize> DecodePng(std::string_view bytes) {
  return pictures_internal::DecodePng(bytes, kMaxPictureSide);
}
absl::StatusOr<PictureSize> DecodeWebp(std::string_view bytes) {
  return pictures_internal::DecodeWebp(bytes, kMaxPictureSide, kMaxAnimationPixels);
}
absl::StatusOr<PictureSize> DecodeGif(std::string_view bytes) {
  return pictures_internal::DecodeGif(bytes, kMaxPictureSide, kMaxAnimationPixels);
}

}  // namespace

absl::StatusOr<SafePicture> MakePictureSafe(std::string_view bytes) {
  const std::optional<std::string_view> mime_type = ImageMimeType(bytes);
  if (!mime_type.has_value()) {
    return absl::InvalidArgumentError("the picture must be a PNG, JPEG, WebP or GIF image");
  }
  if (*mime_type == "image/jpeg") {
    return Finish(pictures_internal::StripJpegMetadata(bytes), DecodeJpeg, *mime_type);
  }
  if (*mime_type == "image/png") {
    return Finish(pictures_internal::StripPngMetadata(bytes), DecodePng, *mime_type);
  }
  if (*mime_type == "image/webp") {
    return Finish(pictures_internal::StripWebpMetadata(bytes), DecodeWebp, *mime_type);
  }
  return Finish(pictures_internal::StripGifMetadata(bytes), DecodeGif, *mime_type);
}

}  // namespace profiles
