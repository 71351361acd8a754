#include "services/profile/core/profile_cache.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace profiles {
namespace {

using Snapshot = std::shared_ptr<const ProfileSnapshot>;

std::string Id(int n) { return absl::StrFormat("00000000-0000-4000-8000-%012d", n); }

// Profiles of one id size and `payload` bytes of avatar, so snapshots of
// equal payload have equal bytes().
Snapshot Make(const std::string& id, int64_t version, size_t payload = 100) {
  profile::v1::Profile profile;
  profile.set_id(id);
  profile.set_version(version);
  profile.set_name(absl::StrCat("v", version));
  profile.set_email("someone@example.com");
  profile.set_avatar(std::string(payload, 'x'));
  return ProfileSnapshot::Make(std::move(profile));
}

int64_t VersionOf(const Snapshot& snapshot) {
  return snapshot == nullptr ? -1 : snapshot->version();
}

// One shard, so that the LRU order is global and byte shares are exact.
ProfileCache::Options OneShard(size_t max_bytes) { return {.max_bytes = max_bytes, .shards = 1}; }

TEST(ProfileCacheTest, MissThenFillThenHit) {
  ProfileCache cache({});
  EXPECT_TRUE(cache.enabled());
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  const uint64_t ticket = cache.BeginFill(Id(1));
  const Snapshot stored = Make(Id(1), 3);
  cache.Fill(ticket, stored);
  EXPECT_EQ(cache.Lookup(Id(1)), stored) << "a hit hands out the same snapshot, no copy";
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);

  const ProfileCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 2);
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(stored->bytes()));
  EXPECT_EQ(stats.evictions, 0);
  EXPECT_EQ(stats.stale_fills_dropped, 0);
}

TEST(ProfileCacheTest, PutIsNewerWins) {
  ProfileCache cache({});
  cache.Put(Make(Id(1), 2));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 2);
  cache.Put(Make(Id(1), 1));  // e.g. the feed delivering an older change late
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 2);
  cache.Put(Make(Id(1), 5));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 5);
  EXPECT_EQ(cache.stats().entries, 1);
}

TEST(ProfileCacheTest, FillIsNewerWins) {
  ProfileCache cache({});
  const uint64_t older = cache.BeginFill(Id(1));
  const uint64_t newer = cache.BeginFill(Id(1));
  cache.Fill(newer, Make(Id(1), 4));
  cache.Fill(older, Make(Id(1), 3));  // no Put() in between: a valid ticket
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 4);
  EXPECT_EQ(cache.stats().stale_fills_dropped, 0);
}

TEST(ProfileCacheTest, FillAfterPutOfItsIdIsDropped) {
  ProfileCache cache({});
  const uint64_t ticket = cache.BeginFill(Id(1));
  // A write acknowledged while the read was in flight.
  cache.Put(Make(Id(1), 2));
  cache.Fill(ticket, Make(Id(1), 1));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 2);
  EXPECT_EQ(cache.stats().stale_fills_dropped, 1);
}

TEST(ProfileCacheTest, FillAfterPutIsDroppedEvenWhenThePutWasEvicted) {
  const Snapshot probe = Make(Id(0), 1);
  // Room for two snapshots.
  ProfileCache cache(OneShard(2 * probe->bytes()));
  const uint64_t ticket = cache.BeginFill(Id(1));
  cache.Put(Make(Id(1), 2));
  // Two other profiles push version 2 of Id(1) out.
  cache.Put(Make(Id(2), 1));
  cache.Put(Make(Id(3), 1));
  ASSERT_EQ(cache.Lookup(Id(1)), nullptr) << "the test needs version 2 evicted";
  ASSERT_EQ(cache.stats().evictions, 1);

  cache.Fill(ticket, Make(Id(1), 1));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr) << "a read older than an acknowledged write was cached";
  EXPECT_EQ(cache.stats().stale_fills_dropped, 1);

  // A read that began after the Put() is cached.
  const uint64_t fresh = cache.BeginFill(Id(1));
  cache.Fill(fresh, Make(Id(1), 2));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 2);
}

