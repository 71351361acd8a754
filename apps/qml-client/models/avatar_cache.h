#ifndef PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_

// AvatarCache tells QML where the pictures it shows are: the URL it hands
// out is image://avatars/<sha256 of the bytes>, so a picture travels by its
// hash, and the same picture shown in several places (list rows, the two
// sides of a conflict, an editor) is read and decoded once (QML's pixmap
// cache keeps decoded images by URL).
//
// A stored picture's bytes stay on disk (stored_picture.h) until an image
// loader thread reads them through the store's PictureShelf, the one the
// latest snapshot names (showFrom). Nothing is kept per row: a list of
// 10,000 profiles costs the cache nothing until a row is drawn. Only an
// editor's draft, which no store holds yet, is copied here, in a slot
// ("draft-<n>") that says who shows it, and dropped with its last slot.
//
// A URL changes whenever its picture does, so QML never shows a stale
// avatar:
//
//   cache.showFrom(snapshot.pictures);                            // per snapshot
//   QUrl source = cache.sourceFor(profile.avatar_sha256());       // in a model
//   Image { source: avatarSource }                                // in QML
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

  // The store whose pictures the URLs show from now on.
  void showFrom(std::shared_ptr<const PictureShelf> shelf);
  // The URL of stored picture `sha256` (lowercase hex), or an empty URL when
  // `sha256` is empty or the store does not hold it yet (a picture not
  // fetched gets its URL once it is).
  QUrl sourceFor(const std::string& sha256) const;
  // The URL of bytes only the caller has (an editor's draft), now shown in
  // `slot`: copied, once per picture; an empty URL (and the slot emptied)
  // for no bytes.
  QUrl sourceFor(const QString& slot, const std::string& bytes);
  void remove(const QString& slot);
  // The bytes behind the id of an image://avatars/<id> URL; empty if unknown.
  QByteArray bytesFor(const QString& id) const;

 private:
  struct Draft {
    std::shared_ptr<const std::string> bytes;
    int shown_in = 0;  // how many slots show it
  };
  // Forgets that `slot` shows a draft. REQUIRES: mutex_ held.
  void ReleaseLocked(const QString& slot);

  mutable QMutex mutex_;
  std::shared_ptr<const PictureShelf> shelf_;  // GUARDED_BY(mutex_)
  QHash<QString, Draft> drafts_;               // by sha256; GUARDED_BY(mutex_)
  QHash<QString, QString> slots_;              // slot -> sha256; GUARDED_BY(mutex_)
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
