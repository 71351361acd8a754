#include "services/profile/storage/storage_startup.h"

#include <cstdlib>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/profile_writes.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::TestDatabase;

// Collects StorageStartup's log lines; tests wait on them instead of sleeping.
class LogLines {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
    };
  }
  // Waits until `count` lines contain `text`; false on timeout.
  bool AwaitContaining(std::string_view text, int count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      int found = 0;
      for (const std::string& line : lines_) found += line.find(text) != std::string::npos ? 1 : 0;
      return found >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

class StorageStartupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  // Turns connections to the test database away (or lets them in again),
  // as a database that is not up yet would.
  void AllowConnections(bool allow) {
    pqxx::connection admin(std::getenv(TestDatabase::kUrlVariable));
    pqxx::nontransaction txn(admin);
    txn.exec0("ALTER DATABASE " + txn.quote_name(database_->name()) + " ALLOW_CONNECTIONS " +
              (allow ? "true" : "false"));
  }

  StorageStartup::Options Options(LogLines& log) {
    StorageStartup::Options options;
    options.database_url = database_->url();
    options.pool_size = 2;
    options.first_backoff = absl::Milliseconds(20);
    options.max_backoff = absl::Milliseconds(200);
    options.log = log.Sink();
    return options;
  }

  std::unique_ptr<TestDatabase> database_;
};

TEST_F(StorageStartupTest, WaitsForTheDatabaseThenOpens) {
  AllowConnections(false);
  LogLines log;
  absl::Notification ready;
  StorageStartup::Options options = Options(log);
  options.on_ready = [&ready] { ready.Notify(); };
  absl::StatusOr<std::unique_ptr<StorageStartup>> storage = StorageStartup::Begin(options);
  ASSERT_TRUE(storage.ok()) << storage.status();

  // Waiting: calls are refused cleanly, a watcher can already subscribe.
  const std::string id = RandomUuid();
  const absl::Status early = (*storage)->repository()->Get(id).status();
  EXPECT_EQ(early.code(), absl::StatusCode::kUnavailable) << early;
  EXPECT_TRUE(absl::StrContains(early.message(), "the database is not ready yet")) << early;
  EXPECT_EQ((*storage)->CheckReady().code(), absl::StatusCode::kUnavailable);
  std::unique_ptr<ChangeFeed::Subscription> early_watcher = (*storage)->feed()->Subscribe();
  absl::StatusOr<std::vector<ProfileChange>> nothing =
      early_watcher->Wait(absl::Now() + absl::Milliseconds(20));
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_TRUE(nothing->empty());

  // It retries (one log line per attempt) and does not give up.
  ASSERT_TRUE(log.AwaitContaining("database not reachable (attempt", 3, absl::Seconds(30)));
  EXPECT_FALSE(ready.HasBeenNotified());

  AllowConnections(true);
  ASSERT_TRUE((*storage)->AwaitStarted(absl::Now() + absl::Seconds(30)).ok());
  EXPECT_TRUE(ready.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_TRUE(log.AwaitContaining("database ready after", 1, absl::Seconds(1)));
  EXPECT_TRUE((*storage)->CheckReady().ok());

  // The early watcher joins the real feed and is told to catch up, then
  // receives new changes.
  EXPECT_TRUE(absl::IsResourceExhausted(early_watcher->Wait(absl::Now()).status()));
  ASSERT_TRUE((*storage)->repository()->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  bool delivered = false;
  for (const absl::Time deadline = absl::Now() + absl::Seconds(20);
       !delivered && absl::Now() < deadline;) {
    absl::StatusOr<std::vector<ProfileChange>> batch = early_watcher->Wait(deadline);
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const ProfileChange& change : *batch) delivered |= change.profile.id() == id;
  }
  EXPECT_TRUE(delivered);
  EXPECT_EQ((*storage)->repository()->Get(id)->name(), "Ann");
}

// Before the real feed runs, feed() is not live (generation 0, which the
// real feed never uses); the opening wakes a waiting watcher, and from then
// on health() is the real feed's.
TEST_F(StorageStartupTest, FeedHealthIsNotLiveUntilTheFeedOpens) {
  AllowConnections(false);
  LogLines log;
  absl::StatusOr<std::unique_ptr<StorageStartup>> storage = StorageStartup::Begin(Options(log));
  ASSERT_TRUE(storage.ok()) << storage.status();
  ChangeFeed* feed = (*storage)->feed();
  const ChangeFeed::Health waiting = feed->health();
  EXPECT_FALSE(waiting.live);
  EXPECT_EQ(waiting.generation, 0u);
  std::unique_ptr<ChangeFeed::Subscription> watcher = feed->Subscribe();
  ASSERT_TRUE(log.AwaitContaining("database not reachable (attempt", 1, absl::Seconds(30)));
  EXPECT_FALSE(feed->health().live);

  absl::Status woken;
  std::thread waiter([&] { woken = watcher->Wait(absl::Now() + absl::Seconds(60)).status(); });
  AllowConnections(true);
  ASSERT_TRUE((*storage)->AwaitStarted(absl::Now() + absl::Seconds(30)).ok());
  waiter.join();
  EXPECT_TRUE(absl::IsResourceExhausted(woken)) << woken;
  const ChangeFeed::Health open = feed->health();
  EXPECT_TRUE(open.live);
  EXPECT_NE(open.generation, 0u);
}

TEST_F(StorageStartupTest, FailedMigrationIsPermanent) {
  // The schema exists but its record is gone: 0001 fails ("already exists").
  ASSERT_TRUE(database_->ExecuteSql("TRUNCATE schema_migrations").ok());
  LogLines log;
  absl::StatusOr<std::unique_ptr<StorageStartup>> storage = StorageStartup::Begin(Options(log));
  ASSERT_TRUE(storage.ok()) << storage.status();
  const absl::Status status = (*storage)->AwaitStarted(absl::Now() + absl::Seconds(30));
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_EQ((*storage)->status(), status);
  EXPECT_TRUE(log.AwaitContaining("giving up", 1, absl::Seconds(1)));
}

// The change stream's health (change_stream_health.h) as the server asks
// for it: healthy once started, lagging when the slot is further behind
// than the alarm, and no sequencer elected once the only one is gone.
TEST_F(StorageStartupTest, ChangeStreamHealthFollowsTheSlotAndTheElection) {
  LogLines log;
  {
    absl::StatusOr<std::unique_ptr<StorageStartup>> storage = StorageStartup::Begin(Options(log));
    ASSERT_TRUE(storage.ok()) << storage.status();
    ASSERT_TRUE((*storage)->AwaitStarted(absl::Now() + absl::Seconds(30)).ok());
    // Its own sequencer created the slot; the election shows once it holds the lock.
    absl::Status healthy;
    for (const absl::Time deadline = absl::Now() + absl::Seconds(20); absl::Now() < deadline;) {
      healthy = (*storage)->CheckChangeStream(int64_t{256} << 20);
      if (healthy.ok()) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_TRUE(healthy.ok()) << healthy;

    // WAL written elsewhere in the cluster after the slot's restart point
    // (which moves only at the running-transactions records PostgreSQL
    // writes every 15 s) is kept for it.
    absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
    ASSERT_TRUE(other.ok()) << other.status();
    ASSERT_TRUE(
        (*other)->ExecuteSql("CREATE TABLE filler AS SELECT generate_series(1, 1000)").ok());
    const absl::Status behind = (*storage)->CheckChangeStream(1);
    EXPECT_EQ(behind.code(), absl::StatusCode::kFailedPrecondition) << behind;
    EXPECT_TRUE(absl::StrContains(behind.message(), "of WAL for the change stream")) << behind;
  }
  // The only sequencer is gone with its StorageStartup.
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 1});
  ASSERT_TRUE(repository.ok()) << repository.status();
  absl::StatusOr<ChangeStreamState> state = (*repository)->ReadChangeStreamState();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_TRUE(state->has_epoch);
  EXPECT_TRUE(state->slot_exists);
  EXPECT_FALSE(state->sequencer_elected);
  EXPECT_TRUE(absl::StrContains(JudgeChangeStream(*state, int64_t{256} << 20).message(),
                                "no replica is sequencing"));
}

