#ifndef PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_

// LocalStore: the client's crash-safe, on-disk copy of every profile it has
// seen, its outbox of pending mutations and its sync cursor.
//
// Layout in the data folder given by the caller (the app passes
// QStandardPaths::AppDataLocation or --data-dir):
//   profiles.snapshot  the whole state at the last compaction, written
//                      atomically (QSaveFile); absent until the first one
//   profiles.journal   the records appended since that snapshot
//   profiles.lock      held while a LocalStore has the folder open (FolderLock)
// Both are "PRFS" + framed protobuf records (record_io.h): a FileHeader, then
// profile.client.v1.JournalRecords (proto/profile/client/v1/local_store.proto).
//
// Durability: Append() returns only after the records are written and
// fsync'ed, so whatever a caller reported as saved survives a crash. On
// Open(), a torn or corrupt journal tail is logged, its bytes are copied to
// profiles.journal.dropped, and it is truncated away; every record before it
// is kept. Reading stops at the first bad record even if later ones look
// valid: a later record may depend on the lost one (an acknowledgement of a
// mutation whose enqueue was lost), so the prefix is the only state known to
// be consistent.
//
// Cost: an append writes only its own records. When the journal has grown
// past both Options::compaction_min_journal_bytes and the size of the last
// snapshot, Append() compacts: it writes a new snapshot (generation + 1) and
// then resets the journal to an empty one of that generation. A journal of an
// older generation than the snapshot is stale (the compaction was killed
// between the two steps) and is discarded on Open(), so nothing is applied
// twice. Compaction cost is proportional to the snapshot, and happens at most
// once per snapshot-sized amount of appends.
//
// Schema versions: see local_store.proto. A version 1 journal is upgraded in
// place on Open() (all records kept; created_at stamped) and compacted into
// the current layout; version 2 files are read as they are and compacted into
// version 3 files. Files of a newer version than kSchemaVersion make
// Open() fail with FAILED_PRECONDITION without touching them.
//
// One owner: Open() takes the folder's lock file for the store's lifetime. A
// second Open() of the same folder, from this process or another, fails with
// FAILED_PRECONDITION ("already open") before it reads or writes any store
// file, so two windows can never both accept edits and lose one's. A lock
// left behind by a process that died (even by SIGKILL, at any moment) is taken
// over: it is a flock, which the kernel drops with its holder (folder_lock.h).
//
// Thread safety: not thread-safe. One LocalStore is owned and used by one
// thread (the client's sync thread).
//
// Example:
//   auto store = LocalStore::Open(dir, {});
//   if (!store.ok()) return store.status();
//   profile::client::v1::JournalRecord record;
//   *record.mutable_cursor_updated()->mutable_cursor() = "c42";
//   absl::Status s = (*store)->Append(record);

#include <QtCore/QFile>
#include <QtCore/QString>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/folder_lock.h"
#include "profile/client/v1/local_store.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

inline constexpr uint32_t kSchemaVersion = 3;
inline constexpr char kSnapshotFileName[] = "profiles.snapshot";
inline constexpr char kJournalFileName[] = "profiles.journal";
inline constexpr char kLockFileName[] = "profiles.lock";
inline constexpr char kDroppedFileName[] = "profiles.journal.dropped";

// Indexes of StoreState::pending, derived from it by ApplyRecord and never
// stored: with them, finding a mutation, a profile's mutations or the next
// one to send costs O(log n) or O(that profile's mutations) instead of a walk
// over every pending mutation (10,000 queued edits made opening the app, which
// builds a view per profile, take seconds).
struct PendingIndex {
  // The sequences of each profile's pending mutations, in any state; a
  // profile without pending mutations has no entry.
  std::map<std::string, std::set<uint64_t>> by_profile;
  // The sequence of each pending mutation, by mutation id (ids are UUIDs,
  // unique across the queue).
  std::map<std::string, uint64_t> by_mutation_id;
  // Per profile, the sequence of its oldest mutation that is not parked, if
  // that one is queued (not conflicted): the ones that may be sent now.
  std::set<uint64_t> sendable;
  // The sequences of the parked mutations.
  std::set<uint64_t> parked;

  bool operator==(const PendingIndex&) const = default;
};

// The state the records describe.
struct StoreState {
  // The pending mutation `mutation_id`, or null.
  const profile::client::v1::PendingMutation* FindPending(const std::string& mutation_id) const;
  // The sequences of the pending mutations of `profile_id`, in creation
  // order; empty if it has none.
  const std::set<uint64_t>& SequencesOf(const std::string& profile_id) const;

