#include "services/profile/storage/pg_change_feed.h"

#include <cstdlib>
#include <iostream>
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
#include "services/profile/storage/wal_sequencer.h"
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
    // The feed publishes what the sequencer has stamped, as in the server.
    absl::StatusOr<std::unique_ptr<WalSequencer>> sequencer =
        WalSequencer::Start({.database_url = database_->url()});
    ASSERT_TRUE(sequencer.ok()) << sequencer.status();
    sequencer_ = *std::move(sequencer);
    ASSERT_TRUE(AwaitSequenced().ok());
  }

  // Returns once every change committed so far has its position.
  absl::Status AwaitSequenced() {
    return WalSequencer::AwaitSequenced(database_->url(), absl::Now() + kDeliveryDeadline);
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

  // Turns new connections to the test database away, or lets them in again.
  bool AllowConnections(bool allow) {
    try {
      pqxx::connection admin(std::getenv(TestDatabase::kUrlVariable));
      pqxx::nontransaction txn(admin);
      txn.exec0("ALTER DATABASE " + txn.quote_name(database_->name()) + " ALLOW_CONNECTIONS " +
                (allow ? "true" : "false"));
      return true;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return false;
    }
  }

  // The sessions on the test database that LISTEN (the feed's connection,
  // named so in pg_stat_activity); `terminate` ends them. Returns how many there were.
  int ListenBackends(bool terminate) {
    try {
      pqxx::connection admin(std::getenv(TestDatabase::kUrlVariable));
      pqxx::nontransaction txn(admin);
      const pqxx::result rows = txn.exec_params(
          absl::StrCat("SELECT ", terminate ? "pg_terminate_backend(pid)" : "pid",
                       " FROM pg_stat_activity"
                       " WHERE datname = $1 AND application_name LIKE '%change feed'"),
          database_->name());
      return static_cast<int>(rows.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return -1;
    }
  }
  int TerminateListenBackends() { return ListenBackends(/*terminate=*/true); }
  int CountListenBackends() { return ListenBackends(/*terminate=*/false); }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<PgProfileRepository> feed_repository_;
  std::unique_ptr<PgProfileRepository> writer_repository_;
  std::unique_ptr<WalSequencer> sequencer_;
};

TEST_F(PgChangeFeedTest, DeliversChangeCommittedByAnotherReplica) {
  const std::string before = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(before, "Old", "old@example.com")).ok());
  // Until it has its position, that change is not yet in the stream, and a
  // feed started now would rightly deliver it.
  ASSERT_TRUE(AwaitSequenced().ok());
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

TEST_F(PgChangeFeedTest, IsLiveFromStart) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  const ChangeFeed::Health health = feed->health();
  EXPECT_TRUE(health.live);
  EXPECT_NE(health.generation, 0u) << "generation 0 stands for no feed yet";
}

// The feed's LISTEN connection is terminated while the database turns new
// connections away: the loss wakes the watcher at once (the poll interval is
// ten minutes), changes still arrive while it is down, and once connections
// are allowed again it reconnects and reports live with another generation.
TEST_F(PgChangeFeedTest, HealthFollowsLossAndRecoveryOfTheListenConnection) {
  std::unique_ptr<ChangeFeed> feed = StartFeed();
  ASSERT_NE(feed, nullptr);
  std::unique_ptr<ChangeFeed::Subscription> subscription = feed->Subscribe();
  const ChangeFeed::Health started = feed->health();
  ASSERT_TRUE(started.live);
  // Both pools (the writer's and the feed's) open a connection, to keep
  // while the database refuses new ones.
  const std::string before = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(before, "Ann", "ann@example.com")).ok());
  WaitForIds(*subscription, {before});

  // Waits (on the subscription, never by sleeping) until health() is
  // live == `live`; returns it and the changes received meanwhile.
  const auto await_health = [&](bool live, std::vector<ProfileChange>* received) {
    const absl::Time deadline = absl::Now() + kDeliveryDeadline;
    ChangeFeed::Health health = feed->health();
    while (health.live != live && absl::Now() < deadline) {
      absl::StatusOr<std::vector<ProfileChange>> batch = subscription->Wait(deadline);
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok()) break;
      received->insert(received->end(), batch->begin(), batch->end());
      health = feed->health();
    }
    // Without the wake-up, Wait() would have returned at the deadline (the
    // poll interval is longer).
    EXPECT_LT(absl::Now(), deadline) << "no wake-up within " << kDeliveryDeadline;
    EXPECT_EQ(health.live, live);
    return health;
  };

  ASSERT_TRUE(AllowConnections(false));
  ASSERT_EQ(TerminateListenBackends(), 1);
  const absl::Time terminated_at = absl::Now();
  std::vector<ProfileChange> received;
  const ChangeFeed::Health lost = await_health(false, &received);
  std::cerr << "loss reported " << absl::Now() - terminated_at << " after the termination\n";
  EXPECT_NE(lost.generation, started.generation);

  // Down, and unable to reconnect: a change still arrives (by reading
  // storage at every reconnection attempt), and the feed stays not live.
  const std::string while_down = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(while_down, "Bea", "bea@example.com")).ok());
  WaitForIds(*subscription, {while_down});
  EXPECT_FALSE(feed->health().live);
  EXPECT_EQ(feed->health().generation, lost.generation);

  ASSERT_TRUE(AllowConnections(true));
  received.clear();
  const ChangeFeed::Health recovered = await_health(true, &received);
  EXPECT_NE(recovered.generation, lost.generation);
  EXPECT_NE(recovered.generation, started.generation);
  ASSERT_EQ(CountListenBackends(), 1);

  // Listening again: a new change is delivered by its notification.
  const std::string after = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(after, "Cy", "cy@example.com")).ok());
  WaitForIds(*subscription, {after});
  EXPECT_EQ(feed->health().generation, recovered.generation);
}

