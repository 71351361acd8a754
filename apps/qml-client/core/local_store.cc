#include "apps/qml-client/core/local_store.h"

#include <QtCore/QDateTime>
#include <QtCore/QDir>
#include <QtCore/QFileInfo>
#include <QtCore/QLoggingCategory>
#include <QtCore/QSaveFile>
#include <algorithm>
#include <utility>

#include "apps/qml-client/core/record_io.h"

#if defined(Q_OS_UNIX)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace profiles::client {
namespace {

Q_LOGGING_CATEGORY(lcStore, "profiles.client.store")

using profile::client::v1::FileHeader;
using profile::client::v1::JournalRecord;
using profile::client::v1::PendingMutation;

// Snapshots and generations exist since version 2; version 2 files hold a
// subset of version 3's records.
constexpr uint32_t kFirstSnapshotSchemaVersion = 2;

// Flushes Qt's buffer and then the OS cache. Only POSIX has a portable call
// for the second step; elsewhere the flush is all we do.
bool SyncFile(QFileDevice& file) {
  if (!file.flush()) return false;
#if defined(Q_OS_UNIX)
  return ::fsync(file.handle()) == 0;
#else
  return true;
#endif
}

// Makes a rename inside `directory` durable, so that a compaction's snapshot
// is on disk before the journal it replaces is reset.
void SyncDirectory(const QString& directory) {
#if defined(Q_OS_UNIX)
  const int fd = ::open(QFile::encodeName(directory).constData(), O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
#else
  (void)directory;
#endif
}

std::string HeaderBytes(const FileHeader& header) {
  std::string bytes(kFileMagic);
  bytes += EncodeFrame(header.SerializeAsString());
  return bytes;
}

const char* Describe(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kEnd:
      return "end of file";
    case FrameStatus::kTorn:
      return "torn record";
    case FrameStatus::kCorrupt:
      return "corrupt record";
  }
  return "?";
}

// Reads one store file: the magic and the header first, then the records.
class StoreFileReader {
 public:
  explicit StoreFileReader(const QString& path) : file_(path), reader_(&file_) {}

  // False (with `problem()` set) if the file cannot be opened or its magic or
  // header is unreadable.
  bool ReadHeader(FileHeader* header) {
    if (!file_.open(QIODevice::ReadOnly))
      return Fail("cannot open: " + file_.errorString().toStdString());
    if (file_.read(kFileMagic.size()) != QByteArray(kFileMagic.data(), kFileMagic.size())) {
      return Fail("bad magic");
    }
    reader_ = FrameReader(&file_);
    std::string payload;
    const FrameStatus status = reader_.Next(&payload);
    if (status != FrameStatus::kOk) return Fail(std::string("header: ") + Describe(status));
    if (!header->ParseFromString(payload)) return Fail("header: unparsable");
    good_end_ = reader_.good_end();
    return true;
  }

  // Reads the next record. At the end, or at a bad record, returns false and
  // sets `problem()` for a bad one.
  bool Next(JournalRecord* record) {
    std::string payload;
    const FrameStatus status = reader_.Next(&payload);
    if (status == FrameStatus::kEnd) return false;
    if (status != FrameStatus::kOk) return Fail(Describe(status));
    if (!record->ParseFromString(payload)) return Fail("unparsable record");
    if (record->kind_case() == JournalRecord::KIND_NOT_SET) return Fail("record of no known kind");
    good_end_ = reader_.good_end();
    return true;
  }

  // The end of the last record returned by Next() (or of the header).
  qint64 good_end() const { return good_end_; }
  qint64 size() const { return file_.size(); }
  const std::string& problem() const { return problem_; }
  void Close() { file_.close(); }

 private:
  bool Fail(std::string problem) {
    problem_ = std::move(problem);
    return false;
  }

