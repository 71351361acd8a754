// End to end over real sockets: a Beast HTTP client -> HttpGateway ->
// ProfileCore -> PgProfileRepository -> PostgreSQL
// (PROFILES_TEST_DATABASE_URL; one fresh database for the suite).
#include "services/profile/http/http_gateway.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/profile/auth/token_authority.h"
#include "services/profile/core/profile_cache.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/logging/log_capture.h"
#include "services/profile/logging/request_id.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/sequenced_storage.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using google::protobuf::Struct;
using testing::RandomUuid;

// A real picture of the size phones send (200 KiB): tiny test avatars once
// hid every size-related bug.
const std::string kPng = testing::RealisticPng(200 * 1024, /*seed=*/3);

// One keep-alive HTTP/1.1 connection to the gateway.
class HttpClient {
 public:
  explicit HttpClient(int port) : socket_(io_context_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  HttpResponse Send(HttpRequest request) {
    request.set(http::field::host, "127.0.0.1");
    request.prepare_payload();
    http::write(socket_, request);
    return Read();
  }

  // Sends bytes as they are, for requests a well-behaved client cannot make.
  void SendRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  HttpResponse Read() {
    HttpResponse response;
    http::read(socket_, buffer_, response);
    return response;
  }

  // True when the server closes the connection (EOF or reset) without
  // sending anything more.
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

HttpRequest Request(http::verb method, const std::string& target, std::string json = "") {
  HttpRequest request(method, target, 11);
  if (!json.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::move(json);
  }
  return request;
}

Struct Json(const HttpResponse& response) {
  Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(response.body(), &parsed).ok())
      << response.body();
  return parsed;
}

std::string Field(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? "<absent>" : it->second.string_value();
}

const Struct& ErrorOf(const Struct& body) { return body.fields().at("error").struct_value(); }

std::string Header(const HttpResponse& response, http::field field) {
  return std::string(response[field]);
}

class HttpGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database).release();

    // With a WAL sequencer, whose positions listings read; its repository
    // view lists what was written before (sequenced_storage.h).
    absl::StatusOr<std::unique_ptr<testing::SequencedStorage>> storage =
        testing::SequencedStorage::Create(database_->url(), 4);
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = std::move(*storage).release();
    repository_ = storage_->repository();

    absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
        ChangeFeed::Start({.database_url = database_->url()}, repository_);
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = std::move(*feed).release();
    core_ = new ProfileCore({.storage_workers = 4}, repository_, feed_);

    gateway_ = new HttpGateway({.address = "127.0.0.1:0", .threads = 2}, core_,
                               [] { return repository_->Ping(); });
    absl::Status started = gateway_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete core_;
    delete feed_;
    delete storage_;
    delete database_;
  }

  void SetUp() override {
    ASSERT_NE(gateway_, nullptr) << "the suite set-up failed";
    client_.emplace(gateway_->port());
  }

  HttpResponse Send(HttpRequest request) { return client_->Send(std::move(request)); }

  // PUTs a new profile and returns its id.
  std::string Create(const std::string& name, const std::string& avatar_base64 = "") {
    std::string id = RandomUuid();
    HttpResponse response =
        Send(Request(http::verb::put, "/user/" + id,
                     R"({"name":")" + name + R"(","email":"someone@example.com","avatar":")" +
                         avatar_base64 + R"("})"));
    EXPECT_EQ(response.result(), http::status::created) << response.body();
    return id;
  }

  static inline testing::TestDatabase* database_ = nullptr;
  static inline testing::SequencedStorage* storage_ = nullptr;
  static inline ProfileRepository* repository_ = nullptr;
  static inline ChangeFeed* feed_ = nullptr;
  static inline ProfileCore* core_ = nullptr;
  static inline HttpGateway* gateway_ = nullptr;

  std::optional<HttpClient> client_;
};

TEST_F(HttpGatewayTest, PutCreatesWith201AndGetReturnsTheProfile) {
  const std::string id = RandomUuid();
  HttpResponse created =
      Send(Request(http::verb::put, "/user/" + id, R"({"name":"Ann","email":"ann@example.com"})"));
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  EXPECT_EQ(Header(created, http::field::etag), "\"1\"");
  EXPECT_EQ(Header(created, http::field::location), "/user/" + id);
  EXPECT_EQ(Header(created, http::field::content_type), "application/json");
  EXPECT_EQ(Field(Json(created), "version"), "1");

  HttpResponse got = Send(Request(http::verb::get, "/user/" + id));
  ASSERT_EQ(got.result(), http::status::ok) << got.body();
  EXPECT_EQ(Header(got, http::field::etag), "\"1\"");
  const Struct profile = Json(got);
  EXPECT_EQ(Field(profile, "id"), id);
  EXPECT_EQ(Field(profile, "name"), "Ann");
  EXPECT_EQ(Field(profile, "email"), "ann@example.com");
  EXPECT_EQ(Field(profile, "avatar"), "");
  EXPECT_EQ(Field(profile, "version"), "1");

  HttpRequest conditional = Request(http::verb::get, "/user/" + id);
  conditional.set(http::field::if_none_match, "\"1\"");
  EXPECT_EQ(Send(conditional).result(), http::status::not_modified);
}

TEST_F(HttpGatewayTest, GetOfAnUnknownIdIs404AndOfAMalformedOne400) {
  HttpResponse unknown = Send(Request(http::verb::get, "/user/" + RandomUuid()));
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_EQ(Field(ErrorOf(Json(unknown)), "code"), "NOT_FOUND");

  HttpResponse malformed = Send(Request(http::verb::get, "/user/not-a-uuid"));
  EXPECT_EQ(malformed.result(), http::status::bad_request);
  EXPECT_TRUE(ErrorOf(Json(malformed)).fields().at("fields").struct_value().fields().contains("id"))
      << malformed.body();
}

