#include "services/profile/core/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace profiles {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(RateLimiterTest, ABurstPassesThenTheRateAndTheWaitIsExact) {
  RateLimiter limiter({.per_second = 10, .burst = 3});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Take("ada", kStart), absl::ZeroDuration()) << i;
  EXPECT_EQ(limiter.Take("ada", kStart), absl::Milliseconds(100));
  // Refused calls take nothing: still 100 ms to wait.
  EXPECT_EQ(limiter.Take("ada", kStart), absl::Milliseconds(100));
  EXPECT_EQ(limiter.Take("ada", kStart + absl::Milliseconds(40)), absl::Milliseconds(60));
  EXPECT_EQ(limiter.Take("ada", kStart + absl::Milliseconds(100)), absl::ZeroDuration());
  // A second later the bucket is full again, never fuller.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter.Take("ada", kStart + absl::Seconds(10)), absl::ZeroDuration()) << i;
  }
  EXPECT_GT(limiter.Take("ada", kStart + absl::Seconds(10)), absl::ZeroDuration());
}

TEST(RateLimiterTest, EachCallerHasItsOwnBucket) {
  RateLimiter limiter({.per_second = 1, .burst = 1});
  EXPECT_EQ(limiter.Take("user ada", kStart), absl::ZeroDuration());
  EXPECT_GT(limiter.Take("user ada", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.Take("user grace", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.Take("peer 10.0.0.1", kStart), absl::ZeroDuration());
}

TEST(RateLimiterTest, ZeroRateIsNoLimit) {
  RateLimiter limiter({});
  EXPECT_FALSE(limiter.limited());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(limiter.Take("ada", kStart), absl::ZeroDuration());
}

TEST(RateLimiterTest, ManyCallersStayWithinTheMemoryBound) {
  RateLimiter limiter({.per_second = 1, .burst = 1}, /*max_keys=*/64);
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(limiter.Take("caller " + std::to_string(i), kStart), absl::ZeroDuration()) << i;
  }
  EXPECT_LE(limiter.callers(), 64u);
  EXPECT_GT(limiter.callers(), 0u);
}

}  // namespace
}  // namespace profiles
