#ifndef PROFILES_APPS_QML_CLIENT_CORE_STORE_FILES_H_
#define PROFILES_APPS_QML_CLIENT_CORE_STORE_FILES_H_

// StoreFiles: the few file operations the local store needs, behind an
// interface so that tests can make any of them fail (a full disk, a failed
// fsync or rename) and check what the store does then.
//
// The real implementation (RealStoreFiles) uses POSIX calls: no user-space
// buffer, so a write the disk refused is gone and never reaches the file
// later; Sync() is fsync(2).
//
// Durable atomic replacement, as the store does it: Create() a temporary
// file, Append(), Sync(), destroy it, Rename() it over the target, then
// SyncDirectory() so that the rename itself survives a power cut.
//
// Thread safety: a StoreFiles is thread-safe; a WritableStoreFile is used by
// one thread at a time; a ReadableStoreFile is thread-safe.

#include <QtCore/QIODevice>
#include <QtCore/QString>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles::client {

// An open file written at its end. Closed when destroyed.
class WritableStoreFile {
 public:
  virtual ~WritableStoreFile() = default;

  // Writes `data` at the end. On an error, a prefix of it may have been
  // written (see Truncate()).
  virtual absl::Status Append(std::string_view data) = 0;
  // Returns once everything appended is on the disk (fsync).
  virtual absl::Status Sync() = 0;
  // Cuts the file to its first `size` bytes; later appends go after them.
  virtual absl::Status Truncate(int64_t size) = 0;
};

// An open file read at any offset, from any thread: the store's pictures
// are read back from its records when the UI shows them or an edit is sent
// (stored_picture.h). Bytes appended to the file through another handle
// before a read are seen by it. The file stays readable as long as a handle
// is held, even after it was renamed over or replaced (a compaction), so a
// picture a view holds never vanishes under it.
class ReadableStoreFile {
 public:
  virtual ~ReadableStoreFile() = default;

  // Exactly `size` bytes from `offset`, or an error (a short read too).
  virtual absl::StatusOr<std::string> ReadAt(int64_t offset, size_t size) const = 0;
};

class StoreFiles {
 public:
  virtual ~StoreFiles() = default;

  // Opens `path` for appending, creating it empty if absent.
  virtual absl::StatusOr<std::unique_ptr<WritableStoreFile>> OpenForAppend(const QString& path) = 0;
  // Creates `path` empty, replacing any file there.
  virtual absl::StatusOr<std::unique_ptr<WritableStoreFile>> Create(const QString& path) = 0;
  // `path` opened for reading from its start (buffered, random access);
  // NOT_FOUND if there is no such file. A failed read returns -1 or short. Readers stream through
  // it rather than take it whole: a store of 10,000 profiles with pictures is tens of megabytes,
  // and two whole copies of it (Qt's and ours) were most of the time an open took.
  virtual absl::StatusOr<std::unique_ptr<QIODevice>> OpenForReading(const QString& path) = 0;
  // `path` opened for reads at any offset (see ReadableStoreFile);
  // NOT_FOUND if there is no such file.
  virtual absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> OpenForRandomAccess(
      const QString& path) = 0;
  // Renames `from` to `to`, atomically replacing any file `to`.
  virtual absl::Status Rename(const QString& from, const QString& to) = 0;
  // Makes the renames and creations in `directory` durable.
  virtual absl::Status SyncDirectory(const QString& directory) = 0;
};

// The files of the operating system. Never deleted.
StoreFiles* RealStoreFiles();

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_STORE_FILES_H_