TEST_F(HttpGatewayTest, PutWithTheCurrentIfMatchReplacesAndBumpsTheVersion) {
  const std::string id = Create("Ann", absl::Base64Escape(kPng));
  HttpRequest put =
      Request(http::verb::put, "/user/" + id, R"({"name":"Bo","email":"bo@example.com"})");
  put.set(http::field::if_match, "\"1\"");
  HttpResponse response = Send(put);
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  EXPECT_EQ(Header(response, http::field::etag), "\"2\"");
  const Struct profile = Json(response);
  EXPECT_EQ(Field(profile, "name"), "Bo");
  // A PUT replaces: the absent avatar is cleared.
  EXPECT_EQ(Field(profile, "avatar"), "");
  EXPECT_EQ(Field(profile, "avatarSha256"), "");
}

TEST_F(HttpGatewayTest, AGetBodyCanBePutBackWithItsVersion) {
  const std::string id = Create("Ann");
  HttpResponse got = Send(Request(http::verb::get, "/user/" + id));
  HttpResponse put = Send(Request(http::verb::put, "/user/" + id, got.body()));
  ASSERT_EQ(put.result(), http::status::ok) << put.body();
  EXPECT_EQ(Field(Json(put), "version"), "2");
}

TEST_F(HttpGatewayTest, StaleIfMatchIs412WithTheCurrentProfile) {
  const std::string id = Create("Ann");
  HttpRequest first =
      Request(http::verb::put, "/user/" + id, R"({"name":"Bo","email":"b@example.com"})");
  first.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(Send(first).result(), http::status::ok);

  HttpRequest stale =
      Request(http::verb::put, "/user/" + id, R"({"name":"Cy","email":"c@example.com"})");
  stale.set(http::field::if_match, "\"1\"");
  HttpResponse response = Send(stale);
  ASSERT_EQ(response.result(), http::status::precondition_failed) << response.body();
  EXPECT_EQ(Header(response, http::field::etag), "\"2\"");
  const Struct body = Json(response);
  const Struct& error = ErrorOf(body);
  EXPECT_EQ(Field(error, "code"), "ABORTED");
  const Struct& current = body.fields().at("current").struct_value();
  EXPECT_EQ(Field(current, "name"), "Bo");
  EXPECT_EQ(Field(current, "version"), "2");
}

TEST_F(HttpGatewayTest, StaleBodyVersionIs409WithTheCurrentProfile) {
  const std::string id = Create("Ann", absl::Base64Escape(kPng));
  ASSERT_EQ(
      Send(Request(http::verb::patch, "/user/" + id, R"({"name":"Bo","version":"1"})")).result(),
      http::status::ok);
  HttpResponse response =
      Send(Request(http::verb::patch, "/user/" + id, R"({"name":"Cy","version":1})"));
  ASSERT_EQ(response.result(), http::status::conflict) << response.body();
  const Struct body = Json(response);
  const Struct& current = body.fields().at("current").struct_value();
  EXPECT_EQ(Field(current, "name"), "Bo");
  EXPECT_EQ(Field(current, "version"), "2");
  EXPECT_EQ(Field(current, "avatar"), absl::Base64Escape(kPng));
}

TEST_F(HttpGatewayTest, WritingAnExistingProfileWithoutABaseVersionIs428) {
  const std::string id = Create("Ann");
  for (http::verb method : {http::verb::put, http::verb::patch}) {
    HttpResponse response =
        Send(Request(method, "/user/" + id, R"({"name":"Bo","email":"bo@example.com"})"));
    ASSERT_EQ(response.result(), http::status::precondition_required) << response.body();
    EXPECT_EQ(Field(Json(response).fields().at("current").struct_value(), "name"), "Ann");
  }
}

// A partial PATCH with no base version cannot be a create; on an existing
// profile the missing piece is the base version, so the answer is 428 with
// the current profile, not the create's validation errors.
TEST_F(HttpGatewayTest, PartialPatchOfAnExistingProfileWithoutABaseVersionIs428) {
  const std::string id = Create("Ann");
  HttpResponse response = Send(Request(http::verb::patch, "/user/" + id, R"({"name":"Bo"})"));
  ASSERT_EQ(response.result(), http::status::precondition_required) << response.body();
  EXPECT_EQ(response[http::field::etag], "\"1\"");
  EXPECT_EQ(Field(Json(response).fields().at("current").struct_value(), "name"), "Ann");

  const std::string unknown = "5e0b8c9a-0000-4000-8000-000000000001";
  response = Send(Request(http::verb::patch, "/user/" + unknown, R"({"name":"Bo"})"));
  ASSERT_EQ(response.result(), http::status::bad_request) << response.body();
  EXPECT_TRUE(
      ErrorOf(Json(response)).fields().at("fields").struct_value().fields().contains("email"));
}

TEST_F(HttpGatewayTest, PatchChangesOnlyTheFieldsPresent) {
  const std::string id = Create("Ann", absl::Base64Escape(kPng));
  HttpRequest patch = Request(http::verb::patch, "/user/" + id, R"({"email":"new@example.com"})");
  patch.set(http::field::if_match, "\"1\"");
  HttpResponse response = Send(patch);
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  const Struct profile = Json(Send(Request(http::verb::get, "/user/" + id)));
  EXPECT_EQ(Field(profile, "email"), "new@example.com");
  EXPECT_EQ(Field(profile, "name"), "Ann");
  EXPECT_EQ(Field(profile, "avatar"), absl::Base64Escape(kPng));
  EXPECT_EQ(Field(profile, "version"), "2");

  EXPECT_EQ(Send(Request(http::verb::patch, "/user/" + id, "{}")).result(),
            http::status::bad_request);
}