TEST(ProfileCacheTest, PutOlderThanAnEvictedPutIsNotCached) {
  const Snapshot probe = Make(Id(0), 1);
  ProfileCache cache(OneShard(2 * probe->bytes()));
  cache.Put(Make(Id(1), 5));
  ASSERT_EQ(VersionOf(cache.Lookup(Id(1))), 5);
  cache.Put(Make(Id(2), 1));
  cache.Put(Make(Id(3), 1));
  ASSERT_EQ(cache.Lookup(Id(1)), nullptr) << "the test needs version 5 evicted";
  // Arrives late: written before version 5, or delivered late by the feed.
  cache.Put(Make(Id(1), 4));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr) << "version 4 served after version 5 was acknowledged";
  cache.Put(Make(Id(1), 5));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 5) << "the same version again may be cached";
  cache.Put(Make(Id(1), 6));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 6);
}

TEST(ProfileCacheTest, PutOlderThanAClearedVersionIsNotCached) {
  ProfileCache cache({});
  cache.Put(Make(Id(1), 5));
  cache.SetEnabled(false);
  cache.Put(Make(Id(2), 3));  // acknowledged while the cache was off
  cache.SetEnabled(true);
  cache.Put(Make(Id(1), 4));
  cache.Put(Make(Id(2), 2));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);
}

TEST(ProfileCacheTest, FillAfterPutOfAnotherIdIsCached) {
  ProfileCache cache({});
  const uint64_t ticket = cache.BeginFill(Id(1));
  cache.Put(Make(Id(2), 7));
  cache.Fill(ticket, Make(Id(1), 1));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 1);
  EXPECT_EQ(cache.stats().stale_fills_dropped, 0);
}

TEST(ProfileCacheTest, PutTooLargeToCacheStillRemovesTheOlderVersion) {
  const Snapshot small = Make(Id(1), 1, /*payload=*/10);
  ProfileCache cache(OneShard(small->bytes() + 10));
  cache.Put(small);
  ASSERT_EQ(cache.Lookup(Id(1)), small);
  const uint64_t ticket = cache.BeginFill(Id(1));
  cache.Put(Make(Id(1), 2, /*payload=*/10'000));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr) << "version 1 served after version 2 was acknowledged";
  cache.Fill(ticket, Make(Id(1), 1, /*payload=*/10));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_EQ(cache.stats().bytes, 0);
}

TEST(ProfileCacheTest, ClearingInvalidatesOutstandingTickets) {
  ProfileCache cache({});
  cache.Put(Make(Id(1), 1));
  const uint64_t before_disable = cache.BeginFill(Id(2));
  cache.SetEnabled(false);
  const uint64_t while_disabled = cache.BeginFill(Id(3));
  cache.SetEnabled(true);
  cache.Fill(before_disable, Make(Id(2), 1));
  cache.Fill(while_disabled, Make(Id(3), 1));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr) << "enabling clears too";
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);
  EXPECT_EQ(cache.Lookup(Id(3)), nullptr);
  EXPECT_EQ(cache.stats().stale_fills_dropped, 2);

  const uint64_t after = cache.BeginFill(Id(3));
  cache.Fill(after, Make(Id(3), 1));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(3))), 1);
}

TEST(ProfileCacheTest, DisabledCacheMissesAndHoldsNothing) {
  ProfileCache cache({});
  for (int i = 0; i < 10; ++i) cache.Put(Make(Id(i), 1));
  ASSERT_EQ(cache.stats().entries, 10);

  cache.SetEnabled(false);
  EXPECT_FALSE(cache.enabled());
  EXPECT_EQ(cache.stats().entries, 0);
  EXPECT_EQ(cache.stats().bytes, 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(cache.Lookup(Id(i)), nullptr);

  cache.Put(Make(Id(1), 2));
  const uint64_t ticket = cache.BeginFill(Id(2));
  cache.Fill(ticket, Make(Id(2), 1));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);
  EXPECT_EQ(cache.stats().entries, 0);

  // Put() while disabled still invalidates: this read began before it.
  const uint64_t raced = cache.BeginFill(Id(4));
  cache.Put(Make(Id(4), 2));
  cache.SetEnabled(true);
  EXPECT_TRUE(cache.enabled());
  cache.Fill(raced, Make(Id(4), 1));
  EXPECT_EQ(cache.Lookup(Id(4)), nullptr);

  cache.Put(Make(Id(5), 1));
  EXPECT_EQ(VersionOf(cache.Lookup(Id(5))), 1);
}

