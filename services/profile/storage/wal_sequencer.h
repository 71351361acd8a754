#ifndef PROFILES_SERVICES_PROFILE_STORAGE_WAL_SEQUENCER_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_WAL_SEQUENCER_H_

// WalSequencer gives every profile change a position in commit order, read
// from PostgreSQL's write-ahead log through logical decoding (the wal2json
// plugin), and records each profile's latest position in profile_positions
// (migrations/0005_change_positions.sql).
//
// Why: the positions of change_cursor.h are assigned before commit, so
// readers may only pass those below the cluster-wide snapshot xmin, and one
// transaction holding an xid anywhere in the cluster, in any database, holds
// back every client's changes. Logical decoding emits transactions in the
// order of their commit records, only once they have committed, and only
// those of this database, so a position (epoch, commit LSN, index within the
// transaction) can be handed out as soon as it is written, and nothing that
// commits later can sort before it.
//
// Delta sync (PgProfileRepository::ChangesAfter()) and the change feed
// read these positions; a change reaches them once it is stamped.
//
// How it works. A background thread, on one dedicated connection
// (application_name: the URL's followed by " wal sequencer"):
//   1. Election: takes the session advisory lock kSequencerLockKey
//      (pg_try_advisory_lock, scoped to the database). Every replica runs a
//      sequencer; exactly one per database holds the lock and works, the
//      others try again every poll_interval. When the holder's process dies
//      its connection closes, the lock is freed, and another takes over
//      where the slot's confirmed position says.
//   2. Slot: the logical replication slot `slot_name` belongs to the
//      database (shared by the replicas; it survives restarts). If there is
//      none, it is created and every existing profile is stamped at
//      (epoch, the slot's consistent point, row number) in one transaction
//      together with the epoch's record (change_sequencer_state): the
//      backfill. If the slot was lost (wal_status 'lost': WAL removed
//      before it was read, max_slot_wal_keep_size) or dropped while an epoch
//      was recorded, changes in between were never decoded: a new slot is
//      created, the epoch incremented and every profile stamped again at the
//      new epoch, and this is logged loudly. Clients holding positions of an
//      older epoch are refused (CURSOR_EXPIRED) and list again: never a
//      silent gap.
//   3. Stream: a second connection, a walsender (logical_stream.h,
//      application_name "... wal sequencer stream"), streams the slot from
//      its confirmed position; each transaction arrives once committed and
//      flushed. At each transaction boundary, and at most every
//      batch_changes rows, the profiles it changed are stamped in one
//      transaction (an upsert that only ever moves a position forward, so a
//      transaction streamed again is a no-op) with NOTIFY
//      profile_positions, and only once that has committed is the position
//      confirmed to the server. A crash between the two streams the batch
//      again (harmless); confirming first could lose it. When everything
//      read is stamped, the server's own decoded position (its keepalives)
//      is confirmed too, so WAL of other databases does not pile up behind
//      an idle slot. The first connection LISTENs on "profile_changes" (the
//      schema's trigger NOTIFYs it at every commit that writes a profile)
//      only to flush (below).
//   4. Errors: a lost connection (either) is re-established with backoff
//      (100 ms doubling to 5 s) and the lock taken again. wal_level below
//      logical, a missing wal2json or a schema not yet migrated is logged
//      (once per distinct reason) and retried every minute (StorageStartup
//      refuses to start on the first and waits for an epoch, so the server
//      is not ready meanwhile).
//
// One tiny transactional logical message of its own (prefix
// "profiles_wal_sequencer", streamed and skipped): a flush, on a
// notification, when some WAL is not yet on disk (synchronous_commit off:
// a walsender sends only flushed WAL, which the WAL writer flushes up to
// 3 x wal_writer_delay later), so that a change is stamped within
// milliseconds of its commit either way.
//
// Example:
//   auto sequencer = WalSequencer::Start({.database_url = url});
//   if (!sequencer.ok()) return sequencer.status();
//
// Thread-safe. The destructor stops the thread (cancelling a statement in
// progress, e.g. a slot creation waiting for running transactions), which
// releases the lock; it does NOT drop the slot (see DropSlot()).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/profile/storage/logical_stream.h"

namespace profiles {

class WalSequencer {
 public:
  // Key of the session advisory lock held by the elected sequencer.
  static constexpr int64_t kSequencerLockKey = 0x77616c7365717565;  // "walseque"

  struct Options {
    std::string database_url{};  // REQUIRES: not empty
    // Empty: "profiles_<database oid>" (slot names are cluster-wide; the oid
    // keeps the databases of one cluster apart).
    std::string slot_name{};
    absl::Duration poll_interval = absl::Seconds(1);  // REQUIRES: positive
    // Streamed rows per stamping transaction (a transaction is never split,
    // so a batch may be larger). REQUIRES: >= 1.
    int batch_changes = 1000;
    // One line per event (elected, slot created, epoch bumped, failures),
    // without a trailing newline. Empty: std::cerr.
    std::function<void(std::string_view)> log{};
    // TEST ONLY: stamp positions but never confirm them to the slot, as if the
    // process died between the two every time.
    bool testing_never_advance = false;
  };

