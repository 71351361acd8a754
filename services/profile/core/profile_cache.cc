#include "services/profile/core/profile_cache.h"

#include <algorithm>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace profiles {

namespace {

// Buckets of forgotten versions per shard (8 bytes each).
constexpr size_t kForgottenBuckets = 4096;

}  // namespace

// One slice of the cache: its own lock, LRU list and byte budget.
//
// Tickets without per-ticket state (a ticket that is never Fill()ed costs
// nothing): every id that has ever been Put() has its last Put's stamp either
// in its entry (`put_stamp`) or folded into `floor_`, which is raised
// whenever a stamp would otherwise be forgotten (an entry evicted or erased,
// a Put() not cached, a clear). A Fill() whose ticket is not later than both
// is stale. Folding into the floor also invalidates other ids' tickets, but
// an LRU victim was last Put() long before any read now in flight began, so
// in practice only a thrashing cache drops extra fills.
//
// Newer-wins across eviction: Put()s of one id can arrive out of order (two
// writes on two threads, the feed delivering a change after this process
// wrote a newer one), and the newer one may have been evicted in between.
// So every version that leaves the cache, or is Put() and not cached, raises
// the maximum kept for its bucket (a hash of the id); a Put() of an id that is
// not cached is cached only if it is newer than its bucket's maximum. Ids
// that share a bucket can refuse each other's Put()s; the next read then
// fills from storage, which is always safe.
class ProfileCache::Shard {
 public:
  void Init(ProfileCache* owner, size_t capacity) {
    owner_ = owner;
    capacity_ = capacity;
  }

  std::shared_ptr<const ProfileSnapshot> Lookup(std::string_view id) {
    absl::MutexLock lock(&mu_);
    // Debian's Abseil has its own string_view type, not std::string_view.
    auto it = index_.find(absl::string_view(id.data(), id.size()));
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->snapshot;
  }

  // REQUIRES: `ticket` came from the same cache's clock.
  void Fill(uint64_t ticket, std::shared_ptr<const ProfileSnapshot> snapshot) {
    absl::MutexLock lock(&mu_);
    // Read under mu_: SetEnabled() stores the flag before it clears the
    // shard under mu_, so a Fill() that still sees `true` lands before that
    // clear and is cleared by it.
    if (!owner_->enabled()) return;
    auto it = index_.find(snapshot->id());
    if (ticket <= floor_ || (it != index_.end() && ticket <= it->second->put_stamp)) {
      ++stale_fills_dropped_;
      return;
    }
    if (it != index_.end()) {
      if (it->second->snapshot->version() >= snapshot->version()) return;
      Replace(it->second, std::move(snapshot));
      return;
    }
    Insert(std::move(snapshot), /*put_stamp=*/0);
  }

  void Put(std::shared_ptr<const ProfileSnapshot> snapshot) {
    absl::MutexLock lock(&mu_);
    // Taken under mu_, so the stamps a shard applies only grow, and a ticket
    // taken after it belongs to a read that began after this write was
    // stored: such a read may be filled.
    const uint64_t stamp = owner_->NextStamp();
    const bool enabled = owner_->enabled();
    auto it = index_.find(snapshot->id());
    if (it != index_.end()) {
      Entry& entry = *it->second;
      entry.put_stamp = stamp;
      // The cached version is already as new: only the tickets go.
      if (entry.snapshot->version() >= snapshot->version()) return;
      // An older version must not outlive this Put(), even when the new one
      // cannot be cached.
      if (!enabled || snapshot->bytes() > capacity_) {
        Forget(it);
        RememberForgotten(*snapshot);
        return;
      }
      Replace(it->second, std::move(snapshot));
      return;
    }
    int64_t& forgotten = ForgottenVersion(snapshot->id());
    if (!enabled || snapshot->bytes() > capacity_ || snapshot->version() < forgotten) {
      floor_ = stamp;
      forgotten = std::max(forgotten, snapshot->version());
      return;
    }
    Insert(std::move(snapshot), stamp);
  }

  // Also invalidates every ticket taken so far.
  void Clear() {
    absl::MutexLock lock(&mu_);
    for (const Entry& entry : lru_) RememberForgotten(*entry.snapshot);
    index_.clear();
    lru_.clear();
    bytes_ = 0;
    floor_ = owner_->NextStamp();
  }

  void AddStats(Stats& stats) const {
    absl::MutexLock lock(&mu_);
    stats.hits += hits_;
    stats.misses += misses_;
    stats.entries += static_cast<int64_t>(index_.size());
    stats.bytes += static_cast<int64_t>(bytes_);
    stats.evictions += evictions_;
    stats.stale_fills_dropped += stale_fills_dropped_;
  }

