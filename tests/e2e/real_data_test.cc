// End to end with data that looks like real use, against a real profile_server
// process over real sockets, with clients in their default configuration:
//   - profiles written with plain SQL, at change positions of different
//     lengths (listings once sorted the positions of the first version,
//     transaction ids, as text and skipped profiles);
//   - 40 profiles with 256 KiB pictures (pages once grew past 4 MiB);
//   - a stale write on a profile with a 256 KiB picture (its ABORTED details
//     once carried the picture in an 8 KiB-limited trailer), also checked
//     from grpc-js with default settings when tests/grpc-js is installed.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <stdio.h>
#include <sys/wait.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles::testing {
namespace {

using profile::v1::ListProfilesRequest;
using profile::v1::ListProfilesResponse;
using profile::v1::Profile;

constexpr size_t kDefaultClientMessageLimit = size_t{4} * 1024 * 1024;

class RealDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(database_->url());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    // Default channel arguments: 4 MiB messages, 8 KiB metadata.
    stub_ = server_->NewStub();
    const std::string& http = server_->http_address();
    const size_t colon = http.rfind(':');
    http_ =
        std::make_unique<httplib::Client>(http.substr(0, colon), std::stoi(http.substr(colon + 1)));
    http_->set_read_timeout(30, 0);
  }

  Profile Create(const std::string& name, const std::string& avatar = "") {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(RandomUuid());
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email("someone@example.com");
    request.mutable_profile()->set_avatar(avatar);
    grpc::ClientContext context;
    Profile created;
    const grpc::Status status = stub_->UpdateProfile(&context, request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created;
  }

  // TestDatabase::InsertProfilesInOneTransaction, failing the test if it fails.
  std::vector<std::string> InsertInOneTransaction(int count) {
    absl::StatusOr<std::vector<std::string>> ids =
        database_->InsertProfilesInOneTransaction(count, "Plain");
    EXPECT_TRUE(ids.ok()) << ids.status();
    return ids.ok() ? *std::move(ids) : std::vector<std::string>();
  }

  // Every profile from `since` on over gRPC, page by page; checks that each
  // page fits a default client. Returns the profiles and the final cursor.
  std::vector<Profile> WalkGrpc(const std::string& since, int page_size, bool include_avatars,
                                std::string* cursor = nullptr) {
    std::vector<Profile> profiles;
    ListProfilesRequest request;
    request.set_since_cursor(since);
    request.set_page_size(page_size);
    request.set_include_avatars(include_avatars);
    for (int pages = 0; pages < 1000; ++pages) {
      grpc::ClientContext context;
      ListProfilesResponse response;
      const grpc::Status status = stub_->ListProfiles(&context, request, &response);
      EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
      if (!status.ok()) break;
      EXPECT_LE(response.ByteSizeLong(), kDefaultClientMessageLimit);
      for (Profile& profile : *response.mutable_profiles()) profiles.push_back(std::move(profile));
      if (cursor != nullptr) *cursor = response.cursor();
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    return profiles;
  }

  // The same walk over REST.
  std::vector<Profile> WalkRest(const std::string& since, int page_size, bool include_avatars) {
    std::vector<Profile> profiles;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      std::string target = absl::StrCat("/user?page_size=", page_size,
                                        include_avatars ? "&include_avatars=true" : "");
      if (!since.empty()) absl::StrAppend(&target, "&since=", since);
      if (!token.empty()) absl::StrAppend(&target, "&page_token=", token);
      const httplib::Result result = http_->Get(target);
      EXPECT_TRUE(result) << target << ": " << httplib::to_string(result.error());
      if (!result) break;
      EXPECT_EQ(result->status, 200) << target << ": " << result->body;
      ListProfilesResponse page;
      google::protobuf::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(result->body, &page, options).ok())
          << result->body.substr(0, 300);
      for (Profile& profile : *page.mutable_profiles()) profiles.push_back(std::move(profile));
      token = page.next_page_token();
      if (token.empty()) break;
    }
    return profiles;
  }

  // The first `count` events of a watch from `since`.
  std::vector<Profile> Watch(const std::string& since, size_t count, bool include_avatars) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    profile::v1::WatchProfilesRequest request;
    request.set_since_cursor(since);
    request.set_include_avatars(include_avatars);
    std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> reader =
        stub_->WatchProfiles(&context, request);
    std::vector<Profile> profiles;
    profile::v1::ProfileEvent event;
    while (profiles.size() < count && reader->Read(&event)) {
      profiles.push_back(event.profile());
    }
    context.TryCancel();
    return profiles;
  }

  static std::vector<std::string> Ids(const std::vector<Profile>& profiles) {
    std::vector<std::string> ids;
    for (const Profile& profile : profiles) ids.push_back(profile.id());
    return ids;
  }

  // Waits until a full listing holds `count` profiles (a profile is listed
  // once the WAL sequencer has stamped its position, shortly after commit).
  void AwaitVisible(size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (WalkGrpc("", 1000, false).size() < count && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

// Positions of different lengths are normal life: the first version sorted
// its positions (transaction ids) as text, "10" before "9", while cursors
// compared numbers, and skipped profiles. Positions travel as decimal text in
// cursors and page tokens: eleven profiles written in one transaction by
// plain SQL (idx 0 to 10), one more in a transaction of its own, then one
// through the service must reach every reader, in commit order.
TEST_F(RealDataTest, PlainSqlWritesAtPositionsOfEveryLengthReachEveryReader) {
  std::vector<std::string> expected = InsertInOneTransaction(11);
  expected.push_back(InsertInOneTransaction(1).front());
  expected.push_back(Create("Written today").id());
  AwaitVisible(expected.size());

  for (const int page_size : {1, 3, 1000}) {
    EXPECT_EQ(Ids(WalkGrpc("", page_size, false)), expected) << "gRPC, page size " << page_size;
    EXPECT_EQ(Ids(WalkRest("", page_size, false)), expected) << "REST, page size " << page_size;
  }

  // A delta from a cursor in the middle: exactly the rest, on both protocols.
  std::string middle;
  ListProfilesRequest request;
  request.set_page_size(3);
  grpc::ClientContext context;
  ListProfilesResponse first;
  ASSERT_TRUE(stub_->ListProfiles(&context, request, &first).ok());
  middle = first.cursor();
  const std::vector<std::string> rest(expected.begin() + 3, expected.end());
  EXPECT_EQ(Ids(WalkGrpc(middle, 2, false)), rest);
  EXPECT_EQ(Ids(WalkRest(middle, 2, false)), rest);

  // The watch's catch-up, from the start and from the middle.
  EXPECT_EQ(Ids(Watch("", expected.size(), false)), expected);
  EXPECT_EQ(Ids(Watch(middle, rest.size(), false)), rest);
}

TEST_F(RealDataTest, FortyProfilesWith256KiBPicturesListCompletelyWithDefaultClients) {
  std::vector<std::string> expected;
  std::vector<std::string> avatars;
  for (int i = 0; i < 40; ++i) {
    avatars.push_back(RealisticPng(kMaxAvatarBytes, static_cast<uint32_t>(i)));
    ASSERT_GT(avatars.back().size(), 230u * 1024);
    expected.push_back(Create(absl::StrCat("Person ", i), avatars.back()).id());
  }
  AwaitVisible(expected.size());

  const std::vector<Profile> over_grpc = WalkGrpc("", 1000, true);
  ASSERT_EQ(Ids(over_grpc), expected);
  for (size_t i = 0; i < over_grpc.size(); ++i) {
    EXPECT_EQ(over_grpc[i].avatar(), avatars[i]) << i;
  }
  const std::vector<Profile> over_rest = WalkRest("", 1000, true);
  ASSERT_EQ(Ids(over_rest), expected);
  for (size_t i = 0; i < over_rest.size(); ++i) {
    EXPECT_EQ(over_rest[i].avatar(), avatars[i]) << i;
  }
  const std::vector<Profile> watched = Watch("", expected.size(), true);
  ASSERT_EQ(Ids(watched), expected);
  EXPECT_EQ(watched.back().avatar(), avatars.back());
}

TEST_F(RealDataTest, StaleWriteOnAProfileWithA256KiBPictureIsAbortedWithTheCurrentProfile) {
  const std::string avatar = RealisticPng(kMaxAvatarBytes, 99);
  const Profile created = Create("Ada Lovelace", avatar);
  ASSERT_EQ(created.version(), 1);
  ASSERT_EQ(http_
                ->Patch(absl::StrCat("/user/", created.id()), {{"If-Match", "\"1\""}},
                        R"({"name":"Ada King"})", "application/json")
                ->status,
            200);

  // A default-configured C++ client: ABORTED, with the current profile in
  // the details, its picture named by hash but not carried.
  profile::v1::UpdateProfileRequest stale;
  stale.mutable_profile()->set_id(created.id());
  stale.mutable_profile()->set_name("Ada Byron");
  stale.mutable_update_mask()->add_paths("name");
  stale.set_expected_version(1);
  grpc::ClientContext context;
  Profile ignored;
  const grpc::Status status = stub_->UpdateProfile(&context, stale, &ignored);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::ABORTED) << status.error_message();
  std::optional<Profile> current = ConflictingProfile(FromGrpcStatus(status));
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->version(), 2);
  EXPECT_EQ(current->name(), "Ada King");
  EXPECT_TRUE(current->avatar().empty());
  EXPECT_EQ(current->avatar_sha256(), created.avatar_sha256());
  EXPECT_LT(status.error_details().size(), 1024u);

  // REST keeps `current` whole, picture included, like a GET body.
  const httplib::Result rest =
      http_->Patch(absl::StrCat("/user/", created.id()), {{"If-Match", "\"1\""}},
                   R"({"name":"Ada Byron"})", "application/json");
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->status, 412) << rest->body.substr(0, 300);
  google::protobuf::Struct body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(rest->body, &body).ok());
  const google::protobuf::Struct& rest_current = body.fields().at("current").struct_value();
  EXPECT_EQ(rest_current.fields().at("version").string_value(), "2");
  std::string rest_avatar;
  ASSERT_TRUE(
      absl::Base64Unescape(rest_current.fields().at("avatar").string_value(), &rest_avatar));
  EXPECT_EQ(rest_avatar, avatar);
}

