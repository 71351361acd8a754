// Deleting profiles end to end over gRPC, on two profile_server replicas
// sharing one PostgreSQL: the delete is version-checked and idempotent across
// replicas, reads and writes of the deleted profile are told so, its
// tombstone reaches deltas and watches on the other replica, a create of the
// id continues its versions, and a cursor older than the tombstone retention
// window is refused instead of silently missing the delete.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "tests/e2e/grpc_writes.h"
#include "tests/e2e/server_process.h"
#include "tests/e2e/two_replicas.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles::testing {
namespace {

using profile::v1::ListProfilesRequest;
using profile::v1::ListProfilesResponse;
using profile::v1::Profile;
using profile::v1::ProfileEvent;
using profile::v1::ProfileService;

grpc::Status List(ProfileService::Stub& stub, const std::string& since_cursor,
                  ListProfilesResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  ListProfilesRequest request;
  request.set_since_cursor(since_cursor);
  request.set_page_size(1000);
  return stub.ListProfiles(&context, request, response);
}

// "id" for a live profile, "id deleted vN" for a tombstone.
std::vector<std::string> Listed(const ListProfilesResponse& response) {
  std::vector<std::string> listed;
  for (const Profile& profile : response.profiles()) {
    listed.push_back(profile.deleted() ? absl::StrCat(profile.id(), " deleted v", profile.version())
                                       : profile.id());
  }
  return listed;
}

using DeleteTest = TwoReplicasTest;

TEST_F(DeleteTest, DeleteIsVersionCheckedIdempotentAndFinalAcrossReplicas) {
  auto a = first_->NewStub();
  auto b = second_->NewStub();
  const std::string id = Uuid(12, 1);
  profile::v1::UpdateProfileRequest create = Write(id, 0, "Grace Hopper");
  create.mutable_profile()->set_avatar(RealisticJpeg(200 * 1024, 12));
  Profile written;
  ASSERT_TRUE(Call(*a, create, &written).ok());
  ASSERT_TRUE(Call(*b, Write(id, 1, "Grace B. Hopper"), &written).ok());

  // Device A still shows version 1: its delete would discard B's rename.
  Profile ignored;
  const absl::Status stale = FromGrpcStatus(Delete(*a, id, 1, "", &ignored));
  EXPECT_EQ(stale.code(), absl::StatusCode::kAborted) << stale;
  ASSERT_TRUE(ConflictingProfile(stale).has_value());
  EXPECT_EQ(ConflictingProfile(stale)->name(), "Grace B. Hopper");
  EXPECT_EQ(ConflictingProfile(stale)->version(), 2);
  // Nothing was deleted.
  ASSERT_TRUE(Read(*a, id, &written).ok());
  EXPECT_EQ(written.version(), 2);

  const std::string mutation = Uuid(112, 1);
  Profile tombstone;
  ASSERT_TRUE(Delete(*a, id, 2, mutation, &tombstone).ok());
  EXPECT_TRUE(tombstone.deleted());
  EXPECT_EQ(tombstone.version(), 3);
  EXPECT_TRUE(tombstone.name().empty() && tombstone.email().empty() && tombstone.avatar().empty());

  // The retry of a delete whose answer was lost, through the other replica.
  Profile replayed;
  ASSERT_TRUE(Delete(*b, id, 2, mutation, &replayed).ok());
  EXPECT_TRUE(replayed.deleted());
  EXPECT_EQ(replayed.version(), 3);

  // Both replicas answer NOT_FOUND, saying why, with the tombstone.
  for (ProfileService::Stub* stub : {a.get(), b.get()}) {
    absl::Status read;
    ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
      read = FromGrpcStatus(Read(*stub, id, &written));
      return !read.ok();
    })) << "a replica still serves the deleted profile";
    EXPECT_TRUE(IsProfileDeleted(read)) << read;
    ASSERT_TRUE(ConflictingProfile(read).has_value());
    EXPECT_EQ(ConflictingProfile(read)->version(), 3);
  }
  // An edit queued against the live profile is told it was deleted.
  const absl::Status edit = FromGrpcStatus(Call(*b, Write(id, 2, "Amazing Grace"), &written));
  EXPECT_TRUE(IsProfileDeleted(edit)) << edit;
  // A new profile of the same id continues after the tombstone.
  ASSERT_TRUE(Call(*b, Write(id, 0, "Grace Again"), &written).ok());
  EXPECT_EQ(written.version(), 4);
  EXPECT_FALSE(written.deleted());
  ASSERT_TRUE(Eventually(absl::Seconds(10),
                         [&] { return Read(*a, id, &written).ok() && written.version() == 4; }));

  // Bad requests change nothing.
  const absl::Status no_version = FromGrpcStatus(Delete(*a, id, 0, "", &ignored));
  EXPECT_EQ(no_version.code(), absl::StatusCode::kInvalidArgument) << no_version;
  ASSERT_TRUE(BadRequestOf(no_version).has_value());
  EXPECT_EQ(BadRequestOf(no_version)->field_violations(0).field(), "expected_version");
  const absl::Status not_an_id = FromGrpcStatus(Delete(*a, "nobody", 4, "", &ignored));
  EXPECT_EQ(not_an_id.code(), absl::StatusCode::kInvalidArgument) << not_an_id;
  const absl::Status unknown = FromGrpcStatus(Delete(*a, Uuid(12, 999), 1, "", &ignored));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_FALSE(IsProfileDeleted(unknown));
  ASSERT_TRUE(Read(*a, id, &written).ok());
  EXPECT_EQ(written.version(), 4);
}

