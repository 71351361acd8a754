#include "apps/qml-client/models/avatar_image.h"

#include <QBuffer>
#include <QColorSpace>
#include <QImageReader>
#include <QPainter>

#include "libs/profile_contract/validation.h"

namespace profiles::client {
namespace {

QByteArray Encode(const QImage& image, const char* format, int quality) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  if (!image.save(&buffer, format, quality)) return {};
  return bytes;
}

bool Fits(const QByteArray& bytes) {
  return !bytes.isEmpty() && static_cast<size_t>(bytes.size()) <= kMaxAvatarBytes;
}

QImage ScaledToFit(const QImage& image, int side) {
  if (image.width() <= side && image.height() <= side) return image;
  return image.scaled(side, side, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

// JPEG has no alpha channel: transparent areas become white, not black.
QImage Opaque(const QImage& image) {
  if (!image.hasAlphaChannel()) return image;
  QImage opaque(image.size(), QImage::Format_RGB32);
  opaque.fill(Qt::white);
  QPainter painter(&opaque);
  painter.drawImage(0, 0, image);
  return opaque;
}

// The pixels of `image` without its text: QImageReader fills text() from a
// JPEG's comments and a PNG's text chunks, and Qt's writers write every
// entry back out (as COM segments, tEXt chunks), so a comment naming a place
// would travel with the avatar. QImage has no call that removes text, and
// copy(), scaled() and convertToFormat() all carry it along; a QImage made
// over the same pixels starts without any.
QImage WithoutMetadata(const QImage& image) {
  QImage bare(image.constBits(), image.width(), image.height(),
              static_cast<qsizetype>(image.bytesPerLine()), image.format());
  bare.setColorTable(image.colorTable());
  // How the colours are meant to look, not who took the picture where.
  bare.setColorSpace(image.colorSpace());
  return bare.copy();  // its own pixels: `bare` only borrows `image`'s
}

}  // namespace

absl::StatusOr<QByteArray> EncodeAvatar(const QImage& image) {
  if (image.isNull()) return absl::InvalidArgumentError("the picture is empty");
  const QImage scaled = ScaledToFit(WithoutMetadata(image), kMaxAvatarSide);
  if (scaled.hasAlphaChannel()) {
    QByteArray png = Encode(scaled, "PNG", -1);
    if (Fits(png)) return png;
  }
  // Lower quality first, then fewer pixels: at 512 px a JPEG is far below the
  // limit at quality 60 for any photo; the smaller sides are for noise.
  for (int side : {kMaxAvatarSide, kMaxAvatarSide * 3 / 4, kMaxAvatarSide / 2}) {
    const QImage opaque = Opaque(ScaledToFit(scaled, side));
    for (int quality : {90, 80, 70, 60, 50}) {
      QByteArray jpeg = Encode(opaque, "JPEG", quality);
      if (Fits(jpeg)) return jpeg;
    }
  }
  return absl::InternalError("the picture could not be made small enough");
}

absl::StatusOr<QByteArray> LoadAvatar(const QString& path) {
  QImageReader reader(path);
  reader.setAutoTransform(true);
  const QImage image = reader.read();
  if (image.isNull()) {
    return absl::InvalidArgumentError("this file is not a picture that can be read (" +
                                      reader.errorString().toStdString() + ")");
  }
  return EncodeAvatar(image);
}

}  // namespace profiles::client