// Runs tests/grpc-js/`script` against the server for profile `id` and puts
// what it printed in `output`; fails unless it exited 0.
void RunGrpcJs(const std::string& script, const std::string& id, ServerProcess& server,
               std::string& output) {
  const std::string command =
      absl::StrCat("node ", GRPC_JS_DIR, "/", script, " ", server.grpc_address(), " ", id, " ",
                   PROFILE_PROTO_DIR, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
    output.append(buffer.data(), n);
  }
  const int wait_status = pclose(pipe);
  ASSERT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << command << "\n" << output;
}

// grpc-js with default settings (8 KiB metadata): the same stale write must
// be ABORTED with the current profile, not DEADLINE_EXCEEDED.
TEST_F(RealDataTest, GrpcJsClientWithDefaultSettingsGetsAbortedWithTheCurrentProfile) {
  const Profile created = Create("Grace Hopper", RealisticPng(kMaxAvatarBytes, 7));
  ASSERT_EQ(http_
                ->Patch(absl::StrCat("/user/", created.id()), {{"If-Match", "\"1\""}},
                        R"({"name":"Grace B. Hopper"})", "application/json")
                ->status,
            200);
  std::string output;
  ASSERT_NO_FATAL_FAILURE(RunGrpcJs("stale_write.js", created.id(), *server_, output));
  EXPECT_TRUE(absl::StrContains(output, "code=ABORTED")) << output;
  EXPECT_TRUE(absl::StrContains(output, "current.version=2")) << output;
  EXPECT_TRUE(absl::StrContains(output, "current.name=Grace B. Hopper")) << output;
  EXPECT_TRUE(
      absl::StrContains(output, absl::StrCat("current.avatar_sha256=", created.avatar_sha256())))
      << output;
}

