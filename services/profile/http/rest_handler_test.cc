// RestHandler without sockets, on a ProfileCore over InMemoryStorage: what
// the gateway decides before it calls the core, and how it maps the core's
// answers to HTTP.
#include "services/profile/http/rest_handler.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "services/profile/storage/testing/in_memory_storage.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

namespace http = boost::beast::http;

constexpr char kId[] = "123e4567-e89b-12d3-a456-426614174000";

// A RestHandler on its own core and storage, answering synchronously: the
// tests wait for `respond`.
class TestHandler {
 public:
  explicit TestHandler(std::function<absl::Status()> readiness = {},
                       ProfileCore::Options core_options = {.storage_workers = 2})
      : core_(std::move(core_options), storage_.repository(), storage_.feed()),
        handler_(&core_, std::move(readiness),
                 {.request_timeout = std::chrono::milliseconds(2000)}) {}

  HttpResponse Handle(const HttpRequest& request) const {
    absl::Notification answered;
    HttpResponse response;
    int calls = 0;
    handler_.Handle(request, [&](HttpResponse answer) {
      response = std::move(answer);
      ++calls;
      answered.Notify();
    });
    answered.WaitForNotification();
    EXPECT_EQ(calls, 1);
    return response;
  }

  InMemoryStorage& storage() { return storage_; }

 private:
  InMemoryStorage storage_;
  ProfileCore core_;
  const RestHandler handler_;
};

// For the requests the gateway must refuse on its own: storage is
// unreachable, so one that wrongly reached it would fail with 503, not pass.
std::unique_ptr<TestHandler> MakeHandler(std::function<absl::Status()> readiness = {}) {
  auto handler = std::make_unique<TestHandler>(std::move(readiness));
  handler->storage().SetAvailable(false);
  return handler;
}

HttpRequest Request(http::verb method, const std::string& target, std::string body = "",
                    const std::string& content_type = "application/json") {
  HttpRequest request(method, target, 11);
  if (!body.empty()) {
    request.set(http::field::content_type, content_type);
    request.body() = std::move(body);
  }
  request.prepare_payload();
  return request;
}

google::protobuf::Struct Json(const HttpResponse& response) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body(), &parsed).ok())
      << response.body();
  return parsed;
}

const google::protobuf::Struct& ErrorOf(const google::protobuf::Struct& body) {
  return body.fields().at("error").struct_value();
}

std::string ErrorCode(const HttpResponse& response) {
  return ErrorOf(Json(response)).fields().at("code").string_value();
}

std::string Field(const google::protobuf::Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? "<absent>" : it->second.string_value();
}

TEST(RestHandlerTest, UnknownPathsAreNotFound) {
  const auto handler = MakeHandler();
  const std::vector<std::string> targets = {"/users", "/user/", std::string("/user/") + kId + "/x",
                                            "/healthz/x", "/user//avatar"};
  for (const std::string& target : targets) {
    HttpResponse response = handler->Handle(Request(http::verb::get, target));
    EXPECT_EQ(response.result(), http::status::not_found) << target;
    EXPECT_EQ(response[http::field::content_type], "application/json");
    EXPECT_EQ(ErrorCode(response), "NOT_FOUND") << target;
  }
}

TEST(RestHandlerTest, RouteLabelsNameThePatternNeverThePath) {
  EXPECT_EQ(RouteLabel(http::verb::get, std::string("/user/") + kId), "GET /user/{id}");
  EXPECT_EQ(RouteLabel(http::verb::head, std::string("/user/") + kId + "/avatar?x=1"),
            "HEAD /user/{id}/avatar");
  EXPECT_EQ(RouteLabel(http::verb::patch, "/user/anything"), "PATCH /user/{id}");
  EXPECT_EQ(RouteLabel(http::verb::delete_, std::string("/user/") + kId), "DELETE /user/{id}");
  EXPECT_EQ(RouteLabel(http::verb::delete_, "/user"), "DELETE /user");
  EXPECT_EQ(RouteLabel(http::verb::get, "/user?page_size=3"), "GET /user");
  EXPECT_EQ(RouteLabel(http::verb::get, "/"), "GET /");
  EXPECT_EQ(RouteLabel(http::verb::get, "/metrics"), "GET /metrics");
  EXPECT_EQ(RouteLabel(http::verb::get, "/readyz"), "GET /readyz");
  EXPECT_EQ(RouteLabel(http::verb::post, "/etc/passwd"), "POST (no route)");
  EXPECT_EQ(RouteLabel(http::verb::unknown, "/healthz"), "OTHER /healthz");
}

TEST(RestHandlerTest, MetricsAreServedWithoutATokenOnlyWhenThereAreAny) {
  InMemoryStorage storage;
  ProfileCore core({.storage_workers = 1, .tokens = *TokenAuthority::FromKey(std::string(40, 'k'))},
                   storage.repository(), storage.feed());
  ServiceMetrics metrics;
  metrics.RecordVersionConflict();
  for (ServiceMetrics* served : {static_cast<ServiceMetrics*>(nullptr), &metrics}) {
    const RestHandler handler(&core, {}, {.metrics = served});
    absl::Notification answered;
    HttpResponse response;
    handler.Handle(Request(http::verb::get, "/metrics"), [&](HttpResponse answer) {
      response = std::move(answer);
      answered.Notify();
    });
    answered.WaitForNotification();
    if (served == nullptr) {
      EXPECT_EQ(response.result(), http::status::not_found);
      continue;
    }
    EXPECT_EQ(response.result(), http::status::ok) << response.body();
    EXPECT_EQ(response[http::field::content_type], ServiceMetrics::kContentType);
    EXPECT_NE(response.body().find("\nprofiles_version_conflicts_total 1\n"), std::string::npos)
        << response.body();
    EXPECT_EQ(std::string(response["X-Request-Id"]).size(), 32u);
  }
}

