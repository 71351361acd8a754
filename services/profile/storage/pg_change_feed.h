#ifndef PROFILES_SERVICES_PROFILE_STORAGE_PG_CHANGE_FEED_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_PG_CHANGE_FEED_H_

// The ChangeFeed implementation behind ChangeFeed::Start() (change_feed.h).
//
// A background thread owns a dedicated connection (application_name: the
// URL's, if any, followed by " change feed") that LISTENs on the
// "profile_positions" channel (the WAL sequencer, wal_sequencer.h, NOTIFYs
// it whenever it commits positions for newly committed changes). It waits,
// with poll(2), for a notification, for `poll_interval` to pass, or for the
// destructor's wake-up pipe; then it reads ProfileRepository::ChangesAfter()
// from its cursor in pages of 100 until nothing more is there and appends
// each page to every subscription. Reads begin at least 2 ms apart, so a
// burst of notifications costs one read per 2 ms, not one per batch.
// Positions are final once written (change_cursor.h), so one read after a
// notification finds everything it announced: no re-reads, and nothing
// held back by other transactions of the cluster. A read that fails is
// retried after 10 ms, 20 ms, 40 ms, ... up to `poll_interval`. If the
// listen connection breaks, it reconnects with exponential backoff (100 ms
// doubling to 5 s) and keeps polling meanwhile; after every (re)connection
// it reads what it may have missed. When the stream begins a new epoch (its
// replication slot was lost), every subscription is told it lagged, and
// its watcher's own cursor is then refused (CURSOR_EXPIRED).
//
// Health (ChangeFeed::health()): live, generation 1, from Start() (the
// listen connection is up and the start position is the current end of the
// stream). Generation 0 is never used, so it can stand for "no feed yet"
// (StorageStartup does). Each time the thread finds the listen connection
// broken, live turns false and the generation advances; after it reconnects
// it reads every change it may have missed and publishes them, and only when
// that read succeeded does live turn true again, with a new generation. A
// loss is found as soon as the server closes the socket (poll(2) wakes on
// it), e.g. within milliseconds of pg_terminate_backend() or a server
// shutdown; a peer that vanishes without closing the socket goes unnoticed
// until TCP gives up.
//
// Start() begins listening before it takes its start position (the last
// position stamped), so every change stamped after Start() returns is
// delivered without waiting for a poll.
//
// Thread-safe. The destructor returns promptly (it wakes the thread through
// the pipe) and ends every subscription's Wait() with CANCELLED; a
// Subscription may outlive its feed.

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/profile/storage/change_feed.h"

namespace profiles {

class PgChangeFeed final : public ChangeFeed {
 public:
  // A connection that LISTENs on the change channel. Internal.
  struct ListenConnection;

  // Use ChangeFeed::Start(). Takes ownership of `listen` (already
  // listening) and of the pipe(2) pair `wake_pipe`.
  PgChangeFeed(Options options, ProfileRepository* repository, ChangeCursor start,
               std::unique_ptr<ListenConnection> listen, const int wake_pipe[2]);
  ~PgChangeFeed() override;

  std::unique_ptr<Subscription> Subscribe() override;
  Health health() const override;

 private:
  struct Queue;
  class SubscriptionImpl;

  void Run();
  // Reads every visible change after cursor_ and publishes it; false if
  // storage could not be read.
  bool CatchUp();
  // When storage refuses cursor_ (the stream began a new epoch): moves
  // cursor_ to the current end and marks every subscription lagged, so that
  // each catches up from storage with its own cursor, where it is refused
  // too and its watcher told to list again. False if storage could not be
  // read.
  bool Restart();
  void Publish(const std::vector<ProfileChange>& changes);
  // Records a loss (false) or recovery (true) of the listen connection and
  // wakes every subscription; nothing if `live` is already so.
  void SetLive(bool live);
  bool stopping();
  // The subscriptions' queues that are still owned, to work on outside mu_.
  std::vector<std::shared_ptr<Queue>> LiveQueues() ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Queue>> LiveQueuesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  ProfileRepository* const repository_;
  const int wake_read_fd_;
  const int wake_write_fd_;
  // Used by the feed thread only.
  ChangeCursor cursor_;
  std::unique_ptr<ListenConnection> listen_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Health health_ ABSL_GUARDED_BY(mu_) = {.live = true, .generation = 1};
  std::vector<std::weak_ptr<Queue>> queues_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;  // started last, joined first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_PG_CHANGE_FEED_H_