// The same client deletes a profile with a full-size picture: a stale delete
// is ABORTED with the current profile (its picture left out of the trailer),
// the right one answers the tombstone, and a read then says why it is gone.
TEST_F(RealDataTest, GrpcJsClientWithDefaultSettingsDeletesAndIsToldWhy) {
  const Profile created = Create("Grace Hopper", RealisticPng(kMaxAvatarBytes, 8));
  ASSERT_EQ(http_
                ->Patch(absl::StrCat("/user/", created.id()), {{"If-Match", "\"1\""}},
                        R"({"name":"Grace B. Hopper"})", "application/json")
                ->status,
            200);
  std::string output;
  ASSERT_NO_FATAL_FAILURE(RunGrpcJs("delete.js", created.id(), *server_, output));
  EXPECT_TRUE(absl::StrContains(output, "stale: code=ABORTED")) << output;
  EXPECT_TRUE(absl::StrContains(output,
                                "stale: profile.version=2 profile.deleted=false "
                                "profile.name=Grace B. Hopper profile.avatar_bytes=0"))
      << output;
  EXPECT_TRUE(absl::StrContains(output, "delete: code=OK version=3 deleted=true")) << output;
  EXPECT_TRUE(absl::StrContains(output, "read: code=NOT_FOUND")) << output;
  EXPECT_TRUE(absl::StrContains(output, "read: reason=PROFILE_DELETED")) << output;
  EXPECT_TRUE(absl::StrContains(output, "read: profile.version=3 profile.deleted=true")) << output;
}

}  // namespace
}  // namespace profiles::testing
