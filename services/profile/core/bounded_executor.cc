#include "services/profile/core/bounded_executor.h"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace profiles {

BoundedExecutor::BoundedExecutor(int threads, int max_queued)
    : threads_(threads),
      max_queued_(max_queued),
      pool_(std::make_unique<boost::asio::thread_pool>(static_cast<size_t>(threads))) {}

BoundedExecutor::~BoundedExecutor() { pool_->join(); }

absl::Status BoundedExecutor::Schedule(absl::AnyInvocable<void() &&> task) {
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= max_queued_) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        absl::StrCat("server busy: ", max_queued_,
                     " requests are already waiting for the database; retry shortly"));
  }
  boost::asio::post(*pool_, [this, task = std::move(task)]() mutable {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    std::move(task)();
  });
  return absl::OkStatus();
}

}  // namespace profiles
