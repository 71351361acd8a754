// HttpGateway's bounds and its asynchrony, over real sockets, on a
// ProfileCore over InMemoryStorage behind a gate that holds storage calls
// until the test opens it: the connection cap, the read buffer, header and
// body limits, the request timeout (504), slow requests that must not hold
// up other connections, pipelining order and a full core queue (503).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "services/profile/http/http_gateway.h"
#include "services/profile/storage/testing/in_memory_storage.h"

namespace profiles {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

std::string Id(int n) { return absl::StrFormat("00000000-0000-4000-8000-%012d", n); }

// Holds every Get() and ApplyWrite() while closed, so that a test decides
// when storage answers. Thread-safe.
class GatedRepository final : public ProfileRepository {
 public:
  explicit GatedRepository(ProfileRepository* inner) : inner_(inner) {}

  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  // Returns once `calls` calls are held at the gate.
  void AwaitHeld(int calls) {
    absl::MutexLock lock(&mu_);
    auto held = [this, calls]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= calls; };
    mu_.Await(absl::Condition(&held));
  }
  // Returns once `calls` calls have passed the gate since construction.
  void AwaitPassed(int calls) {
    absl::MutexLock lock(&mu_);
    auto passed = [this, calls]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return passed_ >= calls; };
    mu_.Await(absl::Condition(&passed));
  }

  absl::StatusOr<profile::v1::Profile> Get(std::string_view id) override {
    Pass();
    return inner_->Get(id);
  }
  absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) override {
    Pass();
    return inner_->ApplyWrite(write);
  }
  absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                          bool include_avatars, int64_t max_bytes,
                                          bool include_tombstones) override {
    return inner_->ChangesAfter(after, limit, include_avatars, max_bytes, include_tombstones);
  }
  absl::StatusOr<std::string> DatabaseId() override { return inner_->DatabaseId(); }
  absl::Status Ping() override { return inner_->Ping(); }

 private:
  void Pass() {
    absl::MutexLock lock(&mu_);
    ++held_;
    mu_.Await(absl::Condition(&open_));
    --held_;
    ++passed_;
  }

  ProfileRepository* const inner_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  int passed_ ABSL_GUARDED_BY(mu_) = 0;
};

// One HTTP/1.1 connection whose reads give up after a while instead of
// hanging the test when the gateway does not answer.
class Client {
 public:
  explicit Client(int port) : socket_(io_context_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  // A failure (the server closed the connection) shows in the next Read().
  void Send(const std::string& bytes) {
    beast::error_code ignored;
    asio::write(socket_, asio::buffer(bytes), ignored);
  }

  // The next response, or nullopt if none arrived within `timeout`.
  std::optional<HttpResponse> Read(std::chrono::seconds timeout = std::chrono::seconds(10)) {
    HttpResponse response;
    std::optional<beast::error_code> result;
    http::async_read(socket_, buffer_, response,
                     [&result](beast::error_code error, size_t) { result = error; });
    io_context_.restart();
    io_context_.run_for(timeout);
    if (!result.has_value()) {
      socket_.cancel();
      io_context_.restart();
      io_context_.run();
      return std::nullopt;
    }
    if (*result) return std::nullopt;
    return response;
  }

  // True when the server closes the connection without sending more.
  bool ClosedByServer() {
    char byte;
    beast::error_code error;
    const size_t read = socket_.read_some(asio::buffer(&byte, 1), error);
    return read == 0 && (error == asio::error::eof || error == asio::error::connection_reset);
  }

 private:
  asio::io_context io_context_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

std::string Get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
}

std::string Put(const std::string& id, const std::string& name) {
  const std::string body = "{\"name\":\"" + name + "\",\"email\":\"a@example.com\"}";
  return "PUT /user/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

google::protobuf::Struct Json(const HttpResponse& response) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body(), &parsed).ok())
      << response.body();
  return parsed;
}

std::string ErrorField(const HttpResponse& response, const std::string& key) {
  const google::protobuf::Struct body = Json(response);
  auto error = body.fields().find("error");
  if (error == body.fields().end()) return "<no error>";
  auto it = error->second.struct_value().fields().find(key);
  return it == error->second.struct_value().fields().end() ? "<absent>" : it->second.string_value();
}