  QFile file_;
  FrameReader reader_;
  qint64 good_end_ = 0;
  std::string problem_;
};

PendingMutation* FindMutation(const std::string& mutation_id, StoreState* state) {
  const auto it = state->index.by_mutation_id.find(mutation_id);
  return it == state->index.by_mutation_id.end() ? nullptr : &state->pending.at(it->second);
}

void ErasePending(uint64_t sequence, StoreState* state) {
  const auto it = state->pending.find(sequence);
  if (it == state->pending.end()) return;
  PendingIndex& index = state->index;
  const auto by_id = index.by_mutation_id.find(it->second.mutation_id());
  if (by_id != index.by_mutation_id.end() && by_id->second == sequence) {
    index.by_mutation_id.erase(by_id);
  }
  const auto of_profile = index.by_profile.find(it->second.profile_id());
  if (of_profile != index.by_profile.end()) {
    of_profile->second.erase(sequence);
    if (of_profile->second.empty()) index.by_profile.erase(of_profile);
  }
  index.sendable.erase(sequence);
  index.parked.erase(sequence);
  state->pending.erase(it);
}

// Recomputes the sendable and parked entries of `profile_id`, after any
// change to its mutations: O(its mutations), not O(all pending).
void Reindex(const std::string& profile_id, StoreState* state) {
  PendingIndex& index = state->index;
  const auto of_profile = index.by_profile.find(profile_id);
  if (of_profile == index.by_profile.end()) return;
  bool head_seen = false;
  for (uint64_t sequence : of_profile->second) {
    const PendingMutation::State mutation_state = state->pending.at(sequence).state();
    index.sendable.erase(sequence);
    if (mutation_state == PendingMutation::STATE_PARKED) {
      index.parked.insert(sequence);
      continue;
    }
    index.parked.erase(sequence);
    if (!head_seen && mutation_state == PendingMutation::STATE_QUEUED) {
      index.sendable.insert(sequence);
    }
    head_seen = true;
  }
}

// Adds `mutation`, replacing any with its sequence.
void InsertPending(const PendingMutation& mutation, StoreState* state) {
  const auto replaced = state->pending.find(mutation.sequence());
  std::string replaced_profile;
  if (replaced != state->pending.end()) replaced_profile = replaced->second.profile_id();
  ErasePending(mutation.sequence(), state);
  state->pending.emplace(mutation.sequence(), mutation);
  state->index.by_mutation_id.emplace(mutation.mutation_id(), mutation.sequence());
  state->index.by_profile[mutation.profile_id()].insert(mutation.sequence());
  if (!replaced_profile.empty() && replaced_profile != mutation.profile_id()) {
    Reindex(replaced_profile, state);
  }
  Reindex(mutation.profile_id(), state);
}

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

void CacheProfile(const profile::v1::Profile& profile, StoreState* state) {
  auto [it, inserted] = state->profiles.try_emplace(profile.id(), profile);
  if (inserted) return;
  profile::v1::Profile& cached = it->second;
  if (profile.version() < cached.version()) return;
  std::string avatar;
  if (profile.avatar().empty() && !profile.avatar_sha256().empty() &&
      profile.avatar_sha256() == cached.avatar_sha256()) {
    avatar = std::move(*cached.mutable_avatar());
  }
  cached = profile;
  if (!avatar.empty()) cached.set_avatar(std::move(avatar));
}

}  // namespace

const PendingMutation* StoreState::FindPending(const std::string& mutation_id) const {
  const auto it = index.by_mutation_id.find(mutation_id);
  return it == index.by_mutation_id.end() ? nullptr : &pending.at(it->second);
}

const std::set<uint64_t>& StoreState::SequencesOf(const std::string& profile_id) const {
  static const std::set<uint64_t>* const kNone = new std::set<uint64_t>();
  const auto it = index.by_profile.find(profile_id);
  return it == index.by_profile.end() ? *kNone : it->second;
}

