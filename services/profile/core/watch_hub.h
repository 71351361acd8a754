#ifndef PROFILES_SERVICES_PROFILE_CORE_WATCH_HUB_H_
#define PROFILES_SERVICES_PROFILE_CORE_WATCH_HUB_H_

// WatchHub fans the change feed out to every open watch of this process, and
// keeps the read cache coherent with it. Part of ProfileCore (profile_core.h).
//
// One thread, not one per watch: it takes every batch the ChangeFeed
// publishes (changes of every replica), Put()s each changed profile into the
// ProfileCache, and appends the batch to every watcher's queue as shared,
// immutable events: one event with the avatar and one without per change, so
// 10,000 watchers of one change hold two events between them, and a watcher
// that asked for no avatars queues no avatar bytes. A watcher whose queue
// exceeds `watch_queue_bytes` drops it and catches up from storage instead.
//
// A watch catches up from storage (ChangesAfter, on a storage worker) first
// and whenever it has lagged; the feed's events at or before its cursor are
// skipped, so it sees each change once, in cursor order (the reasoning is in
// change_feed.h: the hub's subscription is taken before any watch opens).
//
// The cache is trusted only while the feed is live (ChangeFeed::Health): at
// every loss or recovery of the feed's connection, or when the hub itself
// lagged, it is cleared, and it stays disabled until the feed is live again.
//
// Metrics (Options::metrics): the events handed to watches, and for every
// change the feed publishes, its lag: now minus its updated_at, which
// PostgreSQL sets to the start of the writing transaction (one statement, so
// within milliseconds of its commit); a clock skew between this host and the
// database's shows in it.
//
// Thread-safe. Every pointer passed to the constructor must outlive the hub.

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/profile/core/bounded_executor.h"
#include "services/profile/core/profile_cache.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class WatchHub {
 public:
  struct Options {
    int max_watches = 16384;
    size_t watch_queue_bytes = size_t{4} << 20;
    ServiceMetrics* metrics = nullptr;  // may be null
  };

  WatchHub(Options options, ChangeFeed* feed, ProfileRepository* repository,
           BoundedExecutor* executor, ProfileCache* cache);
  // Shutdown()s. REQUIRES: every ProfileWatch it opened is destroyed.
  ~WatchHub();

  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // A watch of every change after `since`. RESOURCE_EXHAUSTED over
  // max_watches; UNAVAILABLE after Stop(). A cursor another database issued
  // ends the watch at its first catch-up with FAILED_PRECONDITION
  // (IssuedCursor::CheckIssuedBy()), as does one ahead of this database.
  absl::StatusOr<std::unique_ptr<ProfileWatch>> Open(IssuedCursor since, bool include_avatars);

  // Ends every watch with UNAVAILABLE and refuses new ones. Idempotent.
  void Stop();

  // Stop()s and joins the hub's thread, after which the hub schedules no
  // more storage work (so the executor may be drained). Idempotent; not
  // thread-safe with itself.
  void Shutdown();

  int open_watches() const;

  struct Watcher;  // internal

 private:
  class Handle;

  void Run();
  void Next(const std::shared_ptr<Watcher>& watcher, Done<WatchEvents> done);
  // Reads the watcher's next page from storage on a storage worker.
  void CatchUp(const std::shared_ptr<Watcher>& watcher);
  void FinishCatchUp(const std::shared_ptr<Watcher>& watcher, std::string_view database_id,
                     absl::StatusOr<ChangePage> page);
  void Publish(const std::vector<ProfileChange>& changes);
  void CountSent(const WatchEvents& events) const;
  // Every watcher catches up from storage before its next events.
  void MarkAllLagged();
  void EndAll(const absl::Status& status);
  void Close(const std::shared_ptr<Watcher>& watcher);
  void ApplyFeedHealth();
  std::vector<std::shared_ptr<Watcher>> Watchers() const;

  const Options options_;
  ChangeFeed* const feed_;
  ProfileRepository* const repository_;
  BoundedExecutor* const executor_;
  ProfileCache* const cache_;
  // Taken before any watch opens (see above).
  std::unique_ptr<ChangeFeed::Subscription> subscription_;
  uint64_t feed_generation_ = 0;  // used by the hub's thread only

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::shared_ptr<Watcher>> watchers_ ABSL_GUARDED_BY(mu_);
  absl::Status stopped_ ABSL_GUARDED_BY(mu_);  // OK until Stop() or the feed ended

  std::thread thread_;  // started last, joined first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_WATCH_HUB_H_
