// Hostile and international text over both protocols, end to end over real
// sockets on one ProfileCore -> PgProfileRepository -> PostgreSQL: a Beast
// HTTP client -> HttpGateway, and a gRPC client over TCP ->
// GrpcProfileService.
//   - invalid UTF-8 anywhere in a request is 400 / INVALID_ARGUMENT naming the
//     field or parameter, never a 500;
//   - international e-mail addresses are stored; refused ones are named whole;
//   - an internal error shows the caller a request id and nothing of the
//     database (no SQL, constraint, row values), and the log line with the
//     same id holds the details.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <string>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/grpc/profile_service.h"
#include "services/profile/grpc/request_interceptor.h"
#include "services/profile/http/http_gateway.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/sequenced_storage.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using google::protobuf::Struct;
using testing::RandomUuid;

// A name the test database refuses with a constraint of its own, which the
// service does not know: the way a real schema/validator disagreement or any
// unexpected database error reaches the service.
constexpr char kTrapName[] = "Trap Door";
constexpr char kTrapConstraint[] = "hostile_text_secret_trap";

// Sends raw bytes over a fresh connection and reads one response, so the
// request can hold bytes a well-behaved client library would not send.
HttpResponse SendRaw(int port, const std::string& bytes) {
  asio::io_context io_context;
  tcp::socket socket(io_context);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::write(socket, asio::buffer(bytes));
  boost::beast::flat_buffer buffer;
  HttpResponse response;
  http::read(socket, buffer, response);
  return response;
}

std::string RawRequest(const std::string& method, const std::string& target,
                       const std::string& body = "", const std::string& extra_headers = "") {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                        "Connection: close\r\n" + extra_headers;
  if (!body.empty() || method == "PUT") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return request + "\r\n" + body;
}

Struct ErrorOf(const HttpResponse& response) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body(), &parsed).ok())
      << response.body();
  auto it = parsed.fields().find("error");
  return it == parsed.fields().end() ? Struct() : it->second.struct_value();
}

std::string FieldViolation(const HttpResponse& response, const std::string& field) {
  const Struct error = ErrorOf(response);
  auto fields = error.fields().find("fields");
  if (fields == error.fields().end()) return "<no fields>";
  auto it = fields->second.struct_value().fields().find(field);
  return it == fields->second.struct_value().fields().end() ? "<absent>"
                                                            : it->second.string_value();
}

std::optional<google::rpc::BadRequest> GrpcBadRequest(const grpc::Status& status) {
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::BadRequest bad_request;
    if (any.UnpackTo(&bad_request)) return bad_request;
  }
  return std::nullopt;
}

std::string PutBody(const std::string& name, const std::string& email) {
  return "{\"name\":\"" + name + "\",\"email\":\"" + email + "\"}";
}

class HostileTextTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database).release();
    const absl::Status trap =
        database_->ExecuteSql(absl::StrCat("ALTER TABLE profiles ADD CONSTRAINT ", kTrapConstraint,
                                           " CHECK (name <> '", kTrapName, "')"));
    ASSERT_TRUE(trap.ok()) << trap;

    // With a WAL sequencer, whose positions listings read; its repository
    // view lists what was written before (sequenced_storage.h).
    absl::StatusOr<std::unique_ptr<testing::SequencedStorage>> storage =
        testing::SequencedStorage::Create(database_->url(), 2);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage).release();
    repository_ = storage_->repository();
    absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
        ChangeFeed::Start({.database_url = database_->url()}, repository_);
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = std::move(*feed).release();
    core_ = new ProfileCore({.storage_workers = 2}, repository_, feed_);
    service_ = new GrpcProfileService(core_);

    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &grpc_port_);
    builder.RegisterService(service_);
    builder.experimental().SetInterceptorCreators(RequestInterceptorCreators());
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(grpc_port_), grpc::InsecureChannelCredentials());
    stub_ = profile::v1::ProfileService::NewStub(channel).release();

    gateway_ = new HttpGateway({.address = "127.0.0.1:0", .threads = 2}, core_, nullptr);
    const absl::Status started = gateway_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete stub_;
    if (core_ != nullptr) core_->StopWatches();
    if (server_ != nullptr) server_->Shutdown();
    delete server_;
    delete service_;
    delete core_;
    delete feed_;
    delete storage_;
    delete database_;
  }

  void SetUp() override { ASSERT_NE(gateway_, nullptr) << "the suite set-up failed"; }

  static HttpResponse Send(const std::string& raw) { return SendRaw(gateway_->port(), raw); }

  static grpc::Status Update(const std::string& id, const std::string& name,
                             const std::string& email, profile::v1::Profile* written) {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email(email);
    grpc::ClientContext context;
    return stub_->UpdateProfile(&context, request, written);
  }

  static inline testing::TestDatabase* database_ = nullptr;
  static inline testing::SequencedStorage* storage_ = nullptr;
  static inline ProfileRepository* repository_ = nullptr;
  static inline ChangeFeed* feed_ = nullptr;
  static inline ProfileCore* core_ = nullptr;
  static inline GrpcProfileService* service_ = nullptr;
  static inline grpc::Server* server_ = nullptr;
  static inline int grpc_port_ = 0;
  static inline profile::v1::ProfileService::Stub* stub_ = nullptr;
  static inline HttpGateway* gateway_ = nullptr;
};

TEST_F(HostileTextTest, InvalidUtf8InAQueryParameterIs400NamingIt) {
  for (const std::string query : {"page_token=%FF", "since=%C3", "page_token=%ED%A0%80"}) {
    const HttpResponse response = Send(RawRequest("GET", "/user?" + query));
    EXPECT_EQ(response.result(), http::status::bad_request) << query << ": " << response.body();
    const std::string parameter = query.substr(0, query.find('='));
    EXPECT_NE(FieldViolation(response, parameter).find("UTF-8"), std::string::npos)
        << response.body();
  }
}

