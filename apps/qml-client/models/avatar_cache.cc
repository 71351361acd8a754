#include "apps/qml-client/models/avatar_cache.h"

#include <QMutexLocker>
#include <QPainter>
#include <QPainterPath>

#include "apps/qml-client/core/merge.h"

namespace profiles::client {

namespace {

QUrl UrlOf(const QString& sha) {
  return QUrl(QStringLiteral("image://") + QLatin1String(AvatarCache::kProviderName) + u'/' + sha);
}

}  // namespace

QUrl AvatarCache::sourceFor(const QString& slot, std::shared_ptr<const void> owner,
                            std::string_view bytes, const std::string& sha256) {
  if (bytes.empty()) {
    remove(slot);
    return {};
  }
  const QString sha = QString::fromStdString(sha256.empty() ? AvatarSha256(bytes) : sha256);
  {
    QMutexLocker lock(&mutex_);
    auto shown = slots_.find(slot);
    if (shown != slots_.end() && *shown != sha) {
      ReleaseLocked(slot);
      shown = slots_.end();
    }
    // One lookup of the picture per call: the list asks once per row.
    Picture& picture = pictures_[sha];
    if (shown == slots_.end()) {
      ++picture.shown_in;
      slots_.insert(slot, sha);
    }
    picture.owner = std::move(owner);
    picture.bytes = bytes;
  }
  return UrlOf(sha);
}

QUrl AvatarCache::sourceFor(const QString& slot, const std::string& bytes,
                            const std::string& sha256) {
  if (bytes.empty()) return sourceFor(slot, nullptr, {}, sha256);
  const std::string sha = sha256.empty() ? AvatarSha256(bytes) : sha256;
  {
    // Already shown there: no copy (an editor asks at every snapshot).
    QMutexLocker lock(&mutex_);
    if (const QString shown = QString::fromStdString(sha); slots_.value(slot) == shown) {
      return UrlOf(shown);
    }
  }
  auto copy = std::make_shared<const std::string>(bytes);
  const std::string_view view = *copy;
  return sourceFor(slot, std::move(copy), view, sha);
}

void AvatarCache::remove(const QString& slot) {
  QMutexLocker lock(&mutex_);
  ReleaseLocked(slot);
}

void AvatarCache::ReleaseLocked(const QString& slot) {
  const auto shown = slots_.find(slot);
  if (shown == slots_.end()) return;
  const auto picture = pictures_.find(*shown);
  if (picture != pictures_.end() && --picture->shown_in == 0) pictures_.erase(picture);
  slots_.erase(shown);
}

QByteArray AvatarCache::bytesFor(const QString& id) const {
  QMutexLocker lock(&mutex_);
  const auto it = pictures_.constFind(id);
  if (it == pictures_.constEnd()) return {};
  return QByteArray(it->bytes.data(), static_cast<qsizetype>(it->bytes.size()));
}

// Decoded on QML's image loader threads, never on the UI thread: a list
// scrolling through 256 KiB pictures would otherwise stutter at every row.
// QML's pixmap cache then keeps each decoded picture by URL, which changes
// only when the bytes do.
AvatarImageProvider::AvatarImageProvider(std::shared_ptr<const AvatarCache> cache)
    : QQuickImageProvider(QQuickImageProvider::Image,
                          QQmlImageProviderBase::ForceAsynchronousImageLoading),
      cache_(std::move(cache)) {}

QImage AvatarImageProvider::requestImage(const QString& id, QSize* size,
                                         const QSize& requested_size) {
  const QImage image = QImage::fromData(cache_->bytesFor(id));
  if (image.isNull()) return {};
  int side = qMin(image.width(), image.height());
  if (requested_size.isValid() && !requested_size.isEmpty()) {
    side = qMin(side, qMax(requested_size.width(), requested_size.height()));
  }
  // Crop the centre square, scaled to cover, and paint it through a circle.
  const QImage square =
      image.scaled(side, side, Qt::KeepAspectRatioByExpanding, Qt::SmoothTransformation);
  QImage round(side, side, QImage::Format_ARGB32_Premultiplied);
  round.fill(Qt::transparent);
  QPainter painter(&round);
  painter.setRenderHint(QPainter::Antialiasing);
  QPainterPath circle;
  circle.addEllipse(0, 0, side, side);
  painter.setClipPath(circle);
  painter.drawImage((side - square.width()) / 2, (side - square.height()) / 2, square);
  painter.end();
  if (size) *size = round.size();
  return round;
}

}  // namespace profiles::client