TEST(RestHandlerTest, EveryAnswerCarriesTheRequestId) {
  const auto handler = MakeHandler();
  HttpRequest request = Request(http::verb::get, "/nowhere");
  request.set("X-Request-Id", "client-id-1");
  EXPECT_EQ(handler->Handle(request)["X-Request-Id"], "client-id-1");
  request.set("X-Request-Id", std::string(200, 'x'));
  EXPECT_EQ(std::string(handler->Handle(request)["X-Request-Id"]).size(), 32u);
}

TEST(RestHandlerTest, WrongMethodIsMethodNotAllowedWithAllow) {
  const auto handler = MakeHandler();
  struct Case {
    http::verb method;
    std::string target;
    const char* allow;
  };
  for (const Case& test :
       {Case{http::verb::post, std::string("/user/") + kId,
             "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"},
        Case{http::verb::delete_, "/user", "GET, HEAD, OPTIONS"},
        Case{http::verb::delete_, std::string("/user/") + kId + "/avatar", "GET, HEAD, OPTIONS"},
        Case{http::verb::post, "/user", "GET, HEAD, OPTIONS"},
        Case{http::verb::put, std::string("/user/") + kId + "/avatar", "GET, HEAD, OPTIONS"},
        Case{http::verb::post, "/healthz", "GET, HEAD, OPTIONS"},
        Case{http::verb::post, "/readyz", "GET, HEAD, OPTIONS"}}) {
    HttpResponse response = handler->Handle(Request(test.method, test.target));
    EXPECT_EQ(response.result(), http::status::method_not_allowed) << test.target;
    EXPECT_EQ(response[http::field::allow], test.allow) << test.target;
    EXPECT_EQ(ErrorCode(response), "UNIMPLEMENTED");
  }
}

// HEAD answers as GET does, status and headers, Content-Length included,
// without the body; so do its errors.
TEST(RestHandlerTest, HeadIsGetWithoutTheBody) {
  const auto handler = MakeHandler();
  const HttpResponse get = handler->Handle(Request(http::verb::get, "/healthz"));
  HttpResponse head = handler->Handle(Request(http::verb::head, "/healthz"));
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_EQ(head.body(), "");
  EXPECT_EQ(head[http::field::content_length], get[http::field::content_length]);
  EXPECT_NE(get[http::field::content_length], "0");

  head = handler->Handle(Request(http::verb::head, "/nowhere"));
  EXPECT_EQ(head.result(), http::status::not_found);
  EXPECT_EQ(head.body(), "");
  EXPECT_NE(head[http::field::content_length], "0");
}