TEST_F(HttpGatewayTest, AnIdempotencyKeyReplayReturnsTheSameResponseAndAppliesOnce) {
  const std::string id = Create("Ann");
  const std::string key = RandomUuid();
  auto patch = [&](const std::string& body) {
    HttpRequest request = Request(http::verb::patch, "/user/" + id, body);
    request.set(http::field::if_match, "\"1\"");
    request.set("Idempotency-Key", key);
    return Send(request);
  };
  HttpResponse first = patch(R"({"name":"Bo"})");
  ASSERT_EQ(first.result(), http::status::ok) << first.body();
  HttpResponse replay = patch(R"({"name":"Bo"})");
  ASSERT_EQ(replay.result(), http::status::ok) << replay.body();
  EXPECT_EQ(replay.body(), first.body());
  EXPECT_EQ(Header(replay, http::field::etag), "\"2\"");
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, "/user/" + id))), "version"), "2");

  HttpResponse reused = patch(R"({"name":"Cy"})");
  ASSERT_EQ(reused.result(), http::status::unprocessable_entity) << reused.body();
  EXPECT_EQ(Field(ErrorOf(Json(reused)), "reason"), "MUTATION_ID_REUSED");

  HttpRequest bad_key = Request(http::verb::patch, "/user/" + id, R"({"name":"Cy"})");
  bad_key.set("Idempotency-Key", "retry-1");
  HttpResponse rejected = Send(bad_key);
  EXPECT_EQ(rejected.result(), http::status::bad_request);
  EXPECT_TRUE(ErrorOf(Json(rejected))
                  .fields()
                  .at("fields")
                  .struct_value()
                  .fields()
                  .contains("Idempotency-Key"));
}

// DELETE /user/{id} as a client sees it, on PostgreSQL: version-checked by
// If-Match, idempotent by Idempotency-Key, 404 saying "deleted" afterwards,
// and a later create continues after the tombstone's version.
TEST_F(HttpGatewayTest, DeleteLifecycle) {
  const std::string id = Create("Ann", absl::Base64Escape(kPng));
  auto deletion = [&](const std::string& target, const std::string& if_match,
                      const std::string& key) {
    HttpRequest request = Request(http::verb::delete_, target);
    if (!if_match.empty()) request.set(http::field::if_match, if_match);
    if (!key.empty()) request.set("Idempotency-Key", key);
    return Send(request);
  };
  auto says_deleted = [](const HttpResponse& response) {
    const Struct body = Json(response);
    return response.result() == http::status::not_found &&
           Field(ErrorOf(body), "code") == "NOT_FOUND" &&
           Field(ErrorOf(body), "reason") == "PROFILE_DELETED" &&
           !body.fields().contains("current");
  };

  // No If-Match: 428, and nothing is deleted.
  HttpResponse response = deletion("/user/" + id, "", "");
  ASSERT_EQ(response.result(), http::status::precondition_required) << response.body();
  EXPECT_NE(Field(ErrorOf(Json(response)), "message").find("If-Match"), std::string::npos);
  ASSERT_EQ(Send(Request(http::verb::get, "/user/" + id)).result(), http::status::ok);

  // A stale If-Match: what a PUT with it gets, 412 with the current profile.
  HttpRequest edit =
      Request(http::verb::put, "/user/" + id, R"({"name":"Bo","email":"bo@example.com"})");
  edit.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(Send(edit).result(), http::status::ok);
  response = deletion("/user/" + id, "\"1\"", RandomUuid());
  ASSERT_EQ(response.result(), http::status::precondition_failed) << response.body();
  EXPECT_EQ(Header(response, http::field::etag), "\"2\"");
  EXPECT_EQ(Field(ErrorOf(Json(response)), "code"), "ABORTED");
  const Struct current = Json(response).fields().at("current").struct_value();
  EXPECT_EQ(Field(current, "name"), "Bo");
  EXPECT_EQ(Field(current, "version"), "2");
  ASSERT_EQ(Field(Json(Send(Request(http::verb::get, "/user/" + id))), "name"), "Bo");

  // The right If-Match: 204, no body.
  const std::string key = RandomUuid();
  response = deletion("/user/" + id, "\"2\"", key);
  ASSERT_EQ(response.result(), http::status::no_content) << response.body();
  EXPECT_EQ(response.body(), "");
  EXPECT_EQ(Header(response, http::field::etag), "");

  // Reads: 404 saying deleted, from the cache and from PostgreSQL.
  response = Send(Request(http::verb::get, "/user/" + id));
  EXPECT_TRUE(says_deleted(response)) << response.result() << " " << response.body();
  core_->cache().SetEnabled(true);  // clears it: the next read is PostgreSQL's
  response = Send(Request(http::verb::get, "/user/" + id));
  EXPECT_TRUE(says_deleted(response)) << response.result() << " " << response.body();
  EXPECT_EQ(response.body().find("Bo"), std::string::npos) << response.body();
  response = Send(Request(http::verb::get, "/user/" + id + "/avatar"));
  EXPECT_TRUE(says_deleted(response)) << response.result() << " " << response.body();

  // The replay: 204 again, nothing deleted twice.
  response = deletion("/user/" + id, "\"2\"", key);
  EXPECT_EQ(response.result(), http::status::no_content) << response.body();
  EXPECT_EQ(response.body(), "");
  // Deleting it again: 404 saying deleted.
  response = deletion("/user/" + id, "\"3\"", RandomUuid());
  EXPECT_TRUE(says_deleted(response)) << response.result() << " " << response.body();

  // A PUT without a base creates it anew, continuing after the tombstone (3).
  response =
      Send(Request(http::verb::put, "/user/" + id, R"({"name":"Cy","email":"cy@example.com"})"));
  ASSERT_EQ(response.result(), http::status::created) << response.body();
  EXPECT_EQ(Header(response, http::field::etag), "\"4\"");
  EXPECT_EQ(Field(Json(response), "version"), "4");
  EXPECT_EQ(Field(Json(response), "avatar"), "");
  response = Send(Request(http::verb::get, "/user/" + id));
  ASSERT_EQ(response.result(), http::status::ok) << response.body();
  EXPECT_EQ(Field(Json(response), "name"), "Cy");
  const Struct live = Json(response);
  EXPECT_FALSE(live.fields().contains("deleted") && live.fields().at("deleted").bool_value());
  // The old delete's replay still answers as it did, and deletes nothing.
  EXPECT_EQ(deletion("/user/" + id, "\"2\"", key).result(), http::status::no_content);
  EXPECT_EQ(Field(Json(Send(Request(http::verb::get, "/user/" + id))), "name"), "Cy");

  // A profile that never existed: 404, no reason.
  response = deletion("/user/" + RandomUuid(), "\"1\"", "");
  ASSERT_EQ(response.result(), http::status::not_found) << response.body();
  EXPECT_EQ(Field(ErrorOf(Json(response)), "reason"), "<absent>");
}