  // Starts the background thread. INVALID_ARGUMENT for options breaking the
  // REQUIRES above; never touches the database itself.
  static absl::StatusOr<std::unique_ptr<WalSequencer>> Start(Options options);

  WalSequencer(const WalSequencer&) = delete;
  WalSequencer& operator=(const WalSequencer&) = delete;
  ~WalSequencer();

  struct Progress {
    // Whether this process holds the lock and its slot is set up.
    bool elected = false;
    // The current epoch (0 until elected once).
    int64_t epoch = 0;
    // Bytes of WAL the database keeps for the slot: pg_current_wal_lsn()
    // minus its restart_lsn (what max_slot_wal_keep_size bounds), measured
    // at most every poll_interval by the elected sequencer; -1 when not
    // elected.
    int64_t lag_bytes = -1;
    // Stamping transactions committed since Start().
    int64_t batches = 0;
  };
  // For metrics, health and tests.
  Progress Lag() const;

  // The slot name used for `database_url` when Options::slot_name is empty.
  static absl::StatusOr<std::string> DefaultSlotName(const std::string& database_url);

  // Drops the slot (`slot_name`, or the default one) of `database_url`; OK
  // when it does not exist. For tests and tools only: when a database is
  // dropped or retired (an inactive slot holds WAL back in the whole
  // cluster), or to force every client to list again. While the database
  // is in use, the next sequencer creates a new slot and starts a new epoch.
  // FAILED_PRECONDITION if a sequencer keeps using it for 5 s (stop it
  // first), UNAVAILABLE if the database cannot be reached.
  static absl::Status DropSlot(const std::string& database_url, std::string slot_name = "");

  // Blocks until every change committed before the call has its position
  // (stamped by the elected sequencer of whichever process runs it), so
  // that ChangesAfter() lists it. How: commits a logical message the
  // sequencer decodes and skips, and waits until the slot's confirmed
  // position has passed it (the sequencer confirms only after stamping
  // everything before).
  // DEADLINE_EXCEEDED at `deadline` (no sequencer running, or stuck);
  // UNAVAILABLE if the database cannot be reached. For tests, tools and
  // benchmarks: it costs a commit and a few polls of pg_replication_slots.
  static absl::Status AwaitSequenced(const std::string& database_url, absl::Time deadline,
                                     std::string slot_name = "");

  // FAILED_PRECONDITION, saying what to change, unless the server can feed
  // a sequencer: wal_level = logical, max_replication_slots >= 1, and a
  // role with REPLICATION (or superuser). UNAVAILABLE if it cannot be
  // reached. (Whether the wal2json plugin is installed shows only when the
  // slot is created; the sequencer logs it.)
  static absl::Status CheckServerConfiguration(const std::string& database_url);

 private:
  struct Session;

  explicit WalSequencer(Options options, const int wake_pipe[2]);
  void Run();
  // Sleeps until `deadline` or until the destructor starts; false if it did.
  bool SleepUntil(absl::Time deadline);
  bool stopping() const;
  void Log(std::string_view line) const;

  // One elected stint on `session`: set up the slot, then stamp until the
  // connection fails or the destructor starts. Throws what libpqxx throws;
  // returns a non-OK status for failures to wait out (wal_level, ...).
  absl::Status Sequence(Session& session);
  // Brings the slot and the epoch in line (step 2 of the file comment).
  absl::Status EnsureSlot(Session& session);
  // What the stream delivered and is not stamped yet.
  struct Decoded {
    struct Stamp {
      uint64_t commit_lsn = 0;
      int idx = 0;
    };
    std::map<std::string, Stamp> latest;      // by profile id; later commits win
    std::vector<std::string> in_transaction;  // ids of the open transaction
    bool open = false;                        // between its B and C rows
    uint64_t last_commit = 0;                 // of the last C row
    int64_t rows = 0;                         // rows since the last stamp
  };
  void Decode(const LogicalStream::Message& message, Decoded& decoded) const;
  // Stamps `decoded` in one transaction (with NOTIFY profile_positions),
  // then confirms it to the server. REQUIRES: !decoded.open.
  absl::Status StampAndConfirm(Session& session, LogicalStream& stream, Decoded& decoded);

  const Options options_;
  const int wake_read_fd_;
  const int wake_write_fd_;
  absl::Notification exited_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Progress progress_ ABSL_GUARDED_BY(mu_);
  // The backend of the current connection, for cancelling on destruction.
  int backend_pid_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;  // started last, joined first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_WAL_SEQUENCER_H_
