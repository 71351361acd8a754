#include "services/profile/storage/pg_change_feed.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// The WAL sequencer NOTIFYs it when it commits new positions
// (wal_sequencer.h): only then can a read find anything new.
constexpr char kChannel[] = "profile_positions";
// Pages carry avatars (up to 256 KiB each); kDefaultPageBytes bounds the
// memory a read holds.
constexpr int kPageSize = 100;
constexpr absl::Duration kMinBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);
// The first retry of a read that failed; retries double up to poll_interval.
constexpr absl::Duration kFirstRetry = absl::Milliseconds(10);
// Under a steady stream of writes the sequencer commits a batch of
// positions every few milliseconds, and every replica's feed reads after
// each. Spacing the reads bounds their rate per replica to 1/kMinReadSpacing
// whatever the write rate, at the price of at most this much added delay
// while batches arrive faster than that.
constexpr absl::Duration kMinReadSpacing = absl::Milliseconds(2);

// Only wakes the feed; the payload is empty and the feed re-reads storage.
class WakeOnNotify final : public pqxx::notification_receiver {
 public:
  explicit WakeOnNotify(pqxx::connection_base& connection)
      : pqxx::notification_receiver(connection, kChannel) {}
  void operator()(const std::string&, int) override {}
};

int PollTimeoutMillis(absl::Duration timeout) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(timeout)));
}

// Waits for `timeout` (sub-millisecond precision, unlike poll(2)) or until
// `fd` is readable.
void WaitReadable(int fd, absl::Duration timeout) {
  pollfd wake = {fd, POLLIN, 0};
  const timespec limit = absl::ToTimespec(std::max(timeout, absl::ZeroDuration()));
  ppoll(&wake, 1, &limit, nullptr);
}

// Appends " change feed" to the session's application_name, so that in
// pg_stat_activity an operator (or a test) can tell the feed's connection
// from the pool's. Returns `connection`.
pqxx::connection& NameAsChangeFeed(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  txn.exec(
      "SELECT set_config('application_name', ltrim(left(current_setting('application_name'), "
      "50) || ' change feed'), false)");
  return connection;
}

// The position of the last change stamped in the current epoch: every
// position stamped later sorts after it (wal_sequencer.h). The start when
// nothing is stamped yet. Throws what libpqxx throws.
absl::StatusOr<ChangeCursor> ReadStreamEnd(pqxx::connection& connection) {
  pqxx::nontransaction txn(connection);
  const pqxx::result rows = txn.exec(
      "SELECT pp.epoch, (pp.commit_lsn - '0/0'::pg_lsn)::text, pp.idx FROM profile_positions pp "
      "WHERE pp.epoch = (SELECT epoch FROM change_sequencer_state) "
      "ORDER BY pp.epoch DESC, pp.commit_lsn DESC, pp.idx DESC LIMIT 1");
  if (rows.empty()) return ChangeCursor::Start();
  ChangeCursor end{.epoch = rows[0][0].as<int64_t>(), .idx = rows[0][2].as<int64_t>()};
  if (!absl::SimpleAtoi(rows[0][1].c_str(), &end.lsn)) {
    return absl::InternalError(absl::StrCat("unexpected commit LSN ", rows[0][1].c_str()));
  }
  return end;
}

}  // namespace

struct PgChangeFeed::ListenConnection {
  // Connects and LISTENs. Throws what libpqxx throws.
  explicit ListenConnection(const std::string& database_url)
      : connection(database_url), receiver(NameAsChangeFeed(connection)) {}

  pqxx::connection connection;
  WakeOnNotify receiver;  // declared after `connection`: destroyed before it
};

struct PgChangeFeed::Queue {
  absl::Mutex mu;
  std::vector<ProfileChange> changes ABSL_GUARDED_BY(mu);
  size_t bytes ABSL_GUARDED_BY(mu) = 0;  // serialized size of `changes`
  bool lagged ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  // The feed's health changed since the last Wait() returned.
  bool health_changed ABSL_GUARDED_BY(mu) = false;
};

class PgChangeFeed::SubscriptionImpl final : public ChangeFeed::Subscription {
 public:
  explicit SubscriptionImpl(std::shared_ptr<Queue> queue) : queue_(std::move(queue)) {}