TEST_F(HttpGatewayTest, InvalidBodiesAre400WithTheField) {
  const std::string path = "/user/" + RandomUuid();
  HttpResponse malformed = Send(Request(http::verb::put, path, R"({"name":"Ann",)"));
  EXPECT_EQ(malformed.result(), http::status::bad_request);
  EXPECT_EQ(Field(ErrorOf(Json(malformed)), "code"), "INVALID_ARGUMENT");

  HttpResponse unknown =
      Send(Request(http::verb::put, path, R"({"name":"Ann","email":"a@example.com","nick":"A"})"));
  EXPECT_EQ(unknown.result(), http::status::bad_request);
  EXPECT_TRUE(
      ErrorOf(Json(unknown)).fields().at("fields").struct_value().fields().contains("nick"));

  HttpResponse bad_email = Send(Request(http::verb::put, path, R"({"name":"Ann","email":"ann"})"));
  ASSERT_EQ(bad_email.result(), http::status::bad_request);
  EXPECT_NE(Field(ErrorOf(Json(bad_email)).fields().at("fields").struct_value(), "email"),
            "<absent>");
  EXPECT_EQ(Send(Request(http::verb::get, path)).result(), http::status::not_found)
      << "a rejected write must change nothing";

  HttpRequest form = Request(http::verb::put, path);
  form.set(http::field::content_type, "text/plain");
  form.body() = "name=Ann";
  EXPECT_EQ(Send(form).result(), http::status::unsupported_media_type);
}

TEST_F(HttpGatewayTest, ABodyOverOneMebibyteIs413) {
  const std::string body = R"({"name":")" + std::string(size_t{1024} * 1024, 'a') + R"("})";
  HttpResponse response = Send(Request(http::verb::put, "/user/" + RandomUuid(), body));
  EXPECT_EQ(response.result(), http::status::payload_too_large);
  EXPECT_EQ(Field(ErrorOf(Json(response)), "code"), "INVALID_ARGUMENT");
  EXPECT_FALSE(response.keep_alive());
}