  // The server's copy of every profile seen, by id.
  std::map<std::string, profile::v1::Profile> profiles;
  // Pending mutations by sequence, i.e. in creation order.
  std::map<uint64_t, profile::client::v1::PendingMutation> pending;
  std::string cursor;
  // The server database the store belongs to; empty until the first contact.
  std::string database_id;
  uint64_t next_sequence = 1;
  // Profiles whose last acknowledged edit was merged with changes made
  // elsewhere, by id: the fields changed elsewhere (maybe none named).
  std::map<std::string, std::vector<std::string>> merge_notes;
  // Derived from `pending` by ApplyRecord, which alone changes it.
  PendingIndex index;
};

// Applies one record to `state`. Deterministic, the same for replay and for
// live appends; records naming unknown mutations change nothing. A cached
// profile never replaces a newer cached version (no going back in time), and
// a copy without avatar bytes but with the same avatar_sha256 keeps the
// cached avatar (listings leave avatars out).
void ApplyRecord(const profile::client::v1::JournalRecord& record, StoreState* state);

class LocalStore {
 public:
  struct Options {
    // Compact once the journal is larger than this and than the snapshot.
    int64_t compaction_min_journal_bytes = int64_t{4} * 1024 * 1024;
  };

  // What Open() had to repair; all zero/false/empty for a clean open.
  struct OpenReport {
    // Bytes of a torn or corrupt journal tail that were truncated away.
    int64_t dropped_journal_bytes = 0;
    // A journal of an older generation than the snapshot was discarded.
    bool stale_journal_discarded = false;
    // The schema version the files were upgraded from, or 0.
    uint32_t migrated_from_version = 0;
    // Human-readable descriptions of anything unexpected (also logged).
    std::vector<std::string> problems;
  };

  // Opens (creating if needed) the store in folder `directory`.
  // FAILED_PRECONDITION if another LocalStore has the folder open (the message
  // says so and names its process) or if its files come from a newer release;
  // INTERNAL if the folder or its files cannot be created or written.
  static absl::StatusOr<std::unique_ptr<LocalStore>> Open(const QString& directory,
                                                          const Options& options);

  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;
  ~LocalStore();

  // Appends the records durably, then applies them to state(). Either all of
  // them are written or (on an error, e.g. a full disk) the journal is cut
  // back to where it was and state() is unchanged. Records are framed one by
  // one, so a crash during the call may keep a prefix of them: put a record
  // that depends on the others (a cursor after a page of profiles) last.
  absl::Status Append(const profile::client::v1::JournalRecord& record);
  absl::Status AppendAll(const std::vector<profile::client::v1::JournalRecord>& records);

  // Writes a snapshot of state() and starts an empty journal.
  absl::Status Compact();

  // The ids of the profiles whose cached copy, mutations or merge note the
  // appends since the last call changed (every profile after Open()), and
  // forgets them: what a view of the store must redraw.
  std::set<std::string> TakeTouchedProfiles();

  const StoreState& state() const { return state_; }
  const OpenReport& open_report() const { return report_; }
  uint64_t generation() const { return generation_; }
  int64_t journal_bytes() const { return journal_bytes_; }
  QString directory() const { return directory_; }

 private:
  LocalStore(const QString& directory, const Options& options, FolderLock lock);

  absl::Status Load();
  absl::Status LoadSnapshot(bool* needs_compaction);
  absl::Status LoadJournal(bool* needs_compaction, bool* needs_reset);
  absl::Status ResetJournal(uint64_t generation);
  absl::Status OpenJournalForAppend();
  // Renames an unreadable store file aside (never deletes it).
  absl::Status Quarantine(const QString& path, const std::string& why);
  QString PathOf(const char* name) const;

  const QString directory_;
  const Options options_;
  // Declared before journal_: released only after the journal is closed.
  const FolderLock lock_;
  StoreState state_;
  // For TakeTouchedProfiles(): every profile until the first call.
  bool all_touched_ = true;
  std::set<std::string> touched_profiles_;
  OpenReport report_;
  QFile journal_;
  uint64_t generation_ = 0;
  int64_t journal_bytes_ = 0;
  int64_t snapshot_bytes_ = 0;
  // Set when a failed append could not be undone; every later append fails.
  bool broken_ = false;
};

// What Open() repaired, in plain words for the person using the app (what
// happened, what was kept, where set-aside bytes are, then the technical
// details); empty when the open was clean or only upgraded the files.
std::string DescribeRepair(const LocalStore::OpenReport& report);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_
