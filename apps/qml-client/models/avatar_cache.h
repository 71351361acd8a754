#ifndef PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_

// AvatarCache says where the pictures the UI shows are, by picture: the URL
// it hands out is image://avatars/<sha256 of the bytes>, so a picture travels
// by its hash, and the same picture shown in several places (a list row, the
// two sides of a conflict, an editor) is read and decoded once (QML's pixmap
// cache keeps decoded images by URL). Slots ("p-<id>" for a list row,
// "mine-<id>" and "server-<id>" for a conflict, "draft-<n>" for an editor)
// say who shows which picture, so a picture no slot shows is forgotten.
//
// The bytes of a stored picture stay on disk (stored_picture.h) until an
// image loader thread reads them through the store's PictureShelf; only an
// editor's draft is held in memory.
//
// A slot's URL changes whenever its picture does, so QML never shows a stale
// avatar; a slot whose picture did not change costs a hash lookup:
//
//   QUrl source = cache.sourceFor("p-" + id, snapshot.pictures,
//                                 profile.avatar_sha256());      // in a model
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
#include <string_view>

#include "apps/qml-client/core/stored_picture.h"

namespace profiles::client {

class AvatarCache {
 public:
  // The provider's name in image://avatars/... URLs.
  static constexpr char kProviderName[] = "avatars";

  // The URL of stored picture `sha256` (lowercase hex), now shown in `slot`,
  // read through `shelf` when shown; an empty URL (and the slot emptied)
  // when `sha256` is empty or `shelf` does not hold it (yet: a picture not
  // fetched has no URL until it is). The newest shelf is kept.
  QUrl sourceFor(const QString& slot, std::shared_ptr<const PictureShelf> shelf,
                 const std::string& sha256);
  // The same for bytes only the caller has (an editor's draft): copied.
  QUrl sourceFor(const QString& slot, const std::string& bytes);
  void remove(const QString& slot);
  // The bytes behind the id of an image://avatars/<id> URL; empty if unknown.
  QByteArray bytesFor(const QString& id) const;

 private:
  struct Picture {
    std::shared_ptr<const PictureShelf> shelf;  // where it is stored, or
    std::shared_ptr<const std::string> bytes;   // a draft's copy
    int shown_in = 0;                           // how many slots show it
  };
  // Notes that `slot` shows the picture `sha` and returns it.
  // REQUIRES: mutex_ held.
  Picture& ShowLocked(const QString& slot, const QString& sha);
  // Forgets that `slot` shows a picture. REQUIRES: mutex_ held.
  void ReleaseLocked(const QString& slot);

  mutable QMutex mutex_;
  QHash<QString, Picture> pictures_;  // by sha256; GUARDED_BY(mutex_)
  QHash<QString, QString> slots_;     // slot -> sha256; GUARDED_BY(mutex_)
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