  absl::StatusOr<std::vector<ProfileChange>> Wait(absl::Time deadline) override {
    Queue& queue = *queue_;
    absl::MutexLock lock(&queue.mu);
    const auto ready = [&queue]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue.mu) {
      return !queue.changes.empty() || queue.lagged || queue.cancelled || queue.health_changed;
    };
    queue.mu.AwaitWithDeadline(absl::Condition(&ready), deadline);
    if (queue.cancelled) return absl::CancelledError("the change feed is shutting down");
    if (queue.lagged) {
      queue.lagged = false;
      queue.changes.clear();
      queue.bytes = 0;
      return absl::ResourceExhaustedError(
          "this watcher fell behind the change feed; catch up from storage");
    }
    queue.bytes = 0;
    queue.health_changed = false;
    return std::exchange(queue.changes, {});
  }

 private:
  const std::shared_ptr<Queue> queue_;
};

absl::StatusOr<std::unique_ptr<ChangeFeed>> ChangeFeed::Start(Options options,
                                                              ProfileRepository* repository) {
  if (options.poll_interval <= absl::ZeroDuration() || options.max_queued_bytes < 1) {
    return absl::InvalidArgumentError(
        "the change feed needs a positive poll interval and max_queued_bytes");
  }
  std::unique_ptr<PgChangeFeed::ListenConnection> listen;
  absl::StatusOr<ChangeCursor> start;
  try {
    listen = std::make_unique<PgChangeFeed::ListenConnection>(options.database_url);
    // Taken after LISTEN, so a change stamped later either notifies or is
    // found by the first read.
    start = ReadStreamEnd(listen->connection);
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("start the change feed", e);
  }
  if (!start.ok()) return start.status();
  int wake_pipe[2];
  if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  return std::make_unique<PgChangeFeed>(std::move(options), repository, *start, std::move(listen),
                                        wake_pipe);
}

PgChangeFeed::PgChangeFeed(Options options, ProfileRepository* repository, ChangeCursor start,
                           std::unique_ptr<ListenConnection> listen, const int wake_pipe[2])
    : options_(std::move(options)),
      repository_(repository),
      wake_read_fd_(wake_pipe[0]),
      wake_write_fd_(wake_pipe[1]),
      cursor_(start),
      listen_(std::move(listen)),
      thread_([this] { Run(); }) {}

PgChangeFeed::~PgChangeFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  const char byte = 0;
  while (write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  thread_.join();
  close(wake_read_fd_);
  close(wake_write_fd_);
  absl::MutexLock lock(&mu_);
  for (const std::weak_ptr<Queue>& weak : queues_) {
    if (std::shared_ptr<Queue> queue = weak.lock()) {
      absl::MutexLock queue_lock(&queue->mu);
      queue->cancelled = true;
    }
  }
}

std::unique_ptr<ChangeFeed::Subscription> PgChangeFeed::Subscribe() {
  auto queue = std::make_shared<Queue>();
  absl::MutexLock lock(&mu_);
  std::erase_if(queues_, [](const std::weak_ptr<Queue>& weak) { return weak.expired(); });
  queues_.push_back(queue);
  return std::make_unique<SubscriptionImpl>(std::move(queue));
}

ChangeFeed::Health PgChangeFeed::health() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

void PgChangeFeed::SetLive(bool live) {
  std::vector<std::shared_ptr<Queue>> queues;
  {
    absl::MutexLock lock(&mu_);
    if (health_.live == live) return;
    health_.live = live;
    ++health_.generation;
    queues = LiveQueuesLocked();
  }
  // Woken after health_ is updated, so a waiter that wakes reads the new one.
  for (const std::shared_ptr<Queue>& queue : queues) {
    absl::MutexLock lock(&queue->mu);
    queue->health_changed = true;
  }
}

std::vector<std::shared_ptr<PgChangeFeed::Queue>> PgChangeFeed::LiveQueuesLocked() {
  std::vector<std::shared_ptr<Queue>> queues;
  for (const std::weak_ptr<Queue>& weak : queues_) {
    if (std::shared_ptr<Queue> queue = weak.lock()) queues.push_back(std::move(queue));
  }
  return queues;
}

std::vector<std::shared_ptr<PgChangeFeed::Queue>> PgChangeFeed::LiveQueues() {
  absl::MutexLock lock(&mu_);
  return LiveQueuesLocked();
}

