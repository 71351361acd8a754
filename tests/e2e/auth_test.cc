// Bearer tokens end to end: a real profile_server with --auth=on, tokens
// minted by the real profilectl, called over gRPC and REST the way services
// and scripts call it. Every refused request is checked to have changed
// nothing in the database.

#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/auth/token_authority.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

constexpr char kUser[] = "0b7e7d1c-5d1e-4a39-9c1f-2f6f1a9e8c11";
constexpr char kOther[] = "5a1c3e0f-8d2b-4c6a-9e7f-1b3d5f7a9c2e";
constexpr char kAdmin[] = "9f8e7d6c-5b4a-4392-8172-6f5e4d3c2b1a";

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/profiles-auth-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    key_file_ = dir_ + "/profiles.key";
    ASSERT_EQ(
        RunCommand(absl::StrCat("umask 077; openssl rand -base64 48 > ", key_file_)).exit_code, 0);

    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    std::vector<std::string> flags = {"--auth=on", "--auth-key-file=" + key_file_};
    for (std::string& flag : MoreFlags()) flags.push_back(std::move(flag));
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(database_->url(), absl::Seconds(30), true, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->NewStub();
    const std::string& http = server_->http_address();
    const size_t colon = http.rfind(':');
    http_ =
        std::make_unique<httplib::Client>(http.substr(0, colon), std::stoi(http.substr(colon + 1)));
  }
  // More profile_server flags, for fixtures built on this one.
  virtual std::vector<std::string> MoreFlags() { return {}; }

  void TearDown() override {
    if (!dir_.empty()) RunCommand(absl::StrCat("rm -rf '", dir_, "'"));
  }

  // A token from the real profilectl, as an operator mints one.
  std::string Token(const std::string& user, const std::string& flags = "") {
    CommandResult minted = RunCommand(absl::StrCat(PROFILECTL_BINARY, " token --user ", user, " ",
                                                   flags, " --key-file ", key_file_));
    EXPECT_EQ(minted.exit_code, 0) << minted.output;
    while (!minted.output.empty() && minted.output.back() == '\n') minted.output.pop_back();
    return minted.output;
  }

  // Everything a write could have changed: rows and idempotency records.
  std::string Snapshot() {
    pqxx::connection connection(database_->url());
    pqxx::read_transaction transaction(connection);
    return transaction
        .exec1(
            "SELECT coalesce(string_agg(concat_ws('|', id, name, email, avatar_sha256, version), "
            "',' ORDER BY id), '') || '#' || (SELECT count(*) FROM applied_mutations) "
            "FROM profiles")[0]
        .as<std::string>();
  }

  grpc::Status GrpcWrite(const std::string& token, const std::string& id, const std::string& name,
                         int64_t expected_version, const std::string& mutation_id = "") {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email("someone@example.com");
    request.set_expected_version(expected_version);
    request.set_mutation_id(mutation_id);
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    profile::v1::Profile written;
    return stub_->UpdateProfile(&context, request, &written);
  }

  httplib::Result RestPut(const std::string& token, const std::string& id,
                          const std::string& content_type = "application/json") {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    return http_->Put(absl::StrCat("/user/", id), headers,
                      R"({"name":"Ada","email":"ada@example.com"})", content_type.c_str());
  }

  std::string dir_;
  std::string key_file_;
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(AuthTest, AUserWritesTheirOwnProfileOnBothProtocolsAndNoOneElses) {
  const std::string token = Token(kUser);
  ASSERT_FALSE(token.empty());

  grpc::Status created = GrpcWrite(token, kUser, "Ada", 0);
  ASSERT_TRUE(created.ok()) << created.error_message();
  const std::string before = Snapshot();

  grpc::Status other = GrpcWrite(token, kOther, "Mallory", 0);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << other.error_message();
  httplib::Result put_other = RestPut(token, kOther);
  ASSERT_TRUE(put_other);
  EXPECT_EQ(put_other->status, 403) << put_other->body;
  EXPECT_EQ(Snapshot(), before);

  httplib::Result read = http_->Get(absl::StrCat("/user/", kUser),
                                    httplib::Headers{{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200) << read->body;
  EXPECT_EQ(read->get_header_value("ETag"), "\"1\"");
}

TEST_F(AuthTest, WithoutAValidTokenEveryCallIsRefusedAndNothingChanges) {
  const std::string before = Snapshot();
  absl::StatusOr<TokenAuthority> authority = TokenAuthority::FromKeyFile(key_file_);
  ASSERT_TRUE(authority.ok());
  const std::string expired = *authority->Mint({.subject = kUser, .admin = true}, absl::Minutes(5),
                                               absl::Now() - absl::Hours(2));
  const std::string foreign =
      *TokenAuthority::FromKey(std::string(48, 'k'))
           ->Mint({.subject = kUser, .admin = true}, absl::Hours(1), absl::Now());
  for (const std::string& token : {std::string(), expired, foreign, std::string("not-a-token")}) {
    SCOPED_TRACE(token.empty() ? "no token" : token.substr(0, 24));
    grpc::Status write = GrpcWrite(token, kUser, "Ada", 0);
    EXPECT_EQ(write.error_code(), grpc::StatusCode::UNAUTHENTICATED) << write.error_message();

    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    profile::v1::ListProfilesResponse listing;
    EXPECT_EQ(
        stub_->ListProfiles(&context, profile::v1::ListProfilesRequest(), &listing).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);

    httplib::Result put = RestPut(token, kUser);
    ASSERT_TRUE(put);
    EXPECT_EQ(put->status, 401) << put->body;
    EXPECT_EQ(put->get_header_value("WWW-Authenticate"), R"(Bearer realm="profiles")");
    // A stranger learns nothing else about the request: 401, not 415.
    httplib::Result not_json = RestPut(token, kUser, "text/plain");
    ASSERT_TRUE(not_json);
    EXPECT_EQ(not_json->status, 401) << not_json->body;
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result list = http_->Get("/user", headers);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->status, 401) << list->body;
  }
  EXPECT_EQ(Snapshot(), before);

  // Health stays public, for load balancers and supervisors.
  httplib::Result ready = http_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("profile.v1.ProfileService");
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(health->Check(&context, request, &response).ok());
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(AuthTest, AnAdminWritesAnyProfile) {
  const std::string admin = Token(kAdmin, "--admin --ttl 10m");
  grpc::Status created = GrpcWrite(admin, kOther, "Grace", 0);
  ASSERT_TRUE(created.ok()) << created.error_message();
  httplib::Result put = RestPut(admin, kUser);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 201) << put->body;
}

TEST_F(AuthTest, AnotherUsersMutationIdIsNeverAnsweredWithTheFirstResult) {
  const std::string mutation = "7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b";
  const std::string admin = Token(kAdmin, "--admin");
  ASSERT_TRUE(GrpcWrite(admin, kUser, "Set by admin", 0, mutation).ok());
  // The owner replays the admin's mutation id with the admin's request: it
  // is their own new mutation, a create of an existing profile.
  grpc::Status replay = GrpcWrite(Token(kUser), kUser, "Set by admin", 0, mutation);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::ABORTED) << replay.error_message();
  grpc::Status retry = GrpcWrite(admin, kUser, "Set by admin", 0, mutation);
  EXPECT_TRUE(retry.ok()) << retry.error_message();
}

