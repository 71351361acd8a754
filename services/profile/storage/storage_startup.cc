#include "services/profile/storage/storage_startup.h"

#include <algorithm>
#include <atomic>
#include <iostream>
#include <pqxx/pqxx>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "services/profile/storage/migrator.h"
#include "services/profile/storage/pg_status.h"

namespace profiles {
namespace {

// libpq's messages span lines ("could not connect ...\n\tIs the server
// running ..."): one log line per attempt reads better.
std::string OneLine(absl::string_view text) {
  std::string line;
  for (absl::string_view word :
       absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    if (!line.empty()) line += ' ';
    line.append(word.data(), word.size());
  }
  return line;
}

std::string Seconds(absl::Duration duration) {
  return absl::StrCat(absl::ToInt64Milliseconds(duration) / 100 / 10.0, " s");
}

}  // namespace

// Answers UNAVAILABLE until Open(), then forwards to the real repository.
class StorageStartup::GatedRepository final : public ProfileRepository {
 public:
  explicit GatedRepository(const StorageStartup* startup) : startup_(startup) {}

  void Open(ProfileRepository* target) { target_.store(target, std::memory_order_release); }

  absl::StatusOr<profile::v1::Profile> Get(std::string_view id) override {
    ProfileRepository* target = target_.load(std::memory_order_acquire);
    if (target == nullptr) return startup_->status();
    return target->Get(id);
  }
  absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) override {
    ProfileRepository* target = target_.load(std::memory_order_acquire);
    if (target == nullptr) return startup_->status();
    return target->ApplyWrite(write);
  }
  absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                          bool include_avatars, int64_t max_bytes,
                                          bool include_tombstones) override {
    ProfileRepository* target = target_.load(std::memory_order_acquire);
    if (target == nullptr) return startup_->status();
    return target->ChangesAfter(after, limit, include_avatars, max_bytes, include_tombstones);
  }
  absl::StatusOr<std::string> DatabaseId() override {
    ProfileRepository* target = target_.load(std::memory_order_acquire);
    if (target == nullptr) return startup_->status();
    return target->DatabaseId();
  }
  absl::Status Ping() override {
    ProfileRepository* target = target_.load(std::memory_order_acquire);
    if (target == nullptr) return startup_->status();
    return target->Ping();
  }

 private:
  const StorageStartup* const startup_;
  std::atomic<ProfileRepository*> target_{nullptr};
};

// A ChangeFeed whose real feed starts later. A subscription taken before
// then cannot have received what was published before it joins the real
// feed, so when it joins, its first Wait() returns RESOURCE_EXHAUSTED: the
// watcher catches up from storage again (change_feed.h), after joining, and
// so misses nothing.
//
// Shared with its subscriptions, which may outlive the StorageStartup.
class StorageStartup::PendingFeed final : public ChangeFeed,
                                          public std::enable_shared_from_this<PendingFeed> {
 public:
  void Open(ChangeFeed* feed) {
    absl::MutexLock lock(&mu_);
    feed_ = feed;
  }
  // Subscriptions that have not joined yet end with CANCELLED; must be called
  // before the real feed is destroyed.
  void Close() {
    absl::MutexLock lock(&mu_);
    feed_ = nullptr;
    closed_ = true;
  }

  std::unique_ptr<Subscription> Subscribe() override {
    absl::MutexLock lock(&mu_);
    if (feed_ != nullptr) return feed_->Subscribe();
    return std::make_unique<PendingSubscription>(shared_from_this());
  }

  // Not live, generation 0, until the real feed opens (its generations start
  // at 1); then the real feed's. The change at Open() wakes every pending
  // subscription (with RESOURCE_EXHAUSTED: it must catch up).
  Health health() const override {
    absl::MutexLock lock(&mu_);
    if (feed_ != nullptr) return feed_->health();
    return Health{.live = false, .generation = 0};
  }

 private:
  class PendingSubscription final : public Subscription {
   public:
    explicit PendingSubscription(std::shared_ptr<PendingFeed> pending)
        : pending_(std::move(pending)) {}

    absl::StatusOr<std::vector<ProfileChange>> Wait(absl::Time deadline) override {
      if (joined_ != nullptr) return joined_->Wait(deadline);
      PendingFeed& pending = *pending_;
      absl::MutexLock lock(&pending.mu_);
      const auto decided = [&pending]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending.mu_) {
        return pending.feed_ != nullptr || pending.closed_;
      };
      if (!pending.mu_.AwaitWithDeadline(absl::Condition(&decided), deadline)) {
        return std::vector<ProfileChange>();
      }
      if (pending.closed_) return absl::CancelledError("the change feed is shutting down");
      joined_ = pending.feed_->Subscribe();
      return absl::ResourceExhaustedError(
          "the change feed started after this watcher caught up; catch up from storage");
    }

   private:
    const std::shared_ptr<PendingFeed> pending_;
    std::unique_ptr<Subscription> joined_;
  };

  mutable absl::Mutex mu_;
  ChangeFeed* feed_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<std::unique_ptr<StorageStartup>> StorageStartup::Begin(Options options) {
  if (options.first_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.first_backoff) {
    return absl::InvalidArgumentError("the start-up backoff must be positive");
  }
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository = PgProfileRepository::Create(
      {.database_url = options.database_url, .pool_size = options.pool_size});
  if (!repository.ok()) return repository.status();
  std::unique_ptr<StorageStartup> startup(
      new StorageStartup(std::move(options), *std::move(repository)));
  startup->thread_ = std::thread([raw = startup.get()] { raw->Run(); });
  return startup;
}