TEST(ProfileCacheTest, ZeroBytesDisablesTheCache) {
  ProfileCache cache({.max_bytes = 0});
  EXPECT_FALSE(cache.enabled());
  cache.SetEnabled(true);
  EXPECT_FALSE(cache.enabled());
  cache.Put(Make(Id(1), 1));
  cache.Fill(cache.BeginFill(Id(2)), Make(Id(2), 1));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);
  EXPECT_EQ(cache.stats().bytes, 0);
}

TEST(ProfileCacheTest, OneByteBoundHoldsNothing) {
  ProfileCache cache({.max_bytes = 1});
  cache.Put(Make(Id(1), 1));
  cache.Fill(cache.BeginFill(Id(2)), Make(Id(2), 1));
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr);
  EXPECT_EQ(cache.stats().entries, 0);
}

TEST(ProfileCacheTest, EvictsLeastRecentlyUsedFirst) {
  const size_t each = Make(Id(0), 1)->bytes();
  ProfileCache cache(OneShard(3 * each));
  cache.Put(Make(Id(1), 1));
  cache.Put(Make(Id(2), 1));
  cache.Put(Make(Id(3), 1));
  ASSERT_NE(cache.Lookup(Id(1)), nullptr);  // 1 is now the most recently used
  cache.Fill(cache.BeginFill(Id(4)), Make(Id(4), 1));
  EXPECT_EQ(cache.Lookup(Id(2)), nullptr) << "2 was the least recently used";
  EXPECT_NE(cache.Lookup(Id(1)), nullptr);
  EXPECT_NE(cache.Lookup(Id(3)), nullptr);
  EXPECT_NE(cache.Lookup(Id(4)), nullptr);

  // 1, 3, 4 were used in that order; a Put() of a new version counts as a
  // use of 1 too.
  cache.Put(Make(Id(1), 2));
  cache.Put(Make(Id(5), 1));
  EXPECT_EQ(cache.Lookup(Id(3)), nullptr);
  EXPECT_EQ(VersionOf(cache.Lookup(Id(1))), 2);
  EXPECT_NE(cache.Lookup(Id(4)), nullptr);
  EXPECT_NE(cache.Lookup(Id(5)), nullptr);

  const ProfileCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.evictions, 2);
  EXPECT_EQ(stats.entries, 3);
  EXPECT_EQ(stats.bytes, static_cast<int64_t>(3 * each));
}

TEST(ProfileCacheTest, BytesNeverExceedTheBound) {
  // Sizes from 0 to 4 KiB of avatar over 16 shards, by bytes not by count.
  constexpr size_t kMaxBytes = 512 << 10;
  ProfileCache cache({.max_bytes = kMaxBytes, .shards = 16});
  std::mt19937 random(7);
  size_t largest = 0;
  for (int i = 0; i < 2000; ++i) {
    const Snapshot snapshot = Make(Id(i % 300), i, random() % 4096);
    largest = std::max(largest, snapshot->bytes());
    if (i % 2 == 0) {
      cache.Put(snapshot);
    } else {
      cache.Fill(cache.BeginFill(snapshot->id()), snapshot);
    }
    const ProfileCache::Stats stats = cache.stats();
    ASSERT_LE(stats.bytes, static_cast<int64_t>(kMaxBytes)) << "after " << i;
  }
  const ProfileCache::Stats stats = cache.stats();
  EXPECT_GT(stats.evictions, 0);
  // Every shard's share holds a few of the largest, so the cache is not
  // starved: it holds well over half its bound.
  EXPECT_GT(stats.bytes, static_cast<int64_t>(kMaxBytes / 2)) << "largest " << largest;
}

TEST(ProfileCacheTest, ReplacingWithALargerVersionEvictsOthers) {
  const size_t small = Make(Id(0), 1, 100)->bytes();
  // A version half as large again: with it, two of the three fit.
  size_t payload = 100;
  while (Make(Id(0), 1, payload)->bytes() < small * 3 / 2) ++payload;
  const Snapshot large = Make(Id(3), 2, payload);
  ASSERT_LE(large->bytes(), 2 * small);
  ProfileCache cache(OneShard(3 * small));
  cache.Put(Make(Id(1), 1, 100));
  cache.Put(Make(Id(2), 1, 100));
  cache.Put(Make(Id(3), 1, 100));
  cache.Put(large);
  EXPECT_EQ(cache.Lookup(Id(1)), nullptr);
  EXPECT_NE(cache.Lookup(Id(2)), nullptr);
  EXPECT_EQ(VersionOf(cache.Lookup(Id(3))), 2);
  EXPECT_LE(cache.stats().bytes, static_cast<int64_t>(3 * small));
}