// OPTIONS says what a route allows; a CORS preflight is answered for the
// origins configured, with what a page may send, and refused (403) for
// others, which then see no Access-Control-Allow-Origin on any answer.
TEST(RestHandlerTest, OptionsAndCorsPreflightFollowTheAllowedOrigins) {
  InMemoryStorage storage;
  storage.SetAvailable(false);
  ProfileCore core({.storage_workers = 1}, storage.repository(), storage.feed());
  const RestHandler handler(&core, {},
                            {.request_timeout = std::chrono::milliseconds(2000),
                             .cors_origins = {"https://app.example.com"}});
  const auto handle = [&handler](const HttpRequest& request) {
    absl::Notification answered;
    HttpResponse response;
    handler.Handle(request, [&](HttpResponse answer) {
      response = std::move(answer);
      answered.Notify();
    });
    answered.WaitForNotification();
    return response;
  };

  HttpResponse plain = handle(Request(http::verb::options, std::string("/user/") + kId));
  EXPECT_EQ(plain.result(), http::status::no_content);
  EXPECT_EQ(plain[http::field::allow], "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(plain.count(http::field::access_control_allow_origin), 0u);

  HttpRequest preflight = Request(http::verb::options, std::string("/user/") + kId);
  preflight.set(http::field::origin, "https://app.example.com");
  preflight.set(http::field::access_control_request_method, "DELETE");
  preflight.set(http::field::access_control_request_headers, "if-match, content-type");
  HttpResponse allowed = handle(preflight);
  EXPECT_EQ(allowed.result(), http::status::no_content);
  EXPECT_EQ(allowed[http::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_EQ(allowed[http::field::access_control_allow_credentials], "true");
  EXPECT_EQ(allowed[http::field::access_control_allow_methods],
            "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
  for (const char* header :
       {"If-Match", "Content-Type", "Authorization", "Idempotency-Key", "X-Request-Id"}) {
    EXPECT_NE(std::string(allowed[http::field::access_control_allow_headers]).find(header),
              std::string::npos)
        << header;
  }
  EXPECT_EQ(allowed[http::field::vary], "Origin");

  preflight.set(http::field::origin, "https://evil.example.net");
  HttpResponse refused = handle(preflight);
  EXPECT_EQ(refused.result(), http::status::forbidden);
  EXPECT_EQ(ErrorCode(refused), "PERMISSION_DENIED");
  EXPECT_NE(refused.body().find("https://app.example.com"), std::string::npos) << refused.body();
  EXPECT_EQ(refused.count(http::field::access_control_allow_origin), 0u);

  // An answer to a page of an allowed origin exposes what optimistic
  // concurrency needs; another origin's page gets no CORS header.
  HttpRequest get = Request(http::verb::get, "/healthz");
  get.set(http::field::origin, "https://app.example.com");
  HttpResponse shared = handle(get);
  EXPECT_EQ(shared[http::field::access_control_allow_origin], "https://app.example.com");
  EXPECT_NE(std::string(shared[http::field::access_control_expose_headers]).find("ETag"),
            std::string::npos);
  EXPECT_NE(std::string(shared[http::field::access_control_expose_headers]).find("X-Request-Id"),
            std::string::npos);
  get.set(http::field::origin, "https://evil.example.net");
  EXPECT_EQ(handle(get).count(http::field::access_control_allow_origin), 0u);
}

TEST(RestHandlerTest, HealthzIsOk) {
  HttpResponse response = MakeHandler()->Handle(Request(http::verb::get, "/healthz"));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(Json(response).fields().at("status").string_value(), "ok");
}

TEST(RestHandlerTest, ReadyzFollowsTheReadinessCallback) {
  absl::Status readiness = absl::OkStatus();
  const auto handler = MakeHandler([&readiness] { return readiness; });
  EXPECT_EQ(handler->Handle(Request(http::verb::get, "/readyz")).result(), http::status::ok);

  readiness = absl::UnavailableError("PostgreSQL is not reachable");
  HttpResponse response = handler->Handle(Request(http::verb::get, "/readyz"));
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(ErrorCode(response), "UNAVAILABLE");
  EXPECT_NE(response.body().find("PostgreSQL is not reachable"), std::string::npos);
  EXPECT_EQ(response[http::field::retry_after], "1");
}

TEST(RestHandlerTest, WritesMustBeJson) {
  const auto handler = MakeHandler();
  for (http::verb method : {http::verb::put, http::verb::patch}) {
    HttpResponse response = handler->Handle(Request(method, std::string("/user/") + kId, "name=Ann",
                                                    "application/x-www-form-urlencoded"));
    EXPECT_EQ(response.result(), http::status::unsupported_media_type);
    EXPECT_EQ(ErrorCode(response), "INVALID_ARGUMENT");
    EXPECT_EQ(handler->Handle(Request(method, std::string("/user/") + kId)).result(),
              http::status::unsupported_media_type);
  }
}

TEST(RestHandlerTest, BadRequestsAreRejectedBeforeTheService) {
  const auto handler = MakeHandler();
  const std::string path = std::string("/user/") + kId;
  EXPECT_EQ(handler->Handle(Request(http::verb::put, path, "{\"name\":")).result(),
            http::status::bad_request);
  HttpResponse unknown = handler->Handle(Request(http::verb::put, path, R"({"nickname":"A"})"));
  EXPECT_EQ(unknown.result(), http::status::bad_request);
  EXPECT_TRUE(Json(unknown)
                  .fields()
                  .at("error")
                  .struct_value()
                  .fields()
                  .at("fields")
                  .struct_value()
                  .fields()
                  .contains("nickname"));
  EXPECT_EQ(handler->Handle(Request(http::verb::patch, path, "{}")).result(),
            http::status::bad_request);
  EXPECT_EQ(handler->Handle(Request(http::verb::get, "/user?page_size=x")).result(),
            http::status::bad_request);

  HttpRequest weak = Request(http::verb::put, path, R"({"name":"Ann"})");
  weak.set(http::field::if_match, "W/\"1\"");
  EXPECT_EQ(handler->Handle(weak).result(), http::status::bad_request);

  HttpRequest key = Request(http::verb::put, path, R"({"name":"Ann"})");
  key.set("Idempotency-Key", "once");
  HttpResponse response = handler->Handle(key);
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_TRUE(Json(response)
                  .fields()
                  .at("error")
                  .struct_value()
                  .fields()
                  .at("fields")
                  .struct_value()
                  .fields()
                  .contains("Idempotency-Key"));
}

// A DELETE must name the version it deletes: without If-Match it is 428
// before the core (storage is down here, so reaching it would be 503), and
// its header problems are 400 naming the header.
TEST(RestHandlerTest, ADeleteWithoutIfMatchIs428BeforeTheCore) {
  const auto handler = MakeHandler();
  HttpResponse response =
      handler->Handle(Request(http::verb::delete_, std::string("/user/") + kId));
  EXPECT_EQ(response.result(), http::status::precondition_required) << response.body();
  EXPECT_EQ(ErrorCode(response), "FAILED_PRECONDITION");
  EXPECT_NE(response.body().find("If-Match"), std::string::npos) << response.body();
  EXPECT_EQ(response.count(http::field::etag), 0u);

  for (const char* value : {"W/\"1\"", "*", "\"0\""}) {
    HttpRequest request = Request(http::verb::delete_, std::string("/user/") + kId);
    request.set(http::field::if_match, value);
    HttpResponse refused = handler->Handle(request);
    EXPECT_EQ(refused.result(), http::status::bad_request) << value;
    EXPECT_TRUE(
        ErrorOf(Json(refused)).fields().at("fields").struct_value().fields().contains("If-Match"))
        << refused.body();
  }
  // A body is refused even with If-Match: it is not where the version goes.
  HttpRequest with_body =
      Request(http::verb::delete_, std::string("/user/") + kId, R"({"version":"1"})");
  with_body.set(http::field::if_match, "\"1\"");
  EXPECT_EQ(handler->Handle(with_body).result(), http::status::bad_request);
}

// Who calls is settled first: a stranger's DELETE is 401 whatever else is
// wrong with it, and a user may delete only their own profile (403).
TEST(RestHandlerTest, DeletesNeedATokenAndTheirOwnProfile) {
  const TokenAuthority tokens = *TokenAuthority::FromKey(std::string(40, 'k'));
  const TestHandler handler({}, {.storage_workers = 1, .tokens = tokens});
  const auto handle = [&handler](const HttpRequest& request) { return handler.Handle(request); };
  const std::string owner_token = *tokens.Mint({.subject = kId}, absl::Hours(1), absl::Now());
  const std::string other_token = *tokens.Mint({.subject = "5e0b8c9a-0000-4000-8000-000000000001"},
                                               absl::Hours(1), absl::Now());

  HttpRequest create = Request(http::verb::put, std::string("/user/") + kId,
                               R"({"name":"Ann","email":"ann@example.com"})");
  create.set(http::field::authorization, "Bearer " + owner_token);
  ASSERT_EQ(handle(create).result(), http::status::created);

  HttpResponse stranger = handle(Request(http::verb::delete_, std::string("/user/") + kId));
  EXPECT_EQ(stranger.result(), http::status::unauthorized) << stranger.body();

  HttpRequest other = Request(http::verb::delete_, std::string("/user/") + kId);
  other.set(http::field::authorization, "Bearer " + other_token);
  other.set(http::field::if_match, "\"1\"");
  EXPECT_EQ(handle(other).result(), http::status::forbidden);

  HttpRequest own = Request(http::verb::delete_, std::string("/user/") + kId);
  own.set(http::field::authorization, "Bearer " + owner_token);
  own.set(http::field::if_match, "\"1\"");
  EXPECT_EQ(handle(own).result(), http::status::no_content);
}

TEST(RestHandlerTest, AnAuthorizationGrpcCannotCarryIsRejected) {
  HttpRequest request = Request(http::verb::get, std::string("/user/") + kId);
  request.set(http::field::authorization, "Bearer \x01token");
  HttpResponse response = MakeHandler()->Handle(request);
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_NE(response.body().find("Authorization"), std::string::npos);
}

TEST(RestHandlerTest, KeepAliveFollowsTheRequest) {
  const auto handler = MakeHandler();
  HttpRequest request = Request(http::verb::get, "/healthz");
  EXPECT_TRUE(handler->Handle(request).keep_alive());
  request.keep_alive(false);
  EXPECT_FALSE(handler->Handle(request).keep_alive());
}

TEST(RestHandlerTest, TheCallContextCarriesTheCredentialsAndTheTimeout) {
  HttpRequest request = Request(http::verb::get, std::string("/user/") + kId);
  const absl::Time before = absl::Now();
  absl::StatusOr<CallContext> context = CallContextFor(request, std::chrono::milliseconds(1500));
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(context->authorization, "");
  EXPECT_GE(context->deadline, before + absl::Milliseconds(1500));
  EXPECT_LE(context->deadline, absl::Now() + absl::Milliseconds(1500));

  request.set(http::field::authorization, "Bearer abc.def");
  context = CallContextFor(request, std::chrono::milliseconds(1500));
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(context->authorization, "Bearer abc.def");

  request.set(http::field::authorization, "Bearer caf\xC3\xA9");
  EXPECT_EQ(CallContextFor(request, std::chrono::milliseconds(1500)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The routes that reach the core, on a working in-memory storage.
class RestHandlerCoreTest : public ::testing::Test {
 protected:
  HttpResponse Send(HttpRequest request) {
    request.prepare_payload();
    return handler_.Handle(request);
  }

  HttpResponse Put(const std::string& id, const std::string& json, const std::string& if_match = "",
                   const std::string& key = "") {
    HttpRequest request = Request(http::verb::put, "/user/" + id, json);
    if (!if_match.empty()) request.set(http::field::if_match, if_match);
    if (!key.empty()) request.set("Idempotency-Key", key);
    return Send(std::move(request));
  }

  TestHandler handler_;
};

TEST_F(RestHandlerCoreTest, GetSendsTheSnapshotJsonWithItsETagAnd304) {
  const std::string picture = testing::RealisticPng(8 * 1024, /*seed=*/1);
  const HttpResponse created = Put(kId, R"({"name":"Ann","email":"ann@example.com","avatar":")" +
                                            absl::Base64Escape(picture) + R"("})");
  ASSERT_EQ(created.result(), http::status::created) << created.body();

  HttpResponse response = Send(Request(http::verb::get, std::string("/user/") + kId));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  EXPECT_EQ(response[http::field::etag], "\"1\"");
  EXPECT_EQ(response[http::field::content_type], "application/json");
  // Byte for byte what the write answered, and every field printed.
  EXPECT_EQ(response.body(), created.body());
  const google::protobuf::Struct profile = Json(response);
  EXPECT_EQ(Field(profile, "id"), kId);
  EXPECT_EQ(Field(profile, "version"), "1");
  EXPECT_EQ(Field(profile, "avatar"), absl::Base64Escape(picture));
  EXPECT_EQ(Field(profile, "avatarSha256").size(), 64u);

  // The write filled the cache: reads do not reach storage.
  const int reads = handler_.storage().get_calls();
  EXPECT_EQ(Send(Request(http::verb::get, std::string("/user/") + kId)).body(), created.body());
  EXPECT_EQ(handler_.storage().get_calls(), reads);

  HttpRequest conditional = Request(http::verb::get, std::string("/user/") + kId);
  conditional.set(http::field::if_none_match, "\"1\"");
  HttpResponse not_modified = Send(conditional);
  EXPECT_EQ(not_modified.result(), http::status::not_modified);
  EXPECT_EQ(not_modified[http::field::etag], "\"1\"");
  EXPECT_EQ(not_modified.body(), "");

  EXPECT_EQ(Send(Request(http::verb::get, "/user/5e0b8c9a-0000-4000-8000-000000000001")).result(),
            http::status::not_found);
  EXPECT_EQ(Send(Request(http::verb::get, "/user/not-a-uuid")).result(), http::status::bad_request);
}

TEST_F(RestHandlerCoreTest, CreatedIs201WithLocationUpdatedAndReplayedAnswerAsTheFirstTime) {
  const std::string key = "7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b";
  const std::string body = R"({"name":"Ann","email":"ann@example.com"})";
  HttpResponse created = Put(kId, body, "", key);
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  EXPECT_EQ(created[http::field::location], std::string("/user/") + kId);
  EXPECT_EQ(created[http::field::etag], "\"1\"");

  // A replay of the create answers as the create did.
  HttpResponse replayed = Put(kId, body, "", key);
  EXPECT_EQ(replayed.result(), http::status::created) << replayed.body();
  EXPECT_EQ(replayed[http::field::location], std::string("/user/") + kId);
  EXPECT_EQ(replayed.body(), created.body());

  const std::string update_key = "8e4a2d3b-6c7f-4a81-9bac-1d2e3f4a5b6c";
  HttpResponse updated = Put(kId, R"({"name":"Bo","email":"bo@example.com"})", "\"1\"", update_key);
  ASSERT_EQ(updated.result(), http::status::ok) << updated.body();
  EXPECT_EQ(updated[http::field::etag], "\"2\"");
  EXPECT_EQ(updated[http::field::location], "");
  HttpResponse replayed_update =
      Put(kId, R"({"name":"Bo","email":"bo@example.com"})", "\"1\"", update_key);
  EXPECT_EQ(replayed_update.result(), http::status::ok) << replayed_update.body();
  EXPECT_EQ(replayed_update.body(), updated.body());

  HttpResponse reused = Put(kId, R"({"name":"Cy","email":"cy@example.com"})", "\"1\"", update_key);
  EXPECT_EQ(reused.result(), http::status::unprocessable_entity) << reused.body();
  EXPECT_EQ(Field(ErrorOf(Json(reused)), "reason"), "MUTATION_ID_REUSED");
}

TEST_F(RestHandlerCoreTest, ConflictsCarryTheWholeCurrentProfileWithoutAnotherRead) {
  const std::string picture = testing::RealisticPng(64 * 1024, /*seed=*/2);
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com","avatar":")" +
                         absl::Base64Escape(picture) + R"("})")
                .result(),
            http::status::created);
  ASSERT_EQ(Put(kId,
                R"({"name":"Bo","email":"bo@example.com","avatar":")" +
                    absl::Base64Escape(picture) + R"("})",
                "\"1\"")
                .result(),
            http::status::ok);
  const HttpResponse current = Send(Request(http::verb::get, std::string("/user/") + kId));
  const int reads = handler_.storage().get_calls();

  struct Case {
    std::string if_match;
    std::string body;
    http::status expected;
  };
  for (const Case& test : {
           Case{"\"1\"", R"({"name":"Cy","email":"cy@example.com"})",
                http::status::precondition_failed},
           Case{"", R"({"name":"Cy","email":"cy@example.com","version":"1"})",
                http::status::conflict},
           Case{"", R"({"name":"Cy","email":"cy@example.com"})",
                http::status::precondition_required},
       }) {
    HttpResponse response = Put(kId, test.body, test.if_match);
    ASSERT_EQ(response.result(), test.expected) << response.body();
    EXPECT_EQ(response[http::field::etag], "\"2\"");
    const google::protobuf::Struct body = Json(response);
    EXPECT_EQ(Field(ErrorOf(body), "code"), "ABORTED");
    // "current" reads exactly like a GET body, avatar included.
    google::protobuf::Struct expected_current = Json(current);
    EXPECT_EQ(body.fields().at("current").struct_value().DebugString(),
              expected_current.DebugString());
  }
  EXPECT_EQ(handler_.storage().get_calls(), reads) << "a conflict body needs no second read";
}

