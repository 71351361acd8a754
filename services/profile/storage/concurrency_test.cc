// Many writers on one profile, through one repository (one pool), as the
// gRPC and HTTP adapters of one replica would.

#include <atomic>
#include <latch>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/profile_writes.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::RenameWrite;
using ::profiles::testing::TestDatabase;

constexpr int kPoolSize = 8;

class ConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
        PgProfileRepository::Create({.database_url = database_->url(), .pool_size = kPoolSize});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
  }

  // Runs `body(i)` on `threads` threads that start together.
  template <typename Body>
  static void RunTogether(int threads, Body body) {
    std::latch start(threads);
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) {
      workers.emplace_back([&start, &body, i] {
        start.arrive_and_wait();
        body(i);
      });
    }
    for (std::thread& worker : workers) worker.join();
  }

  int64_t AppliedMutationCount() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1("SELECT count(*) FROM applied_mutations")[0].as<int64_t>();
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<PgProfileRepository> repository_;
};

TEST_F(ConcurrencyTest, SameBaseVersionHasExactlyOneWinner) {
  constexpr int kWriters = 16;
  const std::string id = RandomUuid();
  ASSERT_TRUE(repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());

  std::vector<absl::StatusOr<profile::v1::Profile>> results(kWriters);
  RunTogether(kWriters, [&](int i) {
    results[i] = repository_->Apply(RenameWrite(id, 1, "writer " + std::to_string(i)));
  });

  std::vector<std::string> winners;
  for (const auto& result : results) {
    if (result.ok()) winners.push_back(result->name());
  }
  ASSERT_EQ(winners.size(), 1u);
  for (const auto& result : results) {
    if (result.ok()) {
      EXPECT_EQ(result->version(), 2);
      continue;
    }
    ASSERT_EQ(result.status().code(), absl::StatusCode::kAborted) << result.status();
    std::optional<profile::v1::Profile> current = ConflictingProfile(result.status());
    ASSERT_TRUE(current.has_value());
    EXPECT_EQ(current->version(), 2);
    EXPECT_EQ(current->name(), winners[0]);
  }
  EXPECT_EQ(repository_->Get(id)->name(), winners[0]);
  EXPECT_EQ(repository_->Get(id)->version(), 2);
}

TEST_F(ConcurrencyTest, InterleavedReadModifyWriteLosesNoUpdate) {
  constexpr int kWriters = 8;
  constexpr int kAttemptsPerWriter = 200;
  const std::string id = RandomUuid();
  ASSERT_TRUE(repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());

  std::atomic<int> accepted{0};
  std::atomic<int> unexpected{0};
  RunTogether(kWriters, [&](int writer) {
    int64_t known_version = 1;
    for (int attempt = 0; attempt < kAttemptsPerWriter; ++attempt) {
      const std::string name = absl::StrCat("w", writer, "-", attempt);
      absl::StatusOr<profile::v1::Profile> result =
          repository_->Apply(RenameWrite(id, known_version, name));
      if (result.ok()) {
        ++accepted;
        known_version = result->version();
      } else if (std::optional<profile::v1::Profile> current = ConflictingProfile(result.status());
                 result.status().code() == absl::StatusCode::kAborted && current.has_value()) {
        known_version = current->version();
      } else {
        ++unexpected;
      }
    }
  });

  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_GT(accepted.load(), kWriters);
  absl::StatusOr<profile::v1::Profile> final_profile = repository_->Get(id);
  ASSERT_TRUE(final_profile.ok()) << final_profile.status();
  EXPECT_EQ(final_profile->version(), 1 + accepted.load());
}

TEST_F(ConcurrencyTest, ConcurrentRetriesOfOneUpdateApplyOnce) {
  constexpr int kRetries = 16;
  const std::string id = RandomUuid();
  ASSERT_TRUE(repository_->Apply(CreateWrite(id, "Ann", "ann@example.com")).ok());
  const std::string mutation = RandomUuid();

  std::vector<absl::StatusOr<profile::v1::Profile>> results(kRetries);
  RunTogether(kRetries, [&](int i) {
    results[i] = repository_->Apply(RenameWrite(id, 1, "Anne", mutation));
  });

  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->SerializeAsString(), results[0]->SerializeAsString());
  }
  EXPECT_EQ(results[0]->version(), 2);
  EXPECT_EQ(repository_->Get(id)->version(), 2);
  EXPECT_EQ(AppliedMutationCount(), 1);
}

TEST_F(ConcurrencyTest, ConcurrentRetriesOfOneCreateApplyOnce) {
  constexpr int kRetries = 16;
  const std::string id = RandomUuid();
  const std::string mutation = RandomUuid();

  std::vector<absl::StatusOr<profile::v1::Profile>> results(kRetries);
  RunTogether(kRetries, [&](int i) {
    results[i] =
        repository_->Apply(CreateWrite(id, "Ann", "ann@example.com", std::nullopt, mutation));
  });

  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->SerializeAsString(), results[0]->SerializeAsString());
  }
  EXPECT_EQ(results[0]->version(), 1);
  EXPECT_EQ(AppliedMutationCount(), 1);
}

TEST_F(ConcurrencyTest, OneMutationIdOnDifferentProfilesAppliesOnlyOne) {
  constexpr int kWriters = 8;
  const std::string mutation = RandomUuid();
  std::vector<std::string> ids;
  for (int i = 0; i < kWriters; ++i) ids.push_back(RandomUuid());

  // No record exists when they start, so each writes its own profile; the
  // idempotency record's key lets one commit, the others are refused.
  std::vector<absl::StatusOr<profile::v1::Profile>> results(kWriters);
  RunTogether(kWriters, [&](int i) {
    results[i] =
        repository_->Apply(CreateWrite(ids[i], "Ann", "ann@example.com", std::nullopt, mutation));
  });

  int applied = 0;
  for (int i = 0; i < kWriters; ++i) {
    if (results[i].ok()) {
      ++applied;
      continue;
    }
    ASSERT_EQ(results[i].status().code(), absl::StatusCode::kInvalidArgument)
        << results[i].status();
    ASSERT_TRUE(ErrorInfoOf(results[i].status()).has_value());
    EXPECT_EQ(ErrorInfoOf(results[i].status())->reason(), kMutationIdReusedReason);
    EXPECT_EQ(repository_->Get(ids[i]).status().code(), absl::StatusCode::kNotFound);
  }
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(AppliedMutationCount(), 1);
}

}  // namespace
}  // namespace profiles
