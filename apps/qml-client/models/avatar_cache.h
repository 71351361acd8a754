#ifndef PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_

// AvatarCache holds the avatar bytes the UI shows, by slot ("p-<id>" for a
// list row, "mine-<id>" and "server-<id>" for the two sides of a conflict,
// "draft-<n>" for an editor's picture), and hands out image://avatars/ URLs
// for them.
// AvatarImageProvider serves those URLs as round images, so avatars come from
// the local store and show offline.
//
// A slot's URL changes whenever its bytes change, so QML's pixmap cache never
// shows a stale avatar:
//
//   QUrl source = cache.sourceFor("p-" + id, profile.avatar());  // in a model
//   Image { source: avatarSource }                              // in QML
//
// Thread-safe: the UI thread publishes, image loader threads read.

#include <QByteArray>
#include <QHash>
#include <QImage>
#include <QMutex>
#include <QQuickImageProvider>
#include <QString>
#include <QUrl>
#include <memory>
#include <string>

namespace profiles::client {

class AvatarCache {
 public:
  // The provider's name in image://avatars/... URLs.
  static constexpr char kProviderName[] = "avatars";

  // The URL of `bytes` in `slot`, or an empty URL (and the slot emptied)
  // when `bytes` is empty.
  QUrl sourceFor(const QString& slot, const std::string& bytes);
  void remove(const QString& slot);
  // The bytes behind the id of an image://avatars/<id> URL; empty if unknown.
  QByteArray bytesFor(const QString& id) const;

 private:
  struct Entry {
    std::string bytes;
    quint64 revision = 0;
  };
  mutable QMutex mutex_;
  QHash<QString, Entry> entries_;  // GUARDED_BY(mutex_)
  quint64 next_revision_ = 0;      // GUARDED_BY(mutex_)
};

// Serves image://avatars/<id> as a circular image (avatars are always shown
// round), scaled to the requested size. Shares ownership of the cache.
class AvatarImageProvider : public QQuickImageProvider {
 public:
  explicit AvatarImageProvider(std::shared_ptr<const AvatarCache> cache);
  QImage requestImage(const QString& id, QSize* size, const QSize& requested_size) override;

 private:
  const std::shared_ptr<const AvatarCache> cache_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_