// If-None-Match: * creates only: on an existing profile it is 412 with the
// current profile, and nothing is written. It goes with no other base.
TEST_F(RestHandlerCoreTest, IfNoneMatchStarCreatesOnlyAndIs412OnAnExistingProfile) {
  HttpRequest create = Request(http::verb::put, std::string("/user/") + kId,
                               R"({"name":"Ann","email":"ann@example.com"})");
  create.set(http::field::if_none_match, "*");
  ASSERT_EQ(Send(create).result(), http::status::created);

  HttpRequest again = Request(http::verb::put, std::string("/user/") + kId,
                              R"({"name":"Bo","email":"bo@example.com"})");
  again.set(http::field::if_none_match, "*");
  HttpResponse response = Send(again);
  ASSERT_EQ(response.result(), http::status::precondition_failed) << response.body();
  EXPECT_EQ(response[http::field::etag], "\"1\"");
  EXPECT_EQ(Field(Json(response).fields().at("current").struct_value(), "name"), "Ann");
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, std::string("/user/") + kId))), "name"),
            "Ann");

  for (const auto& [header, value] : std::vector<std::pair<http::field, std::string>>{
           {http::field::if_none_match, "\"1\""}, {http::field::if_match, "\"1\""}}) {
    HttpRequest mixed = Request(http::verb::put, std::string("/user/") + kId,
                                R"({"name":"Cy","email":"cy@example.com"})");
    mixed.set(http::field::if_none_match, "*");
    mixed.set(header, value);  // If-None-Match: an entity tag; or "*" with If-Match
    HttpResponse refused = Send(mixed);
    EXPECT_EQ(refused.result(), http::status::bad_request) << value;
    EXPECT_TRUE(ErrorOf(Json(refused))
                    .fields()
                    .at("fields")
                    .struct_value()
                    .fields()
                    .contains("If-None-Match"))
        << refused.body();
  }
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, std::string("/user/") + kId))), "version"),
            "1");
}

