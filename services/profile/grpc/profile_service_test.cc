// The gRPC adapter over a real grpc::Server on a TCP port, with the core on
// InMemoryStorage: what a gRPC client with default settings sees.

#include "services/profile/grpc/profile_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/grpc/grpc_status.h"
#include "services/profile/logging/log_capture.h"
#include "services/profile/logging/request_id.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/storage/testing/in_memory_storage.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

using profile::v1::Profile;

std::string Id(int n) { return absl::StrFormat("00000000-0000-4000-8000-%012d", n); }

class GrpcProfileServiceTest : public ::testing::Test {
 protected:
  void Start(ProfileCore::Options options) {
    metrics_ = std::make_unique<ServiceMetrics>();
    options.metrics = metrics_.get();
    core_ = std::make_unique<ProfileCore>(options, storage_.repository(), storage_.feed());
    service_ = std::make_unique<GrpcProfileService>(
        core_.get(), GrpcProfileService::Options{.metrics = metrics_.get()});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = profile::v1::ProfileService::NewStub(grpc::CreateChannel(
        absl::StrFormat("127.0.0.1:%d", port), grpc::InsecureChannelCredentials()));
  }
  void SetUp() override { Start({.storage_workers = 4}); }
  void TearDown() override {
    core_->StopWatches();
    server_->Shutdown();
    server_.reset();
    core_.reset();
  }

  grpc::Status Update(const std::string& id, const std::string& name, int64_t expected_version,
                      const std::string& avatar, Profile* written) {
    grpc::ClientContext context;
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email("ada@example.com");
    request.mutable_profile()->set_avatar(avatar);
    request.set_expected_version(expected_version);
    return stub_->UpdateProfile(&context, request, written);
  }

  // Series `series` (name and labels) in a scrape of metrics_, or -1.
  double Sample(const std::string& series) const {
    for (absl::string_view line : absl::StrSplit(metrics_->Text(), '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        return std::stod(std::string(line.substr(series.size() + 1)));
      }
    }
    return -1;
  }

  InMemoryStorage storage_;
  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<ProfileCore> core_;
  std::unique_ptr<GrpcProfileService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
};

TEST_F(GrpcProfileServiceTest, GetsWhatWasWrittenAndMapsErrors) {
  Profile written;
  ASSERT_TRUE(Update(Id(1), "Ada", 0, "", &written).ok());
  EXPECT_EQ(written.version(), 1);

  grpc::ClientContext context;
  profile::v1::GetProfileRequest request;
  request.set_id(Id(1));
  Profile read;
  ASSERT_TRUE(stub_->GetProfile(&context, request, &read).ok());
  EXPECT_EQ(read.name(), "Ada");

  grpc::ClientContext missing_context;
  request.set_id(Id(2));
  EXPECT_EQ(stub_->GetProfile(&missing_context, request, &read).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext bad_context;
  request.set_id("nobody");
  const grpc::Status bad = stub_->GetProfile(&bad_context, request, &read);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(BadRequestOf(FromGrpcStatus(bad)).has_value());
}

TEST_F(GrpcProfileServiceTest, AConflictOnAProfileWithAPictureHasSmallDetails) {
  const std::string picture = testing::RealisticPng(256 * 1024, 11);
  Profile written;
  ASSERT_TRUE(Update(Id(3), "Ada", 0, picture, &written).ok());
  const grpc::Status stale = Update(Id(3), "Ada King", 0, picture, &written);
  ASSERT_EQ(stale.error_code(), grpc::StatusCode::ABORTED) << stale.error_message();
  EXPECT_LT(stale.error_details().size(), 8u * 1024);
  std::optional<Profile> current = ConflictingProfile(FromGrpcStatus(stale));
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->version(), 1);
  EXPECT_TRUE(current->avatar().empty());
  EXPECT_EQ(current->avatar_sha256(), written.avatar_sha256());
}