 private:
  struct Entry {
    std::shared_ptr<const ProfileSnapshot> snapshot;
    size_t bytes = 0;  // snapshot->bytes() when inserted
    // Stamp of the last Put() of this id while cached; 0 if none.
    uint64_t put_stamp = 0;
  };
  using Lru = std::list<Entry>;  // most recently used first

  void Insert(std::shared_ptr<const ProfileSnapshot> snapshot, uint64_t put_stamp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t bytes = snapshot->bytes();
    if (bytes > capacity_) return;
    std::string id = snapshot->id();
    lru_.push_front(Entry{std::move(snapshot), bytes, put_stamp});
    index_.emplace(std::move(id), lru_.begin());
    bytes_ += bytes;
    EvictOverCapacity();
  }

  void Replace(Lru::iterator entry, std::shared_ptr<const ProfileSnapshot> snapshot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t bytes = snapshot->bytes();
    if (bytes > capacity_) {
      Forget(index_.find(entry->snapshot->id()));
      return;
    }
    bytes_ = bytes_ - entry->bytes + bytes;
    entry->snapshot = std::move(snapshot);
    entry->bytes = bytes;
    lru_.splice(lru_.begin(), lru_, entry);
    EvictOverCapacity();
  }

  void EvictOverCapacity() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The front entry fits on its own, so this never evicts what was just
    // inserted.
    while (bytes_ > capacity_) {
      Forget(index_.find(lru_.back().snapshot->id()));
      ++evictions_;
    }
  }

  // Removes an entry, keeping its Put() stamp in the floor.
  void Forget(absl::flat_hash_map<std::string, Lru::iterator>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    floor_ = std::max(floor_, it->second->put_stamp);
    RememberForgotten(*it->second->snapshot);
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }

  int64_t& ForgottenVersion(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Salted, so that the ids of one shard spread over all its buckets.
    return forgotten_versions_[absl::Hash<std::pair<std::string_view, int>>()({id, 1}) %
                               kForgottenBuckets];
  }

  void RememberForgotten(const ProfileSnapshot& snapshot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t& forgotten = ForgottenVersion(snapshot.id());
    forgotten = std::max(forgotten, snapshot.version());
  }

  mutable absl::Mutex mu_;
  // Set by Init() before first use, then constant.
  ProfileCache* owner_ = nullptr;
  size_t capacity_ = 0;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t floor_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int64_t> forgotten_versions_ ABSL_GUARDED_BY(mu_) =
      std::vector<int64_t>(kForgottenBuckets, 0);
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t evictions_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t stale_fills_dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

ProfileCache::ProfileCache(Options options)
    : options_(options),
      shard_count_(static_cast<size_t>(std::max(1, options.shards))),
      shards_(new Shard[shard_count_]),
      enabled_(options.max_bytes > 0) {
  // The shares add up to max_bytes exactly, so the bound holds as a whole.
  for (size_t i = 0; i < shard_count_; ++i) {
    shards_[i].Init(
        this, options_.max_bytes / shard_count_ + (i < options_.max_bytes % shard_count_ ? 1 : 0));
  }
}

ProfileCache::~ProfileCache() = default;

ProfileCache::Shard& ProfileCache::ShardOf(std::string_view id) {
  return shards_[absl::Hash<std::string_view>()(id) % shard_count_];
}

std::shared_ptr<const ProfileSnapshot> ProfileCache::Lookup(std::string_view id) {
  return ShardOf(id).Lookup(id);
}

uint64_t ProfileCache::BeginFill(std::string_view /*id*/) { return NextStamp(); }

void ProfileCache::Fill(uint64_t ticket, std::shared_ptr<const ProfileSnapshot> snapshot) {
  if (snapshot == nullptr) return;
  Shard& shard = ShardOf(snapshot->id());
  shard.Fill(ticket, std::move(snapshot));
}

void ProfileCache::Put(std::shared_ptr<const ProfileSnapshot> snapshot) {
  if (snapshot == nullptr) return;
  Shard& shard = ShardOf(snapshot->id());
  shard.Put(std::move(snapshot));
}

void ProfileCache::SetEnabled(bool enabled) {
  absl::MutexLock lock(&enable_mu_);
  enabled_.store(enabled && options_.max_bytes > 0, std::memory_order_release);
  for (size_t i = 0; i < shard_count_; ++i) shards_[i].Clear();
}

bool ProfileCache::enabled() const { return enabled_.load(std::memory_order_acquire); }

ProfileCache::Stats ProfileCache::stats() const {
  Stats stats;
  for (size_t i = 0; i < shard_count_; ++i) shards_[i].AddStats(stats);
  return stats;
}

}  // namespace profiles
