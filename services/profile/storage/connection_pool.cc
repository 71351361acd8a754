#include "services/profile/storage/connection_pool.h"

#include <poll.h>

#include <cerrno>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// Whether an idle connection may still be used (see the header for why a
// readable socket means it may not). Never blocks.
bool IdleConnectionIsAlive(const pqxx::connection& connection) {
  if (!connection.is_open()) return false;
  pollfd descriptor{connection.sock(), POLLIN | POLLRDHUP, 0};
  int ready;
  do {
    ready = poll(&descriptor, 1, /*timeout=*/0);
  } while (ready < 0 && errno == EINTR);
  // Nothing to read and no hang-up: alive. (An error from poll itself is not
  // a verdict on the connection; the statement will tell.)
  return ready <= 0;
}

}  // namespace

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slot_(other.slot_),
      connection_(other.connection_),
      broken_(other.broken_) {}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(slot_, broken_);
}

ConnectionPool::ConnectionPool(Options options) : options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  connections_.resize(options_.size);
  for (int slot = options_.size - 1; slot >= 0; --slot) free_slots_.push_back(slot);
}

ConnectionPool::~ConnectionPool() = default;

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire(Reuse reuse) {
  int slot;
  std::unique_ptr<pqxx::connection> connection;
  {
    absl::MutexLock lock(&mu_);
    const auto has_free_slot = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !free_slots_.empty();
    };
    ++waiting_;
    const bool got_one =
        mu_.AwaitWithTimeout(absl::Condition(&has_free_slot), options_.acquire_timeout);
    --waiting_;
    if (!got_one) {
      return absl::UnavailableError(absl::StrCat("no database connection became free within ",
                                                 absl::FormatDuration(options_.acquire_timeout),
                                                 " (pool size ", options_.size, ")"));
    }
    slot = free_slots_.back();
    free_slots_.pop_back();
    connection = std::move(connections_[slot]);
  }
  if (connection != nullptr && reuse == Reuse::kNever) connection.reset();
  if (connection != nullptr && !IdleConnectionIsAlive(*connection)) {
    connection.reset();
    absl::MutexLock lock(&mu_);
    ++dead_connections_replaced_;
  }
  if (connection == nullptr) {
    // Opened outside the lock: connecting can take a while.
    try {
      connection = std::make_unique<pqxx::connection>(options_.database_url);
      if (options_.prepare) options_.prepare(*connection);
    } catch (const std::exception& e) {
      Release(slot, /*broken=*/true);
      return storage_internal::StatusFromException("connect", e);
    }
  }
  pqxx::connection* raw = connection.get();
  {
    absl::MutexLock lock(&mu_);
    connections_[slot] = std::move(connection);
  }
  return Lease(this, slot, raw);
}

ConnectionPool::Stats ConnectionPool::stats() const {
  absl::MutexLock lock(&mu_);
  return {.size = options_.size,
          .in_use = options_.size - static_cast<int>(free_slots_.size()),
          .waiting = waiting_};
}

int64_t ConnectionPool::dead_connections_replaced() const {
  absl::MutexLock lock(&mu_);
  return dead_connections_replaced_;
}

void ConnectionPool::Release(int slot, bool broken) {
  std::unique_ptr<pqxx::connection> discarded;
  absl::MutexLock lock(&mu_);
  if (broken) discarded = std::move(connections_[slot]);
  free_slots_.push_back(slot);
  // `discarded` closes after the lock is released (declared before it).
}

}  // namespace profiles
