#ifndef PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_

// LocalStore: the client's crash-safe, on-disk copy of every profile it has
// seen, its outbox of pending mutations and its sync cursor.
//
// Layout in the data folder given by the caller (the app passes
// QStandardPaths::AppDataLocation or --data-dir):
//   profiles.snapshot  the whole state at the last compaction, written
//                      atomically (temporary file + rename); absent until
//                      the first one
//   profiles.journal   the records appended since that snapshot
//   profiles.lock      held while a LocalStore has the folder open (FolderLock)
// Both are "PRFS" + framed protobuf records (record_io.h): a FileHeader, then
// profile.client.v1.JournalRecords (proto/profile/client/v1/local_store.proto).
// LocalStore is the reducer (store_state.h) over a RecordLog (record_log.h),
// which owns the files, their recovery and compaction, through a StoreFiles
// (store_files.h) that tests replace to inject faults.
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
// Cost: an append writes only its own records. Compaction rewrites what is
// live (every cached profile and pending mutation) as a new snapshot
// (generation + 1) and then resets the journal to an empty one of that
// generation. Append() compacts once the journal is past
// Options::compaction_min_journal_bytes and the files hold more superseded
// bytes than live ones (snapshot + journal > 2 x live): compaction cost is
// proportional to the live state, and happens at most once per live-sized
// amount of superseded appends, while a journal that only grows the state (a
// first sync of thousands of profiles) is never rewritten for nothing. It
// was: compacting whenever the journal outgrew the snapshot rewrote 60 MB
// during a 40 MB first sync. A journal of an older generation than the
// snapshot is stale (the compaction was killed between the two steps) and is
// discarded on Open(), so nothing is applied twice.
//
// Pictures: state() holds none. Each picture's bytes stay in the record that
// brought them; state().pictures says where, and readers (the UI's image
// loaders, the sends) read them back from any thread (stored_picture.h).
// Compaction writes each live picture once and replaces that index. The
// file format is the same as before: only what is kept in memory changed.
//
// Schema versions: see local_store.proto. A version 1 journal is upgraded in
// place on Open() (all records kept; created_at stamped) and compacted into
// the current layout; version 2 and 3 files are read as they are and
// compacted into current-version files. Files of a newer version than kSchemaVersion make
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
#include "apps/qml-client/core/record_log.h"
#include "apps/qml-client/core/store_files.h"
#include "apps/qml-client/core/store_state.h"
#include "profile/client/v1/local_store.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

inline constexpr char kLockFileName[] = "profiles.lock";

class LocalStore {
 public:
  struct Options {
    // Never compact a journal smaller than this (see "Cost").
    int64_t compaction_min_journal_bytes = int64_t{4} * 1024 * 1024;
  };

  // What Open() had to repair; all zero/false/empty for a clean open.
  using OpenReport = StoreOpenReport;

  // Opens (creating if needed) the store in folder `directory`.
  // FAILED_PRECONDITION if another LocalStore has the folder open (the message
  // says so and names its process) or if its files come from a newer release;
  // INTERNAL if the folder or its files cannot be created or written.
  // Every file but the lock is read and written through `files`, which must
  // outlive the store (tests pass one that injects faults).
  static absl::StatusOr<std::unique_ptr<LocalStore>> Open(const QString& directory,
                                                          const Options& options,
                                                          StoreFiles* files = RealStoreFiles());

  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;
  ~LocalStore();

  // Appends the records durably, then applies them to state(). Either all of
  // them are written or (on an error, e.g. a full disk) the journal is cut
  // back to where it was and state() is unchanged. If even that cut fails,
  // the store is broken: this and every later append fail with
  // FAILED_PRECONDITION, and reopening the folder recovers every record
  // appended successfully before. Records are framed one by
  // one, so a crash during the call may keep a prefix of them: put a record
  // that depends on the others (a cursor after a page of profiles) last.
  absl::Status Append(const profile::client::v1::JournalRecord& record);
  absl::Status AppendAll(const std::vector<profile::client::v1::JournalRecord>& records);
  // The same, moving what the records hold into state() (the pictures of a
  // page of server profiles) instead of copying it.
  absl::Status AppendAll(std::vector<profile::client::v1::JournalRecord>&& records);

  // Writes a snapshot of state() and starts an empty journal.
  absl::Status Compact();

  // The ids of the profiles whose cached copy, mutations or merge note the
  // appends since the last call changed (every profile after Open()), and
  // forgets them: what a view of the store must redraw.
  std::set<std::string> TakeTouchedProfiles();

  const StoreState& state() const { return state_; }
  const OpenReport& open_report() const { return log_->open_report(); }
  uint64_t generation() const { return log_->generation(); }
  int64_t journal_bytes() const { return log_->journal_bytes(); }
  QString directory() const { return directory_; }

 private:
  LocalStore(const QString& directory, const Options& options, FolderLock lock);

  // Every profile cached or with pending mutations.
  std::set<std::string> AllProfileIds() const;
  // The serialized bytes of profile `id`'s cached copy and pending
  // mutations, pictures included; of one of them; of the whole state.
  int64_t LiveBytesOf(const std::string& id) const;
  int64_t LiveBytesOf(const profile::v1::Profile& cached) const;
  int64_t LiveBytesOf(const profile::client::v1::PendingMutation& mutation) const;
  int64_t AllLiveBytes() const;

  const QString directory_;
  const Options options_;
  // Declared before log_: released only after the files are closed.
  const FolderLock lock_;
  StoreState state_;
  // For TakeTouchedProfiles(): every profile until the first call.
  bool all_touched_ = true;
  std::set<std::string> touched_profiles_;
  // Sum of LiveBytesOf() over every profile: about what a snapshot written
  // now would hold.
  int64_t live_bytes_ = 0;
  std::unique_ptr<RecordLog> log_;
};

// What Open() repaired, in plain words for the person using the app (what
// happened, what was kept, where set-aside bytes are, then the technical
// details); empty when the open was clean or only upgraded the files.
std::string DescribeRepair(const LocalStore::OpenReport& report);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_LOCAL_STORE_H_
