#ifndef PROFILES_SERVICES_PROFILE_CORE_RATE_LIMITER_H_
#define PROFILES_SERVICES_PROFILE_CORE_RATE_LIMITER_H_

// RateLimiter: a token bucket per caller (a user id, or a peer address for
// callers without one). Each call takes a token; a bucket holds at most
// `burst` tokens and refills at `per_second`. A call that finds its bucket
// empty is told how long until the next token, which becomes the
// RESOURCE_EXHAUSTED's retry delay (and HTTP's Retry-After).
//
//   RateLimiter writes({.per_second = 50, .burst = 250});
//   if (absl::Duration wait = writes.Take("user 0b7e...", absl::Now());
//       wait > absl::ZeroDuration()) { ...refuse, retry after `wait`... }
//
// Hand-written rather than a library's: Debian 12 ships no C++ rate limiter,
// and a token bucket is a few lines of arithmetic.
//
// Memory is bounded: beyond max_keys callers, buckets that have refilled
// (indistinguishable from new ones) are dropped; if that is not enough, all
// of a shard's buckets are, so a flood of distinct callers costs memory
// only up to the bound and, at worst, lets each of them start again full.
//
// Thread-safe; callers are spread over shards so that concurrent calls of
// different callers rarely wait for each other.

#include <array>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace profiles {

class RateLimiter {
 public:
  struct Rate {
    double per_second = 0;  // 0: no limit
    double burst = 0;       // bucket size; at least 1 when limited
  };

  explicit RateLimiter(Rate rate, size_t max_keys = 65536);

  bool limited() const { return rate_.per_second > 0; }

  // Takes a token from `key`'s bucket: ZeroDuration() if there was one,
  // else how long until there is (and nothing is taken).
  absl::Duration Take(std::string_view key, absl::Time now);

  // Callers with a bucket now (diagnostics).
  size_t callers();

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 16;

  // Drops the buckets of `shard` that have refilled, or all of them.
  void Trim(Shard& shard, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  double Refilled(const Bucket& bucket, absl::Time now) const;

  const Rate rate_;
  const size_t max_keys_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_RATE_LIMITER_H_
