// End-to-end tests of nginx in front of two profile_server replicas, with the
// project's own nginx configuration (deploy/nginx/profiles.conf, byte for
// byte; tests/e2e/nginx_process.h): versioned writes through the balancer on
// both protocols, a watch held through it seeing writes made through each
// replica, and a replica SIGKILLed under load with clients retrying their
// mutations: nothing acknowledged lost, nothing applied twice.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "tests/e2e/grpc_writes.h"
#include "tests/e2e/nginx_process.h"
#include "tests/e2e/racing_writers.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles::testing {
namespace {

using profile::v1::Profile;
using profile::v1::ProfileEvent;
using profile::v1::ProfileService;
using profile::v1::UpdateProfileRequest;

std::unique_ptr<httplib::Client> HttpClient(const std::string& address) {
  const size_t colon = address.rfind(':');
  auto client = std::make_unique<httplib::Client>(address.substr(0, colon),
                                                  std::stoi(address.substr(colon + 1)));
  client->set_connection_timeout(5, 0);
  client->set_read_timeout(5, 0);
  client->set_write_timeout(5, 0);
  client->set_keep_alive(true);
  return client;
}

int64_t VersionOfEtag(const std::string& etag) {
  absl::string_view inner(etag);
  int64_t version = -1;
  if (!absl::ConsumePrefix(&inner, "\"") || !absl::ConsumeSuffix(&inner, "\"") ||
      !absl::SimpleAtoi(inner, &version)) {
    return -1;
  }
  return version;
}

// A REST body as JSON; an empty Struct if it is not JSON.
google::protobuf::Struct Json(const std::string& body) {
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(body, &json).ok()) json.Clear();
  return json;
}

std::string StringField(const google::protobuf::Struct& json, const std::string& key) {
  auto it = json.fields().find(key);
  return it == json.fields().end() ? "" : it->second.string_value();
}

std::string IfMatch(int64_t version) { return absl::StrCat("\"", version, "\""); }

std::string ReadSourceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// How many requests of nginx's access log went to `upstream` (host:port).
int RequestsTo(const std::string& access_log, const std::string& upstream) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(access_log, '\n')) {
    if (absl::StrContains(line, absl::StrCat("upstream=", upstream, " "))) ++count;
  }
  return count;
}

class LoadBalancerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(NginxProcess::kBinary, X_OK), 0)
        << NginxProcess::kBinary << " is missing: these tests need nginx (deploy/setup.sh "
        << "installs it: apt-get install nginx)";
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    for (auto* replica : {&first_, &second_}) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> server =
          ServerProcess::Start(database_->url());
      ASSERT_TRUE(server.ok()) << server.status();
      *replica = *std::move(server);
    }
    absl::StatusOr<std::unique_ptr<NginxProcess>> nginx =
        NginxProcess::Start({{first_->grpc_address(), first_->http_address()},
                             {second_->grpc_address(), second_->http_address()}});
    ASSERT_TRUE(nginx.ok()) << nginx.status();
    nginx_ = *std::move(nginx);
  }

  void TearDown() override {
    if (HasFailure() && nginx_ != nullptr) {
      std::cerr << "--- nginx error.log\n"
                << nginx_->ReadFile("error.log") << "--- nginx access.log\n"
                << nginx_->ReadFile("access.log") << "---\n";
    }
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> first_;
  std::unique_ptr<ServerProcess> second_;
  std::unique_ptr<NginxProcess> nginx_;
};