class HttpGatewayBoundsTest : public ::testing::Test {
 protected:
  void Serve(HttpGateway::Options options, ProfileCore::Options core_options = {}) {
    core_ = std::make_unique<ProfileCore>(core_options, &gated_, storage_.feed());
    options.address = "127.0.0.1:0";
    gateway_ = std::make_unique<HttpGateway>(options, core_.get(), nullptr);
    const absl::Status started = gateway_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  void TearDown() override {
    // Calls still held would keep Stop() waiting for the core's answers.
    gated_.Open();
    gateway_.reset();
    core_.reset();
  }

  int port() const { return gateway_->port(); }

  InMemoryStorage storage_;
  GatedRepository gated_{storage_.repository()};
  std::unique_ptr<ProfileCore> core_;
  std::unique_ptr<HttpGateway> gateway_;
};

TEST_F(HttpGatewayBoundsTest, OneConnectionOverTheCapIs503WithRetryAfterAndClosed) {
  Serve({.max_connections = 2});
  auto first = std::make_unique<Client>(port());
  Client second(port());
  for (Client* client : {first.get(), &second}) {
    client->Send(Get("/healthz"));
    std::optional<HttpResponse> served = client->Read();
    ASSERT_TRUE(served.has_value());
    EXPECT_EQ(served->result(), http::status::ok);
  }

  Client third(port());
  third.Send(Get("/healthz"));
  std::optional<HttpResponse> refused = third.Read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result(), http::status::service_unavailable);
  EXPECT_EQ((*refused)[http::field::retry_after], "1");
  EXPECT_EQ(ErrorField(*refused, "code"), "RESOURCE_EXHAUSTED");
  EXPECT_NE(ErrorField(*refused, "message").find("server busy"), std::string::npos);
  EXPECT_FALSE(refused->keep_alive());
  EXPECT_TRUE(third.ClosedByServer());

  // The served connections go on; once one closes, its place is free again,
  // as soon as the gateway has seen the close (until then a connection is
  // turned away, or closed unanswered while others are being turned away).
  second.Send(Get("/healthz"));
  ASSERT_TRUE(second.Read().has_value());
  first.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool served = false;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    Client next(port());
    next.Send(Get("/healthz"));
    std::optional<HttpResponse> answer = next.Read();
    served = answer.has_value() && answer->result() == http::status::ok;
  }
  EXPECT_TRUE(served);
}

TEST_F(HttpGatewayBoundsTest, HeaderBodyAndReadBufferLimits) {
  Serve({.header_limit = 4096, .body_limit = 1024, .read_buffer_limit = 8192});

  Client header(port());
  header.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(5000, 'a') +
              "\r\n\r\n");
  std::optional<HttpResponse> too_large = header.Read();
  ASSERT_TRUE(too_large.has_value());
  EXPECT_EQ(too_large->result(), http::status::request_header_fields_too_large);
  EXPECT_NE(ErrorField(*too_large, "message").find("4096"), std::string::npos);
  EXPECT_TRUE(header.ClosedByServer());

  Client body(port());
  body.Send(Put(Id(1), std::string(2000, 'a')));
  std::optional<HttpResponse> body_too_large = body.Read();
  ASSERT_TRUE(body_too_large.has_value());
  EXPECT_EQ(body_too_large->result(), http::status::payload_too_large);
  EXPECT_NE(ErrorField(*body_too_large, "message").find("1024"), std::string::npos);

  // A chunk header must fit the read buffer whole.
  Client chunk(port());
  chunk.Send("PUT /user/" + Id(1) +
             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n2;ext=" +
             std::string(9000, 'e') + "\r\n{}\r\n0\r\n\r\n");
  std::optional<HttpResponse> buffer_full = chunk.Read();
  ASSERT_TRUE(buffer_full.has_value());
  EXPECT_EQ(buffer_full->result(), http::status::payload_too_large);
  EXPECT_NE(ErrorField(*buffer_full, "message").find("read buffer of 8192"), std::string::npos);

  // Within the limits, all is well.
  Client fine(port());
  fine.Send(Get("/healthz"));
  ASSERT_TRUE(fine.Read().has_value());
}

TEST_F(HttpGatewayBoundsTest, InconsistentOptionsAreRefusedByName) {
  core_ = std::make_unique<ProfileCore>(ProfileCore::Options{}, &gated_, storage_.feed());
  HttpGateway small_buffer(
      {.address = "127.0.0.1:0", .header_limit = 16384, .read_buffer_limit = 4096}, core_.get(),
      nullptr);
  const absl::Status started = small_buffer.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(started.message().find("read_buffer_limit"), absl::string_view::npos) << started;

  HttpGateway no_connections({.address = "127.0.0.1:0", .max_connections = 0}, core_.get(),
                             nullptr);
  EXPECT_NE(no_connections.Start().message().find("max_connections"), absl::string_view::npos);
}

// True when nothing listens on `port` of loopback any more.
bool Refused(int port) {
  asio::io_context io_context;
  tcp::socket socket(io_context);
  beast::error_code error;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), error);
  return error == asio::error::connection_refused;
}

