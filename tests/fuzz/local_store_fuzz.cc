// Fuzz target: the app's local store reader (apps/qml-client/core/): the
// framing (record_io.h), recovery and schema upgrades (record_log.h), the
// reducer (store_state.h) and LocalStore::Open, on store files made up by the
// fuzzer and held in memory (only the folder's lock file is on disk).
//
// Input: a flags byte, the snapshot's length (uint16 little-endian), the
// snapshot's bytes, then the journal's bytes to the end.
//   flags bit 0  there is a profiles.snapshot
//   flags bit 1  there is a profiles.journal
//   flags bit 2  the checksum of every whole frame is made right first, so
//                that mutated records get past the CRC to the protobuf
//                parser and the reducer
//
// Invariants: only files of a newer schema make Open() fail (the memory
// files never fail); the pending-mutation index equals one rebuilt from
// scratch; a compaction writes files that open cleanly (nothing to repair)
// to exactly the same state.

#include <google/protobuf/stubs/logging.h>

#include <QtCore/QBuffer>
#include <QtCore/QDir>
#include <QtCore/QLoggingCategory>
#include <QtCore/QTemporaryDir>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/record_io.h"
#include "apps/qml-client/core/store_files.h"
#include "apps/qml-client/core/test_util.h"
#include "tests/fuzz/fuzz_check.h"

namespace profiles::client {
namespace {

// Store files in memory, by path. Never fails.
// Files in memory, with the inode semantics the store relies on: Create()
// makes a new file, Rename() moves it, and a handle keeps its file.
class MemoryStoreFiles final : public StoreFiles {
 public:
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> OpenForAppend(const QString& path) override {
    std::shared_ptr<std::string>& file = files_[path];
    if (file == nullptr) file = std::make_shared<std::string>();
    return std::unique_ptr<WritableStoreFile>(new File(file));
  }
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> Create(const QString& path) override {
    files_[path] = std::make_shared<std::string>();
    return std::unique_ptr<WritableStoreFile>(new File(files_[path]));
  }
  absl::StatusOr<std::unique_ptr<QIODevice>> OpenForReading(const QString& path) override {
    const auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(path.toStdString());
    auto buffer = std::make_unique<QBuffer>();
    buffer->setData(it->second->data(), static_cast<qsizetype>(it->second->size()));
    buffer->open(QIODevice::ReadOnly);
    return buffer;
  }
  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> OpenForRandomAccess(
      const QString& path) override {
    const auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(path.toStdString());
    return std::shared_ptr<const ReadableStoreFile>(std::make_shared<const Readable>(it->second));
  }
  absl::Status Rename(const QString& from, const QString& to) override {
    const auto it = files_.find(from);
    if (it == files_.end()) return absl::NotFoundError(from.toStdString());
    std::shared_ptr<std::string> file = std::move(it->second);
    files_.erase(it);
    files_[to] = std::move(file);
    return absl::OkStatus();
  }
  absl::Status SyncDirectory(const QString&) override { return absl::OkStatus(); }

  void Put(const QString& path, std::string bytes) {
    files_[path] = std::make_shared<std::string>(std::move(bytes));
  }

 private:
  class File final : public WritableStoreFile {
   public:
    explicit File(std::shared_ptr<std::string> bytes) : bytes_(std::move(bytes)) {}
    absl::Status Append(std::string_view data) override {
      bytes_->append(data);
      return absl::OkStatus();
    }
    absl::Status Sync() override { return absl::OkStatus(); }
    absl::Status Truncate(int64_t size) override {
      bytes_->resize(static_cast<size_t>(size));
      return absl::OkStatus();
    }

   private:
    const std::shared_ptr<std::string> bytes_;
  };

  class Readable final : public ReadableStoreFile {
   public:
    explicit Readable(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
    absl::StatusOr<std::string> ReadAt(int64_t offset, size_t size) const override {
      if (offset < 0 || static_cast<size_t>(offset) + size > bytes_->size()) {
        return absl::DataLossError("read past the end");
      }
      return bytes_->substr(static_cast<size_t>(offset), size);
    }

   private:
    const std::shared_ptr<const std::string> bytes_;
  };

  std::map<QString, std::shared_ptr<std::string>> files_;
};

// Makes the checksum of every whole frame after the magic right.
void FixChecksums(std::string* file) {
  size_t at = kFileMagic.size();
  if (file->substr(0, at) != kFileMagic) return;
  while (file->size() - at >= kFrameHeaderBytes) {
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i)
      length |= uint32_t{static_cast<uint8_t>((*file)[at + i])} << (8 * i);
    if (length > kMaxFramePayload || length > file->size() - at - kFrameHeaderBytes) return;
    WriteFrameHeader(std::string_view(*file).substr(at + kFrameHeaderBytes, length),
                     file->data() + at);
    at += kFrameHeaderBytes + length;
  }
}

// The folder whose lock file the stores take; the store files themselves
// stay in memory. Removed at exit.
const QString& LockFolder() {
  static QTemporaryDir folder;
  static const QString path = [] {
    // No log lines for every damaged file the fuzzer makes up (the store's,
    // and protobuf's about strings that are not UTF-8).
    QLoggingCategory::setFilterRules(QStringLiteral("profiles.client.*=false"));
    google::protobuf::SetLogHandler(nullptr);
    return folder.path();
  }();
  return path;
}

// Everything in `state` as text (test_util.h's Digest() and the server the
// store belongs to).
std::string Digest(const StoreState& state) {
  return testing::Digest(state) + " database=" + state.database_id;
}

void CheckStore(std::string_view input) {
  if (input.size() < 3) return;
  const uint8_t flags = static_cast<uint8_t>(input[0]);
  const size_t snapshot_size =
      uint32_t{static_cast<uint8_t>(input[1])} | uint32_t{static_cast<uint8_t>(input[2])} << 8;
  input.remove_prefix(3);
  std::string snapshot(input.substr(0, snapshot_size));
  std::string journal(input.substr(snapshot.size()));
  if ((flags & 4) != 0) {
    FixChecksums(&snapshot);
    FixChecksums(&journal);
  }

  const QString folder = LockFolder();
  MemoryStoreFiles files;
  if ((flags & 1) != 0) files.Put(QDir(folder).filePath(kSnapshotFileName), std::move(snapshot));
  if ((flags & 2) != 0) files.Put(QDir(folder).filePath(kJournalFileName), std::move(journal));

  std::string digest;
  {
    absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(folder, {}, &files);
    if (!store.ok()) {
      FUZZ_CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition) << store.status();
      return;
    }
    const StoreState& state = (*store)->state();
    FUZZ_CHECK(state.index == testing::RebuiltIndex(state)) << Digest(state);
    DescribeRepair((*store)->open_report());
    digest = Digest(state);
    const absl::Status compacted = (*store)->Compact();
    FUZZ_CHECK(compacted.ok()) << compacted;
  }
  absl::StatusOr<std::unique_ptr<LocalStore>> reopened = LocalStore::Open(folder, {}, &files);
  FUZZ_CHECK(reopened.ok()) << reopened.status();
  const StoreOpenReport& report = (*reopened)->open_report();
  FUZZ_CHECK(report.problems.empty() && report.dropped_journal_bytes == 0 &&
             !report.stale_journal_discarded && report.migrated_from_version == 0)
      << DescribeRepair(report);
  FUZZ_CHECK(Digest((*reopened)->state()) == digest) << "before compaction:\n"
                                                     << digest << "\nafter:\n"
                                                     << Digest((*reopened)->state());
}

}  // namespace
}  // namespace profiles::client

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  profiles::client::CheckStore(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