TEST_F(HttpGatewayTest, ExpectContinueGetsA413BeforeTheBodyIsSent) {
  HttpClient client(gateway_->port());
  client.SendRaw("PUT /user/" + RandomUuid() +
                 " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::payload_too_large);
}

TEST_F(HttpGatewayTest, ExpectContinueGetsA100ThenTheResponse) {
  HttpClient client(gateway_->port());
  const std::string body = R"({"name":"Ann","email":"ann@example.com"})";
  client.SendRaw(
      "PUT /user/" + RandomUuid() +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::continue_);
  client.SendRaw(body);
  EXPECT_EQ(client.Read().result(), http::status::created);
}

TEST_F(HttpGatewayTest, UnknownPathIs404AndWrongMethod405WithAllow) {
  HttpResponse unknown = Send(Request(http::verb::get, "/users/1"));
  EXPECT_EQ(unknown.result(), http::status::not_found);
  EXPECT_EQ(Field(ErrorOf(Json(unknown)), "code"), "NOT_FOUND");

  HttpResponse wrong = Send(Request(http::verb::post, "/user/" + RandomUuid()));
  EXPECT_EQ(wrong.result(), http::status::method_not_allowed);
  EXPECT_EQ(Header(wrong, http::field::allow), "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
  EXPECT_EQ(Header(Send(Request(http::verb::delete_, "/user")), http::field::allow),
            "GET, HEAD, OPTIONS");
  EXPECT_EQ(Header(Send(Request(http::verb::post, "/user")), http::field::allow),
            "GET, HEAD, OPTIONS");
}

TEST_F(HttpGatewayTest, AMalformedRequestIs400AndClosesTheConnection) {
  HttpClient client(gateway_->port());
  client.SendRaw("GET /healthz HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::bad_request);
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(HttpGatewayTest, AvatarRoundTripWithContentTypeETagAnd304) {
  const std::string id = Create("Ann", absl::Base64Escape(kPng));
  const Struct profile = Json(Send(Request(http::verb::get, "/user/" + id)));
  const std::string sha256 = Field(profile, "avatarSha256");
  ASSERT_EQ(sha256.size(), 64u);

  HttpResponse avatar = Send(Request(http::verb::get, "/user/" + id + "/avatar"));
  ASSERT_EQ(avatar.result(), http::status::ok);
  EXPECT_EQ(avatar.body(), kPng);
  EXPECT_EQ(Header(avatar, http::field::content_type), "image/png");
  EXPECT_EQ(Header(avatar, http::field::etag), "\"" + sha256 + "\"");

  HttpRequest conditional = Request(http::verb::get, "/user/" + id + "/avatar");
  conditional.set(http::field::if_none_match, "\"" + sha256 + "\"");
  HttpResponse not_modified = Send(conditional);
  EXPECT_EQ(not_modified.result(), http::status::not_modified);
  EXPECT_EQ(not_modified.body(), "");

  conditional.set(http::field::if_none_match, "\"other\"");
  EXPECT_EQ(Send(conditional).result(), http::status::ok);

  const std::string plain = Create("Bo");
  EXPECT_EQ(Send(Request(http::verb::get, "/user/" + plain + "/avatar")).result(),
            http::status::not_found);
  EXPECT_EQ(Send(Request(http::verb::get, "/user/" + RandomUuid() + "/avatar")).result(),
            http::status::not_found);
}

TEST_F(HttpGatewayTest, ListAndDeltaSinceACursor) {
  // The end of everything so far, paging through it.
  std::string cursor;
  for (std::string token;;) {
    HttpResponse page = Send(Request(http::verb::get, "/user?page_size=1000&page_token=" + token));
    ASSERT_EQ(page.result(), http::status::ok) << page.body();
    const Struct list = Json(page);
    ASSERT_TRUE(list.fields().contains("profiles"));
    cursor = Field(list, "cursor");
    token = Field(list, "nextPageToken");
    if (token.empty()) break;
  }
  ASSERT_FALSE(cursor.empty());

  const std::string first = Create("Ann", absl::Base64Escape(kPng));
  const std::string second = Create("Bo");
  // The suite's repository lists a change once it has its position
  // (sequenced_storage.h): one delta from the cursor holds both.
  HttpResponse delta = Send(Request(http::verb::get, "/user?since=" + cursor));
  ASSERT_EQ(delta.result(), http::status::ok) << delta.body();
  const Struct delta_list = Json(delta);
  std::vector<Struct> profiles;
  for (const auto& profile : delta_list.fields().at("profiles").list_value().values()) {
    profiles.push_back(profile.struct_value());
  }
  ASSERT_EQ(profiles.size(), 2);
  EXPECT_EQ(Field(profiles[0], "id"), first);
  EXPECT_EQ(Field(profiles[1], "id"), second);
  // Avatars are left out unless asked for; their hash is always there.
  EXPECT_EQ(Field(profiles[0], "avatar"), "");
  EXPECT_EQ(Field(profiles[0], "avatarSha256").size(), 64u);

  HttpResponse with_avatars =
      Send(Request(http::verb::get, "/user?include_avatars=true&page_size=1&since=" + cursor));
  const Struct page = Json(with_avatars);
  const auto& one = page.fields().at("profiles").list_value().values();
  ASSERT_EQ(one.size(), 1);
  EXPECT_EQ(Field(one[0].struct_value(), "avatar"), absl::Base64Escape(kPng));
  EXPECT_FALSE(Field(page, "nextPageToken").empty());

  EXPECT_EQ(Send(Request(http::verb::get, "/user?page_size=many")).result(),
            http::status::bad_request);
  EXPECT_EQ(Send(Request(http::verb::get, "/user?since=garbage")).result(),
            http::status::bad_request);
}

TEST_F(HttpGatewayTest, HealthzAndReadyz) {
  HttpResponse health = Send(Request(http::verb::get, "/healthz"));
  EXPECT_EQ(health.result(), http::status::ok);
  EXPECT_EQ(Field(Json(health), "status"), "ok");
  HttpResponse ready = Send(Request(http::verb::get, "/readyz"));
  EXPECT_EQ(ready.result(), http::status::ok) << ready.body();
}

TEST_F(HttpGatewayTest, ReadyzAndCallsAre503WhenTheBackendIsUnreachable) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> unreachable = PgProfileRepository::Create(
      {.database_url = "postgresql://postgres@127.0.0.1:1/none", .pool_size = 1});
  ASSERT_TRUE(unreachable.ok());
  // The suite's feed stands in for this core's (it only feeds the cache,
  // and the ids asked for below are in neither database).
  ProfileCore core({.storage_workers = 1}, unreachable->get(), feed_);
  HttpGateway gateway({.address = "127.0.0.1:0", .threads = 1}, &core,
                      [&repository = **unreachable] { return repository.Ping(); });
  ASSERT_TRUE(gateway.Start().ok());
  HttpClient client(gateway.port());
  HttpResponse ready = client.Send(Request(http::verb::get, "/readyz"));
  EXPECT_EQ(ready.result(), http::status::service_unavailable);
  EXPECT_EQ(Field(ErrorOf(Json(ready)), "code"), "UNAVAILABLE");
  EXPECT_EQ(Header(ready, http::field::retry_after), "1");

  // The database is unreachable for calls too: a retryable 503, not a 500.
  HttpResponse get = client.Send(Request(http::verb::get, "/user/" + RandomUuid()));
  EXPECT_EQ(get.result(), http::status::service_unavailable);
  EXPECT_EQ(Field(ErrorOf(Json(get)), "code"), "UNAVAILABLE");
  EXPECT_EQ(Header(get, http::field::retry_after), "1");
}

// What reaches the core's CallContext is checked in rest_handler_test.cc
// (CallContextFor); here, that credentials do not get in the way.
TEST_F(HttpGatewayTest, RequestsWithAnAuthorizationHeaderAreServed) {
  const std::string id = Create("Ann");
  HttpRequest get = Request(http::verb::get, "/user/" + id);
  get.set(http::field::authorization, "Bearer read-" + RandomUuid());
  ASSERT_EQ(Send(get).result(), http::status::ok);

  HttpRequest patch = Request(http::verb::patch, "/user/" + id, R"({"name":"Bo","version":1})");
  patch.set(http::field::authorization, "Bearer write-" + RandomUuid());
  ASSERT_EQ(Send(patch).result(), http::status::ok);

  patch.set(http::field::authorization, "Bearer caf\xC3\xA9");
  HttpResponse refused = Send(patch);
  EXPECT_EQ(refused.result(), http::status::bad_request);
  EXPECT_TRUE(ErrorOf(Json(refused))
                  .fields()
                  .at("fields")
                  .struct_value()
                  .fields()
                  .contains("Authorization"));
}

// Every answer, the handler's and the gateway's own refusals, tells a
// browser not to sniff it and lets it run or frame nothing from it.
TEST_F(HttpGatewayTest, EveryAnswerCarriesNosniffAndACspThatRunsNothing) {
  std::vector<HttpResponse> answers;
  answers.push_back(Send(Request(http::verb::get, "/healthz")));
  answers.push_back(Send(Request(http::verb::get, "/nowhere")));
  HttpClient oversized(gateway_->port());
  oversized.SendRaw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                    std::string(20 * 1024, 'a') + "\r\n\r\n");
  answers.push_back(oversized.Read());
  ASSERT_EQ(answers.back().result(), http::status::request_header_fields_too_large);
  for (const HttpResponse& answer : answers) {
    EXPECT_EQ(answer["X-Content-Type-Options"], "nosniff") << answer.result();
    EXPECT_EQ(answer["Content-Security-Policy"], "default-src 'none'; frame-ancestors 'none'")
        << answer.result();
  }
}

// A page whose own name an attacker resolves to 127.0.0.1 (DNS rebinding)
// still sends that name as Host: refused (421), before anything is read or
// written. The loopback names are served, with or without a port; HTTP/1.1
// requires a Host, HTTP/1.0 does not.
TEST_F(HttpGatewayTest, AHostOutsideTheAllowedNamesIs421AndChangesNothing) {
  const std::string id = RandomUuid();
  const std::string body = R"({"name":"Ann","email":"ann@example.com"})";
  const auto raw = [&](const std::string& head_lines, const std::string& request_body) {
    HttpClient client(gateway_->port());
    client.SendRaw(head_lines + "Content-Type: application/json\r\nContent-Length: " +
                   std::to_string(request_body.size()) + "\r\n\r\n" + request_body);
    return client.Read();
  };
  HttpResponse refused =
      raw("PUT /user/" + id + " HTTP/1.1\r\nHost: rebound.example.com\r\n", body);
  EXPECT_EQ(refused.result(), http::status::misdirected_request);
  EXPECT_EQ(Field(ErrorOf(Json(refused)), "code"), "PERMISSION_DENIED");
  EXPECT_NE(Field(ErrorOf(Json(refused)), "message").find("127.0.0.1"), std::string::npos)
      << refused.body();
  EXPECT_EQ(Send(Request(http::verb::get, "/user/" + id)).result(), http::status::not_found);

  EXPECT_EQ(raw("PUT /user/" + id + " HTTP/1.1\r\n", body).result(), http::status::bad_request);
  for (const std::string host : {"localhost", "LOCALHOST:8080", "127.0.0.1:1", "[::1]:8080"}) {
    EXPECT_EQ(raw("GET /healthz HTTP/1.1\r\nHost: " + host + "\r\n", "").result(), http::status::ok)
        << host;
  }
  EXPECT_EQ(raw("GET /healthz HTTP/1.0\r\n", "").result(), http::status::ok);

  HttpGateway any({.address = "127.0.0.1:0", .threads = 1, .allowed_hosts = {"*"}}, core_, {});
  ASSERT_TRUE(any.Start().ok());
  HttpClient client(any.port());
  client.SendRaw("GET /healthz HTTP/1.1\r\nHost: profiles.example.com\r\n\r\n");
  EXPECT_EQ(client.Read().result(), http::status::ok);
  EXPECT_EQ(any.allowed_hosts(), std::vector<std::string>{"*"});
  EXPECT_EQ(gateway_->allowed_hosts(), (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
}

// A body's end is known from Content-Length or chunked framing only; any
// other Transfer-Encoding is 501 and the connection closes. Chunked works.
TEST_F(HttpGatewayTest, ATransferEncodingOtherThanChunkedIs501) {
  const std::string id = RandomUuid();
  const std::string body = R"({"name":"Ann","email":"ann@example.com"})";
  const auto chunked = [&](const std::string& coding) {
    HttpClient client(gateway_->port());
    std::ostringstream chunk_size;
    chunk_size << std::hex << body.size();
    client.SendRaw("PUT /user/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                   "Content-Type: application/json\r\nTransfer-Encoding: " + coding + "\r\n\r\n" +
                   chunk_size.str() + "\r\n" + body + "\r\n0\r\n\r\n");
    return client.Read();
  };
  for (const std::string coding : {"gzip, chunked", "identity", "chunked, chunked"}) {
    HttpResponse refused = chunked(coding);
    EXPECT_EQ(refused.result(), http::status::not_implemented) << coding;
    EXPECT_EQ(Field(ErrorOf(Json(refused)), "code"), "UNIMPLEMENTED");
    EXPECT_FALSE(refused.keep_alive());
  }
  EXPECT_EQ(Send(Request(http::verb::get, "/user/" + id)).result(), http::status::not_found);
  EXPECT_EQ(chunked("chunked").result(), http::status::created);
}

TEST_F(HttpGatewayTest, OneConnectionServesManyRequests) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Send(Request(http::verb::get, "/healthz")).result(), http::status::ok);
  }
}

TEST_F(HttpGatewayTest, ASlowClientIsDisconnected) {
  HttpGateway gateway(
      {.address = "127.0.0.1:0", .threads = 1, .read_timeout = std::chrono::milliseconds(200)},
      core_, {});
  ASSERT_TRUE(gateway.Start().ok());
  HttpClient client(gateway.port());
  client.SendRaw("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  EXPECT_TRUE(client.ClosedByServer());
}

TEST_F(HttpGatewayTest, StartFailsOnAPortInUseNamingTheAddress) {
  const std::string address = "127.0.0.1:" + std::to_string(gateway_->port());
  HttpGateway second({.address = address}, core_, {});
  absl::Status started = second.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(started.message().find(address), absl::string_view::npos) << started;

  HttpGateway malformed({.address = "no-port"}, nullptr, {});
  EXPECT_EQ(malformed.Start().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(HttpGatewayTest, StopClosesTheListenerAndTheConnections) {
  HttpGateway gateway({.address = "127.0.0.1:0", .threads = 1}, core_, {});
  ASSERT_TRUE(gateway.Start().ok());
  HttpClient client(gateway.port());
  EXPECT_EQ(client.Send(Request(http::verb::get, "/healthz")).result(), http::status::ok);
  const int port = gateway.port();
  gateway.Stop();
  EXPECT_TRUE(client.ClosedByServer());
  EXPECT_THROW(HttpClient{port}, boost::system::system_error);
  gateway.Stop();
}

// Metrics and the access log over real sockets: a server with tokens on,
// its own core and metrics, and the process's log captured.
class HttpObservabilityTest : public ::testing::Test {
 protected:
  static constexpr char kSecret[] = "a test secret of more than thirty-two bytes";
  static constexpr char kAdmin[] = "00000000-0000-4000-8000-00000000a0a0";

  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<testing::TestDatabase>> database =
        testing::TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database).release();
  }
  static void TearDownTestSuite() {
    delete database_;
    database_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(database_, nullptr) << "the suite set-up failed";
    absl::StatusOr<TokenAuthority> tokens = TokenAuthority::FromKey(kSecret);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    token_ = *tokens->Mint({.subject = kAdmin, .admin = true}, absl::Hours(1), absl::Now());
    absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
        PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
    absl::StatusOr<std::unique_ptr<ChangeFeed>> feed =
        ChangeFeed::Start({.database_url = database_->url()}, repository_.get());
    ASSERT_TRUE(feed.ok()) << feed.status();
    feed_ = *std::move(feed);
    core_ = std::make_unique<ProfileCore>(
        ProfileCore::Options{.storage_workers = 2, .tokens = *tokens, .metrics = &metrics_},
        repository_.get(), feed_.get());
    gateway_ = std::make_unique<HttpGateway>(
        HttpGateway::Options{.address = "127.0.0.1:0", .threads = 2, .metrics = &metrics_},
        core_.get(), [] { return absl::OkStatus(); });
    ASSERT_TRUE(gateway_->Start().ok());
    client_.emplace(gateway_->port());
  }

  void TearDown() override {
    client_.reset();
    gateway_.reset();
    core_.reset();
    feed_.reset();
    repository_.reset();
  }

  // `request` with the admin's token.
  HttpResponse SendAuthorized(HttpRequest request) {
    request.set(http::field::authorization, "Bearer " + token_);
    return client_->Send(std::move(request));
  }

  // The value of the sample `series` (name and labels) in the scrape `text`,
  // or -1 when it is not there.
  static double Sample(const std::string& text, const std::string& series) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, series + " ")) {
        return std::stod(std::string(line.substr(series.size() + 1)));
      }
    }
    return -1;
  }

  // The captured log's lines, each parsed (a line that is not one JSON object
  // fails the test).
  std::vector<Struct> LogLines() const {
    std::vector<Struct> parsed;
    for (const std::string& line : log_.Lines()) {
      Struct object;
      EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &object).ok()) << line;
      parsed.push_back(std::move(object));
    }
    return parsed;
  }

  static inline testing::TestDatabase* database_ = nullptr;
  LogCapture log_{LogLevel::kDebug};
  ServiceMetrics metrics_;
  std::string token_;
  std::unique_ptr<PgProfileRepository> repository_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<ProfileCore> core_;
  std::unique_ptr<HttpGateway> gateway_;
  std::optional<HttpClient> client_;
};