bool PgChangeFeed::stopping() {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

void PgChangeFeed::Run() {
  absl::Duration backoff = kMinBackoff;
  absl::Time next_connect_attempt = absl::InfinitePast();
  // When to read again before the poll interval, after a read that failed
  // (zero: not before).
  absl::Duration retry = absl::ZeroDuration();
  // Listening again, but what was stamped meanwhile is not published yet.
  bool recovering = false;
  absl::Time last_read = absl::InfinitePast();
  while (!stopping()) {
    if (listen_ == nullptr && absl::Now() >= next_connect_attempt) {
      try {
        listen_ = std::make_unique<ListenConnection>(options_.database_url);
        backoff = kMinBackoff;
        recovering = true;
      } catch (const std::exception&) {
        next_connect_attempt = absl::Now() + backoff;
        backoff = std::min(backoff * 2, kMaxBackoff);
      }
    }
    const absl::Duration since_read = absl::Now() - last_read;
    if (since_read < kMinReadSpacing) WaitReadable(wake_read_fd_, kMinReadSpacing - since_read);
    last_read = absl::Now();
    // A read that begins after LISTEN did finds everything stamped while the
    // connection was down (notifications sent meanwhile were lost).
    const bool caught_up = CatchUp();
    if (caught_up && recovering && listen_ != nullptr) {
      recovering = false;
      SetLive(true);
    }
    if (caught_up) {
      retry = absl::ZeroDuration();
    } else {
      retry =
          retry == absl::ZeroDuration() ? kFirstRetry : std::min(retry * 2, options_.poll_interval);
    }

    absl::Duration timeout = options_.poll_interval;
    if (retry > absl::ZeroDuration()) timeout = std::min(timeout, retry);
    if (listen_ == nullptr) {
      timeout =
          std::min(timeout, std::max(absl::ZeroDuration(), next_connect_attempt - absl::Now()));
    }
    pollfd fds[2] = {{wake_read_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
    if (listen_ != nullptr) fds[1].fd = listen_->connection.sock();
    poll(fds, 2, PollTimeoutMillis(timeout));

    if (listen_ != nullptr) {
      try {
        // Consumed only to clear them: every wake-up reads storage.
        listen_->connection.get_notifs();
        if (!listen_->connection.is_open()) listen_.reset();
      } catch (const std::exception&) {
        listen_.reset();
        next_connect_attempt = absl::Now() + backoff;
      }
      if (listen_ == nullptr) {
        recovering = false;
        SetLive(false);
      }
    }
  }
  listen_.reset();
}

bool PgChangeFeed::CatchUp() {
  while (!stopping()) {
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(cursor_, kPageSize, /*include_avatars=*/true, kDefaultPageBytes,
                                  /*include_tombstones=*/true);
    if (IsCursorRefused(page.status())) return Restart();
    if (!page.ok()) return false;
    if (!page->changes.empty()) Publish(page->changes);
    cursor_ = page->end;
    if (!page->more) return true;
  }
  return true;
}

bool PgChangeFeed::Restart() {
  absl::StatusOr<ChangeCursor> end;
  try {
    pqxx::connection connection(options_.database_url);
    end = ReadStreamEnd(connection);
  } catch (const std::exception& e) {
    end = storage_internal::StatusFromException("read the end of the change stream", e);
  }
  if (!end.ok()) return false;
  cursor_ = *end;
  const std::vector<std::shared_ptr<Queue>> queues = LiveQueues();
  for (const std::shared_ptr<Queue>& queue : queues) {
    absl::MutexLock lock(&queue->mu);
    queue->lagged = true;
    queue->changes.clear();
    queue->bytes = 0;
  }
  return true;
}

void PgChangeFeed::Publish(const std::vector<ProfileChange>& changes) {
  size_t batch_bytes = 0;
  for (const ProfileChange& change : changes) batch_bytes += change.profile.ByteSizeLong();
  const std::vector<std::shared_ptr<Queue>> queues = LiveQueues();
  for (const std::shared_ptr<Queue>& queue : queues) {
    absl::MutexLock lock(&queue->mu);
    if (queue->lagged) continue;
    if (queue->bytes + batch_bytes > options_.max_queued_bytes) {
      queue->lagged = true;
      queue->changes.clear();
      queue->bytes = 0;
      continue;
    }
    queue->changes.insert(queue->changes.end(), changes.begin(), changes.end());
    queue->bytes += batch_bytes;
  }
}

}  // namespace profiles
