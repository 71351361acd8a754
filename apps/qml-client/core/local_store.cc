#include "apps/qml-client/core/local_store.h"

#include <QtCore/QDir>
#include <QtCore/QLoggingCategory>
#include <algorithm>
#include <utility>

namespace profiles::client {
namespace {

Q_LOGGING_CATEGORY(lcStore, "profiles.client.store")

using profile::client::v1::JournalRecord;
using profile::client::v1::PendingMutation;

// The profile `record` changes, read before it is applied (an
// acknowledgement removes the mutation that names it); empty for records of
// the whole store (the cursor, the server).
std::string TouchedProfile(const JournalRecord& record, const StoreState& state) {
  auto of_mutation = [&state](const std::string& mutation_id) -> std::string {
    const PendingMutation* mutation = state.FindPending(mutation_id);
    return mutation == nullptr ? std::string() : mutation->profile_id();
  };
  switch (record.kind_case()) {
    case JournalRecord::kProfileCached:
      return record.profile_cached().profile().id();
    case JournalRecord::kMutationEnqueued:
      return record.mutation_enqueued().profile_id();
    case JournalRecord::kMutationAcknowledged:
      return of_mutation(record.mutation_acknowledged().mutation_id());
    case JournalRecord::kMutationRebased:
      return of_mutation(record.mutation_rebased().mutation_id());
    case JournalRecord::kMutationRetried:
      return of_mutation(record.mutation_retried().mutation_id());
    case JournalRecord::kMutationRejected:
      return of_mutation(record.mutation_rejected().mutation_id());
    case JournalRecord::kMutationConflicted:
      return of_mutation(record.mutation_conflicted().mutation_id());
    case JournalRecord::kMutationDismissed:
      return of_mutation(record.mutation_dismissed().mutation_id());
    case JournalRecord::kConflictResolved:
      return record.conflict_resolved().profile_id();
    case JournalRecord::kMergeNoted:
      return record.merge_noted().profile_id();
    case JournalRecord::kMergeNoteDismissed:
      return record.merge_note_dismissed().profile_id();
    case JournalRecord::kCursorUpdated:
    case JournalRecord::kServerBound:
    case JournalRecord::KIND_NOT_SET:
      break;
  }
  return {};
}

}  // namespace

LocalStore::LocalStore(const QString& directory, const Options& options, FolderLock lock)
    : directory_(directory), options_(options), lock_(std::move(lock)) {}

LocalStore::~LocalStore() = default;

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(const QString& directory,
                                                             const Options& options,
                                                             StoreFiles* files) {
  if (!QDir().mkpath(directory)) {
    return absl::InternalError("cannot create the data folder " + directory.toStdString());
  }
  const QString absolute = QDir(directory).absolutePath();
  // Before any store file is read or written (see "One owner").
  absl::StatusOr<FolderLock> lock = FolderLock::Acquire(absolute, kLockFileName);
  if (!lock.ok()) return lock.status();
  std::unique_ptr<LocalStore> store(new LocalStore(absolute, options, *std::move(lock)));
  StoreState& state = store->state_;
  absl::StatusOr<std::unique_ptr<RecordLog>> log = RecordLog::Open(
      absolute, files,
      [&state](uint64_t next_sequence) {
        state.next_sequence = std::max<uint64_t>(next_sequence, 1);
      },
      [&state](JournalRecord& record, const RecordPlace& place) {
        TakePictures(&record, place, state.pictures.get());
        ApplyRecord(std::move(record), &state);
      });
  if (!log.ok()) return log.status();
  store->log_ = *std::move(log);
  store->live_bytes_ = store->AllLiveBytes();
  if (store->log_->needs_compaction()) {
    if (absl::Status status = store->Compact(); !status.ok()) return status;
  }
  return store;
}

// The pictures count as the snapshot will write them: the bytes of the
// cached copy's and of the pending edits' pictures.
int64_t LocalStore::LiveBytesOf(const profile::v1::Profile& cached) const {
  const std::string& sha = cached.avatar_sha256();
  return static_cast<int64_t>(cached.ByteSizeLong()) +
         (sha.empty() ? 0 : state_.pictures->Find(sha).size());
}

int64_t LocalStore::LiveBytesOf(const PendingMutation& mutation) const {
  const std::string& sha = mutation.fields().avatar_sha256();
  return static_cast<int64_t>(mutation.ByteSizeLong()) +
         (sha.empty() ? 0 : state_.pictures->Find(sha).size());
}

int64_t LocalStore::LiveBytesOf(const std::string& id) const {
  int64_t bytes = 0;
  if (auto cached = state_.profiles.find(id); cached != state_.profiles.end()) {
    bytes += LiveBytesOf(*cached->second);
  }
  if (auto pending = state_.index.by_profile.find(id); pending != state_.index.by_profile.end()) {
    for (uint64_t sequence : pending->second) bytes += LiveBytesOf(state_.pending.at(sequence));
  }
  return bytes;
}

int64_t LocalStore::AllLiveBytes() const {
  int64_t bytes = 0;
  for (const auto& [id, profile] : state_.profiles) bytes += LiveBytesOf(*profile);
  for (const auto& [sequence, mutation] : state_.pending) bytes += LiveBytesOf(mutation);
  return bytes;
}

std::set<std::string> LocalStore::TakeTouchedProfiles() {
  if (!all_touched_) return std::exchange(touched_profiles_, {});
  all_touched_ = false;
  touched_profiles_.clear();
  return AllProfileIds();
}

std::set<std::string> LocalStore::AllProfileIds() const {
  std::set<std::string> all;
  for (const auto& [id, profile] : state_.profiles) all.insert(id);
  for (const auto& [id, sequences] : state_.index.by_profile) all.insert(id);
  return all;
}

absl::Status LocalStore::Append(const JournalRecord& record) { return AppendAll({record}); }

absl::Status LocalStore::AppendAll(const std::vector<JournalRecord>& records) {
  return AppendAll(std::vector<JournalRecord>(records));
}

absl::Status LocalStore::AppendAll(std::vector<JournalRecord>&& records) {
  // Write-ahead: state() changes only once the records are durable.
  std::vector<RecordPlace> places;
  if (absl::Status status = log_->Append(records, &places); !status.ok()) return status;
  for (size_t i = 0; i < records.size(); ++i) {
    JournalRecord& record = records[i];
    const int new_pictures = TakePictures(&record, places[i], state_.pictures.get());
    std::string id = TouchedProfile(record, state_);
    if (id.empty()) {
      ApplyRecord(std::move(record), &state_);
      continue;
    }
    live_bytes_ -= LiveBytesOf(id);
    if (record.kind_case() == JournalRecord::kProfileCached) {
      // A copy the cache already holds (a listing and a watch both bring
      // it, or an older one that is ignored) changes nothing to redraw,
      // unless it brought the bytes of a picture the store lacked.
      const auto cached = state_.profiles.find(id);
      if (cached != state_.profiles.end()) {
        const int64_t version = cached->second->version();
        const std::string avatar_sha256 = cached->second->avatar_sha256();
        ApplyRecord(std::move(record), &state_);
        live_bytes_ += LiveBytesOf(id);
        const profile::v1::Profile& now = *state_.profiles.at(id);
        if (now.version() == version && now.avatar_sha256() == avatar_sha256 && new_pictures == 0) {
          continue;
        }
        touched_profiles_.insert(std::move(id));
        continue;
      }
    }
    ApplyRecord(std::move(record), &state_);
    live_bytes_ += LiveBytesOf(id);
    touched_profiles_.insert(std::move(id));
  }
  if (log_->journal_bytes() > options_.compaction_min_journal_bytes &&
      log_->snapshot_bytes() + log_->journal_bytes() > 2 * live_bytes_) {
    if (absl::Status status = Compact(); !status.ok()) {
      // The records are durable; compaction is retried after the next append.
      qCWarning(lcStore) << "compaction failed:" << status.ToString().c_str();
    }
  }
  return absl::OkStatus();
}

absl::Status LocalStore::Compact() {
  // The snapshot holds each picture once, in the first record naming it;
  // the new shelf says where.
  PictureShelf pictures;
  std::set<std::string> written;
  absl::Status unreadable;
  absl::Status status = log_->Compact(state_.next_sequence, [&](const auto& add) {
    JournalRecord record;
    auto write = [&] {
      if (absl::Status read = PutPicturesBack(*state_.pictures, &record, &written);
          !read.ok() && unreadable.ok()) {
        unreadable = read;
      }
      TakePictures(&record, add(record), &pictures);
    };
    for (const auto& [id, profile] : state_.profiles) {
      *record.mutable_profile_cached()->mutable_profile() = *profile;
      write();
    }
    for (const auto& [sequence, mutation] : state_.pending) {
      *record.mutable_mutation_enqueued() = mutation;
      write();
    }
    for (const auto& [id, fields] : state_.merge_notes) {
      auto* note = record.mutable_merge_noted();
      note->set_profile_id(id);
      note->mutable_fields()->Assign(fields.begin(), fields.end());
      add(record);
    }
    if (!state_.cursor.empty()) {
      record.mutable_cursor_updated()->set_cursor(state_.cursor);
      add(record);
    }
    if (!state_.database_id.empty()) {
      record.mutable_server_bound()->set_database_id(state_.database_id);
      add(record);
    }
  });
  if (!status.ok()) return status;
  // A picture that no longer reads back (the disk failed under it) cannot
  // be kept; its profile still names it, so a server copy is fetched again
  // (SyncEngine::WantAvatarIfMissing) and an edit's send says it is lost.
  if (!unreadable.ok()) {
    qCWarning(lcStore) << "compaction left out pictures that cannot be read:"
                       << unreadable.ToString().c_str();
  }
  state_.pictures->ReplaceWith(std::move(pictures));
  return absl::OkStatus();
}

std::string DescribeRepair(const LocalStore::OpenReport& report) {
  if (report.problems.empty() && report.dropped_journal_bytes == 0) return "";
  std::string text;
  if (report.dropped_journal_bytes > 0) {
    text = "The last save on this device was cut short, most likely by a crash or a power cut: " +
           std::to_string(report.dropped_journal_bytes) +
           " bytes that could not be read back were set aside in " + kDroppedFileName +
           ". Everything saved before them is kept. ";
  }
  // Every problem but the torn tail itself (reported as "journal: ...").
  const bool other_damage =
      std::any_of(report.problems.begin(), report.problems.end(), [&](const std::string& problem) {
        return report.dropped_journal_bytes == 0 || problem.rfind("journal: ", 0) != 0;
      });
  if (other_damage) {
    text +=
        "Some of the app's data on this device could not be read; what could be read is kept, "
        "and unreadable files were set aside, not deleted. ";
  }
  if (report.problems.empty()) {
    text.pop_back();  // the space after the last sentence
    return text;
  }
  text += "Details:";
  for (const std::string& problem : report.problems) text += " " + problem + ";";
  text.back() = '.';
  return text;
}

}  // namespace profiles::client