TEST_F(HttpObservabilityTest, MetricsCountEachOutcomeOnceAndNeedNoToken) {
  const std::string id = RandomUuid();
  const std::string avatar = absl::Base64Escape(kPng);
  const std::string body =
      R"({"name":"Ann","email":"ann@example.com","avatar":")" + avatar + R"("})";
  // Created, then the same write again: a replay.
  for (int i = 0; i < 2; ++i) {
    HttpRequest create = Request(http::verb::put, "/user/" + id, body);
    create.set("Idempotency-Key", "8a4c7a52-1f0e-4b1e-9d59-3d1f4ef1a001");
    ASSERT_EQ(SendAuthorized(std::move(create)).result(), http::status::created);
  }
  HttpRequest update = Request(http::verb::patch, "/user/" + id, R"({"name":"Bo"})");
  update.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(SendAuthorized(std::move(update)).result(), http::status::ok);
  HttpRequest stale = Request(http::verb::patch, "/user/" + id, R"({"name":"Cy"})");
  stale.set(http::field::if_match, "\"1\"");
  ASSERT_EQ(SendAuthorized(std::move(stale)).result(), http::status::precondition_failed);
  // Written through this process, so cached: a hit.
  ASSERT_EQ(SendAuthorized(Request(http::verb::get, "/user/" + id)).result(), http::status::ok);
  ASSERT_EQ(client_->Send(Request(http::verb::get, "/user/" + id)).result(),
            http::status::unauthorized);

  // No token: Prometheus has none.
  HttpResponse scrape = client_->Send(Request(http::verb::get, "/metrics"));
  ASSERT_EQ(scrape.result(), http::status::ok) << scrape.body();
  EXPECT_EQ(Header(scrape, http::field::content_type), ServiceMetrics::kContentType);
  const std::string& text = scrape.body();
  const auto requests = [](const std::string& method, const std::string& status) {
    return absl::StrCat(R"(profiles_requests_total{method=")", method,
                        R"(",protocol="http",status=")", status, R"("})");
  };
  EXPECT_EQ(Sample(text, requests("PUT /user/{id}", "201")), 2) << text;
  EXPECT_EQ(Sample(text, requests("PATCH /user/{id}", "200")), 1) << text;
  EXPECT_EQ(Sample(text, requests("PATCH /user/{id}", "412")), 1) << text;
  EXPECT_EQ(Sample(text, requests("GET /user/{id}", "200")), 1) << text;
  EXPECT_EQ(Sample(text, requests("GET /user/{id}", "401")), 1) << text;
  EXPECT_EQ(Sample(text, "profiles_version_conflicts_total"), 1) << text;
  EXPECT_EQ(Sample(text, "profiles_idempotent_replays_total"), 1) << text;
  EXPECT_EQ(Sample(text, "profiles_cache_hits_total"), 1) << text;
  EXPECT_EQ(Sample(text, "profiles_cache_misses_total"), 0) << text;
  EXPECT_EQ(Sample(text, R"(profiles_request_duration_seconds_count{method="PUT /user/{id}",)"
                         R"(protocol="http"})"),
            2)
      << text;
  EXPECT_EQ(Sample(text, "profiles_watch_streams_open"), 0) << text;
  EXPECT_EQ(Sample(text, "profiles_storage_queued_calls"), 0) << text;
  // Ids never become labels.
  EXPECT_FALSE(absl::StrContains(text, id)) << text;

  // The scrape itself is counted once it is answered.
  const std::string second = client_->Send(Request(http::verb::get, "/metrics")).body();
  EXPECT_EQ(Sample(second, requests("GET /metrics", "200")), 1) << second;
}

