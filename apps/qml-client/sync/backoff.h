#ifndef PROFILES_APPS_QML_CLIENT_SYNC_BACKOFF_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_BACKOFF_H_

// Backoff: retry delays for the sync manager, exponential with full jitter
// (each delay is uniform in [0, cap], the cap doubling from Policy::initial
// to Policy::max), so that many clients coming back after an outage do not
// retry in lockstep.
//
//   Backoff backoff({.initial = 250ms, .max = 30s});
//   timer.start(backoff.NextDelay());   // after each failure
//   backoff.Reset();                    // after a success
//
// The random source is injectable for tests.
//
// Thread safety: not thread-safe; owned by one thread.

#include <chrono>
#include <functional>

namespace profiles::client {

class Backoff {
 public:
  struct Policy {
    std::chrono::milliseconds initial{250};
    std::chrono::milliseconds max{30000};
  };
  // Returns a number uniformly distributed in [0, 1].
  using RandomSource = std::function<double()>;

  // REQUIRES: 0 < policy.initial <= policy.max.
  explicit Backoff(Policy policy);
  Backoff(Policy policy, RandomSource random);

  // The delay before the next retry; every call raises the cap for the one
  // after it (until Policy::max).
  std::chrono::milliseconds NextDelay();
  // The cap NextDelay() draws its next delay below.
  std::chrono::milliseconds current_cap() const { return cap_; }
  // Back to Policy::initial (after a success).
  void Reset();

 private:
  const Policy policy_;
  RandomSource random_;
  std::chrono::milliseconds cap_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_BACKOFF_H_
