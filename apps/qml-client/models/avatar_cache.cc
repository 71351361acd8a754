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

void AvatarCache::showFrom(std::shared_ptr<const PictureShelf> shelf) {
  QMutexLocker lock(&mutex_);
  shelf_ = std::move(shelf);
}

QUrl AvatarCache::sourceFor(const std::string& sha256) const {
  if (sha256.empty()) return {};
  std::shared_ptr<const PictureShelf> shelf;
  {
    QMutexLocker lock(&mutex_);
    shelf = shelf_;
  }
  if (shelf == nullptr || !shelf->Contains(sha256)) return {};
  return UrlOf(QString::fromStdString(sha256));
}

QUrl AvatarCache::sourceFor(const QString& slot, const std::string& bytes) {
  if (bytes.empty()) {
    remove(slot);
    return {};
  }
  const QString sha = QString::fromStdString(AvatarSha256(bytes));
  QMutexLocker lock(&mutex_);
  auto shown = slots_.find(slot);
  if (shown != slots_.end() && *shown != sha) {
    ReleaseLocked(slot);
    shown = slots_.end();
  }
  Draft& draft = drafts_[sha];
  if (shown == slots_.end()) {
    ++draft.shown_in;
    slots_.insert(slot, sha);
  }
  // Already held (an editor asks at every snapshot): no copy.
  if (draft.bytes == nullptr) draft.bytes = std::make_shared<const std::string>(bytes);
  return UrlOf(sha);
}

void AvatarCache::remove(const QString& slot) {
  QMutexLocker lock(&mutex_);
  ReleaseLocked(slot);
}

void AvatarCache::ReleaseLocked(const QString& slot) {
  const auto shown = slots_.find(slot);
  if (shown == slots_.end()) return;
  const auto draft = drafts_.find(*shown);
  if (draft != drafts_.end() && --draft->shown_in == 0) drafts_.erase(draft);
  slots_.erase(shown);
}

QByteArray AvatarCache::bytesFor(const QString& id) const {
  std::shared_ptr<const PictureShelf> shelf;
  {
    QMutexLocker lock(&mutex_);
    if (const auto draft = drafts_.constFind(id); draft != drafts_.constEnd()) {
      return QByteArray::fromStdString(*draft->bytes);
    }
    shelf = shelf_;
  }
  if (shelf == nullptr) return {};
  // Read outside the lock, on the loader thread that asked.
  absl::StatusOr<std::string> bytes = shelf->Read(id.toStdString());
  if (absl::IsNotFound(bytes.status())) return {};
  if (!bytes.ok()) {
    qWarning("cannot show picture %s: %s", qPrintable(id), bytes.status().ToString().c_str());
    return {};
  }
  return QByteArray::fromStdString(*bytes);
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
