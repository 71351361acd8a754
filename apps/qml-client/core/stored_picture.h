#ifndef PROFILES_APPS_QML_CLIENT_CORE_STORED_PICTURE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_STORED_PICTURE_H_

// Pictures stay on disk: the store keeps a profile's picture bytes only in
// the record that brought them (in profiles.snapshot or profiles.journal)
// and remembers where that record is. In memory, every profile names its
// picture by avatar_sha256 alone; the UI and the sends read the bytes back
// when they need them.
//
// Why: 10,000 profiles with 200 KiB photos are 2 GB, which a phone does not
// have, and an open that faults in every picture took seconds. With the
// bytes left in the records the store's file format is unchanged, a picture
// is as durable as the record that brought it, and reading one back checks
// the record's checksum again.
//
//   StoredPicture  where one picture's bytes are; Read() fetches them
//   PictureShelf   the pictures the store's records hold, by sha256, shared
//                  with the UI's image loaders
//   TakePictures   after a record is written (or read on open): moves its
//                  pictures' bytes out of it, into the index's places
//   PutPicturesBack before a record is written again (a compaction): the
//                  bytes of the pictures it names
//
// Thread safety: a StoredPicture is an immutable value; Read() may be called
// from any thread (image loaders). A PictureShelf is thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/record_log.h"
#include "profile/client/v1/local_store.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

class StoredPicture {
 public:
  // No picture: Read() fails with NOT_FOUND.
  StoredPicture() = default;
  // In the record at `place`, `size` bytes long.
  StoredPicture(RecordPlace place, int64_t size) : place_(std::move(place)), size_(size) {}
  // In memory, for a shelf that no store fills (the UI's tests); an
  // editor's draft is held by the AvatarCache instead.
  static StoredPicture InMemory(std::string bytes);

  bool known() const { return size_ > 0; }
  // The picture's bytes (not the record's).
  int64_t size() const { return size_; }

  // The bytes of the picture whose SHA-256 is `sha256`. DATA_LOSS if the
  // record no longer reads back whole or no longer holds that picture (the
  // disk changed under the app); INTERNAL for a read error.
  absl::StatusOr<std::string> Read(const std::string& sha256) const;

 private:
  RecordPlace place_;
  std::shared_ptr<const std::string> bytes_;
  int64_t size_ = 0;
};

// The store's pictures by the lowercase hex SHA-256 of their bytes. Several
// profiles showing the same picture share one entry. An entry may outlive
// the last profile naming it until the next compaction, which replaces the
// whole shelf with what it wrote. Views name pictures by sha and read them
// through the shelf, so that after a compaction no view keeps the replaced
// files (and their disk space) alive.
class PictureShelf {
 public:
  bool Contains(const std::string& sha256) const;
  // The bytes of picture `sha256`; NOT_FOUND if the store does not hold it,
  // else as StoredPicture::Read().
  absl::StatusOr<std::string> Read(const std::string& sha256) const;
  // Notes where `sha256` is, unless the shelf has it already; true if it
  // did not.
  bool Add(const std::string& sha256, const StoredPicture& picture);
  // The place of `sha256`, or an unknown StoredPicture.
  StoredPicture Find(const std::string& sha256) const;
  // Takes every entry of `other` in place of this shelf's.
  void ReplaceWith(PictureShelf&& other);
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  // Hashed, not ordered: an open of 10,000 profiles looks every picture up
  // three times, and a tree of 64-character keys cost a tenth of it.
  absl::flat_hash_map<std::string, StoredPicture> pictures_;  // GUARDED_BY(mutex_)
};

// For every profile `record` carries with picture bytes (a server copy, the
// fields of an edit, a conflict's copy): sets its avatar_sha256 (computed if
// the record had none, as for a picture the user picked), notes in
// `pictures` that the record at `place` holds those bytes (keeping an entry
// already there), and drops the bytes from the record. Returns how many
// pictures the shelf did not have before.
int TakePictures(profile::client::v1::JournalRecord* record, const RecordPlace& place,
                 PictureShelf* pictures);

// The reverse, for writing `record` again: gives every profile it carries
// that names a picture (avatar_sha256 without bytes) the bytes from
// `pictures`, unless the picture's sha is in `written` (then another record
// of the same file holds it); adds what it filled to `written`. A picture
// the shelf lacks stays named only (its bytes were never fetched), and so
// does one that cannot be read back: the first such error is returned,
// after every other picture was filled.
absl::Status PutPicturesBack(const PictureShelf& pictures,
                             profile::client::v1::JournalRecord* record,
                             std::set<std::string>* written);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_STORED_PICTURE_H_