void ApplyRecord(const JournalRecord& record, StoreState* state) {
  switch (record.kind_case()) {
    case JournalRecord::kProfileCached:
      CacheProfile(record.profile_cached().profile(), state);
      break;
    case JournalRecord::kMutationEnqueued: {
      const PendingMutation& mutation = record.mutation_enqueued();
      InsertPending(mutation, state);
      state->next_sequence = std::max(state->next_sequence, mutation.sequence() + 1);
      break;
    }
    case JournalRecord::kMutationAcknowledged: {
      const auto& ack = record.mutation_acknowledged();
      PendingMutation* mutation = FindMutation(ack.mutation_id(), state);
      if (mutation == nullptr) break;
      const std::string profile_id = mutation->profile_id();
      const int64_t acknowledged_base = mutation->base_version();
      const bool rebased = mutation->rebased();
      std::vector<std::string> changed_elsewhere(mutation->changed_elsewhere().begin(),
                                                 mutation->changed_elsewhere().end());
      ErasePending(mutation->sequence(), state);
      CacheProfile(ack.server_profile(), state);
      // The next edits of this profile that were made on the same base
      // apply to the version this write produced. Not so when the
      // acknowledged one had been rebased over changes made elsewhere: the
      // later edits never saw those, so they keep their base and the server
      // sends them through the merge rule (ABORTED) like any stale edit.
      for (uint64_t sequence : state->SequencesOf(profile_id)) {
        PendingMutation& later = state->pending.at(sequence);
        if (later.state() != PendingMutation::STATE_QUEUED) continue;
        if (later.base_version() != acknowledged_base && !later.creates()) continue;
        later.set_base_version(ack.server_profile().version());
        later.set_creates(false);
      }
      Reindex(profile_id, state);
      if (rebased) state->merge_notes[profile_id] = std::move(changed_elsewhere);
      break;
    }
    case JournalRecord::kMutationRebased: {
      const auto& rebase = record.mutation_rebased();
      PendingMutation* mutation = FindMutation(rebase.mutation_id(), state);
      if (mutation == nullptr) break;
      if (rebase.new_mutation_id() != rebase.mutation_id()) {
        state->index.by_mutation_id.erase(rebase.mutation_id());
        state->index.by_mutation_id.emplace(rebase.new_mutation_id(), mutation->sequence());
      }
      mutation->set_mutation_id(rebase.new_mutation_id());
      mutation->set_base_version(rebase.server_profile().version());
      *mutation->mutable_mask() = rebase.mask();
      // What the rebased edit is based on now: the copy it was merged onto.
      auto* base = mutation->mutable_base_fields();
      base->set_name(rebase.server_profile().name());
      base->set_email(rebase.server_profile().email());
      base->set_avatar_sha256(rebase.server_profile().avatar_sha256());
      mutation->set_rebased(true);
      for (const std::string& field : rebase.changed_elsewhere()) {
        if (std::find(mutation->changed_elsewhere().begin(), mutation->changed_elsewhere().end(),
                      field) == mutation->changed_elsewhere().end()) {
          mutation->add_changed_elsewhere(field);
        }
      }
      CacheProfile(rebase.server_profile(), state);
      break;
    }
    case JournalRecord::kMutationRetried: {
      PendingMutation* mutation = FindMutation(record.mutation_retried().mutation_id(), state);
      if (mutation == nullptr || mutation->state() != PendingMutation::STATE_PARKED) break;
      mutation->set_state(PendingMutation::STATE_QUEUED);
      mutation->clear_error_message();
      mutation->clear_field_errors();
      mutation->clear_error_code();
      Reindex(mutation->profile_id(), state);
      break;
    }
    case JournalRecord::kMergeNoted: {
      const auto& note = record.merge_noted();
      state->merge_notes[note.profile_id()] = {note.fields().begin(), note.fields().end()};
      break;
    }
    case JournalRecord::kMergeNoteDismissed:
      state->merge_notes.erase(record.merge_note_dismissed().profile_id());
      break;
    case JournalRecord::kMutationRejected: {
      const auto& rejected = record.mutation_rejected();
      PendingMutation* mutation = FindMutation(rejected.mutation_id(), state);
      if (mutation == nullptr) break;
      mutation->set_state(PendingMutation::STATE_PARKED);
      mutation->set_error_message(rejected.message());
      *mutation->mutable_field_errors() = rejected.field_errors();
      mutation->set_error_code(rejected.code());
      Reindex(mutation->profile_id(), state);
      break;
    }
    case JournalRecord::kMutationConflicted: {
      const auto& conflicted = record.mutation_conflicted();
      PendingMutation* mutation = FindMutation(conflicted.mutation_id(), state);
      if (mutation == nullptr) break;
      mutation->set_state(PendingMutation::STATE_CONFLICTED);
      *mutation->mutable_server_profile() = conflicted.server_profile();
      Reindex(mutation->profile_id(), state);
      CacheProfile(conflicted.server_profile(), state);
      break;
    }
    case JournalRecord::kConflictResolved: {
      const auto& resolved = record.conflict_resolved();
      bool behind_conflict = false;
      // A copy: erasing changes the profile's set.
      const std::set<uint64_t> sequences = state->SequencesOf(resolved.profile_id());
      for (uint64_t sequence : sequences) {
        const PendingMutation::State mutation_state = state->pending.at(sequence).state();
        behind_conflict |= mutation_state == PendingMutation::STATE_CONFLICTED;
        if (behind_conflict && mutation_state != PendingMutation::STATE_PARKED) {
          ErasePending(sequence, state);
        }
      }
      Reindex(resolved.profile_id(), state);
      if (resolved.choice() == profile::client::v1::ConflictResolved::CHOICE_APPLY_MINE) {
        JournalRecord enqueue;
        *enqueue.mutable_mutation_enqueued() = resolved.replacement();
        ApplyRecord(enqueue, state);
      }
      break;
    }
    case JournalRecord::kMutationDismissed: {
      PendingMutation* mutation = FindMutation(record.mutation_dismissed().mutation_id(), state);
      if (mutation != nullptr && mutation->state() == PendingMutation::STATE_PARKED) {
        const std::string profile_id = mutation->profile_id();
        ErasePending(mutation->sequence(), state);
        Reindex(profile_id, state);
      }
      break;
    }
    case JournalRecord::kCursorUpdated:
      state->cursor = record.cursor_updated().cursor();
      break;
    case JournalRecord::kServerBound:
      state->database_id = record.server_bound().database_id();
      break;
    case JournalRecord::KIND_NOT_SET:
      break;
  }
}