// The configuration the tests run is the deployed one, and it states what
// cannot be shown within a test's time: watches outlive nginx's default 60 s
// read timeout, and nginx never retries a request it has sent. /metrics is
// not served through the balancer; the replicas' health is; request ids
// reach the replicas.
TEST_F(LoadBalancerTest, ConfigurationIsTheDeployedOneAndKeepsWatchesAndWritesSafe) {
  const std::string config = ReadSourceFile(PROFILES_NGINX_CONF);
  EXPECT_EQ(nginx_->ReadFile("profiles.conf"), config);

  std::vector<std::string> directives;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    line = absl::StripAsciiWhitespace(line.substr(0, line.find('#')));
    if (!line.empty()) directives.emplace_back(line);
  }
  auto has = [&](const std::string& directive) {
    return std::find(directives.begin(), directives.end(), directive) != directives.end();
  };
  EXPECT_TRUE(has("grpc_read_timeout 1h;"));
  EXPECT_TRUE(has("grpc_send_timeout 1h;"));
  EXPECT_TRUE(has("grpc_next_upstream error timeout;"));
  EXPECT_TRUE(has("proxy_next_upstream error timeout;"));
  EXPECT_TRUE(has("location = /metrics {"));
  for (const std::string& directive : directives) {
    EXPECT_FALSE(absl::StrContains(directive, "non_idempotent")) << directive;
    if (absl::StrContains(directive, "_next_upstream ")) {
      EXPECT_TRUE(absl::EndsWith(directive, " error timeout;") ||
                  absl::EndsWith(directive, " off;"))
          << directive;
    }
  }

  auto http = HttpClient(nginx_->http_address());
  httplib::Result metrics = http->Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(metrics->status, 404);
  // nginx's own page: a replica answers unknown paths with a JSON error.
  EXPECT_TRUE(absl::StrContains(metrics->body, "<html>")) << "/metrics reached a replica";
  httplib::Result health = http->Get("/readyz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200) << health->body;

  // Request ids: the caller's passes through to the replica (which answers
  // with it); without one, the replica gets nginx's, the one in its log.
  httplib::Result sent = http->Get("/readyz", {{"X-Request-Id", "lb-test-request-1"}});
  ASSERT_TRUE(sent) << httplib::to_string(sent.error());
  EXPECT_EQ(sent->get_header_value("X-Request-Id"), "lb-test-request-1");
  const std::string made_by_nginx = health->get_header_value("X-Request-Id");
  EXPECT_EQ(made_by_nginx.size(), 32u) << made_by_nginx;
  EXPECT_TRUE(
      absl::StrContains(nginx_->ReadFile("access.log"), absl::StrCat("request_id=", made_by_nginx)))
      << nginx_->ReadFile("access.log");
}

// Sixteen gRPC writers, each on a connection of its own to nginx, all from
// the same base version: one wins, every other one is told ABORTED with the
// winner's profile in the details (the trailer passes through nginx).
TEST_F(LoadBalancerTest, SixteenGrpcWritersThroughTheBalancerExactlyOneWins) {
  const std::string id = Uuid(1, 1);
  Profile created;
  ASSERT_TRUE(Call(*nginx_->NewStub(), Write(id, 0, "base"), &created).ok());

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 16; ++i) channels.push_back(nginx_->NewChannel());
  RaceWritersFromOneBase(channels, id, /*base_version=*/1);
  if (::testing::Test::HasFatalFailure()) return;
  // Through the balancer: both replicas took writers.
  const std::string log = nginx_->ReadFile("access.log");
  EXPECT_GT(RequestsTo(log, first_->grpc_address()), 0) << log;
  EXPECT_GT(RequestsTo(log, second_->grpc_address()), 0) << log;
}