// A partial PATCH with no base version cannot be a create; on an existing
// profile the missing piece is the base version (428 with the current
// profile), on an unknown one the create's rules (400).
TEST_F(RestHandlerCoreTest, PartialPatchWithoutABaseVersionIs428OnAnExistingProfile) {
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  HttpResponse response =
      Send(Request(http::verb::patch, std::string("/user/") + kId, R"({"name":"Bo"})"));
  ASSERT_EQ(response.result(), http::status::precondition_required) << response.body();
  EXPECT_EQ(response[http::field::etag], "\"1\"");
  EXPECT_EQ(Field(Json(response).fields().at("current").struct_value(), "name"), "Ann");

  response = Send(
      Request(http::verb::patch, "/user/5e0b8c9a-0000-4000-8000-000000000001", R"({"name":"Bo"})"));
  ASSERT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_TRUE(
      ErrorOf(Json(response)).fields().at("fields").struct_value().fields().contains("email"));
}

// What a 200 answer with a profile must never be: a tombstone.
void ExpectLive(const google::protobuf::Struct& profile) {
  auto deleted = profile.fields().find("deleted");
  if (deleted != profile.fields().end()) {
    EXPECT_FALSE(deleted->second.bool_value());
  }
}

bool IsDeletedAnswer(const HttpResponse& response) {
  const google::protobuf::Struct body = Json(response);
  return response.result() == http::status::not_found &&
         Field(ErrorOf(body), "reason") == "PROFILE_DELETED" && !body.fields().contains("current");
}

