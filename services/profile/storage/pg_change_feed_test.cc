#include "services/profile/storage/pg_change_feed.h"

#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/profile_writes.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::RenameWrite;
using ::profiles::testing::TestDatabase;

// Long enough that a test passing within its deadline proves the NOTIFY (or
// the reconnect catch-up) woke the feed, not the poll timer.
constexpr absl::Duration kNoPolling = absl::Minutes(10);
constexpr absl::Duration kDeliveryDeadline = absl::Seconds(20);

class PgChangeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    feed_repository_ = NewRepository();
    writer_repository_ = NewRepository();
    ASSERT_NE(feed_repository_, nullptr);
    ASSERT_NE(writer_repository_, nullptr);
  }

  std::unique_ptr<PgProfileRepository> NewRepository() {
    absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
        PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
    EXPECT_TRUE(repository.ok()) << repository.status();
    return repository.ok() ? *std::move(repository) : nullptr;
  }

  std::unique_ptr<ChangeFeed> StartFeed(size_t max_queued_bytes = 64 << 20) {
    absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
        ChangeFeed::Start({.database_url = database_->url(),
                           .poll_interval = kNoPolling,
                           .max_queued_bytes = max_queued_bytes},
                          feed_repository_.get());
    EXPECT_TRUE(feed.ok()) << feed.status();
    return feed.ok() ? *std::move(feed) : nullptr;
  }

  // Waits until changes of every id in `ids` have arrived; returns all
  // changes received, in order.
  static std::vector<ProfileChange> WaitForIds(ChangeFeed::Subscription& subscription,
                                               std::set<std::string> ids) {
    std::vector<ProfileChange> received;
    const absl::Time deadline = absl::Now() + kDeliveryDeadline;
    while (!ids.empty() && absl::Now() < deadline) {
      absl::StatusOr<std::vector<ProfileChange>> batch = subscription.Wait(deadline);
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) break;
      for (ProfileChange& change : *batch) {
        ids.erase(change.profile.id());
        received.push_back(std::move(change));
      }
    }
    EXPECT_TRUE(ids.empty()) << ids.size() << " changes not delivered within " << kDeliveryDeadline;
    return received;
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<PgProfileRepository> feed_repository_;
  std::unique_ptr<PgProfileRepository> writer_repository_;
};

TEST_F(PgChangeFeedTest, DeliversChangeCommittedByAnotherReplica) {
  const std::string before = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(before, "Old", "old@example.com")).ok());
  // Until the watermark has passed it (other tests' transactions on the
  // cluster can hold it back), that change is not yet in the stream, and a
  // feed started now would rightly deliver it.
  const absl::Time deadline = absl::Now() + kDeliveryDeadline;
  while (absl::Now() < deadline &&
         writer_repository_->ChangesAfter(ChangeCursor::Start(), 1, false, kDefaultPageBytes)
             ->changes.empty()) {
  }
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();

  const std::string id = RandomUuid();
  ASSERT_TRUE(
      writer_repository_
          ->Apply(CreateWrite(id, "Ann", "ann@example.com", std::string("\x89PNG\r\n\x1a\n")))
          .ok());
  std::vector<ProfileChange> received = WaitForIds(*subscription, {id});
  ASSERT_EQ(received.size(), 1u) << "the change before Start() must not be delivered";
  EXPECT_EQ(received[0].profile.name(), "Ann");
  EXPECT_EQ(received[0].profile.avatar(), "\x89PNG\r\n\x1a\n");
  EXPECT_GT(received[0].cursor, ChangeCursor::Start());

  ASSERT_TRUE(writer_repository_->Apply(RenameWrite(id, 1, "Anne")).ok());
  std::vector<ProfileChange> update = WaitForIds(*subscription, {id});
  ASSERT_EQ(update.size(), 1u);
  EXPECT_EQ(update[0].profile.version(), 2);
  EXPECT_GT(update[0].cursor, received[0].cursor);
}

TEST_F(PgChangeFeedTest, EverySubscriptionGetsEveryChange) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> first = feed->Subscribe();
  std::unique_ptr<ChangeFeed::Subscription> second = feed->Subscribe();
  const std::string id = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  EXPECT_EQ(WaitForIds(*first, {id}).size(), 1u);
  EXPECT_EQ(WaitForIds(*second, {id}).size(), 1u);
}

TEST_F(PgChangeFeedTest, WaitTimesOutEmptyWithoutChanges) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();
  absl::StatusOr<std::vector<ProfileChange>> batch =
      subscription->Wait(absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->empty());
}

TEST_F(PgChangeFeedTest, LaggingSubscriptionIsToldOnceAndThenContinues) {
  // Room for one small profile (about 70 bytes), not three.
  std::unique_ptr<ChangeFeed> feed = StartFeed(/*max_queued_bytes=*/150);
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();

  // Three changes in one transaction become visible, and are published,
  // together: more than the subscription may hold.
  std::string sql = "BEGIN;";
  for (int i = 0; i < 3; ++i) {
    absl::StrAppend(&sql, "SELECT profiles_apply_write('", RandomUuid(), "', 0, 'P", i,
                    "', 'p@example.com', NULL, NULL);");
  }
  ASSERT_TRUE(database_->ExecuteSql(sql + "COMMIT;").ok());

  const absl::Status lagged = subscription->Wait(absl::Now() + kDeliveryDeadline).status();
  EXPECT_EQ(lagged.code(), absl::StatusCode::kResourceExhausted) << lagged;

  const std::string id = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  EXPECT_EQ(WaitForIds(*subscription, {id}).size(), 1u);
}

TEST_F(PgChangeFeedTest, DestroyingTheFeedCancelsWaiters) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();
  absl::Status waited;
  std::thread waiter([&] { waited = subscription->Wait(absl::InfiniteFuture()).status(); });
  const absl::Time start = absl::Now();
  feed.reset();
  waiter.join();
  EXPECT_EQ(waited.code(), absl::StatusCode::kCancelled) << waited;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(subscription->Wait(absl::InfiniteFuture()).status().code(),
            absl::StatusCode::kCancelled);
}

TEST_F(PgChangeFeedTest, SurvivesLossOfItsListenConnection) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();
  {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    txn.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }
  // Written through a fresh repository so this write does not depend on the
  // pool's own recovery; the feed must reconnect and catch up by itself.
  std::unique_ptr<PgProfileRepository> writer = NewRepository();
  const std::string id = RandomUuid();
  ASSERT_TRUE(writer->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  EXPECT_EQ(WaitForIds(*subscription, {id}).size(), 1u);
}

TEST_F(PgChangeFeedTest, StartFailsWhenDatabaseIsUnreachable) {
  const absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
      ChangeFeed::Start({.database_url = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2"},
                        feed_repository_.get());
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kUnavailable) << feed.status();
}

TEST_F(PgChangeFeedTest, StartRejectsOptionsThatWouldSpinOrDropEverything) {
  EXPECT_EQ(ChangeFeed::Start({.database_url = database_->url(),
                               .poll_interval = absl::ZeroDuration(),
                               .max_queued_bytes = 10},
                              feed_repository_.get())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ChangeFeed::Start({.database_url = database_->url(),
                               .poll_interval = absl::Seconds(1),
                               .max_queued_bytes = 0},
                              feed_repository_.get())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace profiles
