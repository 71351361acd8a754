// End-to-end tests of the profile_server program itself: its command line,
// migrations on start, the standard health and reflection services, and the
// REST gateway answering on the same data as gRPC.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/postgres_cluster.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_database.h"

namespace profiles::testing {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// Runs profile_server with `arguments` to completion, stdout and stderr
// together.
CommandResult RunServer(const std::string& arguments) {
  CommandResult result;
  const std::string command = absl::StrCat(PROFILE_SERVER_BINARY, " ", arguments, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) {
    result.output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(ServerCommandLine, HelpDescribesEveryFlag) {
  const CommandResult help = RunServer("--help");
  for (const char* flag : {"--grpc_address", "--http_address", "--database_url", "--pool_size",
                           "--migrate_only", "DATABASE_URL"}) {
    EXPECT_TRUE(absl::StrContains(help.output, flag)) << flag << " missing from:\n" << help.output;
  }
}

TEST(ServerCommandLine, NoDatabaseIsAClearErrorNotACrash) {
  const CommandResult run = RunServer("--database-url=");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(run.output, "--database-url")) << run.output;
}

TEST(ServerCommandLine, AuthNeedsAKeyAndOffIsOnlyForLoopback) {
  const CommandResult no_key = RunServer("--database-url=postgresql://x@127.0.0.1:1/x");
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_key.output, "--auth-key-file")) << no_key.output;
  for (const char* address :
       {"--http-address=0.0.0.0:0", "--grpc-address=[::]:0", "--http-address=10.1.2.3:0"}) {
    const CommandResult open =
        RunServer(absl::StrCat("--database-url=postgresql://x@127.0.0.1:1/x --auth=off ", address));
    EXPECT_EQ(open.exit_code, 2) << address;
    EXPECT_TRUE(absl::StrContains(open.output, "refused")) << open.output;
  }
  const CommandResult short_key =
      RunServer("--database-url=postgresql://x@127.0.0.1:1/x --auth-key-file=/dev/null");
  EXPECT_EQ(short_key.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(short_key.output, "empty")) << short_key.output;
  const CommandResult bad_scope =
      RunServer("--database-url=postgresql://x@127.0.0.1:1/x --auth=off --read-scope=some");
  EXPECT_EQ(bad_scope.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_scope.output, "--read-scope")) << bad_scope.output;
}

TEST(ServerCommandLine, TlsFlagsThatDoNotFitAreRefusedWithTheReason) {
  char dir_template[] = "/tmp/profiles-server-tls-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const TestPki::Files files = MakeTestPki().WriteTo(dir);
  const std::string base = "--database-url=postgresql://x@127.0.0.1:1/x --auth=off ";
  const CommandResult no_key = RunServer(base + "--tls-cert-file=" + files.server_certificate);
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(no_key.output, "--tls-key-file")) << no_key.output;
  const CommandResult wrong_key = RunServer(absl::StrCat(
      base, "--tls-cert-file=", files.server_certificate, " --tls-key-file=", files.impostor_key));
  EXPECT_EQ(wrong_key.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(wrong_key.output, "does not belong")) << wrong_key.output;
  const CommandResult ca_alone = RunServer(base + "--tls-client-ca-file=" + files.ca);
  EXPECT_EQ(ca_alone.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(ca_alone.output, "--tls-cert-file")) << ca_alone.output;
  const CommandResult missing =
      RunServer(base + "--tls-cert-file=" + dir + "/none.pem --tls-key-file=" + files.server_key);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(missing.output, "none.pem")) << missing.output;
  std::system(absl::StrCat("rm -rf '", dir, "'").c_str());
}

TEST(ServerCommandLine, UnreachableDatabaseFailsWithTheReason) {
  const CommandResult run =
      RunServer("--database-url=postgresql://nobody@127.0.0.1:1/none --migrate-only");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(run.output, "UNAVAILABLE")) << run.output;
}

TEST(ServerCommandLine, MigrateOnlyMigratesOnceAndExits) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  // TestDatabase has migrated already: a second run must find nothing to do.
  const CommandResult run =
      RunServer(absl::StrCat("--migrate-only '--database-url=", (*database)->url(), "'"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(absl::StrContains(run.output, "up to date")) << run.output;
  EXPECT_FALSE(absl::StrContains(run.output, "applied")) << run.output;
}

TEST(ServerCommandLine, DatabaseMigratedByANewerBuildIsRefusedWithTheReason) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  ASSERT_TRUE((*database)
                  ->ExecuteSql("INSERT INTO schema_migrations (version, name) "
                               "VALUES (9999, '9999_from_a_newer_build')")
                  .ok());
  const std::string url = absl::StrCat("'--database-url=", (*database)->url(), "'");

  const CommandResult migrate = RunServer("--migrate-only " + url);
  EXPECT_EQ(migrate.exit_code, 1) << migrate.output;
  EXPECT_TRUE(absl::StrContains(migrate.output, "9999_from_a_newer_build")) << migrate.output;

  // The server does not wait for the database to change: it exits, so the
  // supervisor shows the failure.
  const CommandResult serve =
      RunServer("--auth=off --grpc-address=127.0.0.1:0 --http-address=127.0.0.1:0 " + url);
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_TRUE(absl::StrContains(serve.output, "newer than this server knows")) << serve.output;
}