TEST_F(RestHandlerCoreTest, DeleteIs204AndReadsOfTheDeletedProfileAre404SayingSo) {
  const std::string picture = testing::RealisticPng(8 * 1024, /*seed=*/6);
  const HttpResponse created = Put(kId, R"({"name":"Ann","email":"ann@example.com","avatar":")" +
                                            absl::Base64Escape(picture) + R"("})");
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  ExpectLive(Json(created));
  ExpectLive(Json(Send(Request(http::verb::get, std::string("/user/") + kId))));

  const std::string key = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
  HttpRequest deletion = Request(http::verb::delete_, std::string("/user/") + kId);
  deletion.set(http::field::if_match, "\"1\"");
  deletion.set("Idempotency-Key", key);
  const HttpResponse deleted = Send(deletion);
  ASSERT_EQ(deleted.result(), http::status::no_content) << deleted.body();
  EXPECT_EQ(deleted.body(), "");
  EXPECT_EQ(deleted.count(http::field::etag), 0u);
  EXPECT_EQ(deleted.count(http::field::content_type), 0u);

  // Reads: 404 with the reason, never the tombstone.
  const HttpResponse got = Send(Request(http::verb::get, std::string("/user/") + kId));
  EXPECT_TRUE(IsDeletedAnswer(got)) << got.result() << " " << got.body();
  EXPECT_EQ(got.count(http::field::etag), 0u);
  const HttpResponse head = Send(Request(http::verb::head, std::string("/user/") + kId));
  EXPECT_EQ(head.result(), http::status::not_found);
  EXPECT_EQ(head.body(), "");
  const HttpResponse avatar =
      Send(Request(http::verb::get, std::string("/user/") + kId + "/avatar"));
  EXPECT_TRUE(IsDeletedAnswer(avatar)) << avatar.body();

  // The replay answers as the delete did, and deletes nothing twice.
  const HttpResponse replayed = Send(deletion);
  EXPECT_EQ(replayed.result(), http::status::no_content) << replayed.body();
  EXPECT_EQ(replayed.body(), "");
  // The same key for another request is still refused.
  HttpRequest reused = Request(http::verb::delete_, std::string("/user/") + kId);
  reused.set(http::field::if_match, "\"2\"");
  reused.set("Idempotency-Key", key);
  EXPECT_EQ(Send(reused).result(), http::status::unprocessable_entity);

  // Deleting it again (the tombstone's version, or the one it had): 404.
  for (const char* version : {"\"1\"", "\"2\""}) {
    HttpRequest again = Request(http::verb::delete_, std::string("/user/") + kId);
    again.set(http::field::if_match, version);
    const HttpResponse response = Send(again);
    EXPECT_TRUE(IsDeletedAnswer(response)) << version << " " << response.body();
  }
  // A profile that never existed: 404 without the reason.
  HttpRequest unknown = Request(http::verb::delete_, "/user/5e0b8c9a-0000-4000-8000-000000000001");
  unknown.set(http::field::if_match, "\"1\"");
  const HttpResponse never = Send(unknown);
  EXPECT_EQ(never.result(), http::status::not_found) << never.body();
  EXPECT_EQ(Field(ErrorOf(Json(never)), "reason"), "<absent>");
}

