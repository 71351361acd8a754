// End-to-end tests of profile_server processes sharing one PostgreSQL: watch
// streams across replicas, concurrent writers, idempotent retries across
// replicas, and acknowledged writes surviving a SIGKILL.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "tests/e2e/grpc_writes.h"
#include "tests/e2e/racing_writers.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/two_replicas.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

using profile::v1::Profile;
using profile::v1::ProfileEvent;
using profile::v1::ProfileService;
using profile::v1::UpdateProfileRequest;

using ReplicasTest = TwoReplicasTest;

// A watcher on one replica sees writes accepted by the other one, in order.
TEST_F(ReplicasTest, WatchOnOneReplicaCarriesWritesOfTheOther) {
  auto watcher = first_->NewStub();
  auto writer = second_->NewStub();

  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto stream = watcher->WatchProfiles(&watch_context, profile::v1::WatchProfilesRequest());

  const std::string id = Uuid(1, 1);
  Profile written;
  ASSERT_TRUE(Call(*writer, Write(id, 0, "Grace"), &written).ok());
  ASSERT_TRUE(Call(*writer, Write(id, 1, "Grace Hopper"), &written).ok());

  std::vector<std::pair<std::string, int64_t>> seen;
  ProfileEvent event;
  while (seen.size() < 2 && stream->Read(&event)) {
    seen.emplace_back(event.profile().name(), event.profile().version());
    EXPECT_FALSE(event.cursor().empty());
  }
  // The first write may be folded into the second if both committed before
  // the watcher caught up; the latest state must arrive either way.
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), (std::pair<std::string, int64_t>{"Grace Hopper", 2}));
  watch_context.TryCancel();
}

// Events resumed from a cursor continue exactly where the last one stopped:
// no change is skipped and none is delivered twice, across replicas.
TEST_F(ReplicasTest, WatchResumedFromCursorMissesNothingAndRepeatsNothing) {
  constexpr int kProfiles = 40;
  auto a = first_->NewStub();
  auto b = second_->NewStub();

  std::atomic<bool> writing_done = false;
  std::thread writers([&] {
    for (int i = 0; i < kProfiles; ++i) {
      Profile written;
      ASSERT_TRUE(
          Call(i % 2 == 0 ? *a : *b, Write(Uuid(2, i), 0, absl::StrCat("p", i)), &written).ok());
    }
    writing_done = true;
  });

  std::map<std::string, int> deliveries;
  std::string cursor;
  // Read half the events on replica A, drop the stream, resume on replica B.
  for (ServerProcess* replica : {first_.get(), second_.get()}) {
    auto stub = replica->NewStub();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    profile::v1::WatchProfilesRequest request;
    request.set_since_cursor(cursor);
    auto stream = stub->WatchProfiles(&context, request);
    const size_t stop_at = replica == first_.get() ? kProfiles / 2 : kProfiles;
    ProfileEvent event;
    while (deliveries.size() < stop_at && stream->Read(&event)) {
      ++deliveries[event.profile().id()];
      cursor = event.cursor();
    }
    context.TryCancel();
  }
  writers.join();
  ASSERT_TRUE(writing_done);
  EXPECT_EQ(deliveries.size(), static_cast<size_t>(kProfiles));
  for (const auto& [id, count] : deliveries) EXPECT_EQ(count, 1) << id;
}

std::string DatabaseIdOf(ServerProcess& server) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  profile::v1::ServiceInfo info;
  const grpc::Status status =
      server.NewStub()->GetServiceInfo(&context, profile::v1::GetServiceInfoRequest(), &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return info.database_id();
}

// Replicas of one database name it alike; a server on another database names
// another, and refuses the first one's cursors (a listing and a watch alike)
// with FAILED_PRECONDITION and a reason, instead of skipping changes by them.
TEST_F(ReplicasTest, ReplicasShareTheDatabaseIdAndAnotherDatabaseRefusesTheirCursors) {
  const std::string id = DatabaseIdOf(*first_);
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(DatabaseIdOf(*second_), id);

  Profile written;
  ASSERT_TRUE(Call(*first_->NewStub(), Write(Uuid(9, 1), 0, "Ada"), &written).ok());
  std::string cursor;
  {
    grpc::ClientContext context;
    profile::v1::ListProfilesResponse page;
    ASSERT_TRUE(
        first_->NewStub()->ListProfiles(&context, profile::v1::ListProfilesRequest(), &page).ok());
    cursor = page.cursor();
  }

  absl::StatusOr<std::unique_ptr<TestDatabase>> other_database = TestDatabase::Create();
  ASSERT_TRUE(other_database.ok()) << other_database.status();
  absl::StatusOr<std::unique_ptr<ServerProcess>> other =
      ServerProcess::Start((*other_database)->url());
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(DatabaseIdOf(**other), id);

  auto expect_refused = [](const grpc::Status& status) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(FromGrpcStatus(status));
    ASSERT_TRUE(info.has_value()) << status.error_message();
    EXPECT_EQ(info->reason(), kCursorFromOtherDatabaseReason);
  };
  {
    grpc::ClientContext context;
    profile::v1::ListProfilesRequest request;
    request.set_since_cursor(cursor);
    profile::v1::ListProfilesResponse page;
    expect_refused((*other)->NewStub()->ListProfiles(&context, request, &page));
  }
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    profile::v1::WatchProfilesRequest request;
    request.set_since_cursor(cursor);
    auto stub = (*other)->NewStub();
    auto stream = stub->WatchProfiles(&context, request);
    ProfileEvent event;
    EXPECT_FALSE(stream->Read(&event));
    expect_refused(stream->Finish());
  }
}