LocalStore::LocalStore(const QString& directory, const Options& options, FolderLock lock)
    : directory_(directory), options_(options), lock_(std::move(lock)) {}

LocalStore::~LocalStore() = default;

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(const QString& directory,
                                                             const Options& options) {
  if (!QDir().mkpath(directory)) {
    return absl::InternalError("cannot create the data folder " + directory.toStdString());
  }
  const QString absolute = QDir(directory).absolutePath();
  // Before any store file is read or written (see "One owner").
  absl::StatusOr<FolderLock> lock = FolderLock::Acquire(absolute, kLockFileName);
  if (!lock.ok()) return lock.status();
  std::unique_ptr<LocalStore> store(new LocalStore(absolute, options, *std::move(lock)));
  if (absl::Status status = store->Load(); !status.ok()) return status;
  return store;
}

std::set<std::string> LocalStore::TakeTouchedProfiles() {
  if (!all_touched_) return std::exchange(touched_profiles_, {});
  all_touched_ = false;
  touched_profiles_.clear();
  std::set<std::string> all;
  for (const auto& [id, profile] : state_.profiles) all.insert(id);
  for (const auto& [id, sequences] : state_.index.by_profile) all.insert(id);
  return all;
}

QString LocalStore::PathOf(const char* name) const { return QDir(directory_).filePath(name); }

absl::Status LocalStore::Quarantine(const QString& path, const std::string& why) {
  const QString aside = path + ".corrupt-" + QString::number(QDateTime::currentMSecsSinceEpoch());
  qCWarning(lcStore) << "store file" << path << "unreadable:" << why.c_str() << "- moving it to"
                     << aside;
  // Never start over on top of a file that could not be set aside.
  if (!QFile::rename(path, aside)) {
    return absl::InternalError("cannot set aside the unreadable " + path.toStdString());
  }
  report_.problems.push_back(QFileInfo(path).fileName().toStdString() + ": " + why + "; moved to " +
                             QFileInfo(aside).fileName().toStdString());
  return absl::OkStatus();
}