// The same over REST: sixteen PUTs and PATCHes with If-Match "1", each on a
// connection of its own: one 200, fifteen 412 with the winner as "current".
TEST_F(LoadBalancerTest, SixteenRestWritersThroughTheBalancerExactlyOneWins) {
  const std::string id = Uuid(2, 1);
  const std::string path = absl::StrCat("/user/", id);
  {
    httplib::Result created =
        HttpClient(nginx_->http_address())
            ->Put(path.c_str(), R"({"name":"base","email":"someone@example.com"})",
                  "application/json");
    ASSERT_TRUE(created) << httplib::to_string(created.error());
    ASSERT_EQ(created->status, 201) << created->body;
  }

  constexpr int kWriters = 16;
  std::vector<int> statuses(kWriters, -1);
  std::vector<std::string> bodies(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      auto http = HttpClient(nginx_->http_address());
      const httplib::Headers headers = {{"If-Match", IfMatch(1)}};
      const std::string name = absl::StrCat("writer ", i);
      // PUTs and PATCHes take different paths through nginx (PUT is never
      // retried by it); both must behave alike.
      httplib::Result result =
          i % 2 == 0
              ? http->Put(path.c_str(), headers,
                          absl::StrCat(R"({"name":")", name, R"(","email":"someone@example.com"})"),
                          "application/json")
              : http->Patch(path.c_str(), headers, absl::StrCat(R"({"name":")", name, R"("})"),
                            "application/json");
      if (!result) {
        bodies[i] = httplib::to_string(result.error());
        return;
      }
      statuses[i] = result->status;
      bodies[i] = result->body;
    });
  }
  for (std::thread& thread : threads) thread.join();

  int winners = 0;
  std::string winner_name;
  for (int i = 0; i < kWriters; ++i) {
    if (statuses[i] == 200) {
      ++winners;
      const google::protobuf::Struct profile = Json(bodies[i]);
      winner_name = StringField(profile, "name");
      EXPECT_EQ(StringField(profile, "version"), "2") << bodies[i];
    } else {
      EXPECT_EQ(statuses[i], 412) << bodies[i];
    }
  }
  ASSERT_EQ(winners, 1);
  for (int i = 0; i < kWriters; ++i) {
    if (statuses[i] == 200) continue;
    const google::protobuf::Struct body = Json(bodies[i]);
    auto current = body.fields().find("current");
    ASSERT_NE(current, body.fields().end()) << "412 without the current profile: " << bodies[i];
    EXPECT_EQ(StringField(current->second.struct_value(), "version"), "2") << bodies[i];
    EXPECT_EQ(StringField(current->second.struct_value(), "name"), winner_name) << bodies[i];
  }
  const std::string log = nginx_->ReadFile("access.log");
  EXPECT_GT(RequestsTo(log, first_->http_address()), 0) << log;
  EXPECT_GT(RequestsTo(log, second_->http_address()), 0) << log;
}

