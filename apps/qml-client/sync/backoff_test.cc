#include "apps/qml-client/sync/backoff.h"

#include <gtest/gtest.h>

#include <chrono>

namespace profiles::client {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CapDoublesFromInitialToMax) {
  Backoff backoff({.initial = milliseconds(250), .max = milliseconds(30000)}, [] { return 1.0; });
  const milliseconds expected[] = {milliseconds(250),   milliseconds(500),   milliseconds(1000),
                                   milliseconds(2000),  milliseconds(4000),  milliseconds(8000),
                                   milliseconds(16000), milliseconds(30000), milliseconds(30000)};
  for (milliseconds delay : expected) EXPECT_EQ(backoff.NextDelay(), delay);
}

TEST(BackoffTest, FullJitterScalesTheCap) {
  double fraction = 0.0;
  Backoff backoff({.initial = milliseconds(100), .max = milliseconds(1000)},
                  [&fraction] { return fraction; });
  EXPECT_EQ(backoff.NextDelay(), milliseconds(0));  // cap 100
  fraction = 0.5;
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));  // cap 200
  fraction = 0.25;
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));  // cap 400
}

TEST(BackoffTest, OutOfRangeRandomValuesAreClamped) {
  double fraction = -3.0;
  Backoff backoff({.initial = milliseconds(100), .max = milliseconds(100)},
                  [&fraction] { return fraction; });
  EXPECT_EQ(backoff.NextDelay(), milliseconds(0));
  fraction = 7.0;
  EXPECT_EQ(backoff.NextDelay(), milliseconds(100));
}

TEST(BackoffTest, ResetStartsOverAtInitial) {
  Backoff backoff({.initial = milliseconds(10), .max = milliseconds(1000)}, [] { return 1.0; });
  backoff.NextDelay();
  backoff.NextDelay();
  EXPECT_EQ(backoff.current_cap(), milliseconds(40));
  backoff.Reset();
  EXPECT_EQ(backoff.NextDelay(), milliseconds(10));
}

TEST(BackoffTest, DefaultRandomStaysWithinTheCapAndVaries) {
  Backoff backoff({.initial = milliseconds(1000), .max = milliseconds(1000)});
  milliseconds smallest = milliseconds::max();
  milliseconds largest = milliseconds::min();
  for (int i = 0; i < 200; ++i) {
    const milliseconds delay = backoff.NextDelay();
    ASSERT_GE(delay, milliseconds(0));
    ASSERT_LE(delay, milliseconds(1000));
    smallest = std::min(smallest, delay);
    largest = std::max(largest, delay);
  }
  // 200 uniform draws from [0, 1000]: both ends are reached within 250 ms
  // except with probability ~2 * 0.75^200.
  EXPECT_LT(smallest, milliseconds(250));
  EXPECT_GT(largest, milliseconds(750));
}

}  // namespace
}  // namespace profiles::client