TEST_F(HttpGatewayBoundsTest, DrainAnswersWhatIsInFlightClosesIdleConnectionsAndRefusesNewOnes) {
  Serve({});
  Client idle(port());
  idle.Send(Get("/healthz"));
  std::optional<HttpResponse> first = idle.Read();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->keep_alive());
  gated_.Close();
  Client busy(port());
  busy.Send(Put(Id(1), "Dana"));
  gated_.AwaitHeld(1);

  bool drained = false;
  std::thread drainer([this, &drained] { drained = gateway_->Drain(std::chrono::seconds(30)); });
  // The idle keep-alive connection goes at once; the busy one waits for its
  // answer, which it gets whole, as the connection's last.
  EXPECT_TRUE(idle.ClosedByServer());
  gated_.Open();
  std::optional<HttpResponse> answered = busy.Read();
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->result(), http::status::created) << answered->body();
  EXPECT_FALSE(answered->keep_alive());
  EXPECT_TRUE(busy.ClosedByServer());
  drainer.join();
  EXPECT_TRUE(drained);
  EXPECT_TRUE(Refused(port()));
  // The write it answered was made.
  EXPECT_TRUE(storage_.repository()->Get(Id(1)).ok());
}

TEST_F(HttpGatewayBoundsTest, DrainGivesUpAfterItsGrace) {
  Serve({});
  gated_.Close();
  Client busy(port());
  busy.Send(Put(Id(2), "Held"));
  gated_.AwaitHeld(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(gateway_->Drain(std::chrono::milliseconds(300)));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(10));
  // TearDown opens the gate; Stop() then closes the connection unanswered.
}

TEST_F(HttpGatewayBoundsTest, ACallOutlivingTheRequestTimeoutIs504AndTheConnectionGoesOn) {
  Serve({.request_timeout = std::chrono::milliseconds(200)});
  gated_.Close();
  Client client(port());
  client.Send(Get("/user/" + Id(7)));
  std::optional<HttpResponse> timed_out = client.Read();
  ASSERT_TRUE(timed_out.has_value());
  EXPECT_EQ(timed_out->result(), http::status::gateway_timeout);
  EXPECT_EQ(ErrorField(*timed_out, "code"), "DEADLINE_EXCEEDED");
  EXPECT_TRUE(timed_out->keep_alive());

  // The core answers late (404); that answer is dropped, and the next
  // request on the connection gets its own.
  gated_.Open();
  gated_.AwaitPassed(1);
  client.Send(Get("/healthz"));
  std::optional<HttpResponse> next = client.Read();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->result(), http::status::ok);
  EXPECT_NE(next->body().find("\"status\""), std::string::npos) << next->body();
}

// The gateway's own answers (a refused header, a 504) are counted and carry
// the request's id like the handler's; the late answer a 504 replaced is not
// counted again.
TEST_F(HttpGatewayBoundsTest, TheGatewaysOwnAnswersAreCountedWithTheirRequestId) {
  ServiceMetrics metrics;
  Serve({.request_timeout = std::chrono::milliseconds(200), .metrics = &metrics});
  const auto count = [&metrics](const std::string& method, const std::string& status) {
    const std::string series = "profiles_requests_total{method=\"" + method +
                               "\",protocol=\"http\",status=\"" + status + "\"} ";
    const std::string text = metrics.Text();
    const size_t at = text.find(series);
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + series.size()));
  };

  Client misdirected(port());
  misdirected.Send("GET /healthz HTTP/1.1\r\nHost: evil.example\r\nX-Request-Id: rebind-1\r\n\r\n");
  std::optional<HttpResponse> refused = misdirected.Read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->result(), http::status::misdirected_request);
  EXPECT_EQ((*refused)["X-Request-Id"], "rebind-1");
  EXPECT_EQ(count("GET /healthz", "421"), 1);

  Client garbled(port());
  garbled.Send("NOT HTTP AT ALL\r\n\r\n");
  std::optional<HttpResponse> bad = garbled.Read();
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->result(), http::status::bad_request);
  EXPECT_EQ(std::string((*bad)["X-Request-Id"]).size(), 32u);
  EXPECT_EQ(count("(unparsed)", "400"), 1);

  gated_.Close();
  Client client(port());
  client.Send("GET /user/" + Id(8) +
              " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: slow-1\r\n\r\n");
  std::optional<HttpResponse> timed_out = client.Read();
  ASSERT_TRUE(timed_out.has_value());
  EXPECT_EQ(timed_out->result(), http::status::gateway_timeout);
  EXPECT_EQ((*timed_out)["X-Request-Id"], "slow-1");
  gated_.Open();
  gated_.AwaitPassed(1);
  client.Send(Get("/healthz"));
  ASSERT_TRUE(client.Read().has_value());
  EXPECT_EQ(count("GET /user/{id}", "504"), 1);
  EXPECT_EQ(count("GET /user/{id}", "404"), -1);
}

