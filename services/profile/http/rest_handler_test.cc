// RestHandler without sockets: everything the gateway decides before it
// calls the service. The stub's channel points nowhere, so a request that
// wrongly reached the service would fail with 503, not pass.
#include "services/profile/http/rest_handler.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace profiles {
namespace {

namespace http = boost::beast::http;

constexpr char kId[] = "123e4567-e89b-12d3-a456-426614174000";

RestHandler MakeHandler(std::function<absl::Status()> readiness = {}) {
  return RestHandler(profile::v1::ProfileService::NewStub(
                         grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials())),
                     std::move(readiness), {.rpc_timeout = std::chrono::milliseconds(2000)});
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

std::string ErrorCode(const HttpResponse& response) {
  return Json(response).fields().at("error").struct_value().fields().at("code").string_value();
}

TEST(RestHandlerTest, UnknownPathsAreNotFound) {
  const RestHandler handler = MakeHandler();
  const std::vector<std::string> targets = {
      "/", "/users", "/user/", std::string("/user/") + kId + "/x", "/healthz/x", "/user//avatar"};
  for (const std::string& target : targets) {
    HttpResponse response = handler.Handle(Request(http::verb::get, target));
    EXPECT_EQ(response.result(), http::status::not_found) << target;
    EXPECT_EQ(response[http::field::content_type], "application/json");
    EXPECT_EQ(ErrorCode(response), "NOT_FOUND") << target;
  }
}

TEST(RestHandlerTest, WrongMethodIsMethodNotAllowedWithAllow) {
  const RestHandler handler = MakeHandler();
  struct Case {
    http::verb method;
    std::string target;
    const char* allow;
  };
  for (const Case& test :
       {Case{http::verb::post, std::string("/user/") + kId, "GET, PUT, PATCH"},
        Case{http::verb::delete_, std::string("/user/") + kId, "GET, PUT, PATCH"},
        Case{http::verb::post, "/user", "GET"},
        Case{http::verb::put, std::string("/user/") + kId + "/avatar", "GET"},
        Case{http::verb::post, "/healthz", "GET"}, Case{http::verb::post, "/readyz", "GET"}}) {
    HttpResponse response = handler.Handle(Request(test.method, test.target));
    EXPECT_EQ(response.result(), http::status::method_not_allowed) << test.target;
    EXPECT_EQ(response[http::field::allow], test.allow) << test.target;
    EXPECT_EQ(ErrorCode(response), "UNIMPLEMENTED");
  }
}

TEST(RestHandlerTest, HeadIsNotAllowedAndHasNoBody) {
  HttpResponse response = MakeHandler().Handle(Request(http::verb::head, "/healthz"));
  EXPECT_EQ(response.result(), http::status::method_not_allowed);
  EXPECT_EQ(response.body(), "");
  EXPECT_NE(response[http::field::content_length], "0");
}

TEST(RestHandlerTest, HealthzIsOk) {
  HttpResponse response = MakeHandler().Handle(Request(http::verb::get, "/healthz"));
  EXPECT_EQ(response.result(), http::status::ok);
  EXPECT_EQ(Json(response).fields().at("status").string_value(), "ok");
}

TEST(RestHandlerTest, ReadyzFollowsTheReadinessCallback) {
  absl::Status readiness = absl::OkStatus();
  const RestHandler handler = MakeHandler([&readiness] { return readiness; });
  EXPECT_EQ(handler.Handle(Request(http::verb::get, "/readyz")).result(), http::status::ok);

  readiness = absl::UnavailableError("PostgreSQL is not reachable");
  HttpResponse response = handler.Handle(Request(http::verb::get, "/readyz"));
  EXPECT_EQ(response.result(), http::status::service_unavailable);
  EXPECT_EQ(ErrorCode(response), "UNAVAILABLE");
  EXPECT_NE(response.body().find("PostgreSQL is not reachable"), std::string::npos);
}

TEST(RestHandlerTest, WritesMustBeJson) {
  const RestHandler handler = MakeHandler();
  for (http::verb method : {http::verb::put, http::verb::patch}) {
    HttpResponse response = handler.Handle(Request(method, std::string("/user/") + kId, "name=Ann",
                                                   "application/x-www-form-urlencoded"));
    EXPECT_EQ(response.result(), http::status::unsupported_media_type);
    EXPECT_EQ(ErrorCode(response), "INVALID_ARGUMENT");
    EXPECT_EQ(handler.Handle(Request(method, std::string("/user/") + kId)).result(),
              http::status::unsupported_media_type);
  }
}

TEST(RestHandlerTest, BadRequestsAreRejectedBeforeTheService) {
  const RestHandler handler = MakeHandler();
  const std::string path = std::string("/user/") + kId;
  EXPECT_EQ(handler.Handle(Request(http::verb::put, path, "{\"name\":")).result(),
            http::status::bad_request);
  HttpResponse unknown = handler.Handle(Request(http::verb::put, path, R"({"nickname":"A"})"));
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
  EXPECT_EQ(handler.Handle(Request(http::verb::patch, path, "{}")).result(),
            http::status::bad_request);
  EXPECT_EQ(handler.Handle(Request(http::verb::get, "/user?page_size=x")).result(),
            http::status::bad_request);

  HttpRequest weak = Request(http::verb::put, path, R"({"name":"Ann"})");
  weak.set(http::field::if_match, "W/\"1\"");
  EXPECT_EQ(handler.Handle(weak).result(), http::status::bad_request);

  HttpRequest key = Request(http::verb::put, path, R"({"name":"Ann"})");
  key.set("Idempotency-Key", "once");
  HttpResponse response = handler.Handle(key);
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

TEST(RestHandlerTest, AnAuthorizationGrpcCannotCarryIsRejected) {
  HttpRequest request = Request(http::verb::get, std::string("/user/") + kId);
  request.set(http::field::authorization, "Bearer \x01token");
  HttpResponse response = MakeHandler().Handle(request);
  EXPECT_EQ(response.result(), http::status::bad_request);
  EXPECT_NE(response.body().find("Authorization"), std::string::npos);
}

TEST(RestHandlerTest, KeepAliveFollowsTheRequest) {
  const RestHandler handler = MakeHandler();
  HttpRequest request = Request(http::verb::get, "/healthz");
  EXPECT_TRUE(handler.Handle(request).keep_alive());
  request.keep_alive(false);
  EXPECT_FALSE(handler.Handle(request).keep_alive());
}

}  // namespace
}  // namespace profiles