TEST_F(RestHandlerCoreTest, AStaleDeleteIs412WithTheCurrentProfileAndDeletesNothing) {
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  ASSERT_EQ(Put(kId, R"({"name":"Bo","email":"bo@example.com"})", "\"1\"").result(),
            http::status::ok);
  const HttpResponse current = Send(Request(http::verb::get, std::string("/user/") + kId));

  HttpRequest stale = Request(http::verb::delete_, std::string("/user/") + kId);
  stale.set(http::field::if_match, "\"1\"");
  const HttpResponse response = Send(stale);
  // Exactly what a PUT with the same stale If-Match gets.
  const HttpResponse put = Put(kId, R"({"name":"Cy","email":"cy@example.com"})", "\"1\"");
  ASSERT_EQ(response.result(), http::status::precondition_failed) << response.body();
  EXPECT_EQ(put.result(), response.result());
  EXPECT_EQ(response[http::field::etag], "\"2\"");
  const google::protobuf::Struct body = Json(response);
  EXPECT_EQ(Field(ErrorOf(body), "code"), "ABORTED");
  EXPECT_EQ(body.fields().at("current").struct_value().DebugString(), Json(current).DebugString());
  EXPECT_EQ(body.fields().at("current").struct_value().DebugString(),
            Json(put).fields().at("current").struct_value().DebugString());

  const HttpResponse after = Send(Request(http::verb::get, std::string("/user/") + kId));
  ASSERT_EQ(after.result(), http::status::ok);
  EXPECT_EQ(Field(Json(after), "name"), "Bo");
}

// After a delete, a create (no base) is a new profile whose version
// continues after the tombstone's; a write based on a version of the deleted
// profile is 404, never a resurrection.
TEST_F(RestHandlerCoreTest, APutCreateOfADeletedIdContinuesAfterTheTombstone) {
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  HttpRequest deletion = Request(http::verb::delete_, std::string("/user/") + kId);
  deletion.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(Send(deletion).result(), http::status::no_content);

  const HttpResponse edit = Put(kId, R"({"name":"Bo","email":"bo@example.com"})", "\"1\"");
  EXPECT_TRUE(IsDeletedAnswer(edit)) << edit.result() << " " << edit.body();
  const HttpResponse patch = Send(
      Request(http::verb::patch, std::string("/user/") + kId, R"({"name":"Bo","version":"1"})"));
  EXPECT_TRUE(IsDeletedAnswer(patch)) << patch.result() << " " << patch.body();

  const HttpResponse recreated = Put(kId, R"({"name":"Cy","email":"cy@example.com"})");
  ASSERT_EQ(recreated.result(), http::status::created) << recreated.body();
  EXPECT_EQ(recreated[http::field::etag], "\"3\"");
  EXPECT_EQ(recreated[http::field::location], std::string("/user/") + kId);
  EXPECT_EQ(Field(Json(recreated), "version"), "3");
  ExpectLive(Json(recreated));
  const HttpResponse got = Send(Request(http::verb::get, std::string("/user/") + kId));
  ASSERT_EQ(got.result(), http::status::ok) << got.body();
  EXPECT_EQ(Field(Json(got), "name"), "Cy");
}

// A listing from the start leaves the deleted profile out; a delta since a
// cursor carries its tombstone, marked deleted, with nothing personal.
TEST_F(RestHandlerCoreTest, DeltasCarryTheTombstoneAndAFullListingLeavesItOut) {
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  const std::string cursor =
      Field(Json(Send(Request(http::verb::get, "/user?page_size=10"))), "cursor");
  HttpRequest deletion = Request(http::verb::delete_, std::string("/user/") + kId);
  deletion.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(Send(deletion).result(), http::status::no_content);

  const google::protobuf::Struct full = Json(Send(Request(http::verb::get, "/user?page_size=10")));
  EXPECT_EQ(full.fields().at("profiles").list_value().values_size(), 0) << full.DebugString();

  const HttpResponse delta = Send(Request(http::verb::get, "/user?since=" + cursor));
  ASSERT_EQ(delta.result(), http::status::ok) << delta.body();
  const google::protobuf::Struct page = Json(delta);
  ASSERT_EQ(page.fields().at("profiles").list_value().values_size(), 1) << delta.body();
  const google::protobuf::Struct& tombstone =
      page.fields().at("profiles").list_value().values(0).struct_value();
  EXPECT_EQ(Field(tombstone, "id"), kId);
  EXPECT_EQ(Field(tombstone, "version"), "2");
  EXPECT_TRUE(tombstone.fields().at("deleted").bool_value());
  EXPECT_EQ(Field(tombstone, "name"), "");
  EXPECT_EQ(Field(tombstone, "email"), "");
}

