#include "apps/qml-client/core/store_files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QtCore/QFile>
#include <cstdio>
#include <string>
#include <utility>

namespace profiles::client {
namespace {

absl::Status ErrnoError(std::string_view what, const QString& path, int error) {
  return absl::InternalError(std::string(what) + " " + path.toStdString() + ": " + strerror(error));
}

class PosixFile final : public WritableStoreFile {
 public:
  PosixFile(QString path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  absl::Status Append(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t written = ::write(fd_, data.data(), data.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(written));
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (::fsync(fd_) != 0) return ErrnoError("cannot sync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return ErrnoError("cannot truncate", path_, errno);
    }
    return absl::OkStatus();
  }

 private:
  const QString path_;
  const int fd_;
};

class PosixReadableFile final : public ReadableStoreFile {
 public:
  PosixReadableFile(QString path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixReadableFile() override { ::close(fd_); }

  absl::StatusOr<std::string> ReadAt(int64_t offset, size_t size) const override {
    std::string bytes(size, '\0');
    size_t done = 0;
    while (done < size) {
      const ssize_t read = ::pread(fd_, bytes.data() + done, size - done,
                                   static_cast<off_t>(offset + static_cast<int64_t>(done)));
      if (read < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", path_, errno);
      }
      if (read == 0) {
        return absl::DataLossError("cannot read " + path_.toStdString() + ": " +
                                   std::to_string(size) + " bytes at offset " +
                                   std::to_string(offset) + " run past its end");
      }
      done += static_cast<size_t>(read);
    }
    return bytes;
  }

 private:
  const QString path_;
  const int fd_;
};

class PosixStoreFiles final : public StoreFiles {
 public:
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> OpenForAppend(const QString& path) override {
    return Open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC);
  }

  absl::StatusOr<std::unique_ptr<WritableStoreFile>> Create(const QString& path) override {
    return Open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC);
  }

  absl::StatusOr<std::unique_ptr<QIODevice>> OpenForReading(const QString& path) override {
    auto file = std::make_unique<QFile>(path);
    if (!file->exists()) return absl::NotFoundError("no file " + path.toStdString());
    if (!file->open(QIODevice::ReadOnly)) {
      return absl::InternalError("cannot read " + path.toStdString() + ": " +
                                 file->errorString().toStdString());
    }
    return file;
  }

  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> OpenForRandomAccess(
      const QString& path) override {
    const int fd = ::open(QFile::encodeName(path).constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return absl::NotFoundError("no file " + path.toStdString());
      return ErrnoError("cannot open", path, errno);
    }
    return std::make_shared<const PosixReadableFile>(path, fd);
  }

  absl::Status Rename(const QString& from, const QString& to) override {
    if (::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) != 0) {
      return ErrnoError("cannot rename to " + to.toStdString() + ":", from, errno);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDirectory(const QString& directory) override {
    const int fd = ::open(QFile::encodeName(directory).constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError("cannot open", directory, errno);
    const int result = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (result != 0) return ErrnoError("cannot sync", directory, error);
    return absl::OkStatus();
  }

 private:
  static absl::StatusOr<std::unique_ptr<WritableStoreFile>> Open(const QString& path, int flags) {
    const int fd = ::open(QFile::encodeName(path).constData(), flags, 0644);
    if (fd < 0) return ErrnoError("cannot open", path, errno);
    return std::make_unique<PosixFile>(path, fd);
  }
};

}  // namespace

StoreFiles* RealStoreFiles() {
  static StoreFiles* const files = new PosixStoreFiles();
  return files;
}

}  // namespace profiles::client
