#include "services/profile/core/rate_limiter.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace profiles {

RateLimiter::RateLimiter(Rate rate, size_t max_keys)
    : rate_{.per_second = rate.per_second, .burst = std::max(rate.burst, 1.0)},
      max_keys_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

double RateLimiter::Refilled(const Bucket& bucket, absl::Time now) const {
  const double elapsed =
      absl::ToDoubleSeconds(std::max(now - bucket.updated, absl::ZeroDuration()));
  return std::min(rate_.burst, bucket.tokens + elapsed * rate_.per_second);
}

void RateLimiter::Trim(Shard& shard, absl::Time now) {
  absl::erase_if(shard.buckets,
                 [&](const auto& entry) { return Refilled(entry.second, now) >= rate_.burst; });
  if (shard.buckets.size() >= max_keys_per_shard_) shard.buckets.clear();
}

absl::Duration RateLimiter::Take(std::string_view caller, absl::Time now) {
  if (!limited()) return absl::ZeroDuration();
  const absl::string_view key(caller.data(), caller.size());
  Shard& shard = shards_[absl::HashOf(key) % kShards];
  absl::MutexLock lock(&shard.mu);
  auto found = shard.buckets.find(key);
  if (found == shard.buckets.end()) {
    if (shard.buckets.size() >= max_keys_per_shard_) Trim(shard, now);
    found = shard.buckets.emplace(std::string(key), Bucket{.tokens = rate_.burst, .updated = now})
                .first;
  }
  Bucket& bucket = found->second;
  bucket.tokens = Refilled(bucket, now);
  bucket.updated = std::max(bucket.updated, now);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return absl::ZeroDuration();
  }
  return absl::Seconds((1 - bucket.tokens) / rate_.per_second);
}

size_t RateLimiter::callers() {
  size_t total = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    total += shard.buckets.size();
  }
  return total;
}

}  // namespace profiles
