#include "services/profile/storage/connection_pool.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>

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
  // restart or failover would.
  void TerminateOtherSessions() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    const pqxx::result terminated = txn.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    ASSERT_FALSE(terminated.empty());
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

TEST_F(ConnectionPoolTest, RepositoryRecoversAfterSessionsAreTerminated) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 1});
  ASSERT_TRUE(repository.ok()) << repository.status();
  const std::string id = RandomUuid();
  ASSERT_TRUE((*repository)->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());

  TerminateOtherSessions();

  // The pooled connection is dead: the first call may report it (and drop
  // the connection); the retry runs on a new one.
  const absl::StatusOr<profile::v1::Profile> first = (*repository)->Get(id);
  if (!first.ok()) {
    EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
    EXPECT_NE(first.status().message().find("the database is unreachable"), absl::string_view::npos)
        << first.status();
  }
  absl::StatusOr<profile::v1::Profile> retried = (*repository)->Get(id);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->name(), "Ann");

  TerminateOtherSessions();
  if (!(*repository)->Apply(testing::RenameWrite(id, 1, "Anne")).ok()) {
    // Not applied (the statement never reached the server), so the retry
    // with the same base version is accepted.
    ASSERT_TRUE((*repository)->Apply(testing::RenameWrite(id, 1, "Anne")).ok());
  }
  EXPECT_EQ((*repository)->Get(id)->version(), 2);
}

}  // namespace
}  // namespace profiles