StorageStartup::StorageStartup(Options options, std::unique_ptr<PgProfileRepository> repository)
    : options_(std::move(options)),
      started_at_(absl::Now()),
      pg_repository_(std::move(repository)),
      gated_repository_(std::make_unique<GatedRepository>(this)),
      pending_feed_(std::make_shared<PendingFeed>()) {}

StorageStartup::~StorageStartup() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  sequencer_.reset();  // before the repository and the feed
  pending_feed_->Close();
  feed_.reset();
}

ProfileRepository* StorageStartup::repository() { return gated_repository_.get(); }

ChangeFeed* StorageStartup::feed() { return pending_feed_.get(); }

absl::Status StorageStartup::status() const {
  absl::MutexLock lock(&mu_);
  if (done_) return failure_;
  return absl::UnavailableError(
      absl::StrCat("the database is not ready yet: waiting for PostgreSQL since ",
                   Seconds(absl::Now() - started_at_), " (", attempts_,
                   attempts_ == 1 ? " attempt" : " attempts", " so far)"));
}

absl::Status StorageStartup::CheckReady() {
  if (absl::Status started = status(); !started.ok()) return started;
  return pg_repository_->Ping();
}

absl::Status StorageStartup::CheckChangeStream(int64_t max_lag_bytes) {
  if (absl::Status started = status(); !started.ok()) return started;
  absl::StatusOr<ChangeStreamState> state = pg_repository_->ReadChangeStreamState();
  if (!state.ok()) return state.status();
  return JudgeChangeStream(*state, max_lag_bytes);
}

std::optional<WalSequencer::Progress> StorageStartup::sequencer_progress() const {
  {
    absl::MutexLock lock(&mu_);
    // sequencer_ is written by the startup thread before done_ is set.
    if (!done_ || !failure_.ok()) return std::nullopt;
  }
  if (sequencer_ == nullptr) return std::nullopt;
  return sequencer_->Lag();
}

absl::Status StorageStartup::AwaitStarted(absl::Time deadline) const {
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&done_), deadline);
  }
  return status();
}

void StorageStartup::Log(std::string_view line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::cerr << line << std::endl;
  }
}

bool StorageStartup::SleepUntil(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithDeadline(absl::Condition(&stopping_), deadline);
}

absl::Status StorageStartup::AwaitChangeStream() {
  const absl::Time started = absl::Now();
  absl::Time next_report = started + absl::Seconds(5);
  try {
    pqxx::connection connection(options_.database_url);
    for (;;) {
      {
        pqxx::nontransaction txn(connection);
        if (!txn.exec("SELECT 1 FROM change_sequencer_state").empty()) return absl::OkStatus();
      }
      if (absl::Now() >= next_report) {
        // Creating a slot waits for every transaction running in the
        // cluster: a long one elsewhere shows here.
        Log(absl::StrCat("waiting for the WAL sequencer to set up the change stream (",
                         Seconds(absl::Now() - started),
                         " so far): it is creating its replication slot, which waits for every "
                         "transaction running in the cluster to end"));
        next_report = absl::Now() + absl::Seconds(30);
      }
      // Polled: this wait happens once per start, and usually ends at once.
      if (!SleepUntil(absl::Now() + absl::Milliseconds(20))) {
        return absl::CancelledError("shutting down");
      }
    }
  } catch (const std::exception& e) {
    return storage_internal::StatusFromException("await the change stream", e);
  }
}

void StorageStartup::Run() {
  absl::BitGen random;
  absl::Duration backoff = options_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      attempts_ = attempt;
    }
    absl::Status status = ApplyMigrations(options_.database_url);
    if (status.ok()) status = WalSequencer::CheckServerConfiguration(options_.database_url);
    // Read before opening the gate, so that callers never wait for it.
    if (status.ok()) status = pg_repository_->DatabaseId().status();
    if (status.ok() && sequencer_ == nullptr) {
      WalSequencer::Options sequencer_options{.database_url = options_.database_url,
                                              .log = [this](std::string_view line) { Log(line); }};
      absl::StatusOr<std::unique_ptr<WalSequencer>> sequencer =
          WalSequencer::Start(std::move(sequencer_options));
      if (sequencer.ok()) {
        sequencer_ = *std::move(sequencer);
      } else {
        status = sequencer.status();
      }
    }
    if (status.ok()) status = AwaitChangeStream();
    if (absl::IsCancelled(status)) return;
    if (status.ok()) {
      ChangeFeed::Options feed_options = options_.feed;
      feed_options.database_url = options_.database_url;
      absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
          ChangeFeed::Start(std::move(feed_options), pg_repository_.get());
      if (feed.ok()) {
        feed_ = *std::move(feed);
      } else {
        status = feed.status();
      }
    }
    if (status.ok()) {
      // The feed first: a watcher that passes the gate must find it running.
      pending_feed_->Open(feed_.get());
      gated_repository_->Open(pg_repository_.get());
      {
        absl::MutexLock lock(&mu_);
        done_ = true;
      }
      // on_ready first: whoever reads the log line finds health already set.
      if (options_.on_ready) options_.on_ready();
      Log(absl::StrCat("database ready after ", attempt, attempt == 1 ? " attempt" : " attempts",
                       " (", Seconds(absl::Now() - started_at_), "); migrations applied"));
      return;
    }
    if (!absl::IsUnavailable(status)) {
      Log(absl::StrCat("cannot open the database, giving up: ", OneLine(status.ToString())));
      absl::MutexLock lock(&mu_);
      failure_ = status;
      done_ = true;
      return;
    }
    const absl::Duration delay =
        backoff * absl::Uniform(random, 0.8, 1.2);  // jitter: replicas do not retry in step
    Log(absl::StrCat("database not reachable (attempt ", attempt, "): ", OneLine(status.message()),
                     "; retrying in ", Seconds(delay)));
    if (!SleepUntil(absl::Now() + delay)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace profiles
