#ifndef PROFILES_SERVICES_PROFILE_CORE_PROFILE_CACHE_H_
#define PROFILES_SERVICES_PROFILE_CORE_PROFILE_CACHE_H_

// ProfileCache is the in-process read cache of the profile core: the newest
// ProfileSnapshot this process knows of, by profile id, bounded in bytes
// (least recently used first out).
//
// Coherence — what the core relies on:
//   * Never older than a version this process acknowledged (read-your-writes):
//     the core Put()s every profile it writes (and the current profile of
//     every conflict) before it answers, and Put() only ever replaces an entry
//     with a newer version.
//   * A read that raced with a write is not cached: a miss takes a ticket
//     (BeginFill()) before it reads storage, and Fill() drops the result if
//     the id was Put() or the cache was cleared since. Without the ticket a
//     slow read of version 1 could land after the write of version 2 (whose
//     entry LRU may already have evicted) and be served from then on.
//   * Changes made through other replicas arrive through the change feed,
//     which the core Put()s as they come (WatchHub); the staleness bound is
//     the feed's delivery latency.
//   * While the feed cannot vouch for that (its connection is down, or it
//     dropped changes), the core calls SetEnabled(false): the cache is
//     cleared and every Lookup() misses until SetEnabled(true).
//
// Sharded by id hash (one mutex per shard), so readers on many threads rarely
// contend. Hand-written because neither Abseil nor Boost has a concurrent,
// byte-bounded LRU map.
//
// Thread-safe.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "services/profile/core/profile_snapshot.h"

namespace profiles {

class ProfileCache {
 public:
  struct Options {
    // Upper bound of the snapshots' bytes() held; 0 disables the cache.
    size_t max_bytes = size_t{256} << 20;
    // REQUIRES: >= 1.
    int shards = 16;
  };

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
    int64_t entries = 0;
    int64_t bytes = 0;
    int64_t evictions = 0;
    // Fill()s dropped because the id was written or the cache cleared since
    // their ticket.
    int64_t stale_fills_dropped = 0;
  };

  explicit ProfileCache(Options options);
  ~ProfileCache();

  ProfileCache(const ProfileCache&) = delete;
  ProfileCache& operator=(const ProfileCache&) = delete;

  // The cached snapshot of `id`, or null (also while disabled).
  std::shared_ptr<const ProfileSnapshot> Lookup(std::string_view id);

  // Taken before reading `id` from storage after a miss; pass it to Fill().
  uint64_t BeginFill(std::string_view id);

  // Caches `snapshot`, read from storage after BeginFill() returned `ticket`,
  // unless its id was Put() or the cache cleared or disabled since then, or
  // a newer version is cached.
  void Fill(uint64_t ticket, std::shared_ptr<const ProfileSnapshot> snapshot);

  // A version this process wrote, or that the change feed delivered: cached
  // unless a newer version already is. Invalidates the tickets of its id.
  // While disabled, only the invalidation happens. It may also decline to
  // cache an id that is not cached now, when a newer version of it was
  // evicted (Put()s of one id can arrive out of order); the next read then
  // fills from storage. Never leaves an older version cached.
  void Put(std::shared_ptr<const ProfileSnapshot> snapshot);

  // Clears the cache and disables (false) or enables (true) it. Disabling
  // also invalidates every outstanding ticket.
  void SetEnabled(bool enabled);
  bool enabled() const;

  Stats stats() const;

 private:
  class Shard;
  Shard& ShardOf(std::string_view id);
  // A new stamp, later than every stamp and ticket handed out before.
  uint64_t NextStamp() { return clock_.fetch_add(1, std::memory_order_acq_rel) + 1; }

  const Options options_;
  const size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
  // Orders tickets, Put()s and clears: a ticket is stale once its id was
  // Put(), or its shard cleared, at a later stamp.
  std::atomic<uint64_t> clock_{0};
  // Serializes SetEnabled() calls, so the last one wins in every shard.
  absl::Mutex enable_mu_;
  std::atomic<bool> enabled_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_PROFILE_CACHE_H_
