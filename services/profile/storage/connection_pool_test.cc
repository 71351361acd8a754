#include "services/profile/storage/connection_pool.h"

#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/profile_writes.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::TestDatabase;

class ConnectionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
  }

  // Terminates every other session on the test database, as a database
  // restart or failover would, and waits until their processes are gone
  // (so their sockets are closed).
  void TerminateOtherSessions() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    const pqxx::result terminated = txn.exec(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_FALSE(terminated.empty());
    for (const pqxx::row& row : terminated) ASSERT_TRUE(row[0].as<bool>());
  }

  static int BackendPid(ConnectionPool::Lease& lease) {
    pqxx::nontransaction txn(*lease);
    return txn.exec1("SELECT pg_backend_pid()")[0].as<int>();
  }

  std::unique_ptr<TestDatabase> database_;
};

TEST_F(ConnectionPoolTest, AcquireTimesOutWhenEveryConnectionIsLeased) {
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 1,
                       .acquire_timeout = absl::Milliseconds(200),
                       .prepare = nullptr});
  absl::StatusOr<ConnectionPool::Lease> held = pool.Acquire();
  ASSERT_TRUE(held.ok()) << held.status();
  const absl::Time start = absl::Now();
  const absl::Status status = pool.Acquire().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
}

TEST_F(ConnectionPoolTest, StatsCountLeasesAndWaiters) {
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 2,
                       .acquire_timeout = absl::Seconds(10),
                       .prepare = nullptr});
  ConnectionPool::Stats stats = pool.stats();
  EXPECT_EQ(stats.size, 2);
  EXPECT_EQ(stats.in_use, 0);
  EXPECT_EQ(stats.waiting, 0);
  std::optional<ConnectionPool::Lease> first(*pool.Acquire());
  absl::StatusOr<ConnectionPool::Lease> second = pool.Acquire();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(pool.stats().in_use, 2);

  std::thread waiter([&pool] { EXPECT_TRUE(pool.Acquire().ok()); });
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (pool.stats().waiting != 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(pool.stats().waiting, 1);
  first.reset();  // the waiter takes it, and returns it when its thread ends
  waiter.join();
  stats = pool.stats();
  EXPECT_EQ(stats.in_use, 1);
  EXPECT_EQ(stats.waiting, 0);
}

TEST_F(ConnectionPoolTest, ReleasedConnectionIsReused) {
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 1,
                       .acquire_timeout = absl::Seconds(5),
                       .prepare = nullptr});
  int first_pid;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_pid = BackendPid(*lease);
  }
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(BackendPid(*lease), first_pid);
}

TEST_F(ConnectionPoolTest, BrokenConnectionIsReplaced) {
  int prepared = 0;
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 1,
                       .acquire_timeout = absl::Seconds(5),
                       .prepare = [&prepared](pqxx::connection&) { ++prepared; }});
  int first_pid;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_pid = BackendPid(*lease);
    lease->MarkBroken();
  }
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_NE(BackendPid(*lease), first_pid);
  EXPECT_EQ(prepared, 2);
}

TEST_F(ConnectionPoolTest, UnreachableDatabaseIsUnavailableAndFreesTheSlot) {
  ConnectionPool pool({.database_url = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2",
                       .size = 1,
                       .acquire_timeout = absl::Milliseconds(100),
                       .prepare = nullptr});
  for (int i = 0; i < 2; ++i) {
    const absl::Status status = pool.Acquire().status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_NE(status.message().find("the database is unreachable"), absl::string_view::npos)
        << status;
  }
}

TEST_F(ConnectionPoolTest, DeadPooledConnectionsAreReplacedBeforeUse) {
  constexpr int kSize = 4;
  int prepared = 0;
  ConnectionPool pool({.database_url = database_->url(),
                       .size = kSize,
                       .acquire_timeout = absl::Seconds(5),
                       .prepare = [&prepared](pqxx::connection&) { ++prepared; }});
  std::set<int> old_pids;
  {
    std::vector<ConnectionPool::Lease> leases;
    for (int i = 0; i < kSize; ++i) {
      absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
      ASSERT_TRUE(lease.ok()) << lease.status();
      old_pids.insert(BackendPid(*lease));
      leases.push_back(*std::move(lease));
    }
  }
  ASSERT_EQ(old_pids.size(), static_cast<size_t>(kSize));

  TerminateOtherSessions();

  // Every lease works at once: no statement meets a dead connection.
  std::vector<ConnectionPool::Lease> leases;
  for (int i = 0; i < kSize; ++i) {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    int pid = 0;
    ASSERT_NO_THROW(pid = BackendPid(*lease));
    EXPECT_EQ(old_pids.count(pid), 0u);
    leases.push_back(*std::move(lease));
  }
  EXPECT_EQ(pool.dead_connections_replaced(), kSize);
  EXPECT_EQ(prepared, 2 * kSize);
}