// Profiles with a full-size avatar (90-100% of 256 KiB) go through the
// balancer both ways on both protocols: over 300 KB of JSON in a PUT, a
// message of about as much in an UpdateProfile, and each read back whole.
TEST_F(LoadBalancerTest, FullSizeAvatarsPassTheBalancer) {
  const std::string avatar = RealisticPng(kMaxAvatarBytes, /*seed=*/11);
  ASSERT_GT(avatar.size(), kMaxAvatarBytes * 9 / 10);

  auto http = HttpClient(nginx_->http_address());
  const std::string path = absl::StrCat("/user/", Uuid(5, 1));
  const std::string body = absl::StrCat(R"({"name":"Ada","email":"ada@example.com","avatar":")",
                                        absl::Base64Escape(avatar), R"("})");
  ASSERT_GT(body.size(), size_t{300'000});
  httplib::Result put = http->Put(path.c_str(), body, "application/json");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  ASSERT_EQ(put->status, 201) << put->body.substr(0, 500);
  httplib::Result get = http->Get(path.c_str());
  ASSERT_TRUE(get) << httplib::to_string(get.error());
  ASSERT_EQ(get->status, 200);
  const std::string stored_avatar = StringField(Json(put->body), "avatar");
  EXPECT_FALSE(stored_avatar.empty());
  EXPECT_EQ(StringField(Json(get->body), "avatar"), stored_avatar);

  auto stub = nginx_->NewStub();
  UpdateProfileRequest request = Write(Uuid(5, 2), 0, "Grace");
  request.mutable_profile()->set_avatar(avatar);
  Profile written;
  const grpc::Status write = Call(*stub, request, &written);
  ASSERT_TRUE(write.ok()) << write.error_message();
  EXPECT_FALSE(written.avatar().empty());
  Profile read;
  const grpc::Status status = Read(*stub, Uuid(5, 2), &read);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(read.avatar(), written.avatar());
  EXPECT_EQ(read.avatar_sha256(), written.avatar_sha256());
}

// Deletes pass the balancer on both protocols (REST DELETE goes to the
// location that never retries a sent request, as PUT does), and a read
// through it, on whichever replica, then says the profile is gone.
TEST_F(LoadBalancerTest, DeletesPassTheBalancer) {
  auto http = HttpClient(nginx_->http_address());
  const std::string path = absl::StrCat("/user/", Uuid(5, 3));
  httplib::Result put =
      http->Put(path.c_str(), R"({"name":"Ada","email":"ada@example.com"})", "application/json");
  ASSERT_TRUE(put) << httplib::to_string(put.error());
  ASSERT_EQ(put->status, 201) << put->body;
  httplib::Result deleted =
      http->Delete(path.c_str(), {{"If-Match", "\"1\""}, {"Idempotency-Key", Uuid(105, 3)}});
  ASSERT_TRUE(deleted) << httplib::to_string(deleted.error());
  EXPECT_EQ(deleted->status, 204) << deleted->body;
  // The other replica learns of it through its change feed, within
  // milliseconds (its cache may serve version 1 until then, as for any
  // write made elsewhere); from then on every read says it is gone.
  std::string body;
  ASSERT_TRUE(Eventually(absl::Seconds(10), [&] {
    int gone = 0;
    for (int i = 0; i < 4; ++i) {
      httplib::Result read = http->Get(path.c_str());
      if (read && read->status == 404) ++gone;
      if (read) body = read->body;
    }
    return gone == 4;
  })) << body;
  EXPECT_TRUE(absl::StrContains(body, "PROFILE_DELETED")) << body;

  auto stub = nginx_->NewStub();
  Profile written;
  ASSERT_TRUE(Call(*stub, Write(Uuid(5, 4), 0, "Grace"), &written).ok());
  Profile tombstone;
  const grpc::Status status = Delete(*stub, Uuid(5, 4), 1, "", &tombstone);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(tombstone.deleted());
  Profile read;
  absl::Status gone;
  EXPECT_TRUE(Eventually(absl::Seconds(10), [&] {
    gone = FromGrpcStatus(Read(*stub, Uuid(5, 4), &read));
    return IsProfileDeleted(gone);
  })) << gone;
}

// A watch held through the balancer (on whichever replica nginx chose) sees
// writes made directly through each replica, so through the one it is not
// on as well.
TEST_F(LoadBalancerTest, WatchThroughTheBalancerSeesWritesThroughEachReplica) {
  auto watcher = nginx_->NewStub();
  grpc::ClientContext watch_context;
  watch_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = watcher->WatchProfiles(&watch_context, profile::v1::WatchProfilesRequest());

  // Waits for an event of profile `id` at `version`.
  auto await = [&](const std::string& id, int64_t version) {
    ProfileEvent event;
    while (stream->Read(&event)) {
      if (event.profile().id() == id && event.profile().version() >= version) {
        EXPECT_EQ(event.profile().version(), version);
        return true;
      }
    }
    return false;
  };

  // The stream is live once it carries a write made after it opened.
  Profile written;
  ASSERT_TRUE(Call(*nginx_->NewStub(), Write(Uuid(3, 0), 0, "through nginx"), &written).ok());
  ASSERT_TRUE(await(Uuid(3, 0), 1)) << stream->Finish().error_message();

  int n = 1;
  for (ServerProcess* replica : {first_.get(), second_.get()}) {
    const std::string id = Uuid(3, n++);
    ASSERT_TRUE(Call(*replica->NewStub(), Write(id, 0, "direct"), &written).ok());
    ASSERT_TRUE(Call(*replica->NewStub(), Write(id, 1, "direct, again"), &written).ok());
    EXPECT_TRUE(await(id, 2)) << "no event for the write through " << replica->grpc_address();
  }
  watch_context.TryCancel();
}

// A client of the balancer writing its own profile, each write based on the
// version its previous one produced and carrying a mutation id of its own;
// on an outcome it cannot know (UNAVAILABLE, DEADLINE_EXCEEDED; REST 502,
// 503, 504 or no answer) it retries the same mutation. Anything else is a
// failure of the balancer or of the service.
class RetryingWriter {
 public:
  RetryingWriter(int client, bool rest, const NginxProcess& nginx)
      : client_(client), rest_(rest), id_(Uuid(0x40, client)) {
    if (rest_) {
      http_ = HttpClient(nginx.http_address());
    } else {
      stub_ = nginx.NewStub();
    }
  }

  const std::string& id() const { return id_; }
  bool rest() const { return rest_; }
  // Writes acknowledged so far: the profile's version if each was applied
  // exactly once.
  int64_t acknowledged() const { return acknowledged_; }
  int retries() const { return retries_; }
  // REQUIRES: Run() has returned.
  const std::vector<std::string>& retried_errors() const { return retried_; }
  bool failed() const { return failed_; }
  // REQUIRES: Run() has returned.
  const std::string& failure() const { return failure_; }
  std::string NameOf(int64_t version) const {
    return absl::StrCat("client ", client_, " v", version);
  }

  // Writes until `stop`, or until a write fails for good.
  void Run(const std::atomic<bool>& stop) {
    while (!stop && !failed_) {
      const int64_t base = acknowledged_;
      const std::string mutation_id = Uuid(0x50 + client_, static_cast<int>(base) + 1);
      const absl::Time give_up = absl::Now() + absl::Seconds(30);
      for (int attempt = 0;; ++attempt) {
        if (absl::Now() > give_up) {
          failure_ = absl::StrCat("write ", base + 1, " still not acknowledged after 30 s");
          failed_ = true;
          return;
        }
        if (attempt > 0) {
          ++retries_;
          absl::SleepFor(absl::Milliseconds(20));  // a client's back-off
        }
        const Attempt outcome = rest_ ? RestWrite(base, mutation_id) : GrpcWrite(base, mutation_id);
        if (outcome == Attempt::kRetry) continue;
        if (outcome == Attempt::kAcknowledged) acknowledged_ = base + 1;
        if (outcome == Attempt::kFailed) failed_ = true;
        break;
      }
    }
  }

 private:
  enum class Attempt { kAcknowledged, kRetry, kFailed };

  Attempt GrpcWrite(int64_t base, const std::string& mutation_id) {
    Profile written;
    const grpc::Status status =
        Call(*stub_, Write(id_, base, NameOf(base + 1), mutation_id), &written, absl::Seconds(5));
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      Retried(absl::StrCat("gRPC code ", status.error_code(), " ", status.error_message()));
      return Attempt::kRetry;
    }
    if (!status.ok()) {
      failure_ = absl::StrCat("write ", base + 1, ": gRPC code ", status.error_code(), " ",
                              status.error_message());
      return Attempt::kFailed;
    }
    if (written.version() != base + 1 || written.name() != NameOf(base + 1)) {
      failure_ = absl::StrCat("write ", base + 1, " answered ", written.ShortDebugString());
      return Attempt::kFailed;
    }
    return Attempt::kAcknowledged;
  }

  // A create by PUT, then PATCH and PUT in turn (they take different paths
  // through nginx), each with If-Match and an Idempotency-Key.
  Attempt RestWrite(int64_t base, const std::string& mutation_id) {
    const std::string path = absl::StrCat("/user/", id_);
    httplib::Headers headers = {{"Idempotency-Key", mutation_id}};
    if (base > 0) headers.emplace("If-Match", IfMatch(base));
    const std::string name = NameOf(base + 1);
    httplib::Result result =
        base % 2 == 0
            ? http_->Put(path.c_str(), headers,
                         absl::StrCat(R"({"name":")", name, R"(","email":"someone@example.com"})"),
                         "application/json")
            : http_->Patch(path.c_str(), headers, absl::StrCat(R"({"name":")", name, R"("})"),
                           "application/json");
    if (!result) {  // no answer: connection lost or timed out
      Retried(httplib::to_string(result.error()));
      return Attempt::kRetry;
    }
    if (result->status == 502 || result->status == 503 || result->status == 504) {
      // nginx's own errors too come in the API's JSON shape.
      if (!Json(result->body).fields().contains("error")) {
        failure_ = absl::StrCat("write ", base + 1, ": HTTP ", result->status,
                                " without a JSON error: ", result->body);
        return Attempt::kFailed;
      }
      Retried(absl::StrCat("HTTP ", result->status, " ", result->body));
      return Attempt::kRetry;
    }
    const int expected = base == 0 ? 201 : 200;
    const google::protobuf::Struct profile = Json(result->body);
    if (result->status != expected || VersionOfEtag(result->get_header_value("ETag")) != base + 1 ||
        StringField(profile, "name") != name) {
      failure_ = absl::StrCat("write ", base + 1, ": HTTP ", result->status, " ETag ",
                              result->get_header_value("ETag"), " ", result->body);
      return Attempt::kFailed;
    }
    return Attempt::kAcknowledged;
  }

  void Retried(std::string error) {
    if (std::find(retried_.begin(), retried_.end(), error) == retried_.end()) {
      retried_.push_back(std::move(error));
    }
  }

  const int client_;
  const bool rest_;
  const std::string id_;
  std::unique_ptr<ProfileService::Stub> stub_;
  std::unique_ptr<httplib::Client> http_;
  std::atomic<int64_t> acknowledged_ = 0;
  std::atomic<int> retries_ = 0;
  std::atomic<bool> failed_ = false;
  // Written by Run's thread only, read after it ends.
  std::string failure_;
  std::vector<std::string> retried_;  // each distinct error retried
};

