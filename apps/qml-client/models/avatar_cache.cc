#include "apps/qml-client/models/avatar_cache.h"

#include <QMutexLocker>
#include <QPainter>
#include <QPainterPath>

namespace profiles::client {

QUrl AvatarCache::sourceFor(const QString& slot, const std::string& bytes) {
  QMutexLocker lock(&mutex_);
  if (bytes.empty()) {
    entries_.remove(slot);
    return {};
  }
  Entry& entry = entries_[slot];
  if (entry.revision == 0 || entry.bytes != bytes) {
    entry.bytes = bytes;
    entry.revision = ++next_revision_;
  }
  return QUrl(QStringLiteral("image://%1/%2/%3")
                  .arg(QLatin1String(kProviderName), slot)
                  .arg(entry.revision));
}

void AvatarCache::remove(const QString& slot) {
  QMutexLocker lock(&mutex_);
  entries_.remove(slot);
}

QByteArray AvatarCache::bytesFor(const QString& id) const {
  // The revision after the last '/' only busts QML's pixmap cache.
  const QString slot = id.section(QLatin1Char('/'), 0, 0);
  QMutexLocker lock(&mutex_);
  const auto it = entries_.constFind(slot);
  if (it == entries_.constEnd()) return {};
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
