#ifndef PROFILES_TESTS_E2E_RACING_WRITERS_H_
#define PROFILES_TESTS_E2E_RACING_WRITERS_H_

// Writers racing on one base version of a profile over gRPC, and what they
// must see: exactly one wins (at `winning_version`), and every other is
// ABORTED with the current profile, which is the winner's write. Shared by
// the tests that race writers through several replicas, directly or through
// a balancer.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"
#include "tests/e2e/grpc_writes.h"

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

// Writer i writes "writer i" to profile `id` from `base_version` through
// `channels[i]`, all at once, and the outcome must be one winner at
// `base_version + 1` whose write every loser is shown. Each channel is
// connected before any writer starts: what races is the writes, not
// connection attempts. (gRPC 1.51 can also fail a first connect that was
// only in progress, reading an errno its own calls overwrote: "ipv4:...: No
// such file or directory", grpc/grpc#35064. That UNAVAILABLE says nothing of
// the version check.)
inline void RaceWritersFromOneBase(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                                   const std::string& id, int64_t base_version) {
  for (size_t i = 0; i < channels.size(); ++i) {
    ASSERT_TRUE(channels[i]->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(20))))
        << "writer " << i << " never connected";
  }
  std::vector<grpc::Status> results(channels.size());
  std::vector<profile::v1::Profile> responses(channels.size());
  std::latch start(static_cast<std::ptrdiff_t>(channels.size()));
  std::vector<std::thread> writers;
  for (size_t i = 0; i < channels.size(); ++i) {
    writers.emplace_back([&, i] {
      auto stub = profile::v1::ProfileService::NewStub(channels[i]);
      const profile::v1::UpdateProfileRequest write =
          Write(id, base_version, absl::StrCat("writer ", i));
      start.arrive_and_wait();
      results[i] = Call(*stub, write, &responses[i]);
    });
  }
  for (std::thread& writer : writers) writer.join();
  ExpectOneWinnerAndConflictsCarryIt(results, responses, base_version + 1);
}

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_E2E_RACING_WRITERS_H_