// The change feed reads the WAL through logical decoding (issue 11): a
// PostgreSQL without it is a clear error at start, naming the setting, not
// a server that runs and never delivers a change.
TEST(ServerCommandLine, PostgresWithoutLogicalWalIsRefusedWithTheFix) {
  absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster =
      PostgresCluster::Create("-c wal_level=replica");
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->Start().ok());
  const CommandResult serve =
      RunServer(absl::StrCat("--auth=off --grpc-address=127.0.0.1:0 --http-address=127.0.0.1:0 "
                             "'--database-url=",
                             (*cluster)->url(), "'"));
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_TRUE(absl::StrContains(serve.output, "wal_level = replica")) << serve.output;
  EXPECT_TRUE(absl::StrContains(serve.output, "wal_level = logical")) << serve.output;
}

TEST(ServerCommandLine, RoleWithoutReplicationIsRefusedWithTheFix) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  const std::string role = absl::StrCat("no_replication_", getpid());
  ASSERT_TRUE(
      (*database)
          ->ExecuteSql(absl::StrCat("DROP ROLE IF EXISTS ", role, "; CREATE ROLE ", role,
                                    " LOGIN NOREPLICATION; GRANT CREATE ON SCHEMA public TO ", role,
                                    "; GRANT ALL ON ALL TABLES IN "
                                    "SCHEMA public TO ",
                                    role))
          .ok());
  // A later keyword wins in a libpq connection string.
  const std::string url = absl::StrCat((*database)->url(), " user=", role);
  const CommandResult serve = RunServer(absl::StrCat(
      "--auth=off --grpc-address=127.0.0.1:0 --http-address=127.0.0.1:0 '--database-url=", url,
      "'"));
  EXPECT_EQ(serve.exit_code, 1) << serve.output;
  EXPECT_TRUE(absl::StrContains(serve.output, absl::StrCat("ALTER ROLE ", role, " REPLICATION")))
      << serve.output;
  ASSERT_TRUE(
      (*database)
          ->ExecuteSql(absl::StrCat("REASSIGN OWNED BY ", role, " TO postgres; DROP OWNED BY ",
                                    role, "; DROP ROLE ", role))
          .ok());
}

TEST(ServerCommandLine, ChangeLagAlarmMustBePositive) {
  for (const char* flag : {"--change-lag-alarm-bytes=0", "--change-lag-alarm-bytes=-5"}) {
    const CommandResult run =
        RunServer(absl::StrCat("--database-url=postgresql://x@127.0.0.1:1/x --auth=off ", flag));
    EXPECT_EQ(run.exit_code, 2) << flag << ": " << run.output;
    EXPECT_TRUE(absl::StrContains(run.output, "--change-lag-alarm-bytes")) << run.output;
  }
}

TEST(ServerCommandLine, IdempotencyRetentionMustBeADuration) {
  for (const char* flag : {"--idempotency-retention=30d", "--idempotency-retention=0s",
                           "--idempotency-prune-interval=0s"}) {
    const CommandResult run =
        RunServer(absl::StrCat("--database-url=postgresql://x@127.0.0.1:1/x --auth=off ", flag));
    EXPECT_NE(run.exit_code, 0) << flag;
    EXPECT_TRUE(absl::StrContains(run.output, "idempotency")) << flag << ": " << run.output;
  }
}

// The services a reflection request lists, or the status it failed with.
absl::StatusOr<std::vector<std::string>> ReflectedServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  stream->Write(request);
  stream->WritesDone();
  std::vector<std::string> services;
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  while (stream->Read(&response)) {
    for (const auto& service : response.list_services_response().service()) {
      services.push_back(service.name());
    }
  }
  const grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return services;
}

// The health of `service` ("" for the server), or the status it failed with.
absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> HealthOf(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  }
  return response.status();
}

class RunningServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({"--grpc-reflection"}); }

  void Start(const std::vector<std::string>& flags) {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(database_->url(), absl::Seconds(30), true, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RunningServerTest, HealthReportsTheProfileServiceServing) {
  for (const char* service : {"", "profile.v1.ProfileService"}) {
    const auto health = HealthOf(channel_, service);
    ASSERT_TRUE(health.ok()) << service << ": " << health.status();
    EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

// The change stream has a health of its own (change_stream_health.h):
// SERVING while the WAL slot keeps up; NOT_SERVING on a replica whose alarm
// the slot's lag passes, while that replica still serves requests.
TEST_F(RunningServerTest, ChangeStreamHealthIsReportedApartFromReadiness) {
  const auto await_health = [](const std::shared_ptr<grpc::Channel>& channel,
                               grpc::health::v1::HealthCheckResponse::ServingStatus want) {
    absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> health;
    // The server refreshes its health every 2 s.
    for (const absl::Time deadline = absl::Now() + absl::Seconds(15); absl::Now() < deadline;) {
      health = HealthOf(channel, "profiles.ChangeStream");
      if (health.ok() && *health == want) return true;
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "profiles.ChangeStream: "
                  << (health.ok() ? std::to_string(*health) : health.status().ToString());
    return false;
  };
  EXPECT_TRUE(await_health(channel_, grpc::health::v1::HealthCheckResponse::SERVING));

  absl::StatusOr<std::unique_ptr<ServerProcess>> strict = ServerProcess::Start(
      database_->url(), absl::Seconds(30), true, {"--change-lag-alarm-bytes=1"});
  ASSERT_TRUE(strict.ok()) << strict.status();
  // WAL of another database: nothing here to decode, so the slot stays behind it.
  absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->ExecuteSql("CREATE TABLE filler AS SELECT generate_series(1, 1000)").ok());
  const std::shared_ptr<grpc::Channel> strict_channel =
      grpc::CreateChannel((*strict)->grpc_address(), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(await_health(strict_channel, grpc::health::v1::HealthCheckResponse::NOT_SERVING));
  const auto serving = HealthOf(strict_channel, "profile.v1.ProfileService");
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_EQ(*serving, grpc::health::v1::HealthCheckResponse::SERVING);
}

// SIGTERM (a replica leaving a load balancer): open watches end UNAVAILABLE,
// so a client resumes from its cursor elsewhere, and the process exits 0
// within --shutdown-grace.
class GracefulShutdownTest : public RunningServerTest {
 protected:
  void SetUp() override { Start({"--shutdown-grace=5s"}); }
};

TEST_F(GracefulShutdownTest, SigtermEndsWatchesRetryablyAndExitsZero) {
  auto stub = profile::v1::ProfileService::NewStub(channel_);
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> watch =
      stub->WatchProfiles(&watch_context, profile::v1::WatchProfilesRequest());
  {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id("6f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0");
    request.mutable_profile()->set_name("Leaving");
    request.mutable_profile()->set_email("leaving@example.com");
    grpc::ClientContext context;
    profile::v1::Profile written;
    ASSERT_TRUE(stub->UpdateProfile(&context, request, &written).ok());
  }
  // The watch is live: it delivers the write.
  profile::v1::ProfileEvent event;
  ASSERT_TRUE(watch->Read(&event));
  EXPECT_EQ(event.profile().name(), "Leaving");
  EXPECT_FALSE(event.cursor().empty());

  // The client goes on reading, as a real one does.
  grpc::Status ended;
  std::thread reader([&watch, &ended] {
    profile::v1::ProfileEvent more;
    while (watch->Read(&more)) {
    }
    ended = watch->Finish();
  });
  const absl::Time start = absl::Now();
  const int status = server_->StopWith(SIGTERM);
  // Usually well under a second (see profile_server.cc on the order of
  // shutdown); never much beyond the grace.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5 + 2));
  reader.join();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
}

TEST(ServerCommandLine, ShutdownGraceMustBeADuration) {
  const CommandResult run =
      RunServer("--database-url=postgresql://x@127.0.0.1:1/x --auth=off --shutdown-grace=soon");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(run.output, "shutdown")) << run.output;
}

// Reflection lists every method and message to anyone: off unless
// --grpc-reflection; health is served either way.
class ServerWithoutReflectionTest : public RunningServerTest {
 protected:
  void SetUp() override { Start({}); }
};

TEST_F(ServerWithoutReflectionTest, ReflectionIsOffByDefaultAndHealthIsServed) {
  EXPECT_EQ(ReflectedServices(channel_).status().code(), absl::StatusCode::kUnimplemented);
  const auto health = HealthOf(channel_, "profile.v1.ProfileService");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(RunningServerTest, ReflectionListsTheProfileService) {
  const auto services = ReflectedServices(channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), "profile.v1.ProfileService"),
            services->end())
      << services->size() << " services listed";
}

}  // namespace
}  // namespace profiles::testing
