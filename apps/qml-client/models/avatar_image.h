#ifndef PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_IMAGE_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_IMAGE_H_

// Turns a picked picture into avatar bytes the server accepts: at most
// kMaxAvatarSide pixels on each side and at most profiles::kMaxAvatarBytes,
// PNG when the picture has transparency and fits, JPEG otherwise. Runs on
// the device, so an avatar picked offline is queued already small. The
// result carries no metadata (no EXIF, GPS, comments or text chunks): only
// pixels leave the device, whatever the source file held.
//
//   absl::StatusOr<QByteArray> bytes = LoadAvatar(path);
//   if (bytes.ok()) sync.editProfile(id, name, email, *bytes, {"avatar"});
//
// Pure functions of their input (plus the file for LoadAvatar); thread-safe.

#include <QByteArray>
#include <QImage>
#include <QString>

#include "absl/status/statusor.h"

namespace profiles::client {

inline constexpr int kMaxAvatarSide = 512;

// INVALID_ARGUMENT for a null image; INTERNAL if no encoding fits.
absl::StatusOr<QByteArray> EncodeAvatar(const QImage& image);

// Reads the picture at `path` (EXIF orientation applied) and encodes it with
// EncodeAvatar; INVALID_ARGUMENT if it is not a readable image.
absl::StatusOr<QByteArray> LoadAvatar(const QString& path);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_IMAGE_H_
