#ifndef PROFILES_APPS_QML_CLIENT_CORE_FOLDER_LOCK_H_
#define PROFILES_APPS_QML_CLIENT_CORE_FOLDER_LOCK_H_

// FolderLock: one owner for a data folder. Acquire() takes an exclusive
// flock(2) on a lock file in the folder and holds it until the FolderLock is
// destroyed; the file names the owner's process for the message another
// process gets.
//
// Why not QLockFile, which the store used first: QLockFile creates its file
// and writes its owner's process id in two steps, so a process killed
// between them leaves a file that names no owner, which Qt then takes for a
// live lock (for ever with a stale time of 0, or 30 s for its .rmlock helper
// file): the app could not open its own data again (the process restart test
// hit it about one kill in twelve). The kernel drops a flock when its holder
// dies, whatever state the file was left in, and a second open file of the
// same process conflicts too (flock locks belong to the open file).
//
// Move-only value. Not thread-safe.
//
//   absl::StatusOr<FolderLock> lock = FolderLock::Acquire(folder, "profiles.lock");
//   if (!lock.ok()) return lock.status();  // "... is already open in ... (process 123)"

#include <QString>

#include "absl/status/statusor.h"

namespace profiles::client {

class FolderLock {
 public:
  // FAILED_PRECONDITION naming the owner when another open file holds the
  // lock (another process, or another FolderLock of this one); INTERNAL
  // when the lock file cannot be created or locked.
  static absl::StatusOr<FolderLock> Acquire(const QString& directory, const char* file_name);

  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock();

 private:
  explicit FolderLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_FOLDER_LOCK_H_
