#include "services/profile/storage/retention_pruner.h"

#include <algorithm>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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

constexpr absl::Duration kThirtyDays = absl::Hours(24 * 30);

class RetentionPrunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
        PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
  }

  // Applies a write with a new mutation id and returns that id.
  std::string ApplyWithMutation(const ProfileWrite& write_without_id) {
    ProfileWrite write = write_without_id;
    write.mutation_id = RandomUuid();
    const absl::Status status = repository_->Apply(write).status();
    EXPECT_TRUE(status.ok()) << status;
    return write.mutation_id;
  }

  // Makes the record of `mutation_id` look `age` old.
  void Age(const std::string& mutation_id, absl::Duration age) {
    ASSERT_TRUE(database_
                    ->ExecuteSql(absl::StrCat(
                        "UPDATE applied_mutations SET applied_at = now() - make_interval(secs => ",
                        absl::ToInt64Seconds(age), ") WHERE mutation_id = '", mutation_id, "'"))
                    .ok());
  }

  std::vector<std::string> RemainingMutationIds() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    std::vector<std::string> ids;
    for (const pqxx::row& row :
         txn.exec("SELECT mutation_id::text FROM applied_mutations ORDER BY mutation_id")) {
      ids.push_back(row[0].as<std::string>());
    }
    return ids;
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<PgProfileRepository> repository_;
};

TEST_F(RetentionPrunerTest, DeletesOnlyRecordsOlderThanTheRetentionInBatches) {
  std::vector<std::string> recent;
  for (int i = 0; i < 7; ++i) {
    const std::string old_id =
        ApplyWithMutation(CreateWrite(RandomUuid(), absl::StrCat("Old ", i), "old@example.com"));
    Age(old_id, kThirtyDays + absl::Hours(1));
    recent.push_back(
        ApplyWithMutation(CreateWrite(RandomUuid(), absl::StrCat("New ", i), "new@example.com")));
    Age(recent.back(), kThirtyDays - absl::Hours(1));
  }
  std::sort(recent.begin(), recent.end());

  // Batches of 3: 3 + 3 + 1, the last one shorter, which ends the pass.
  absl::StatusOr<int64_t> deleted = RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 7);
  EXPECT_EQ(RemainingMutationIds(), recent);

  deleted = RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 3);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0);
}

TEST_F(RetentionPrunerTest, RetryOfAPrunedMutationIsAConflictNeverASecondWrite) {
  const std::string id = RandomUuid();
  ASSERT_TRUE(repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  const ProfileWrite rename = RenameWrite(id, 1, "Ann Smith", RandomUuid());
  ASSERT_TRUE(repository_->Apply(rename).ok());
  Age(rename.mutation_id, kThirtyDays + absl::Hours(1));
  ASSERT_TRUE(RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 100).ok());
  ASSERT_TRUE(RemainingMutationIds().empty());

  // The client that never saw the acknowledgement retries, 31 days later.
  const absl::Status retry = repository_->Apply(rename).status();
  EXPECT_EQ(retry.code(), absl::StatusCode::kAborted) << retry;
  absl::StatusOr<profile::v1::Profile> stored = repository_->Get(id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->version(), 2);
  EXPECT_EQ(stored->name(), "Ann Smith");
}

TEST_F(RetentionPrunerTest, SkipsThePassWhileAnotherProcessPrunes) {
  const std::string old_id = ApplyWithMutation(CreateWrite(RandomUuid(), "Old", "old@example.com"));
  Age(old_id, kThirtyDays + absl::Hours(1));

  pqxx::connection other(database_->url());
  pqxx::nontransaction other_txn(other);
  other_txn.exec("SELECT pg_advisory_lock(x'7072756e656d7574'::bigint)");
  absl::StatusOr<int64_t> deleted = RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0);
  EXPECT_EQ(RemainingMutationIds().size(), 1u);

  other_txn.exec("SELECT pg_advisory_unlock_all()");
  deleted = RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
}

TEST_F(RetentionPrunerTest, BeforeMigrationsThereIsNothingToPrune) {
  ASSERT_TRUE(database_->ExecuteSql("DROP TABLE applied_mutations CASCADE").ok());
  absl::StatusOr<int64_t> deleted = RetentionPruner::PruneOnce(database_->url(), kThirtyDays, 100);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0);
}

TEST_F(RetentionPrunerTest, UnreachableDatabaseIsUnavailable) {
  absl::StatusOr<int64_t> deleted = RetentionPruner::PruneOnce(
      "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2", kThirtyDays, 100);
  EXPECT_EQ(deleted.status().code(), absl::StatusCode::kUnavailable) << deleted.status();
}

TEST_F(RetentionPrunerTest, BackgroundThreadPrunesAtOnceAndLogsWhatItDid) {
  const std::string old_id = ApplyWithMutation(CreateWrite(RandomUuid(), "Old", "old@example.com"));
  Age(old_id, kThirtyDays + absl::Hours(1));

  absl::Mutex mu;
  std::vector<std::string> lines;
  absl::StatusOr<std::unique_ptr<RetentionPruner>> pruner =
      RetentionPruner::Start({.database_url = database_->url(),
                             .retention = kThirtyDays,
                             .log = [&](std::string_view line) {
                               absl::MutexLock lock(&mu);
                               lines.emplace_back(line);
                             }});
  ASSERT_TRUE(pruner.ok()) << pruner.status();
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(
                                +[](std::vector<std::string>* l) { return !l->empty(); }, &lines),
                            absl::Seconds(30)));
    EXPECT_EQ(lines[0], "pruned 1 idempotency records older than 720h");
  }
  pruner->reset();
  EXPECT_TRUE(RemainingMutationIds().empty());
}

TEST(RetentionPrunerOptionsTest, RefusesOptionsThatCannotWork) {
  EXPECT_EQ(RetentionPruner::Start({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      RetentionPruner::Start({.database_url = "postgresql://x", .retention = absl::ZeroDuration()})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      RetentionPruner::Start({.database_url = "postgresql://x", .batch_rows = 0}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace profiles