absl::Status LocalStore::Load() {
  bool needs_compaction = false;
  bool needs_reset = false;
  if (absl::Status status = LoadSnapshot(&needs_compaction); !status.ok()) return status;
  if (absl::Status status = LoadJournal(&needs_compaction, &needs_reset); !status.ok()) {
    return status;
  }
  if (needs_compaction) return Compact();
  if (needs_reset) {
    if (absl::Status status = ResetJournal(generation_); !status.ok()) return status;
  }
  return OpenJournalForAppend();
}

absl::Status LocalStore::LoadSnapshot(bool* needs_compaction) {
  const QString path = PathOf(kSnapshotFileName);
  if (!QFileInfo::exists(path)) return absl::OkStatus();
  StoreFileReader reader(path);
  FileHeader header;
  if (!reader.ReadHeader(&header)) {
    reader.Close();
    return Quarantine(path, reader.problem());
  }
  if (header.schema_version() > kSchemaVersion) {
    return absl::FailedPreconditionError("the local store was written by a newer release (schema " +
                                         std::to_string(header.schema_version()) + ")");
  }
  if (header.schema_version() < kFirstSnapshotSchemaVersion ||
      header.kind() != FileHeader::KIND_SNAPSHOT) {
    reader.Close();
    return Quarantine(path, "not a snapshot");
  }
  // An older (but compatible) snapshot is rewritten in the current version.
  if (header.schema_version() != kSchemaVersion) *needs_compaction = true;
  generation_ = header.generation();
  state_.next_sequence = std::max<uint64_t>(header.next_sequence(), 1);
  JournalRecord record;
  while (reader.Next(&record)) ApplyRecord(record, &state_);
  if (!reader.problem().empty()) {
    // Snapshots are renamed into place whole; damage here is the disk's.
    // Keep what is readable and write a sound snapshot of it.
    *needs_compaction = true;
    report_.problems.push_back(std::string("snapshot: ") + reader.problem());
    qCWarning(lcStore) << "snapshot damaged at offset" << reader.good_end() << ":"
                       << reader.problem().c_str();
  }
  snapshot_bytes_ = reader.size();
  return absl::OkStatus();
}

