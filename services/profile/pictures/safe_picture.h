#ifndef PROFILES_SERVICES_PROFILE_PICTURES_SAFE_PICTURE_H_
#define PROFILES_SERVICES_PROFILE_PICTURES_SAFE_PICTURE_H_

// Pictures that are safe to serve: MakePictureSafe() accepts a picture only
// if it fully decodes as the type its first bytes claim (PNG, JPEG, WebP or
// GIF), at most kMaxPictureSide pixels on each side, and returns it without
// the metadata that tells where and with what it was taken.
//
//   absl::StatusOr<SafePicture> safe = MakePictureSafe(upload);
//   if (!safe.ok()) return safe.status();  // INVALID_ARGUMENT, for the user
//   Store(safe->bytes);
//
// What is removed, losslessly (the compressed image data is copied, never
// re-encoded, so the picture looks exactly as uploaded):
//   JPEG  every APPn segment but JFIF (APP0, without its thumbnail), the ICC
//         profile (APP2 "ICC_PROFILE") and Adobe (APP14, which says how to
//         convert the colours); so EXIF, XMP, Photoshop/IPTC, MPF and the
//         thumbnails they carry, and every comment (COM). An EXIF
//         orientation other than "upright" is kept as a new EXIF segment
//         holding that one tag, so portrait photos do not turn sideways.
//   PNG   every ancillary chunk except those that say how to show the pixels
//         (tRNS, cHRM, gAMA, iCCP, sBIT, sRGB, cICP, mDCv, cLLi, bKGD, hIST,
//         pHYs, sPLT) and animation (acTL, fcTL, fdAT): so tEXt, zTXt, iTXt,
//         eXIf, tIME and private chunks.
//   WebP  every chunk but VP8X, VP8, VP8L, ALPH, ANIM, ANMF and ICCP (so
//         EXIF and XMP), with VP8X's EXIF and XMP flags cleared and the RIFF
//         size fixed.
//   GIF   comment, plain text and application extensions, except the
//         looping ones (NETSCAPE2.0, ANIMEXTS1.0).
//   All   bytes after the end of the picture (phones append videos there).
// A picture with nothing to remove is returned byte for byte.
//
// Errors: INVALID_ARGUMENT with a message a user can act on ("the picture is
// 5000×300 pixels; at most 4096×4096", "the picture is not a complete JPEG:
// premature end of JPEG file", "the bytes start like a PNG but are not
// one"). The size is checked from the picture's header before any pixel is
// decoded, so a small file claiming a huge picture costs nothing; an
// animation is refused when its frames hold more than
// kMaxAnimationPixels pixels together.
//
// Cost: one full decode of the returned bytes (every row, every frame), one
// row of pixels in memory at a time (a progressive JPEG: its coefficients,
// at most ~100 MB at 4096×4096); about 0.1 s of CPU at 4096×4096.
//
// Pure and thread-safe.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace profiles {

inline constexpr int kMaxPictureSide = 4096;
// Eight frames of the largest size: bounds the CPU time of one check.
inline constexpr int64_t kMaxAnimationPixels = int64_t{8} * kMaxPictureSide * kMaxPictureSide;

struct SafePicture {
  // The picture as it may be stored and served.
  std::string bytes;
  // "image/png", "image/jpeg", "image/webp" or "image/gif" (static storage).
  std::string_view mime_type;
  int width = 0;
  int height = 0;
};

// `bytes` checked and stripped of metadata, as described above; or
// INVALID_ARGUMENT saying what is wrong with it.
absl::StatusOr<SafePicture> MakePictureSafe(std::string_view bytes);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_PICTURES_SAFE_PICTURE_H_
