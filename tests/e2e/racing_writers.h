#ifndef PROFILES_TESTS_E2E_RACING_WRITERS_H_
#define PROFILES_TESTS_E2E_RACING_WRITERS_H_

// What writers racing on one base version of a profile must see, over gRPC:
// exactly one wins (at `winning_version`), and every other is ABORTED with
// the current profile, which is the winner's write. Shared by the tests that
// race writers through several replicas, directly or through a balancer.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "profile/v1/profile.pb.h"

namespace profiles::testing {

// `results[i]` and `responses[i]` are writer i's status and answer.
inline void ExpectOneWinnerAndConflictsCarryIt(const std::vector<grpc::Status>& results,
                                               const std::vector<profile::v1::Profile>& responses,
                                               int64_t winning_version) {
  int winners = 0;
  std::string winner_name;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok()) {
      ++winners;
      winner_name = responses[i].name();
      EXPECT_EQ(responses[i].version(), winning_version);
    } else {
      EXPECT_EQ(results[i].error_code(), grpc::StatusCode::ABORTED) << results[i].error_message();
    }
  }
  ASSERT_EQ(winners, 1);
  for (const grpc::Status& result : results) {
    if (result.ok()) continue;
    std::optional<profile::v1::Profile> current = ConflictingProfile(FromGrpcStatus(result));
    ASSERT_TRUE(current.has_value()) << "ABORTED without the current profile";
    EXPECT_EQ(current->version(), winning_version);
    EXPECT_EQ(current->name(), winner_name);
  }
}

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_RACING_WRITERS_H_
