#ifndef PROFILES_SERVICES_PROFILE_STORAGE_STORAGE_STARTUP_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_STORAGE_STARTUP_H_

// StorageStartup opens the server's storage in the background, so that the
// server can listen, answer health checks and refuse calls cleanly while
// PostgreSQL is not reachable yet (a container started before its database,
// a database restarting), instead of exiting.
//
// Begin() returns at once and starts a thread that, until it succeeds:
//   1. applies the embedded migrations (ApplyMigrations(), migrator.h);
//   2. checks that PostgreSQL can feed the WAL sequencer (wal_level =
//      logical and the rest of WalSequencer::CheckServerConfiguration());
//   3. starts the WAL sequencer (wal_sequencer.h), which gives every
//      committed change its position in commit order, and waits until the
//      change stream has an epoch (this process's sequencer, or another
//      replica's, has set up the database's replication slot): before that
//      no change has a position, and a listing would come back empty;
//   4. starts the change feed (ChangeFeed::Start(), change_feed.h) on the
//      repository.
// An attempt that fails with UNAVAILABLE (the database cannot be reached or
// went away in the middle) is retried after a backoff that doubles from
// `first_backoff` to `max_backoff`, with +-20% jitter so that replicas do not
// reconnect in step; every failed attempt logs one line with its reason and
// the delay. Any other failure (a migration that fails, a server without
// wal_level = logical) is permanent: the thread stops and status() returns
// it.
//
// Until then repository() answers every call with UNAVAILABLE ("the database
// is not ready yet ...") and does not touch PostgreSQL (whose schema may not
// be migrated yet); feed() hands out subscriptions that join the real feed
// once it runs, and its health() is not live, generation 0. Afterwards both
// forward to the real ones.
//
// Example:
//   auto storage = StorageStartup::Begin({.database_url = url, .pool_size = 16,
//                                         .on_ready = [&] { health->Set(true); }});
//   if (!storage.ok()) return storage.status();
//   ProfileServiceImpl service((*storage)->repository(), (*storage)->feed());
//
// Thread-safe. The destructor stops waiting (an attempt in progress, e.g. a
// connect, is finished first), stops the sequencer and closes the feed; repository() and feed()
// must not be used after it, though a Subscription may outlive it (its
// Wait() then returns CANCELLED).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "services/profile/storage/profile_repository.h"
#include "services/profile/storage/wal_sequencer.h"

namespace profiles {

class StorageStartup {
 public:
  struct Options {
    std::string database_url;  // REQUIRES: not empty
    int pool_size = 8;         // REQUIRES: >= 1
    // The change feed's options; its database_url is set from the above.
    ChangeFeed::Options feed;
    absl::Duration first_backoff = absl::Milliseconds(250);
    absl::Duration max_backoff = absl::Seconds(8);
    // Called once, from the startup thread, when storage is ready (before
    // the "database ready" log line).
    std::function<void()> on_ready;
    // One line per event, without a trailing newline. Empty: std::cerr.
    std::function<void(std::string_view)> log;
  };

  // Starts opening storage in the background. INVALID_ARGUMENT for an empty
  // URL, a pool size below 1 or a non-positive backoff.
  static absl::StatusOr<std::unique_ptr<StorageStartup>> Begin(Options options);

  StorageStartup(const StorageStartup&) = delete;
  StorageStartup& operator=(const StorageStartup&) = delete;
  ~StorageStartup();

  // Valid for the lifetime of this object (see the file comment).
  ProfileRepository* repository();
  ChangeFeed* feed();

  // OK once migrated and the feed runs; UNAVAILABLE while still waiting (the
  // message says for how long, not where: it may reach callers); the
  // permanent error if opening failed for good.
  absl::Status status() const;

  // status(), and once that is OK whether PostgreSQL answers right now
  // (PgProfileRepository::Ping()). For readiness checks.
  absl::Status CheckReady();

  // OK while the change stream keeps up (JudgeChangeStream(),
  // change_stream_health.h, with `max_lag_bytes`); status() until storage
  // is open; UNAVAILABLE when PostgreSQL cannot be asked. One round trip.
  absl::Status CheckChangeStream(int64_t max_lag_bytes);

  // The connection pool's state, for metrics.
  ConnectionPool::Stats pool_stats() const { return pg_repository_->pool_stats(); }

  // The WAL sequencer's state (WalSequencer::Lag(), no round trip), for
  // metrics; nullopt until storage is ready, or when it runs none.
  std::optional<WalSequencer::Progress> sequencer_progress() const;

  // Blocks until status() is no longer UNAVAILABLE-while-waiting or
  // `deadline` passes; returns status().
  absl::Status AwaitStarted(absl::Time deadline) const;

 private:
  class GatedRepository;
  class PendingFeed;

  StorageStartup(Options options, std::unique_ptr<PgProfileRepository> repository);
  void Run();
  // Sleeps until `deadline` or until the destructor starts; false if it did.
  bool SleepUntil(absl::Time deadline);
  // Step 3's wait: OK once the change stream has an epoch; UNAVAILABLE if
  // the database went away; CANCELLED if the destructor started.
  absl::Status AwaitChangeStream();
  void Log(std::string_view line) const;

  const Options options_;
  const absl::Time started_at_;
  const std::unique_ptr<PgProfileRepository> pg_repository_;
  const std::unique_ptr<GatedRepository> gated_repository_;
  const std::shared_ptr<PendingFeed> pending_feed_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;     // ready or failed for good
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // set when failed for good
  int attempts_ ABSL_GUARDED_BY(mu_) = 0;
  // Written by the startup thread before done_ is set, read only after.
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<WalSequencer> sequencer_;

  std::thread thread_;  // started last, joined first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_STORAGE_STARTUP_H_