TEST_F(HttpObservabilityTest, RequestIdsComeBackAndReachTheCoresLog) {
  HttpRequest traced = Request(http::verb::put, "/user/" + RandomUuid(),
                               R"({"name":"Ann","email":"ann@example.com"})");
  traced.set(kRequestIdHeader, "trace-7f3a");
  HttpResponse created = SendAuthorized(std::move(traced));
  ASSERT_EQ(created.result(), http::status::created) << created.body();
  EXPECT_EQ(std::string(created[kRequestIdHeader]), "trace-7f3a");

  // Without one, or with one that is not sane, the server makes one up.
  HttpResponse anonymous = client_->Send(Request(http::verb::get, "/healthz"));
  EXPECT_EQ(std::string(anonymous[kRequestIdHeader]).size(), 32u);
  HttpRequest insane = Request(http::verb::get, "/healthz");
  insane.set(kRequestIdHeader, "two words");
  HttpResponse replaced = client_->Send(std::move(insane));
  EXPECT_EQ(std::string(replaced[kRequestIdHeader]).size(), 32u);
  EXPECT_NE(std::string(replaced[kRequestIdHeader]), std::string(anonymous[kRequestIdHeader]));
  // Errors too, and their body says the same id.
  HttpRequest refused = Request(http::verb::get, "/user/" + RandomUuid());
  refused.set(kRequestIdHeader, "trace-401");
  EXPECT_EQ(std::string(client_->Send(std::move(refused))[kRequestIdHeader]), "trace-401");

  bool core_line = false;
  bool access_line = false;
  for (const Struct& line : LogLines()) {
    if (Field(line, "request_id") != "trace-7f3a") continue;
    if (Field(line, "msg") == "profile written") {
      core_line = true;
      EXPECT_EQ(Field(line, "outcome"), "created");
    }
    if (Field(line, "msg") == "request") {
      access_line = true;
      EXPECT_EQ(Field(line, "protocol"), "http");
      EXPECT_EQ(Field(line, "method"), "PUT /user/{id}");
      EXPECT_EQ(Field(line, "status"), "201");
      EXPECT_EQ(Field(line, "peer"), "127.0.0.1");
      EXPECT_EQ(Field(line, "subject"), kAdmin);
      EXPECT_GT(line.fields().at("duration_ms").number_value(), 0);
    }
  }
  EXPECT_TRUE(core_line) << log_.Text();
  EXPECT_TRUE(access_line) << log_.Text();
}