TEST_F(HttpGatewayBoundsTest, SlowRequestsDoNotHoldUpOtherConnections) {
  constexpr int kSlow = 64;
  constexpr int kWorkers = 4;
  Serve({.threads = 2}, {.storage_workers = kWorkers});
  {
    Client setup(port());
    setup.Send(Put(Id(1000), "Cached"));
    std::optional<HttpResponse> created = setup.Read();
    ASSERT_TRUE(created.has_value());
    ASSERT_EQ(created->result(), http::status::created);
  }

  gated_.Close();
  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<Client>(port()));
    slow.back()->Send(Put(Id(i), "Slow"));
  }
  // Every storage worker is stuck; the other calls wait in the core's queue.
  gated_.AwaitHeld(kWorkers);

  // Two io threads, 64 requests waiting for storage: others are still served.
  Client other(port());
  other.Send(Get("/healthz"));
  std::optional<HttpResponse> health = other.Read();
  ASSERT_TRUE(health.has_value()) << "an io thread is blocked";
  EXPECT_EQ(health->result(), http::status::ok);
  other.Send(Get("/user/" + Id(1000)));
  std::optional<HttpResponse> cached = other.Read();
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->result(), http::status::ok);

  gated_.Open();
  for (int i = 0; i < kSlow; ++i) {
    std::optional<HttpResponse> created = slow[i]->Read();
    ASSERT_TRUE(created.has_value()) << i;
    EXPECT_EQ(created->result(), http::status::created) << i << ": " << created->body();
  }
}

TEST_F(HttpGatewayBoundsTest, PipelinedRequestsAreAnsweredInOrder) {
  Serve({});
  gated_.Close();
  Client client(port());
  // The first request waits for storage; the ones after it need none.
  client.Send(Put(Id(1), "Ann") + Get("/healthz") + Get("/nowhere") + Get("/user/" + Id(1)));
  gated_.AwaitHeld(1);
  gated_.Open();

  std::optional<HttpResponse> created = client.Read();
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->result(), http::status::created);
  std::optional<HttpResponse> health = client.Read();
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->result(), http::status::ok);
  std::optional<HttpResponse> missing = client.Read();
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->result(), http::status::not_found);
  std::optional<HttpResponse> read_back = client.Read();
  ASSERT_TRUE(read_back.has_value());
  EXPECT_EQ(read_back->result(), http::status::ok);
  EXPECT_EQ(read_back->body(), created->body()) << "a later request sees the earlier write";
}

TEST_F(HttpGatewayBoundsTest, AFullCoreQueueIs503ServerBusyWithRetryAfter) {
  core_ = std::make_unique<ProfileCore>(
      ProfileCore::Options{.storage_workers = 1, .max_queued_calls = 1}, &gated_, storage_.feed());
  const RestHandler handler(core_.get(), nullptr, {});
  gated_.Close();
  std::vector<std::optional<HttpResponse>> answers(3);
  absl::Mutex mu;
  auto handle = [&](int i) {
    HttpRequest request(http::verb::get, "/user/" + Id(i), 11);
    handler.Handle(request, [&mu, &answers, i](HttpResponse response) {
      absl::MutexLock lock(&mu);
      answers[i] = std::move(response);
    });
  };
  handle(0);
  gated_.AwaitHeld(1);  // on the only worker
  handle(1);            // waits in the queue, which is then full
  handle(2);            // refused at once
  {
    absl::MutexLock lock(&mu);
    ASSERT_FALSE(answers[0].has_value());
    ASSERT_FALSE(answers[1].has_value());
    ASSERT_TRUE(answers[2].has_value());
    EXPECT_EQ(answers[2]->result(), http::status::service_unavailable);
    EXPECT_EQ((*answers[2])[http::field::retry_after], "1");
    EXPECT_EQ(ErrorField(*answers[2], "code"), "RESOURCE_EXHAUSTED");
    EXPECT_NE(ErrorField(*answers[2], "message").find("server busy"), std::string::npos);
  }
  gated_.Open();
  core_.reset();  // waits for the storage work in flight
  for (int i : {0, 1}) {
    ASSERT_TRUE(answers[i].has_value());
    EXPECT_EQ(answers[i]->result(), http::status::not_found) << answers[i]->body();
  }
}

}  // namespace
}  // namespace profiles
