// End-to-end tests of a profile_server whose PostgreSQL is not there yet, or
// restarts under it: a real server process, a PostgreSQL cluster of the
// test's own (PostgresCluster), real sockets for both protocols.
//
// Waits are for events, never fixed sleeps: readiness and health are polled
// up to a deadline.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/postgres_cluster.h"
#include "tests/e2e/server_process.h"

namespace profiles::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;
using profile::v1::Profile;
using profile::v1::UpdateProfileRequest;

constexpr char kServiceName[] = "profile.v1.ProfileService";
constexpr absl::Duration kReadyDeadline = absl::Seconds(40);

std::string Uuid(int kind, int n) { return absl::StrFormat("%08x-0000-4000-8000-%012x", kind, n); }

struct HttpResult {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
};

// One GET over a new TCP connection ("Connection: close"), as curl would.
HttpResult HttpGet(const std::string& address, const std::string& path) {
  HttpResult result;
  const std::vector<std::string> host_port = absl::StrSplit(address, ':');
  int port = 0;
  if (host_port.size() != 2 || !absl::SimpleAtoi(host_port[1], &port)) return result;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return result;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host_port[0].c_str(), &server.sin_addr);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) == 0) {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address, "\r\nConnection: close\r\n\r\n");
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[8192];
      for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;) response.append(buffer, n);
    }
  }
  close(fd);
  // "HTTP/1.1 200 OK\r\n..."
  if (response.size() < 12 || !absl::SimpleAtoi(response.substr(9, 3), &result.status)) {
    result.status = 0;
  }
  if (size_t body = response.find("\r\n\r\n"); body != std::string::npos) {
    result.body = response.substr(body + 4);
  }
  return result;
}

// The health status of `service`, or UNKNOWN if the check itself failed.
HealthCheckResponse::ServingStatus Health(grpc::Channel& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(
      std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
  return response.status();
}

grpc::Status GetProfile(profile::v1::ProfileService::Stub& stub, const std::string& id,
                        Profile* profile) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  profile::v1::GetProfileRequest request;
  request.set_id(id);
  return stub.GetProfile(&context, request, profile);
}

grpc::Status Write(profile::v1::ProfileService::Stub& stub, const std::string& id,
                   int64_t expected_version, const std::string& name,
                   const std::string& mutation_id, Profile* written) {
  UpdateProfileRequest request;
  request.mutable_profile()->set_id(id);
  request.mutable_profile()->set_name(name);
  request.mutable_profile()->set_email("grace@example.com");
  request.set_expected_version(expected_version);
  request.set_mutation_id(mutation_id);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return stub.UpdateProfile(&context, request, written);
}

// Polls `condition` every 50 ms until it holds or `timeout` passes.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration timeout = kReadyDeadline) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// Whether the server's change feed holds its dedicated connection to
// `cluster` (it names the session "... change feed", pg_change_feed.h).
bool ChangeFeedListens(const PostgresCluster& cluster) {
  try {
    pqxx::connection connection(cluster.url());
    pqxx::nontransaction txn(connection);
    return txn.exec(
                  "SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                  "application_name LIKE '%change feed'")
               .size() == 1;
  } catch (const std::exception&) {
    return false;
  }
}

class DatabaseOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<PostgresCluster>> cluster = PostgresCluster::Create();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
  }

  void StartServer(bool wait_for_database) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(cluster_->url(), kReadyDeadline, wait_for_database);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->grpc_address(), grpc::InsecureChannelCredentials());
    stub_ = server_->NewStub();
  }

  bool Ready() {
    return HttpGet(server_->http_address(), "/readyz").status == 200 &&
           Health(*channel_, kServiceName) == HealthCheckResponse::SERVING;
  }

  // Declared first: destroyed after the server, which must stop before its
  // database disappears (else its log fills with reconnection attempts).
  std::unique_ptr<PostgresCluster> cluster_;
  std::unique_ptr<ServerProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
};

// Finding 4: the server used to exit ("UNAVAILABLE: the database is
// unreachable (connect)") when PostgreSQL was not up yet.
TEST_F(DatabaseOutageTest, ServerStartedBeforePostgresWaitsThenServes) {
  StartServer(/*wait_for_database=*/false);

  // Alive but not ready, on both protocols.
  EXPECT_EQ(HttpGet(server_->http_address(), "/healthz").status, 200);
  const HttpResult readyz = HttpGet(server_->http_address(), "/readyz");
  EXPECT_EQ(readyz.status, 503) << readyz.body;
  EXPECT_NE(readyz.body.find("not ready"), std::string::npos) << readyz.body;
  EXPECT_EQ(Health(*channel_, kServiceName), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(Health(*channel_, ""), HealthCheckResponse::SERVING);

  // Calls get UNAVAILABLE / 503 with a clear message, not a hang or a 500.
  const std::string id = Uuid(1, 1);
  Profile profile;
  const grpc::Status early = GetProfile(*stub_, id, &profile);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::UNAVAILABLE) << early.error_message();
  EXPECT_NE(early.error_message().find("the database is not ready yet"), std::string::npos)
      << early.error_message();
  const HttpResult early_rest = HttpGet(server_->http_address(), "/user/" + id);
  EXPECT_EQ(early_rest.status, 503) << early_rest.body;
  const grpc::Status early_write = Write(*stub_, id, 0, "Grace Hopper", Uuid(2, 1), &profile);
  EXPECT_EQ(early_write.error_code(), grpc::StatusCode::UNAVAILABLE);

  // The server keeps trying (with backoff; it does not exit): it becomes
  // ready soon after PostgreSQL starts.
  EXPECT_FALSE(Ready());
  ASSERT_TRUE(cluster_->Start().ok());
  ASSERT_TRUE(Eventually([&] { return Ready(); })) << "not ready after PostgreSQL started";

  // Migrated and serving writes and reads over both protocols.
  const grpc::Status created = Write(*stub_, id, 0, "Grace Hopper", Uuid(2, 1), &profile);
  ASSERT_TRUE(created.ok()) << created.error_message();
  EXPECT_EQ(profile.version(), 1);
  Profile read;
  ASSERT_TRUE(GetProfile(*stub_, id, &read).ok());
  EXPECT_EQ(read.name(), "Grace Hopper");
  const HttpResult rest = HttpGet(server_->http_address(), "/user/" + id);
  EXPECT_EQ(rest.status, 200) << rest.body;
  EXPECT_NE(rest.body.find("Grace Hopper"), std::string::npos) << rest.body;

  // The change feed's LISTEN connection came up too.
  EXPECT_TRUE(Eventually([&] { return ChangeFeedListens(*cluster_); }));
}

