#include "apps/qml-client/core/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <QCoreApplication>
#include <QDir>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace profiles::client {
namespace {

std::string ErrorText(int error) { return std::strerror(error); }

// "<app> (process <pid>)" from the lock file's "<pid>\n<app>\n", or a
// general phrase when the owner has not written it yet.
std::string OwnerOf(int fd) {
  char buffer[256];
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "another process";
  const std::string text(buffer, static_cast<size_t>(n));
  const size_t end_of_pid = text.find('\n');
  const std::string pid = text.substr(0, end_of_pid);
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) {
    return "another process";
  }
  std::string app = end_of_pid == std::string::npos ? "" : text.substr(end_of_pid + 1);
  if (const size_t newline = app.find('\n'); newline != std::string::npos) app.resize(newline);
  return (app.empty() ? std::string("a process") : app) + " (process " + pid + ")";
}

}  // namespace

absl::StatusOr<FolderLock> FolderLock::Acquire(const QString& directory, const char* file_name) {
  const std::string path = QDir(directory).filePath(file_name).toStdString();
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError("cannot create the lock file " + path + ": " + ErrorText(errno));
  }
  FolderLock lock(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          "the data folder " + directory.toStdString() + " is already open in " + OwnerOf(fd) +
          "; only one app at a time may use a data folder: close the other one, or use another "
          "folder");
    }
    return absl::InternalError("cannot lock " + path + ": " + ErrorText(error));
  }
  // For the message of whoever is refused; the lock itself is the flock.
  const std::string owner =
      std::to_string(getpid()) + "\n" + QCoreApplication::applicationName().toStdString() + "\n";
  if (ftruncate(fd, 0) != 0 ||
      pwrite(fd, owner.data(), owner.size(), 0) != static_cast<ssize_t>(owner.size())) {
    return absl::InternalError("cannot write the lock file " + path + ": " + ErrorText(errno));
  }
  return lock;
}

FolderLock::FolderLock(FolderLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FolderLock& FolderLock::operator=(FolderLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FolderLock::~FolderLock() {
  // Closing the last descriptor of the open file releases the flock.
  if (fd_ >= 0) close(fd_);
}

}  // namespace profiles::client