TEST(StorageStartupShutdownTest, StopsWaitingPromptlyAndCancelsWatchers) {
  LogLines log;
  StorageStartup::Options options;
  options.database_url = "postgresql://postgres@127.0.0.1:1/none";
  options.first_backoff = absl::Seconds(30);
  options.max_backoff = absl::Seconds(30);
  options.log = log.Sink();
  absl::StatusOr<std::unique_ptr<StorageStartup>> storage = StorageStartup::Begin(options);
  ASSERT_TRUE(storage.ok()) << storage.status();
  std::unique_ptr<ChangeFeed::Subscription> watcher = (*storage)->feed()->Subscribe();
  ASSERT_TRUE(log.AwaitContaining("database not reachable (attempt 1)", 1, absl::Seconds(10)));

  const absl::Time start = absl::Now();
  storage->reset();  // in the middle of a 30 s backoff
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(absl::IsCancelled(watcher->Wait(absl::Now() + absl::Seconds(1)).status()));
}

TEST(StorageStartupOptionsTest, RejectsBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(StorageStartup::Begin({}).status()));
  StorageStartup::Options options;
  options.database_url = "postgresql://localhost/x";
  options.first_backoff = absl::ZeroDuration();
  EXPECT_TRUE(absl::IsInvalidArgument(StorageStartup::Begin(options).status()));
}

}  // namespace
}  // namespace profiles