TEST_F(HttpObservabilityTest, TheLogHoldsNoTokenNoPictureAndOnlyWholeJsonLines) {
  const std::string avatar = absl::Base64Escape(kPng);
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([this, &avatar] {
      HttpClient client(gateway_->port());
      for (int i = 0; i < 10; ++i) {
        HttpRequest put =
            Request(http::verb::put, "/user/" + RandomUuid(),
                    R"({"name":"Ann","email":"ann@example.com","avatar":")" + avatar + R"("})");
        put.set(http::field::authorization, "Bearer " + token_);
        EXPECT_EQ(client.Send(std::move(put)).result(), http::status::created);
        HttpRequest bad = Request(http::verb::get, "/user/not-a-uuid");
        bad.set(http::field::authorization, "Bearer " + token_ + "x");
        EXPECT_EQ(client.Send(std::move(bad)).result(), http::status::unauthorized);
      }
    });
  }
  for (std::thread& writer : writers) writer.join();

  const std::vector<Struct> lines = LogLines();
  size_t access_lines = 0;
  for (const Struct& line : lines) access_lines += Field(line, "msg") == "request";
  EXPECT_EQ(access_lines, 80u);
  const std::string text = log_.Text();
  // Neither the token (or any piece of it) nor the picture, whole or in part.
  for (const std::string& secret : {token_, token_.substr(token_.size() - 20),
                                    std::string("Bearer"), avatar.substr(1000, 40)}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

}  // namespace
}  // namespace profiles