// Of the replicas on one database, exactly one reads its logical replication
// slot (the WAL sequencer, elected by advisory lock), and says so in
// /metrics, with how far its slot is behind. Election takes up to a poll
// interval after start, so the scrapes are repeated until then.
TEST_F(LoadBalancerTest, ExactlyOneReplicaReadsTheWalSlot) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int elected = 0;
  std::string scraped;
  while (elected != 1 && absl::Now() < deadline) {
    elected = 0;
    scraped.clear();
    for (const ServerProcess* replica : {first_.get(), second_.get()}) {
      httplib::Result metrics = HttpClient(replica->http_address())->Get("/metrics");
      ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
      ASSERT_EQ(metrics->status, 200);
      ASSERT_TRUE(absl::StrContains(metrics->body, "\nprofiles_wal_slot_lag_bytes "));
      if (absl::StrContains(metrics->body, "\nprofiles_wal_sequencer_elected 1\n")) ++elected;
      scraped += metrics->body;
    }
    if (elected != 1) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(elected, 1) << scraped;
}

// One replica SIGKILLed while clients write through the balancer, over gRPC
// and REST: the clients only ever see outcomes they can retry, every
// acknowledged write is there afterwards, and none was applied twice (each
// profile's version is exactly its number of acknowledged writes, and its
// state the last one's).
TEST_F(LoadBalancerTest, ReplicaKilledMidLoadLosesNoAcknowledgedWriteAndAppliesNoneTwice) {
  constexpr int kClients = 8;  // half gRPC, half REST
  std::vector<std::unique_ptr<RetryingWriter>> writers;
  for (int i = 0; i < kClients; ++i) {
    writers.push_back(std::make_unique<RetryingWriter>(i, i % 2 == 1, *nginx_));
  }
  std::atomic<bool> stop = false;
  std::vector<std::thread> threads;
  for (auto& writer : writers) threads.emplace_back([&stop, w = writer.get()] { w->Run(stop); });

  // Waits until writer i acknowledged targets[i] writes (or failed).
  auto wait_for = [&](const std::vector<int64_t>& targets) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (size_t i = 0; i < writers.size(); ++i) {
      while (writers[i]->acknowledged() < targets[i] && !writers[i]->failed() &&
             absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(5));
      }
    }
  };
  constexpr int64_t kWritesPerPhase = 20;
  wait_for(std::vector<int64_t>(writers.size(), kWritesPerPhase));
  const std::string log_before_kill = nginx_->ReadFile("access.log");
  std::vector<int64_t> after_kill;
  for (auto& writer : writers) after_kill.push_back(writer->acknowledged() + kWritesPerPhase);
  first_->StopWith(SIGKILL);
  wait_for(after_kill);
  stop = true;
  for (std::thread& thread : threads) thread.join();

  // The kill happened under load: both replicas had taken writes.
  EXPECT_GT(RequestsTo(log_before_kill, first_->grpc_address()), 0);
  EXPECT_GT(RequestsTo(log_before_kill, first_->http_address()), 0);

  auto survivor = second_->NewStub();
  int retries = 0;
  for (size_t i = 0; i < writers.size(); ++i) {
    const RetryingWriter& writer = *writers[i];
    SCOPED_TRACE(absl::StrCat("client ", i, writer.rest() ? " (REST)" : " (gRPC)"));
    EXPECT_EQ(writer.failure(), "");
    EXPECT_GE(writer.acknowledged(), after_kill[i]) << "no progress after the kill";
    retries += writer.retries();
    for (const std::string& error : writer.retried_errors()) {
      std::cerr << "client " << i << " retried after: " << error << "\n";
    }
    Profile stored;
    const grpc::Status read = Read(*survivor, writer.id(), &stored);
    ASSERT_TRUE(read.ok()) << read.error_message();
    EXPECT_EQ(stored.version(), writer.acknowledged());
    EXPECT_EQ(stored.name(), writer.NameOf(writer.acknowledged()));
  }
  std::cerr << "retried " << retries << " writes after the kill\n";
}

}  // namespace
}  // namespace profiles::testing