TEST_F(ConnectionPoolTest, LiveIdleConnectionsAreNotReplaced) {
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 1,
                       .acquire_timeout = absl::Seconds(5),
                       .prepare = nullptr});
  int first_pid = 0;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_pid = BackendPid(*lease);
  }
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    EXPECT_EQ(BackendPid(*lease), first_pid);
  }
  EXPECT_EQ(pool.dead_connections_replaced(), 0);
}

TEST_F(ConnectionPoolTest, NewConnectionIsOpenedWhenAsked) {
  ConnectionPool pool({.database_url = database_->url(),
                       .size = 1,
                       .acquire_timeout = absl::Seconds(5),
                       .prepare = nullptr});
  int first_pid = 0;
  {
    absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
    ASSERT_TRUE(lease.ok()) << lease.status();
    first_pid = BackendPid(*lease);
  }
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire(ConnectionPool::Reuse::kNever);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_NE(BackendPid(*lease), first_pid);
}

// Finding 5: after a restart each stale pooled connection used to fail one
// request ("Could not obtain client encoding: not connected").
TEST_F(ConnectionPoolTest, RepositoryFailsNoCallAfterSessionsAreTerminated) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 4});
  ASSERT_TRUE(repository.ok()) << repository.status();
  const std::string id = RandomUuid();
  ASSERT_TRUE((*repository)->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  // Open every pooled connection.
  {
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&] {
        for (int i = 0; i < 20; ++i) EXPECT_TRUE((*repository)->Get(id).ok());
      });
    }
    for (std::thread& reader : readers) reader.join();
  }

  TerminateOtherSessions();
  for (int i = 0; i < 8; ++i) {
    const absl::StatusOr<profile::v1::Profile> read = (*repository)->Get(id);
    ASSERT_TRUE(read.ok()) << i << ": " << read.status();
    EXPECT_EQ(read->name(), "Ann");
  }
  EXPECT_TRUE((*repository)->Ping().ok());

  // A write without a mutation id is safe here too: the dead connection is
  // found before the write is sent, so it runs on a new one.
  TerminateOtherSessions();
  const absl::StatusOr<profile::v1::Profile> renamed =
      (*repository)->Apply(testing::RenameWrite(id, 1, "Anne"));
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->version(), 2);
}

// A connection that breaks while the write runs: the write may or may not
// have been applied. Here a trigger terminates the session in the middle of
// the statement (once, counted by a sequence, which no rollback undoes), so
// the first attempt is rolled back and the test can count the attempts.
class ConnectionLostMidWriteTest : public ConnectionPoolTest {
 protected:
  void SetUp() override {
    ConnectionPoolTest::SetUp();
    ASSERT_TRUE(database_
                    ->ExecuteSql(R"sql(
      CREATE SEQUENCE write_attempts;
      CREATE FUNCTION terminate_first_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name = 'Doomed' AND nextval('write_attempts') = 1 THEN
          PERFORM pg_terminate_backend(pg_backend_pid());
          PERFORM pg_sleep(30);  -- the termination interrupts this
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER terminate_first_write BEFORE INSERT OR UPDATE ON profiles
        FOR EACH ROW EXECUTE FUNCTION terminate_first_write();
    )sql")
                    .ok());
  }

  int64_t WriteAttempts() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT last_value FROM write_attempts")[0].as<int64_t>();
  }
};

TEST_F(ConnectionLostMidWriteTest, WriteWithAMutationIdIsRetriedOnANewConnection) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
  ASSERT_TRUE(repository.ok()) << repository.status();
  const std::string id = RandomUuid();
  ASSERT_TRUE((*repository)->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());

  const absl::StatusOr<profile::v1::Profile> written =
      (*repository)->Apply(testing::RenameWrite(id, 1, "Doomed", RandomUuid()));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->version(), 2);
  EXPECT_EQ(WriteAttempts(), 2);
  EXPECT_EQ((*repository)->Get(id)->name(), "Doomed");
}

TEST_F(ConnectionLostMidWriteTest, WriteWithoutAMutationIdIsNotRetried) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
  ASSERT_TRUE(repository.ok()) << repository.status();
  const std::string id = RandomUuid();
  ASSERT_TRUE((*repository)->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());

  const absl::StatusOr<profile::v1::Profile> written =
      (*repository)->Apply(testing::RenameWrite(id, 1, "Doomed"));
  EXPECT_EQ(written.status().code(), absl::StatusCode::kUnavailable) << written.status();
  EXPECT_NE(written.status().message().find("the database is unreachable"), absl::string_view::npos)
      << written.status();
  EXPECT_EQ(WriteAttempts(), 1);
  // This time it was not applied (the trigger rolled it back), and the
  // repository is usable again at once.
  const absl::StatusOr<profile::v1::Profile> current = (*repository)->Get(id);
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->version(), 1);
}

}  // namespace
}  // namespace profiles
