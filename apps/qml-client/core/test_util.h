#ifndef PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_
#define PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_

// Helpers shared by the client core's tests. Test-only.

#include <QtCore/QIODevice>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/store_files.h"
#include "google/protobuf/field_mask.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client::testing {

inline profile::v1::Profile MakeProfile(const std::string& id, const std::string& name,
                                        const std::string& email, int64_t version) {
  profile::v1::Profile profile;
  profile.set_id(id);
  profile.set_name(name);
  profile.set_email(email);
  profile.set_version(version);
  return profile;
}

inline google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* path : paths) mask.add_paths(path);
  return mask;
}

// Everything in `state`, as text (maps print sorted), for comparisons.
// `size` distinct, incompressible bytes for `seed` (xorshift), as a
// picture's are.
inline std::string NoisyBytes(int seed, size_t size) {
  std::string bytes(size, '\0');
  uint32_t x = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (char& c : bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return bytes;
}

// The bytes of the picture `profile` names, read back from the store as the
// UI reads them; empty for none or one the store does not hold.
inline std::string PictureOf(const PictureShelf& pictures, const profile::v1::Profile& profile) {
  if (!profile.avatar().empty()) return profile.avatar();
  if (profile.avatar_sha256().empty()) return {};
  absl::StatusOr<std::string> bytes = pictures.Read(profile.avatar_sha256());
  return bytes.ok() ? *bytes : std::string();
}
inline std::string PictureOf(const StoreState& state, const profile::v1::Profile& profile) {
  return PictureOf(*state.pictures, profile);
}

inline std::string Digest(const StoreState& state) {
  std::string digest;
  for (const auto& [id, profile] : state.profiles) digest += profile->ShortDebugString() + "\n";
  for (const auto& [sequence, mutation] : state.pending) {
    digest += std::to_string(sequence) + ": " + mutation.ShortDebugString() + "\n";
  }
  for (const auto& [id, fields] : state.merge_notes) {
    digest += "merged " + id + ":";
    for (const std::string& field : fields) digest += " " + field;
    digest += "\n";
  }
  // The pictures named, by whether their bytes read back (a merge base only
  // names the picture the user saw, and is left out).
  std::set<std::string> named;
  for (const auto& [id, profile] : state.profiles) named.insert(profile->avatar_sha256());
  for (const auto& [sequence, mutation] : state.pending) {
    named.insert(mutation.fields().avatar_sha256());
    named.insert(mutation.server_profile().avatar_sha256());
  }
  named.erase("");
  for (const std::string& sha : named) {
    absl::StatusOr<std::string> bytes = state.pictures->Read(sha);
    digest += "picture " + sha + ": " +
              (bytes.ok() ? std::to_string(bytes->size()) + " bytes" : "absent") + "\n";
  }
  digest += "cursor=" + state.cursor + " next=" + std::to_string(state.next_sequence);
  return digest;
}

// The index of `state.pending` computed from scratch by walking every
// mutation, the way the queue found things before the index existed: the
// reference the reducer's incremental index must equal.
inline PendingIndex RebuiltIndex(const StoreState& state) {
  PendingIndex index;
  std::set<std::string> heads_seen;
  for (const auto& [sequence, mutation] : state.pending) {
    index.by_profile[mutation.profile_id()].insert(sequence);
    index.by_mutation_id.emplace(mutation.mutation_id(), sequence);
    if (mutation.state() == profile::client::v1::PendingMutation::STATE_PARKED) {
      index.parked.insert(sequence);
      continue;
    }
    if (heads_seen.insert(mutation.profile_id()).second &&
        mutation.state() == profile::client::v1::PendingMutation::STATE_QUEUED) {
      index.sendable.insert(sequence);
    }
  }
  return index;
}

// TEST ONLY: the real files, except that chosen calls fail. FailNth(op, n)
// makes the n-th next call of `op` fail (1 = the very next one) with
// INTERNAL "injected fault"; a failing Append may first write half its data
// (a short write, as a full disk does).
class FaultInjectingStoreFiles final : public StoreFiles {
 public:
  enum class Op { kAppend, kSync, kTruncate, kRename, kSyncDirectory };

  void FailNth(Op op, int n, bool short_write = false) {
    countdown_[op] = n;
    if (op == Op::kAppend) short_write_ = short_write;
  }

  absl::StatusOr<std::unique_ptr<WritableStoreFile>> OpenForAppend(const QString& path) override {
    return Wrap(real_->OpenForAppend(path));
  }
  absl::StatusOr<std::unique_ptr<WritableStoreFile>> Create(const QString& path) override {
    return Wrap(real_->Create(path));
  }
  // Files opened for reading from now on fail (as a disk returning EIO)
  // once `bytes` of them were read.
  void FailReadsAfter(int64_t bytes) { fail_reads_after_ = bytes; }

  absl::StatusOr<std::unique_ptr<QIODevice>> OpenForReading(const QString& path) override {
    absl::StatusOr<std::unique_ptr<QIODevice>> file = real_->OpenForReading(path);
    if (!file.ok() || fail_reads_after_ < 0) return file;
    auto failing = std::make_unique<FailingReads>(*std::move(file), fail_reads_after_);
    failing->open(QIODevice::ReadOnly);
    return failing;
  }
  // From now on every read at an offset (a picture read back) fails, as a
  // disk returning EIO; false: they work again.
  void FailRandomReads(bool fail) { fail_random_reads_->store(fail); }

  absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> OpenForRandomAccess(
      const QString& path) override {
    absl::StatusOr<std::shared_ptr<const ReadableStoreFile>> file =
        real_->OpenForRandomAccess(path);
    if (!file.ok()) return file;
    return std::shared_ptr<const ReadableStoreFile>(
        std::make_shared<const Readable>(*std::move(file), fail_random_reads_));
  }
  absl::Status Rename(const QString& from, const QString& to) override {
    if (Fails(Op::kRename)) return Injected();
    return real_->Rename(from, to);
  }
  absl::Status SyncDirectory(const QString& directory) override {
    if (Fails(Op::kSyncDirectory)) return Injected();
    return real_->SyncDirectory(directory);
  }

 private:
  class File final : public WritableStoreFile {
   public:
    File(FaultInjectingStoreFiles* files, std::unique_ptr<WritableStoreFile> real)
        : files_(files), real_(std::move(real)) {}
    absl::Status Append(std::string_view data) override {
      if (!files_->Fails(Op::kAppend)) return real_->Append(data);
      if (files_->short_write_) real_->Append(data.substr(0, data.size() / 2)).IgnoreError();
      return Injected();
    }
    absl::Status Sync() override { return files_->Fails(Op::kSync) ? Injected() : real_->Sync(); }
    absl::Status Truncate(int64_t size) override {
      return files_->Fails(Op::kTruncate) ? Injected() : real_->Truncate(size);
    }

   private:
    FaultInjectingStoreFiles* const files_;
    const std::unique_ptr<WritableStoreFile> real_;
  };

  class Readable final : public ReadableStoreFile {
   public:
    Readable(std::shared_ptr<const ReadableStoreFile> real, std::shared_ptr<std::atomic<bool>> fail)
        : real_(std::move(real)), fail_(std::move(fail)) {}
    absl::StatusOr<std::string> ReadAt(int64_t offset, size_t size) const override {
      if (fail_->load()) return Injected();
      return real_->ReadAt(offset, size);
    }

   private:
    const std::shared_ptr<const ReadableStoreFile> real_;
    const std::shared_ptr<std::atomic<bool>> fail_;
  };

  // Passes reads through until `limit` bytes, then fails them.
  class FailingReads final : public QIODevice {
   public:
    FailingReads(std::unique_ptr<QIODevice> real, int64_t limit)
        : real_(std::move(real)), limit_(limit) {}
    qint64 size() const override { return real_->size(); }
    bool seek(qint64 pos) override { return QIODevice::seek(pos) && real_->seek(pos); }

   protected:
    qint64 readData(char* data, qint64 max) override {
      const qint64 left = limit_ - real_->pos();
      if (left <= 0) {
        setErrorString(QStringLiteral("injected read error"));
        return -1;
      }
      return real_->read(data, std::min(max, left));
    }
    qint64 writeData(const char*, qint64) override { return -1; }

   private:
    const std::unique_ptr<QIODevice> real_;
    const int64_t limit_;
  };

  static absl::Status Injected() { return absl::InternalError("injected fault"); }

  bool Fails(Op op) {
    auto it = countdown_.find(op);
    if (it == countdown_.end()) return false;
    if (--it->second > 0) return false;
    countdown_.erase(it);
    return true;
  }

  absl::StatusOr<std::unique_ptr<WritableStoreFile>> Wrap(
      absl::StatusOr<std::unique_ptr<WritableStoreFile>> file) {
    if (!file.ok()) return file.status();
    return std::unique_ptr<WritableStoreFile>(new File(this, *std::move(file)));
  }

  StoreFiles* const real_ = RealStoreFiles();
  std::map<Op, int> countdown_;
  bool short_write_ = false;
  int64_t fail_reads_after_ = -1;
  // Shared with the files handed out, which may outlive this object.
  const std::shared_ptr<std::atomic<bool>> fail_random_reads_ =
      std::make_shared<std::atomic<bool>>(false);
};

}  // namespace profiles::client::testing

#endif  // PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_