TEST_F(GrpcProfileServiceTest, AWatchStreamsCatchUpThenLiveChanges) {
  Profile written;
  ASSERT_TRUE(Update(Id(4), "Ada", 0, "", &written).ok());
  grpc::ClientContext context;
  profile::v1::WatchProfilesRequest request;
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> stream =
      stub_->WatchProfiles(&context, request);
  profile::v1::ProfileEvent event;
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.profile().id(), Id(4));
  ASSERT_TRUE(Update(Id(4), "Ada King", 1, "", &written).ok());
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(event.profile().name(), "Ada King");
  EXPECT_EQ(event.profile().version(), 2);

  core_->StopWatches();
  while (stream->Read(&event)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GrpcProfileServiceTest, WatchStreamsBeyondTheLimitAreRefusedAndCancelledOnesFreeTheirSlot) {
  TearDown();
  Start({.storage_workers = 2, .max_watches = 3});
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>>> streams;
  profile::v1::WatchProfilesRequest request;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    streams.push_back(stub_->WatchProfiles(contexts.back().get(), request));
    // The stream is open once its first metadata arrives.
    streams.back()->WaitForInitialMetadata();
  }
  while (core_->open_watches() < 3) std::this_thread::yield();

  grpc::ClientContext refused_context;
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> refused =
      stub_->WatchProfiles(&refused_context, request);
  profile::v1::ProfileEvent event;
  EXPECT_FALSE(refused->Read(&event));
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();

  contexts[0]->TryCancel();
  EXPECT_EQ(streams[0]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  while (core_->open_watches() > 2) std::this_thread::yield();
  grpc::ClientContext again_context;
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> again =
      stub_->WatchProfiles(&again_context, request);
  Profile written;
  ASSERT_TRUE(Update(Id(5), "Ada", 0, "", &written).ok());
  ASSERT_TRUE(again->Read(&event));
  EXPECT_EQ(event.profile().id(), Id(5));
  for (auto& context : contexts) context->TryCancel();
  again_context.TryCancel();
}

TEST_F(GrpcProfileServiceTest, ACallWaitingPastItsDeadlineGetsDeadlineExceeded) {
  TearDown();
  Start({.storage_workers = 1, .max_queued_calls = 8});
  storage_.BlockWrites();
  std::thread blocked([this] {
    Profile written;
    EXPECT_TRUE(Update(Id(6), "Ada", 0, "", &written).ok());
  });
  while (storage_.blocked_writes() == 0) std::this_thread::yield();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
  profile::v1::GetProfileRequest request;
  request.set_id(Id(6));
  Profile read;
  EXPECT_EQ(stub_->GetProfile(&context, request, &read).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  storage_.UnblockWrites();
  blocked.join();
}

// The metadata value of `key` a call's answer carried, initial or trailing
// (a trailers-only error answer has no initial metadata of its own), or "".
std::string AnswerMetadata(const grpc::ClientContext& context, const std::string& key) {
  for (const auto* metadata :
       {&context.GetServerInitialMetadata(), &context.GetServerTrailingMetadata()}) {
    if (auto found = metadata->find(key); found != metadata->end()) {
      return std::string(found->second.data(), found->second.size());
    }
  }
  return "";
}

TEST_F(GrpcProfileServiceTest, CallsAreCountedByMethodAndCodeAndLogged) {
  LogCapture log;
  Profile written;
  ASSERT_TRUE(Update(Id(7), "Ada", 0, "", &written).ok());
  ASSERT_EQ(Update(Id(7), "Ada", 0, "", &written).error_code(), grpc::StatusCode::ABORTED);
  profile::v1::GetProfileRequest request;
  request.set_id(Id(7));
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    Profile read;
    ASSERT_TRUE(stub_->GetProfile(&context, request, &read).ok());
  }
  grpc::ClientContext missing;
  request.set_id(Id(8));
  Profile read;
  ASSERT_EQ(stub_->GetProfile(&missing, request, &read).error_code(), grpc::StatusCode::NOT_FOUND);

  EXPECT_EQ(
      Sample(R"(profiles_requests_total{method="UpdateProfile",protocol="grpc",status="OK"})"), 1);
  EXPECT_EQ(
      Sample(R"(profiles_requests_total{method="UpdateProfile",protocol="grpc",status="ABORTED"})"),
      1);
  EXPECT_EQ(Sample(R"(profiles_requests_total{method="GetProfile",protocol="grpc",status="OK"})"),
            2);
  EXPECT_EQ(
      Sample(R"(profiles_requests_total{method="GetProfile",protocol="grpc",status="NOT_FOUND"})"),
      1);
  EXPECT_EQ(
      Sample(R"(profiles_request_duration_seconds_count{method="GetProfile",protocol="grpc"})"), 3);
  EXPECT_EQ(Sample("profiles_version_conflicts_total"), 1);
  EXPECT_EQ(Sample("profiles_cache_hits_total"), 2);

  // One access line per call, with the code name.
  const std::string text = log.Text();
  EXPECT_TRUE(absl::StrContains(
      text, R"("msg":"request","protocol":"grpc","method":"GetProfile","status":"NOT_FOUND")"))
      << text;
  size_t calls = 0;
  for (const std::string& line : log.Lines())
    calls += absl::StrContains(line, R"("msg":"request")");
  EXPECT_EQ(calls, 5u) << text;
}