// Sixteen writers on two replicas, all from the same base version: one wins,
// every other one is told ABORTED and handed the winner's profile.
TEST_F(ReplicasTest, SixteenWritersFromOneBaseExactlyOneWins) {
  const std::string id = Uuid(3, 1);
  Profile created;
  ASSERT_TRUE(Call(*first_->NewStub(), Write(id, 0, "base"), &created).ok());

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 16; ++i) channels.push_back((i % 2 == 0 ? first_ : second_)->NewChannel());
  RaceWritersFromOneBase(channels, id, /*base_version=*/1);
}

// A retry of a mutation, even through another replica, returns the first
// result and does not apply the change again.
TEST_F(ReplicasTest, RetriedMutationThroughAnotherReplicaAppliesOnce) {
  const std::string id = Uuid(4, 1);
  const std::string mutation = Uuid(5, 1);
  Profile first_result;
  Profile second_result;
  ASSERT_TRUE(Call(*first_->NewStub(), Write(id, 0, "once", mutation), &first_result).ok());
  ASSERT_TRUE(Call(*second_->NewStub(), Write(id, 0, "once", mutation), &second_result).ok());
  EXPECT_EQ(second_result.version(), 1);
  EXPECT_EQ(second_result.SerializeAsString(), first_result.SerializeAsString());
}

// Writes acknowledged before a SIGKILL are all there after a restart, and the
// one in flight when the server died is applied once when it is retried.
TEST_F(ReplicasTest, AcknowledgedWritesSurviveSigkillAndInFlightRetryAppliesOnce) {
  const std::string id = Uuid(6, 1);
  auto stub = first_->NewStub();
  Profile latest;
  ASSERT_TRUE(Call(*stub, Write(id, 0, "v1", Uuid(7, 0)), &latest).ok());

  std::atomic<int> acknowledged = 1;
  std::atomic<int> attempted = 1;
  std::thread writer([&] {
    for (int n = 1;; ++n) {
      attempted = n + 1;
      Profile result;
      if (!Call(*stub, Write(id, n, absl::StrCat("v", n + 1), Uuid(7, n)), &result).ok()) return;
      acknowledged = n + 1;
    }
  });
  while (acknowledged < 50) std::this_thread::yield();
  first_->StopWith(SIGKILL);
  writer.join();

  // Retry the mutation that was in flight, through the surviving replica.
  const int in_flight = attempted;
  Profile retried;
  const grpc::Status retry = Call(
      *second_->NewStub(),
      Write(id, in_flight - 1, absl::StrCat("v", in_flight), Uuid(7, in_flight - 1)), &retried);
  ASSERT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_EQ(retried.version(), in_flight);

  grpc::ClientContext context;
  profile::v1::GetProfileRequest get;
  get.set_id(id);
  Profile stored;
  ASSERT_TRUE(second_->NewStub()->GetProfile(&context, get, &stored).ok());
  EXPECT_GE(stored.version(), acknowledged.load());
  EXPECT_EQ(stored.version(), in_flight);
  EXPECT_EQ(stored.name(), absl::StrCat("v", in_flight));
}

// SIGTERM ends open watch streams with UNAVAILABLE (clients resume from their
// cursor on another replica) and the server exits with status 0.
TEST_F(ReplicasTest, SigtermEndsWatchesAndExitsCleanly) {
  auto stub = first_->NewStub();
  grpc::ClientContext watch_context;
  auto stream = stub->WatchProfiles(&watch_context, profile::v1::WatchProfilesRequest());
  Profile written;
  ASSERT_TRUE(Call(*stub, Write(Uuid(8, 1), 0, "live"), &written).ok());
  ProfileEvent event;
  ASSERT_TRUE(stream->Read(&event));  // the stream is live when the signal comes

  // A real client keeps reading; the server waits for it to take the status.
  std::thread reader([&] {
    while (stream->Read(&event)) {
    }
  });
  const int wait_status = first_->StopWith(SIGTERM);
  reader.join();
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 0);
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace profiles::testing