TEST_F(HostileTextTest, InvalidUtf8InTheBodyIs400NamingTheField) {
  const std::string id = RandomUuid();
  HttpResponse response = Send(RawRequest("PUT", "/user/" + id,
                                          PutBody("Ad\xFF"
                                                  "a",
                                                  "ada@example.com")));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_EQ(FieldViolation(response, "name"), "must be valid UTF-8 text") << response.body();

  response = Send(RawRequest("PUT", "/user/" + id, PutBody("Ada", "ad\xC3@example.com")));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_EQ(FieldViolation(response, "email"), "must be valid UTF-8 text") << response.body();

  // A JSON escape that spells no character.
  response = Send(RawRequest("PUT", "/user/" + id, PutBody("A\\ud800da", "ada@example.com")));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
}

TEST_F(HostileTextTest, InvalidUtf8InThePathOrIfMatchIs400) {
  HttpResponse response = Send(RawRequest("GET", "/user/\xFF\xFE"));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_NE(FieldViolation(response, "id"), "<absent>") << response.body();

  response = Send(RawRequest("PUT", "/user/" + RandomUuid(), PutBody("Ada", "ada@example.com"),
                             "If-Match: \"1\xFF\"\r\n"));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_NE(FieldViolation(response, "If-Match").find("\\xFF"), std::string::npos)
      << response.body();
}

TEST_F(HostileTextTest, InvalidUtf8OverGrpcIsInvalidArgument) {
  profile::v1::Profile written;
  const grpc::Status status = Update(RandomUuid(),
                                     "Ad\xFF"
                                     "a",
                                     "ada@example.com", &written);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();

  profile::v1::GetProfileRequest get;
  get.set_id("\xFF\xFE");
  grpc::ClientContext context;
  const grpc::Status got = stub_->GetProfile(&context, get, &written);
  EXPECT_EQ(got.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << got.error_message();
}

TEST_F(HostileTextTest, InternationalAddressesAreStoredOverBothProtocols) {
  const std::string id = RandomUuid();
  HttpResponse response =
      Send(RawRequest("PUT", "/user/" + id, PutBody("José", "josé@example.com")));
  ASSERT_EQ(response.result(), http::status::created) << response.body();
  EXPECT_NE(response.body().find("josé@example.com"), std::string::npos) << response.body();

  profile::v1::Profile written;
  const grpc::Status status = Update(RandomUuid(), "Zoë", "zoe@exämple.com", &written);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(written.email(), "zoe@exämple.com");
}

TEST_F(HostileTextTest, RefusedCharactersAreNamedWholeOverBothProtocols) {
  const std::string id = RandomUuid();
  HttpResponse response =
      Send(RawRequest("PUT", "/user/" + id, PutBody("Ada", "ada@exam\xE3\x80\x82ple.com")));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_EQ(FieldViolation(response, "email"),
            "the parts of the domain must be separated by '.', not '\xE3\x80\x82' (U+3002)");

  response = Send(RawRequest("PUT", "/user/" + id, PutBody("Ada\xE2\x80\xA8Lovelace", "a@b.co")));
  EXPECT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_EQ(FieldViolation(response, "name"),
            "must not contain U+2028, a line or paragraph separator");

  profile::v1::Profile written;
  const grpc::Status status = Update(id, "Ada", "ada(x)@example.com", &written);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::optional<google::rpc::BadRequest> bad_request = GrpcBadRequest(status);
  ASSERT_TRUE(bad_request.has_value()) << status.error_message();
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "email");
  EXPECT_EQ(bad_request->field_violations(0).description(),
            "the part before '@' must not contain '('");
}

TEST_F(HostileTextTest, InternalErrorsShowARequestIdAndTheLogHasTheDetails) {
  ::testing::internal::CaptureStderr();
  const HttpResponse response =
      Send(RawRequest("PUT", "/user/" + RandomUuid(), PutBody(kTrapName, "trap@example.com")));
  profile::v1::Profile written;
  const grpc::Status status = Update(RandomUuid(), kTrapName, "trap@example.com", &written);
  const std::string log = ::testing::internal::GetCapturedStderr();

  // REST.
  EXPECT_EQ(response.result(), http::status::internal_server_error) << response.body();
  const Struct error = ErrorOf(response);
  const std::string rest_id = error.fields().at("requestId").string_value();
  EXPECT_EQ(error.fields().at("message").string_value(), "internal error; request id " + rest_id);
  EXPECT_EQ(std::string(response["X-Request-Id"]), rest_id);
  // gRPC.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message().rfind("internal error; request id ", 0), 0u)
      << status.error_message();
  const std::string grpc_id = status.error_message().substr(status.error_message().rfind(' ') + 1);
  EXPECT_NE(grpc_id, rest_id);

  for (const std::string& shown :
       {response.body(), status.error_message(), status.error_details()}) {
    for (const char* secret :
         {kTrapConstraint, kTrapName, "trap@example.com", "ERROR", "profiles", "Failing row"}) {
      EXPECT_EQ(shown.find(secret), std::string::npos) << secret << " in " << shown;
    }
  }
  // The log has one line per error, with its id and the database's words.
  for (const std::string& id : {rest_id, grpc_id}) {
    const size_t at = log.find(R"("request_id":")" + id + R"(","code":"INTERNAL")");
    ASSERT_NE(at, std::string::npos) << id << " not in log:\n" << log;
    const std::string line = log.substr(at, log.find('\n', at) - at);
    EXPECT_NE(line.find(kTrapConstraint), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace profiles