// Finding 5: after a PostgreSQL restart each stale pooled connection used to
// fail one request ("Could not obtain client encoding: not connected").
TEST_F(DatabaseOutageTest, RestartUnderARunningServerFailsNoRequest) {
  ASSERT_TRUE(cluster_->Start().ok());
  StartServer(/*wait_for_database=*/true);
  const std::string id = Uuid(3, 1);
  Profile profile;
  ASSERT_TRUE(Write(*stub_, id, 0, "Ada Lovelace", Uuid(4, 1), &profile).ok());

  // Open every pooled connection (ServerProcess runs 8) with concurrent reads.
  constexpr int kThreads = 8;
  auto read_concurrently = [&](int reads_per_thread, std::vector<std::string>& errors) {
    std::vector<std::thread> threads;
    absl::Mutex mu;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Connected before reading: gRPC 1.51 can fail a first connect that
        // was only in progress (grpc/grpc#35064), which says nothing of the
        // database.
        std::shared_ptr<grpc::Channel> channel = server_->NewChannel();
        if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(20)))) {
          absl::MutexLock lock(&mu);
          errors.push_back("gRPC: never connected");
          return;
        }
        auto stub = profile::v1::ProfileService::NewStub(channel);
        for (int i = 0; i < reads_per_thread; ++i) {
          std::string error;
          if ((t + i) % 2 == 0) {
            const HttpResult rest = HttpGet(server_->http_address(), "/user/" + id);
            if (rest.status != 200) error = absl::StrCat("REST ", rest.status, " ", rest.body);
          } else {
            Profile read;
            const grpc::Status status = GetProfile(*stub, id, &read);
            if (!status.ok()) error = absl::StrCat("gRPC ", status.error_message());
          }
          if (!error.empty()) {
            absl::MutexLock lock(&mu);
            errors.push_back(std::move(error));
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  };
  std::vector<std::string> warm_up_errors;
  read_concurrently(4, warm_up_errors);
  ASSERT_TRUE(warm_up_errors.empty()) << warm_up_errors.front();

  // Restart (fast shutdown terminates every session), then read at once:
  // 80 reads, half REST, half gRPC, from 8 threads so that every stale
  // pooled connection is met.
  ASSERT_TRUE(cluster_->Stop().ok());
  ASSERT_TRUE(cluster_->Start().ok());
  std::vector<std::string> errors;
  read_concurrently(80 / kThreads, errors);
  EXPECT_EQ(errors.size(), 0u) << "first of " << errors.size() << " errors: " << errors.front();

  // Writes with a mutation id succeed after a restart too, and a replay of
  // one returns its first result.
  ASSERT_TRUE(cluster_->Stop().ok());
  ASSERT_TRUE(cluster_->Start().ok());
  int64_t version = profile.version();
  for (int i = 0; i < 10; ++i) {
    const grpc::Status written =
        Write(*stub_, id, version, absl::StrCat("Ada ", i), Uuid(5, i), &profile);
    ASSERT_TRUE(written.ok()) << i << ": " << written.error_message();
    version = profile.version();
  }
  Profile replayed;
  ASSERT_TRUE(Write(*stub_, id, version - 1, "Ada 9", Uuid(5, 9), &replayed).ok());
  EXPECT_EQ(replayed.version(), version);

  // The change feed listens again after the restart.
  EXPECT_TRUE(Eventually([&] { return ChangeFeedListens(*cluster_); }));
}

// While PostgreSQL is down the server says so, and it comes back by itself.
TEST_F(DatabaseOutageTest, OutageIsReportedAndHealsWithoutARestart) {
  ASSERT_TRUE(cluster_->Start().ok());
  StartServer(/*wait_for_database=*/true);
  ASSERT_TRUE(Eventually([&] { return Ready(); }));

  ASSERT_TRUE(cluster_->Stop().ok());
  EXPECT_TRUE(Eventually([&] {
    return HttpGet(server_->http_address(), "/readyz").status == 503 &&
           Health(*channel_, kServiceName) == HealthCheckResponse::NOT_SERVING;
  }));
  EXPECT_EQ(HttpGet(server_->http_address(), "/healthz").status, 200);
  Profile profile;
  const grpc::Status down = GetProfile(*stub_, Uuid(6, 1), &profile);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE) << down.error_message();
  EXPECT_EQ(HttpGet(server_->http_address(), "/user/" + Uuid(6, 1)).status, 503);

  ASSERT_TRUE(cluster_->Start().ok());
  ASSERT_TRUE(Eventually([&] { return Ready(); }));
  const grpc::Status created = Write(*stub_, Uuid(6, 1), 0, "Katherine", Uuid(7, 1), &profile);
  EXPECT_TRUE(created.ok()) << created.error_message();
}

}  // namespace
}  // namespace profiles::testing