// Per-caller limits: 2 writes a second in bursts of 10.
class RateLimitTest : public AuthTest {
 protected:
  std::vector<std::string> MoreFlags() override {
    return {"--writes-per-second=2", "--reads-per-second=1000"};
  }
};

TEST_F(RateLimitTest, AUserOverTheirWriteRateWaitsAndOthersDoNot) {
  const std::string ada = Token(kUser);
  ASSERT_TRUE(GrpcWrite(ada, kUser, "Ada", 0).ok());
  int version = 1;
  for (; version < 10; ++version) {
    grpc::Status written = GrpcWrite(ada, kUser, "Ada " + std::to_string(version), version);
    ASSERT_TRUE(written.ok()) << version << ": " << written.error_message();
  }
  const std::string before = Snapshot();
  // The burst is spent: REST says when to come back, gRPC too.
  httplib::Headers headers = {{"Authorization", "Bearer " + ada}, {"If-Match", "\"10\""}};
  httplib::Result put = http_->Patch(absl::StrCat("/user/", kUser), headers,
                                     R"({"name":"Too fast"})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 429) << put->body;
  EXPECT_EQ(put->get_header_value("Retry-After"), "1");
  grpc::Status limited = GrpcWrite(ada, kUser, "Too fast", version);
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << limited.error_message();
  std::optional<absl::Duration> delay = RetryDelayOf(FromGrpcStatus(limited));
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(*delay, absl::ZeroDuration());
  EXPECT_LE(*delay, absl::Milliseconds(500));
  EXPECT_EQ(Snapshot(), before);
  // Reads are another budget; another user has their own.
  httplib::Result read = http_->Get(absl::StrCat("/user/", kUser),
                                    httplib::Headers{{"Authorization", "Bearer " + ada}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_TRUE(GrpcWrite(Token(kOther), kOther, "Grace", 0).ok());
  // After the delay the same write goes through.
  absl::SleepFor(*delay);
  grpc::Status later = GrpcWrite(ada, kUser, "Patient", version);
  EXPECT_TRUE(later.ok()) << later.error_message();
}

TEST(ProfilectlTest, RefusesWhatItCannotMint) {
  EXPECT_EQ(
      RunCommand(absl::StrCat(PROFILECTL_BINARY, " token --user bob --key-file /dev/null 2>&1"))
          .exit_code,
      2);
  EXPECT_EQ(RunCommand(absl::StrCat(PROFILECTL_BINARY, " token --user ", kUser,
                                    " --key-file /nonexistent 2>&1"))
                .exit_code,
            1);
  CommandResult no_key = RunCommand(absl::StrCat(
      "env -u PROFILES_AUTH_KEY_FILE ", PROFILECTL_BINARY, " token --user ", kUser, " 2>&1"));
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.output.find("--key-file"), std::string::npos) << no_key.output;
  EXPECT_EQ(RunCommand(absl::StrCat(PROFILECTL_BINARY, " 2>&1")).exit_code, 2);
}

}  // namespace
}  // namespace profiles::testing