// Readers, writers and fills on a few hot ids under eviction pressure and
// clears. The invariant: no Lookup() returns a version older than one whose
// Put() had completed before that Lookup() began.
TEST(ProfileCacheTest, ConcurrentReadersNeverSeeOlderThanAcknowledged) {
  constexpr int kIds = 8;
  constexpr int kWritesPerWriter = 20000;
  constexpr int kWriters = 2;
  constexpr int kReaders = 4;
  // Room for about half the ids (whose names grow with their versions), over
  // two shards: entries are evicted while reads of them are in flight.
  const size_t max_bytes = kIds / 2 * Make(Id(0), 100'000)->bytes();
  ProfileCache cache({.max_bytes = max_bytes, .shards = 2});

  // The "database": the latest committed snapshot of each id.
  struct Row {
    absl::Mutex mu;
    Snapshot stored ABSL_GUARDED_BY(mu);
    // The newest version whose Put() has returned.
    std::atomic<int64_t> acknowledged{0};
  };
  std::vector<Row> rows(kIds);
  for (int i = 0; i < kIds; ++i) {
    absl::MutexLock lock(&rows[i].mu);
    rows[i].stored = Make(Id(i), 0);
  }
  const auto read_storage = [&rows](int i) {
    absl::MutexLock lock(&rows[i].mu);
    return rows[i].stored;
  };

  std::atomic<int> writers_done = 0;
  std::atomic<int64_t> violations = 0;
  std::atomic<int64_t> hits = 0;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 random(w);
      for (int n = 0; n < kWritesPerWriter; ++n) {
        const int i = static_cast<int>(random() % kIds);
        Snapshot written;
        {
          // Commit: the write is stored before it is Put() and acknowledged.
          absl::MutexLock lock(&rows[i].mu);
          written = Make(Id(i), rows[i].stored->version() + 1);
          rows[i].stored = written;
        }
        if (random() % 8 == 0) std::this_thread::yield();
        cache.Put(written);
        int64_t acknowledged = rows[i].acknowledged.load();
        while (acknowledged < written->version() &&
               !rows[i].acknowledged.compare_exchange_weak(acknowledged, written->version())) {
        }
      }
      ++writers_done;
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 random(100 + r);
      while (writers_done < kWriters) {
        const int i = static_cast<int>(random() % kIds);
        const int64_t acknowledged = rows[i].acknowledged.load();
        const Snapshot cached = cache.Lookup(Id(i));
        if (cached != nullptr) {
          ++hits;
          if (cached->version() < acknowledged) ++violations;
          continue;
        }
        const uint64_t ticket = cache.BeginFill(Id(i));
        const Snapshot read = read_storage(i);
        // A slow read: writes, evictions and clears land meanwhile.
        for (int spin = static_cast<int>(random() % 4); spin > 0; --spin) {
          std::this_thread::yield();
        }
        cache.Fill(ticket, read);
      }
    });
  }
  // The feed coming and going.
  threads.emplace_back([&] {
    std::mt19937 random(999);
    while (writers_done < kWriters) {
      for (int spin = 0; spin < 200; ++spin) std::this_thread::yield();
      cache.SetEnabled(false);
      if (random() % 2 == 0) std::this_thread::yield();
      cache.SetEnabled(true);
    }
  });
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(violations, 0);
  const ProfileCache::Stats stats = cache.stats();
  EXPECT_GT(hits.load(), 0) << "the test must exercise hits";
  EXPECT_GT(stats.evictions, 0) << "the test must exercise eviction";
  EXPECT_GT(stats.stale_fills_dropped, 0) << "the test must exercise raced fills";
  EXPECT_LE(stats.bytes, static_cast<int64_t>(max_bytes));
  // Quiesced: whatever is cached now is the latest version.
  for (int i = 0; i < kIds; ++i) {
    const Snapshot cached = cache.Lookup(Id(i));
    if (cached != nullptr) {
      EXPECT_EQ(cached->version(), read_storage(i)->version()) << Id(i);
    }
  }
}

}  // namespace
}  // namespace profiles