TEST_F(DeleteTest, TombstonesReachDeltasAndWatchesOnTheOtherReplica) {
  auto a = first_->NewStub();
  auto b = second_->NewStub();
  const std::string kept = Uuid(12, 2);
  const std::string doomed = Uuid(12, 3);
  Profile written;
  ASSERT_TRUE(Call(*a, Write(kept, 0, "Kept"), &written).ok());
  ASSERT_TRUE(Call(*a, Write(doomed, 0, "Doomed"), &written).ok());
  // A device that synced both profiles.
  ListProfilesResponse synced;
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    return List(*a, "", &synced).ok() && synced.profiles_size() == 2;
  }));

  grpc::ClientContext watch_context;
  watch_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  profile::v1::WatchProfilesRequest watch;
  watch.set_since_cursor(synced.cursor());
  auto stream = a->WatchProfiles(&watch_context, watch);

  Profile tombstone;
  ASSERT_TRUE(Delete(*b, doomed, 1, "", &tombstone).ok());

  ProfileEvent event;
  ASSERT_TRUE(stream->Read(&event)) << "the watch ended without the delete";
  EXPECT_EQ(event.profile().id(), doomed);
  EXPECT_TRUE(event.profile().deleted());
  EXPECT_EQ(event.profile().version(), 2);
  watch_context.TryCancel();

  ListProfilesResponse delta;
  ASSERT_TRUE(List(*a, synced.cursor(), &delta).ok());
  EXPECT_EQ(Listed(delta), std::vector<std::string>{absl::StrCat(doomed, " deleted v2")});
  EXPECT_EQ(delta.cursor(), event.cursor());
  // A new device's first listing has no trace of it.
  ListProfilesResponse fresh;
  ASSERT_TRUE(List(*b, "", &fresh).ok());
  EXPECT_EQ(Listed(fresh), std::vector<std::string>{kept});
}

// With a tombstone retention of one second, the delete leaves the change
// stream at once; a device whose cursor is older must list again.
TEST_F(DeleteTest, CursorOlderThanTheTombstoneRetentionIsRefused) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> short_memory =
      ServerProcess::Start(database_->url(), absl::Seconds(30), true,
                           {"--tombstone-retention=1s", "--idempotency-prune-interval=1s"});
  ASSERT_TRUE(short_memory.ok()) << short_memory.status();
  auto stub = (*short_memory)->NewStub();
  const std::string kept = Uuid(12, 4);
  const std::string doomed = Uuid(12, 5);
  Profile written;
  ASSERT_TRUE(Call(*stub, Write(kept, 0, "Kept"), &written).ok());
  ASSERT_TRUE(Call(*stub, Write(doomed, 0, "Doomed"), &written).ok());
  ListProfilesResponse synced;
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    return List(*stub, "", &synced).ok() && synced.profiles_size() == 2;
  }));
  Profile tombstone;
  ASSERT_TRUE(Delete(*stub, doomed, 1, "", &tombstone).ok());

  absl::Status delta;
  ASSERT_TRUE(Eventually(absl::Seconds(20), [&] {
    ListProfilesResponse response;
    delta = FromGrpcStatus(List(*stub, synced.cursor(), &response));
    return !delta.ok();
  })) << "the tombstone was never purged";
  EXPECT_EQ(delta.code(), absl::StatusCode::kFailedPrecondition) << delta;
  ASSERT_TRUE(ErrorInfoOf(delta).has_value());
  EXPECT_EQ(ErrorInfoOf(delta)->reason(), kCursorExpiredReason);

  // A watch from there is refused the same way, on any replica.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  profile::v1::WatchProfilesRequest watch;
  watch.set_since_cursor(synced.cursor());
  auto other = first_->NewStub();
  auto stream = other->WatchProfiles(&watch_context, watch);
  ProfileEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const absl::Status ended = FromGrpcStatus(stream->Finish());
  EXPECT_EQ(ended.code(), absl::StatusCode::kFailedPrecondition) << ended;

  // Listing again from the start is what the client does: the deleted
  // profile is not in it.
  ListProfilesResponse fresh;
  ASSERT_TRUE(List(*stub, "", &fresh).ok());
  EXPECT_EQ(Listed(fresh), std::vector<std::string>{kept});
}

}  // namespace
}  // namespace profiles::testing