absl::Status LocalStore::LoadJournal(bool* needs_compaction, bool* needs_reset) {
  const QString path = PathOf(kJournalFileName);
  if (!QFileInfo::exists(path)) {
    *needs_reset = true;
    return absl::OkStatus();
  }
  qint64 good_end = 0;
  qint64 size = 0;
  {
    StoreFileReader reader(path);
    FileHeader header;
    if (!reader.ReadHeader(&header)) {
      reader.Close();
      *needs_reset = true;
      return Quarantine(path, reader.problem());
    }
    if (header.schema_version() > kSchemaVersion) {
      return absl::FailedPreconditionError(
          "the local store was written by a newer release (schema " +
          std::to_string(header.schema_version()) + ")");
    }
    if (header.schema_version() == 0 || (header.schema_version() >= kFirstSnapshotSchemaVersion &&
                                         header.kind() != FileHeader::KIND_JOURNAL)) {
      reader.Close();
      *needs_reset = true;
      return Quarantine(path, "not a journal");
    }
    if (header.generation() < generation_) {
      report_.stale_journal_discarded = true;
      qCInfo(lcStore) << "journal of generation" << header.generation()
                      << "already folded into snapshot" << generation_;
      *needs_reset = true;
      return absl::OkStatus();
    }
    if (header.generation() > generation_) {
      report_.problems.push_back("journal generation " + std::to_string(header.generation()) +
                                 " is ahead of the snapshot's " + std::to_string(generation_));
      qCWarning(lcStore) << "snapshot of generation" << header.generation() << "missing";
      generation_ = header.generation();
      *needs_compaction = true;
    }
    const bool upgrading = header.schema_version() == 1;
    if (upgrading) {
      // Version 1 had no created_at; the upgrade time is the best we know.
      report_.migrated_from_version = 1;
      *needs_compaction = true;
      qCInfo(lcStore) << "upgrading the local store from schema 1 to" << kSchemaVersion;
    } else if (header.schema_version() != kSchemaVersion) {
      // Same records, newer kinds possible: rewrite the files as the
      // current version so an older release refuses them.
      report_.migrated_from_version = header.schema_version();
      *needs_compaction = true;
    }
    const qint64 now_ms = QDateTime::currentMSecsSinceEpoch();
    JournalRecord record;
    while (reader.Next(&record)) {
      if (upgrading && record.has_mutation_enqueued()) {
        auto* created_at = record.mutable_mutation_enqueued()->mutable_created_at();
        created_at->set_seconds(now_ms / 1000);
        created_at->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
      }
      ApplyRecord(record, &state_);
    }
    good_end = reader.good_end();
    size = reader.size();
    if (!reader.problem().empty()) {
      qCWarning(lcStore) << "journal:" << reader.problem().c_str() << "at offset" << good_end
                         << "of" << size << "- dropping the rest";
      report_.problems.push_back("journal: " + reader.problem() + " at offset " +
                                 std::to_string(good_end));
    }
  }
  if (good_end < size) {
    QFile journal(path);
    if (!journal.open(QIODevice::ReadWrite)) {
      return absl::InternalError("cannot repair the journal: " +
                                 journal.errorString().toStdString());
    }
    // Keep the dropped bytes for a post-mortem; they are never replayed.
    journal.seek(good_end);
    QSaveFile dropped(PathOf(kDroppedFileName));
    if (dropped.open(QIODevice::WriteOnly)) {
      dropped.write(journal.readAll());
      dropped.commit();
    }
    if (!journal.resize(good_end) || !SyncFile(journal)) {
      return absl::InternalError("cannot truncate the journal: " +
                                 journal.errorString().toStdString());
    }
    report_.dropped_journal_bytes = size - good_end;
  }
  journal_bytes_ = good_end;
  return absl::OkStatus();
}

absl::Status LocalStore::ResetJournal(uint64_t generation) {
  journal_.close();
  FileHeader header;
  header.set_schema_version(kSchemaVersion);
  header.set_kind(FileHeader::KIND_JOURNAL);
  header.set_generation(generation);
  const std::string bytes = HeaderBytes(header);
  QSaveFile file(PathOf(kJournalFileName));
  if (!file.open(QIODevice::WriteOnly) ||
      file.write(bytes.data(), static_cast<qint64>(bytes.size())) !=
          static_cast<qint64>(bytes.size()) ||
      !file.commit()) {
    return absl::InternalError("cannot write the journal: " + file.errorString().toStdString());
  }
  SyncDirectory(directory_);
  journal_bytes_ = static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status LocalStore::OpenJournalForAppend() {
  journal_.setFileName(PathOf(kJournalFileName));
  // Unbuffered: a write the disk refused must not linger in QFile's buffer,
  // or closing the file would write the records AppendAll() reported as not
  // saved (and rolled back) behind the journal's end.
  if (!journal_.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered)) {
    return absl::InternalError("cannot open the journal: " + journal_.errorString().toStdString());
  }
  return absl::OkStatus();
}

absl::Status LocalStore::Append(const JournalRecord& record) { return AppendAll({record}); }