TEST_F(RestHandlerCoreTest, AvatarIsTheRawImageWithItsHashAsETag) {
  const std::string picture = testing::RealisticPng(8 * 1024, /*seed=*/4);
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com","avatar":")" +
                         absl::Base64Escape(picture) + R"("})")
                .result(),
            http::status::created);
  HttpResponse avatar = Send(Request(http::verb::get, std::string("/user/") + kId + "/avatar"));
  ASSERT_EQ(avatar.result(), http::status::ok);
  EXPECT_EQ(avatar.body(), picture);
  EXPECT_EQ(avatar[http::field::content_type], "image/png");
  const std::string etag(avatar[http::field::etag]);
  EXPECT_EQ(etag.size(), 66u);

  HttpRequest conditional = Request(http::verb::get, std::string("/user/") + kId + "/avatar");
  conditional.set(http::field::if_none_match, etag);
  EXPECT_EQ(Send(conditional).result(), http::status::not_modified);

  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})", "\"1\"").result(),
            http::status::ok);
  EXPECT_EQ(Send(Request(http::verb::get, std::string("/user/") + kId + "/avatar")).result(),
            http::status::not_found);
}

TEST_F(RestHandlerCoreTest, APutPhotoIsServedWithoutItsLocation) {
  const std::string photo = testing::RealisticJpeg(
      120 * 1024, /*seed=*/5,
      {{testing::kJpegApp1, testing::GpsExif()}, {testing::kJpegApp1, testing::XmpApp1()}});
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com","avatar":")" +
                         absl::Base64Escape(photo) + R"("})")
                .result(),
            http::status::created);
  HttpResponse avatar = Send(Request(http::verb::get, std::string("/user/") + kId + "/avatar"));
  ASSERT_EQ(avatar.result(), http::status::ok);
  EXPECT_EQ(avatar[http::field::content_type], "image/jpeg");
  EXPECT_LT(avatar.body().size(), photo.size());
  for (std::string_view trace : {std::string_view("Exif"), std::string_view("GPS"),
                                 testing::kTestCameraModel, testing::kTestXmpNamespace}) {
    EXPECT_EQ(avatar.body().find(trace), std::string::npos) << trace;
  }
  const google::protobuf::Struct profile =
      Json(Send(Request(http::verb::get, std::string("/user/") + kId)));
  EXPECT_EQ(Field(profile, "avatar"), absl::Base64Escape(avatar.body()));

  // A text file behind a PNG signature: 400 naming the field; nothing changes.
  const HttpResponse refused =
      Put(kId,
          R"({"name":"Bo","email":"bo@example.com","avatar":")" +
              absl::Base64Escape(std::string("\x89PNG\r\n\x1a\nmy notes, not a picture")) + R"("})",
          "\"1\"");
  ASSERT_EQ(refused.result(), http::status::bad_request) << refused.body();
  EXPECT_TRUE(
      ErrorOf(Json(refused)).fields().at("fields").struct_value().fields().contains("avatar"))
      << refused.body();
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, std::string("/user/") + kId))), "name"),
            "Ann");
}

TEST_F(RestHandlerCoreTest, ListPagesThroughTheProfiles) {
  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  HttpResponse response = Send(Request(http::verb::get, "/user?page_size=10"));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  const google::protobuf::Struct list = Json(response);
  ASSERT_EQ(list.fields().at("profiles").list_value().values_size(), 1);
  EXPECT_FALSE(Field(list, "cursor").empty());
  EXPECT_EQ(Send(Request(http::verb::get, "/user?since=garbage")).result(),
            http::status::bad_request);
}

// The root names the database; a cursor of another database is 410 Gone with
// the reason, so a script knows to list again from the start.
TEST_F(RestHandlerCoreTest, RootNamesTheDatabaseAndAnotherDatabasesCursorIsGone) {
  HttpResponse root = Send(Request(http::verb::get, "/"));
  ASSERT_EQ(root.result(), http::status::ok) << root.body();
  EXPECT_EQ(Field(Json(root), "databaseId"), "memory-1");

  ASSERT_EQ(Put(kId, R"({"name":"Ann","email":"ann@example.com"})").result(),
            http::status::created);
  const std::string cursor =
      Field(Json(Send(Request(http::verb::get, "/user?page_size=10"))), "cursor");
  handler_.storage().SetDatabaseId("memory-2");
  HttpResponse gone = Send(Request(http::verb::get, "/user?since=" + cursor));
  EXPECT_EQ(gone.result(), http::status::gone) << gone.body();
  EXPECT_EQ(ErrorCode(gone), "FAILED_PRECONDITION");
  EXPECT_EQ(Field(ErrorOf(Json(gone)), "reason"), "CURSOR_FROM_OTHER_DATABASE");
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, "/"))), "databaseId"), "memory-2");
}

TEST_F(RestHandlerCoreTest, StorageFailuresAre503WithRetryAfter) {
  handler_.storage().SetAvailable(false);
  HttpResponse response = Send(Request(http::verb::get, std::string("/user/") + kId));
  EXPECT_EQ(response.result(), http::status::service_unavailable) << response.body();
  EXPECT_EQ(ErrorCode(response), "UNAVAILABLE");
  EXPECT_EQ(response[http::field::retry_after], "1");
}

}  // namespace
}  // namespace profiles
