#ifndef PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_AVATAR_CACHE_H_

// AvatarCache holds the avatar bytes the UI shows, by picture: the URL it
// hands out is image://avatars/<sha256 of the bytes>, so a picture travels
// by its hash, and the same picture shown in several places (a list row, the
// two sides of a conflict, an editor) is held once and decoded once (QML's
// pixmap cache keeps decoded images by URL). Slots ("p-<id>" for a list row,
// "mine-<id>" and "server-<id>" for a conflict, "draft-<n>" for an editor)
// say who shows which picture, so a picture no slot shows is dropped.
//
// A slot's URL changes whenever its picture does, so QML never shows a stale
// avatar; a slot whose picture did not change costs a hash lookup, never a
// comparison or copy of the bytes:
//
//   QUrl source = cache.sourceFor("p-" + id, profile.avatar(),
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

namespace profiles::client {

class AvatarCache {
 public:
  // The provider's name in image://avatars/... URLs.
  static constexpr char kProviderName[] = "avatars";

  // The URL of `bytes`, now shown in `slot`, or an empty URL (and the slot
  // emptied) when `bytes` is empty. `sha256` is the lowercase hex SHA-256 of
  // `bytes` when known (a server copy's avatar_sha256); empty: computed here.
  // `owner` keeps `bytes` alive (e.g. the snapshot's view that holds the
  // picture), so the cache holds no copy of its own: with 256 KiB pictures,
  // a copy per row doubled what the list costs in memory. The newest owner
  // of a picture is kept, so an old view is let go as soon as a new one
  // shows the same picture.
  QUrl sourceFor(const QString& slot, std::shared_ptr<const void> owner, std::string_view bytes,
                 const std::string& sha256 = {});
  // The same for bytes nobody else keeps (an editor's draft): copied.
  QUrl sourceFor(const QString& slot, const std::string& bytes, const std::string& sha256 = {});
  void remove(const QString& slot);
  // The bytes behind the id of an image://avatars/<id> URL; empty if unknown.
  QByteArray bytesFor(const QString& id) const;

 private:
  struct Picture {
    std::shared_ptr<const void> owner;  // keeps `bytes` alive
    std::string_view bytes;
    int shown_in = 0;  // how many slots show it
  };
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