absl::Status LocalStore::AppendAll(const std::vector<JournalRecord>& records) {
  if (broken_) return absl::FailedPreconditionError("the journal could not be repaired");
  if (!journal_.isOpen()) {
    // A compaction wrote its snapshot but could not start the new journal;
    // the old one is stale now, so finish the compaction before appending.
    if (absl::Status status = Compact(); !status.ok()) return status;
  }
  std::string bytes;
  for (const JournalRecord& record : records) {
    const std::string payload = record.SerializeAsString();
    if (payload.size() > kMaxFramePayload) {
      return absl::InvalidArgumentError("record too large: " + std::to_string(payload.size()));
    }
    bytes += EncodeFrame(payload);
  }
  const qint64 written = journal_.write(bytes.data(), static_cast<qint64>(bytes.size()));
  if (written != static_cast<qint64>(bytes.size()) || !SyncFile(journal_)) {
    const std::string error = journal_.errorString().toStdString();
    // Cut the partial write off, or later appends would sit behind garbage
    // that Open() stops at.
    if (!journal_.resize(journal_bytes_) || !SyncFile(journal_)) broken_ = true;
    return absl::InternalError("cannot write the journal: " + error);
  }
  journal_bytes_ += written;
  for (const JournalRecord& record : records) {
    std::string id = TouchedProfile(record, state_);
    if (record.kind_case() == JournalRecord::kProfileCached && !id.empty()) {
      // A copy the cache already holds (a listing and a watch both bring
      // it, or an older one that is ignored) changes nothing to redraw.
      const auto cached = state_.profiles.find(id);
      if (cached != state_.profiles.end()) {
        const int64_t version = cached->second.version();
        const size_t avatar_bytes = cached->second.avatar().size();
        ApplyRecord(record, &state_);
        const profile::v1::Profile& now = state_.profiles.at(id);
        if (now.version() == version && now.avatar().size() == avatar_bytes) continue;
        touched_profiles_.insert(std::move(id));
        continue;
      }
    }
    if (!id.empty()) touched_profiles_.insert(std::move(id));
    ApplyRecord(record, &state_);
  }
  if (journal_bytes_ > options_.compaction_min_journal_bytes && journal_bytes_ > snapshot_bytes_) {
    if (absl::Status status = Compact(); !status.ok()) {
      // The records are durable; compaction is retried after the next append.
      qCWarning(lcStore) << "compaction failed:" << status.ToString().c_str();
    }
  }
  return absl::OkStatus();
}

absl::Status LocalStore::Compact() {
  const uint64_t generation = generation_ + 1;
  FileHeader header;
  header.set_schema_version(kSchemaVersion);
  header.set_kind(FileHeader::KIND_SNAPSHOT);
  header.set_generation(generation);
  header.set_next_sequence(state_.next_sequence);

  QSaveFile snapshot(PathOf(kSnapshotFileName));
  if (!snapshot.open(QIODevice::WriteOnly)) {
    return absl::InternalError("cannot write a snapshot: " + snapshot.errorString().toStdString());
  }
  int64_t snapshot_bytes = 0;
  auto write = [&](const std::string& bytes) {
    snapshot.write(bytes.data(), static_cast<qint64>(bytes.size()));
    snapshot_bytes += static_cast<int64_t>(bytes.size());
  };
  write(HeaderBytes(header));
  JournalRecord record;
  for (const auto& [id, profile] : state_.profiles) {
    *record.mutable_profile_cached()->mutable_profile() = profile;
    write(EncodeFrame(record.SerializeAsString()));
  }
  for (const auto& [sequence, mutation] : state_.pending) {
    *record.mutable_mutation_enqueued() = mutation;
    write(EncodeFrame(record.SerializeAsString()));
  }
  for (const auto& [id, fields] : state_.merge_notes) {
    auto* note = record.mutable_merge_noted();
    note->set_profile_id(id);
    note->mutable_fields()->Assign(fields.begin(), fields.end());
    write(EncodeFrame(record.SerializeAsString()));
  }
  if (!state_.cursor.empty()) {
    record.mutable_cursor_updated()->set_cursor(state_.cursor);
    write(EncodeFrame(record.SerializeAsString()));
  }
  if (!state_.database_id.empty()) {
    record.mutable_server_bound()->set_database_id(state_.database_id);
    write(EncodeFrame(record.SerializeAsString()));
  }
  // QSaveFile remembers a failed write and then refuses to commit.
  if (!snapshot.commit()) {
    return absl::InternalError("cannot write a snapshot: " + snapshot.errorString().toStdString());
  }
  // The snapshot must be durable before the journal it replaces goes away.
  SyncDirectory(directory_);
  generation_ = generation;
  snapshot_bytes_ = snapshot_bytes;
  if (absl::Status status = ResetJournal(generation); !status.ok()) return status;
  return OpenJournalForAppend();
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