// What was stamped while the connection was down is published before the
// feed reports live again. Every connection of the feed (its LISTEN and its
// repository's pool) is cut while the database refuses new ones, so nothing
// can be read until it reconnects; then the catch-up reads many pages, while
// a watcher woken early would already see it live.
TEST_F(PgChangeFeedTest, ChangesCommittedWhileDownArePublishedBeforeLive) {
  constexpr int kProfiles = 2000;
  // Named, so that the feed's own sessions can be told apart.
  const std::string feed_url = database_->url() + " application_name=feed_under_test";
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> reader =
      PgProfileRepository::Create({.database_url = feed_url, .pool_size = 2});
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
      ChangeFeed::Start({.database_url = feed_url, .poll_interval = kNoPolling}, reader->get());
  ASSERT_TRUE(feed.ok()) << feed.status();
  std::unique_ptr<ChangeFeed::Subscription> subscription = (*feed)->Subscribe();
  const ChangeFeed::Health started = (*feed)->health();
  pqxx::connection writer(database_->url());  // opened while it still can be
  // Once a change has been read, the feed's pool holds a connection too.
  const std::string first = RandomUuid();
  ASSERT_TRUE(writer_repository_->Apply(CreateWrite(first, "Ann", "ann@example.com")).ok());
  WaitForIds(*subscription, {first});

  ASSERT_TRUE(AllowConnections(false));
  {
    pqxx::connection admin(std::getenv(TestDatabase::kUrlVariable));
    pqxx::nontransaction txn(admin);
    const pqxx::result cut = txn.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name LIKE 'feed_under_test%'");
    ASSERT_GE(cut.size(), 2u) << "the feed's LISTEN and at least one pooled connection";
  }
  // Nothing was published since, so the wake-up is the loss itself.
  const absl::Time wake_deadline = absl::Now() + kDeliveryDeadline;
  absl::StatusOr<std::vector<ProfileChange>> woken = subscription->Wait(wake_deadline);
  ASSERT_TRUE(woken.ok()) << woken.status();
  EXPECT_TRUE(woken->empty());
  EXPECT_LT(absl::Now(), wake_deadline) << "the loss did not wake the watcher";
  const ChangeFeed::Health lost = (*feed)->health();
  ASSERT_FALSE(lost.live);

  std::set<std::string> ids;
  pqxx::nontransaction(writer).exec("LISTEN profile_positions");
  {
    pqxx::work txn(writer);
    const pqxx::result rows = txn.exec_params(
        "SELECT (profiles_apply_write(gen_random_uuid(), 0, 'P' || i, 'p@example.com', NULL, "
        "NULL)).r_id::text FROM generate_series(1, $1) AS i",
        kProfiles);
    txn.commit();
    for (const pqxx::row& row : rows) ids.insert(row[0].c_str());
  }
  ASSERT_EQ(ids.size(), static_cast<size_t>(kProfiles));
  // Stamped by the sequencer (whose connection was not cut) before the feed
  // can reconnect; polled on the one connection the database still allows.
  const absl::Time stamped_deadline = absl::Now() + kDeliveryDeadline;
  for (;;) {
    {
      pqxx::nontransaction txn(writer);
      if (txn.exec1("SELECT count(*) FROM profile_positions")[0].as<int>() > kProfiles) break;
    }
    ASSERT_LT(absl::Now(), stamped_deadline) << "the sequencer did not stamp the changes";
    writer.await_notification(0, 100'000);  // the sequencer's NOTIFY, or 100 ms
  }
  ASSERT_TRUE(AllowConnections(true));

  const absl::Time deadline = absl::Now() + kDeliveryDeadline;
  ChangeFeed::Health health = (*feed)->health();
  while (!health.live && absl::Now() < deadline) {
    absl::StatusOr<std::vector<ProfileChange>> batch = subscription->Wait(deadline);
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const ProfileChange& change : *batch) ids.erase(change.profile.id());
    health = (*feed)->health();
  }
  ASSERT_TRUE(health.live) << "not live again within " << kDeliveryDeadline;
  EXPECT_LT(absl::Now(), deadline) << "the recovery did not wake the watcher";
  EXPECT_NE(health.generation, lost.generation);
  EXPECT_NE(health.generation, started.generation);
  EXPECT_TRUE(ids.empty()) << "live again with " << ids.size() << " of " << kProfiles
                           << " changes committed while down not yet published";
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