TEST_F(GrpcProfileServiceTest, TheRequestIdComesBackInTheAnswersMetadata) {
  LogCapture log;
  profile::v1::GetProfileRequest request;
  request.set_id(Id(9));
  Profile read;
  grpc::ClientContext traced;
  traced.AddMetadata(kRequestIdMetadataKey, "grpc-trace-9");
  EXPECT_EQ(stub_->GetProfile(&traced, request, &read).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(AnswerMetadata(traced, kRequestIdMetadataKey), "grpc-trace-9");
  EXPECT_TRUE(absl::StrContains(log.Text(), R"("request_id":"grpc-trace-9")")) << log.Text();

  Profile written;
  grpc::ClientContext anonymous;
  profile::v1::UpdateProfileRequest update;
  update.mutable_profile()->set_id(Id(9));
  update.mutable_profile()->set_name("Ada");
  update.mutable_profile()->set_email("ada@example.com");
  ASSERT_TRUE(stub_->UpdateProfile(&anonymous, update, &written).ok());
  const std::string made_up = AnswerMetadata(anonymous, kRequestIdMetadataKey);
  EXPECT_EQ(made_up.size(), 32u) << made_up;
  EXPECT_TRUE(absl::StrContains(log.Text(), made_up)) << log.Text();
}

TEST_F(GrpcProfileServiceTest, WatchEventsAreCountedAndTheStreamLoggedWhenItEnds) {
  LogCapture log;
  Profile written;
  ASSERT_TRUE(Update(Id(10), "Ada", 0, "", &written).ok());
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> stream =
      stub_->WatchProfiles(&context, profile::v1::WatchProfilesRequest());
  profile::v1::ProfileEvent event;
  ASSERT_TRUE(stream->Read(&event));
  ASSERT_TRUE(Update(Id(10), "Ada King", 1, "", &written).ok());
  ASSERT_TRUE(stream->Read(&event));
  EXPECT_EQ(Sample("profiles_watch_streams_open"), 1);
  EXPECT_EQ(Sample("profiles_watch_events_sent_total"), 2);
  // The live change's lag was measured when the feed delivered it.
  EXPECT_GE(Sample("profiles_change_feed_lag_seconds_count"), 1);

  context.TryCancel();
  while (stream->Read(&event)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The server's side of the stream ends just after the client's.
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (Sample(R"(profiles_requests_total{method="WatchProfiles",protocol="grpc",)"
                R"(status="CANCELLED"})") != 1 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(Sample(R"(profiles_requests_total{method="WatchProfiles",protocol="grpc",)"
                   R"(status="CANCELLED"})"),
            1);
  EXPECT_EQ(Sample(R"(profiles_request_duration_seconds_count{method="WatchProfiles",)"
                   R"(protocol="grpc"})"),
            -1);
  EXPECT_TRUE(absl::StrContains(log.Text(), R"("method":"WatchProfiles","status":"CANCELLED")"))
      << log.Text();
  EXPECT_TRUE(absl::StrContains(log.Text(), R"("events":2)")) << log.Text();
}

}  // namespace
}  // namespace profiles
