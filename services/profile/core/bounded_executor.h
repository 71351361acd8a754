#ifndef PROFILES_SERVICES_PROFILE_CORE_BOUNDED_EXECUTOR_H_
#define PROFILES_SERVICES_PROFILE_CORE_BOUNDED_EXECUTOR_H_

// BoundedExecutor runs blocking storage work off the transports' threads: a
// fixed set of worker threads (as many as the database pool has
// connections, so a worker never waits for one) and an admission limit on
// the tasks waiting for a worker. A request beyond the limit is refused at
// once (RESOURCE_EXHAUSTED) instead of queueing without bound; a task that
// waited past its caller's deadline is the core's to refuse (it checks the
// deadline when the task starts).
//
// Built on boost::asio::thread_pool (a maintained, lock-light pool); only the
// admission count is ours, because the pool has no queue bound.
//
// Thread-safe. The destructor runs every task already admitted, then joins.

#include <atomic>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace boost::asio {
class thread_pool;
}  // namespace boost::asio

namespace profiles {

class BoundedExecutor {
 public:
  // REQUIRES: threads >= 1, max_queued >= 1.
  BoundedExecutor(int threads, int max_queued);
  ~BoundedExecutor();

  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  // Runs `task` on a worker. RESOURCE_EXHAUSTED (and `task` is dropped
  // unrun) when max_queued tasks are already admitted and not yet started.
  absl::Status Schedule(absl::AnyInvocable<void() &&> task);

  // Tasks admitted and not yet started.
  int queued() const { return queued_.load(std::memory_order_relaxed); }
  int threads() const { return threads_; }
  int max_queued() const { return max_queued_; }

 private:
  const int threads_;
  const int max_queued_;
  std::atomic<int> queued_{0};
  std::unique_ptr<boost::asio::thread_pool> pool_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_BOUNDED_EXECUTOR_H_
