#ifndef PROFILES_TESTS_E2E_TWO_REPLICAS_H_
#define PROFILES_TESTS_E2E_TWO_REPLICAS_H_

// A fixture of two profile_server replicas on one test database of their
// own, each started and ready (its database open) before the test runs.

#include <memory>

#include "gtest/gtest.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

namespace profiles::testing {

class TwoReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    for (auto* replica : {&first_, &second_}) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> server =
          ServerProcess::Start(database_->url());
      ASSERT_TRUE(server.ok()) << server.status();
      *replica = *std::move(server);
    }
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> first_;
  std::unique_ptr<ServerProcess> second_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_TWO_REPLICAS_H_
