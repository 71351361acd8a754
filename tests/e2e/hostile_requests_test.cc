// Hostile requests, table-driven, end to end: a real profile_server (tokens
// required, a 1 s HTTP read timeout) on a real PostgreSQL, called over raw
// TCP for REST (so a request may hold bytes no client library would send)
// and over gRPC. Every row must be refused with the status it deserves and a
// message that names the field or the problem, the database must be exactly
// as it was before the row (profiles, idempotency records, tables), and the
// server must still answer a good request afterwards.
//
// The rows: sizes (bodies, headers, gRPC messages), HTTP framing, invalid
// UTF-8 and every forbidden character in every text field, SQL
// metacharacters in every field, pictures that lie about their type, ids
// that are not UUIDs, negative and overflowing versions, field masks naming
// unknown or server-set fields, and tokens that are another user's, expired,
// forged or unsigned. Slow clients have a test of their own, as they are
// refused by the clock rather than by an answer.

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/auth/token_authority.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles::testing {
namespace {

using profile::v1::ProfileService;
using profile::v1::UpdateProfileRequest;

// The owner of the token most rows use; their profile exists (version 1,
// with an avatar), so a write that got through would change it.
constexpr char kUser[] = "0b7e7d1c-5d1e-4a39-9c1f-2f6f1a9e8c11";
// Another user, whose profile exists too.
constexpr char kOther[] = "5a1c3e0f-8d2b-4c6a-9e7f-1b3d5f7a9c2e";
constexpr char kAdmin[] = "9f8e7d6c-5b4a-4392-8172-6f5e4d3c2b1a";
constexpr char kUserName[] = "Ada";

// The server's bounds (http_gateway.h, profile_server.cc, gRPC's default).
constexpr size_t kBodyLimit = size_t{1024} * 1024;
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kGrpcMessageLimit = size_t{4} * 1024 * 1024;
constexpr absl::Duration kReadTimeout = absl::Seconds(1);
// How long any one exchange may take before the test gives up on it: far
// above what each needs, so only a hang reaches it.
constexpr absl::Duration kPatience = absl::Seconds(10);

// ---------------------------------------------------------------------------
// REST over a raw socket.

// A connected TCP socket to "host:port", or -1.
int Connect(const std::string& address) {
  const size_t colon = address.rfind(':');
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  if (inet_pton(AF_INET, address.substr(0, colon).c_str(), &peer.sin_addr) != 1) return -1;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Milliseconds left until `deadline`, for poll().
int MillisecondsUntil(absl::Time deadline) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now())));
}

struct HttpAnswer {
  int status = 0;    // 0: the connection ended without a status line
  std::string head;  // the status line and the headers
  std::string body;
  bool ended = false;  // the server closed (or reset) the connection
};

HttpAnswer ParseAnswer(std::string bytes, bool ended) {
  HttpAnswer answer;
  answer.ended = ended;
  const size_t end_of_head = bytes.find("\r\n\r\n");
  if (end_of_head == std::string::npos) return answer;
  answer.head = bytes.substr(0, end_of_head);
  answer.body = bytes.substr(end_of_head + 4);
  int status = 0;
  if (absl::StartsWith(answer.head, "HTTP/1.1 ") &&
      absl::SimpleAtoi(answer.head.substr(9, 3), &status)) {
    answer.status = status;
  }
  return answer;
}

// Sends `request` on a new connection, reading what comes back meanwhile (a
// server may answer before the request is complete, 413 and 431 do), then
// half-closes and reads until the server closes. Every request of the table
// says "Connection: close", so the server's close ends the answer.
HttpAnswer Exchange(const std::string& address, absl::string_view request) {
  const int fd = Connect(address);
  EXPECT_GE(fd, 0) << "cannot connect to " << address;
  if (fd < 0) return {};
  const absl::Time deadline = absl::Now() + kPatience;
  std::string received;
  size_t sent = 0;
  bool writing = true;
  bool ended = false;
  while (!ended && absl::Now() < deadline) {
    pollfd waiting{
        .fd = fd, .events = static_cast<short>(POLLIN | (writing ? POLLOUT : 0)), .revents = 0};
    if (poll(&waiting, 1, MillisecondsUntil(deadline)) <= 0) continue;
    if (waiting.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buffer[64 * 1024];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        received.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ended = true;  // closed, or reset after answering
      }
    }
    if (writing && (waiting.revents & POLLOUT)) {
      const ssize_t n =
          send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      // The server may stop reading once it has refused the request.
      if (n < 0 && errno != EAGAIN && errno != EINTR) writing = false;
      if (sent == request.size()) {
        writing = false;
        shutdown(fd, SHUT_WR);
      }
    }
  }
  close(fd);
  EXPECT_TRUE(ended) << "no end of the answer within " << kPatience;
  return ParseAnswer(std::move(received), ended);
}

// The error of a JSON error body (http_status.h): its message, and the
// fields its google.rpc.BadRequest names.
struct RestError {
  std::string message;
  std::vector<std::string> fields;
};

RestError ErrorOf(const std::string& body) {
  RestError error;
  google::protobuf::Struct parsed;
  if (!google::protobuf::util::JsonStringToMessage(body, &parsed).ok()) return error;
  auto it = parsed.fields().find("error");
  if (it == parsed.fields().end()) return error;
  const google::protobuf::Struct& fields = it->second.struct_value();
  if (auto message = fields.fields().find("message"); message != fields.fields().end()) {
    error.message = message->second.string_value();
  }
  if (auto named = fields.fields().find("fields"); named != fields.fields().end()) {
    for (const auto& [field, description] : named->second.struct_value().fields()) {
      error.fields.push_back(field);
    }
  }
  return error;
}

// A JSON string literal of `text` (valid UTF-8 is kept as it is, as JSON
// encoders send it; controls become \u escapes, as JSON requires).
std::string JsonString(absl::string_view text) {
  std::string quoted = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (byte < 0x20) {
      quoted += absl::StrFormat("\\u%04x", byte);
    } else {
      quoted += c;
    }
  }
  return quoted + "\"";
}

// ---------------------------------------------------------------------------
// Tokens made by hand.

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string ClaimsFor(absl::string_view subject, bool admin) {
  return absl::StrCat("{\"sub\":\"", subject,
                      "\",\"exp\":", absl::ToUnixSeconds(absl::Now() + absl::Hours(1)),
                      admin ? ",\"admin\":true" : "", "}");
}

// A JWT with `alg: none` and no signature (RFC 7519 6.1, "unsecured"),
// claiming to be an admin.
std::string UnsignedToken(absl::string_view subject) {
  return absl::StrCat(Base64Url(R"({"alg":"none","typ":"JWT"})"), ".",
                      Base64Url(ClaimsFor(subject, /*admin=*/true)), ".");
}

// A JWT over `claims` signed with `key` by `alg` ("HS256" or "HS512"): what
// whoever holds the key could sign, with claims Mint() never writes.
std::string SignedToken(absl::string_view key, absl::string_view alg, absl::string_view claims) {
  const std::string signing_input = absl::StrCat(
      Base64Url(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})")), ".", Base64Url(claims));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(alg == "HS512" ? EVP_sha512() : EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac,
       &size);
  return absl::StrCat(signing_input, ".",
                      Base64Url(absl::string_view(reinterpret_cast<const char*>(mac), size)));
}

// `token` with its claims replaced (made an admin), its signature kept.
std::string TamperedToken(absl::string_view token) {
  const size_t first = token.find('.');
  const size_t second = token.find('.', first + 1);
  return absl::StrCat(token.substr(0, first + 1), Base64Url(ClaimsFor(kUser, /*admin=*/true)),
                      token.substr(second));
}

// ---------------------------------------------------------------------------
// The table.

using GrpcCall = std::function<grpc::Status(ProfileService::Stub&, grpc::ClientContext&)>;

struct Row {
  std::string name{};
  // A raw HTTP request; empty: the row has no REST side.
  std::string http{};
  int http_status = 0;
  // Empty: the row has no gRPC side.
  GrpcCall grpc{};
  // The authorization metadata; unset: the owner's token; empty: none.
  std::optional<std::string> grpc_authorization{};
  grpc::StatusCode grpc_code = grpc::StatusCode::OK;
  // In the error message of each side.
  std::string message{};
  // Named by the error's google.rpc.BadRequest on each side, when set. (gRPC
  // cannot name the field of a request it cannot parse: rows of invalid
  // UTF-8 set grpc_field_too = false.)
  std::string field{};
  bool grpc_field_too = true;
};

GrpcCall Update(UpdateProfileRequest request) {
  return [request = std::move(request)](ProfileService::Stub& stub, grpc::ClientContext& context) {
    profile::v1::Profile written;
    return stub.UpdateProfile(&context, request, &written);
  };
}

GrpcCall Get(std::string id) {
  return [id = std::move(id)](ProfileService::Stub& stub, grpc::ClientContext& context) {
    profile::v1::GetProfileRequest request;
    request.set_id(id);
    profile::v1::Profile profile;
    return stub.GetProfile(&context, request, &profile);
  };
}

GrpcCall List(profile::v1::ListProfilesRequest request) {
  return [request = std::move(request)](ProfileService::Stub& stub, grpc::ClientContext& context) {
    profile::v1::ListProfilesResponse page;
    return stub.ListProfiles(&context, request, &page);
  };
}

// The owner renaming their profile, as the base of most gRPC rows: accepted
// as it is (NothingButTheHostilePartIsRefused checks), so each row's one
// change is what gets it refused. `change` makes that change.
UpdateProfileRequest OwnerEdit(const std::function<void(UpdateProfileRequest&)>& change = {}) {
  UpdateProfileRequest request;
  request.mutable_profile()->set_id(kUser);
  request.mutable_profile()->set_name("Ada Hostile");
  request.mutable_update_mask()->add_paths("name");
  request.set_expected_version(1);
  if (change) change(request);
  return request;
}

UpdateProfileRequest OwnerEditOf(absl::string_view field, std::string value) {
  return OwnerEdit([&](UpdateProfileRequest& request) {
    request.mutable_update_mask()->Clear();
    request.mutable_update_mask()->add_paths(std::string(field));
    profile::v1::Profile* profile = request.mutable_profile();
    if (field == "name") profile->set_name(value);
    if (field == "email") profile->set_email(value);
    if (field == "avatar") profile->set_avatar(value);
  });
}

class HostileRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/profiles-hostile-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    const std::string key_file = dir_ + "/profiles.key";
    {
      // The key only this test knows; 0600, as profilectl and the server expect.
      const int fd = open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(write(fd, key_.data(), key_.size()), static_cast<ssize_t>(key_.size()));
      close(fd);
    }
    absl::StatusOr<TokenAuthority> authority = TokenAuthority::FromKeyFile(key_file);
    ASSERT_TRUE(authority.ok()) << authority.status();
    const absl::Time now = absl::Now();
    owner_token_ = *authority->Mint({.subject = kUser}, absl::Hours(1), now);
    other_token_ = *authority->Mint({.subject = kOther}, absl::Hours(1), now);
    admin_token_ = *authority->Mint({.subject = kAdmin, .admin = true}, absl::Hours(1), now);
    // Expired well beyond the allowed clock skew.
    expired_token_ =
        *authority->Mint({.subject = kUser, .admin = true}, absl::Minutes(5), now - absl::Hours(2));
    foreign_token_ = *TokenAuthority::FromKey(std::string(48, 'k'))
                          ->Mint({.subject = kUser, .admin = true}, absl::Hours(1), now);

    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
        database_->url(), absl::Seconds(30), true,
        {"--auth=on", "--auth-key-file=" + key_file,
         absl::StrCat("--http-read-timeout=", absl::FormatDuration(kReadTimeout))});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = server_->NewStub();
    snapshots_ = std::make_unique<pqxx::connection>(database_->url());

    // The owner's profile, with a real picture, and another user's.
    avatar_ = TestPng(64, 48, 7);
    UpdateProfileRequest create;
    create.mutable_profile()->set_id(kUser);
    create.mutable_profile()->set_name(kUserName);
    create.mutable_profile()->set_email("ada@example.com");
    create.mutable_profile()->set_avatar(avatar_);
    ASSERT_TRUE(Call(Update(create), "Bearer " + owner_token_).ok());
    create.mutable_profile()->set_id(kOther);
    create.mutable_profile()->set_name("Grace");
    create.mutable_profile()->set_email("grace@example.com");
    create.mutable_profile()->clear_avatar();
    ASSERT_TRUE(Call(Update(create), "Bearer " + admin_token_).ok());
  }

  void TearDown() override {
    if (!dir_.empty()) std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
  }

  grpc::Status Call(const GrpcCall& call, const std::string& authorization) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    return call(*stub_, context);
  }

  // A REST request with the owner's token.
  std::string Rest(absl::string_view method, absl::string_view target, absl::string_view body = {},
                   absl::string_view headers = {}) const {
    return RestWith("Bearer " + owner_token_, method, target, body, headers);
  }

  // A REST request with `authorization` (empty: none) and more `headers`
  // (whole lines), on a connection it closes; bodies are JSON.
  static std::string RestWith(absl::string_view authorization, absl::string_view method,
                              absl::string_view target, absl::string_view body = {},
                              absl::string_view headers = {}) {
    std::string request =
        absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if (!authorization.empty()) absl::StrAppend(&request, "Authorization: ", authorization, "\r\n");
    absl::StrAppend(&request, headers);
    if (!body.empty()) {
      absl::StrAppend(&request, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\n");
    }
    return absl::StrCat(request, "\r\n", body);
  }

  // The owner's edit of their profile over REST: PATCH with If-Match "1" and
  // `body`, accepted as long as `body` is valid.
  std::string OwnerPatch(absl::string_view body, absl::string_view headers = {}) const {
    return Rest("PATCH", absl::StrCat("/user/", kUser), body,
                absl::StrCat("If-Match: \"1\"\r\n", headers));
  }

  // Everything a request could change: every table's name, every profile
  // (its avatar by its hash) and every idempotency record.
  std::string Snapshot() {
    pqxx::read_transaction transaction(*snapshots_);
    return transaction
        .exec1(
            "SELECT (SELECT string_agg(table_name, ',' ORDER BY table_name) "
            "        FROM information_schema.tables WHERE table_schema = 'public') || E'\\n' || "
            "coalesce((SELECT string_agg(p::text, E'\\n' ORDER BY p.id) FROM (SELECT id, name, "
            "email, avatar_sha256, version, updated_at FROM profiles) p), "
            "'') || E'\\n' || "
            "coalesce((SELECT string_agg(m::text, E'\\n' ORDER BY m::text) "
            "          FROM applied_mutations m), '')")[0]
        .as<std::string>();
  }

  // The server still answers, on both protocols, with the profile as seeded.
  void ExpectHealthy() {
    const HttpAnswer read =
        Exchange(server_->http_address(), Rest("GET", absl::StrCat("/user/", kUser)));
    EXPECT_EQ(read.status, 200) << read.head << "\n" << read.body.substr(0, 500);
    EXPECT_TRUE(absl::StrContains(read.head, "ETag: \"1\"")) << read.head;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kPatience));
    // On a connection of its own: a row may have made the server end the
    // row's connection (oversized metadata does), and a call on it raced
    // that end ("Socket closed").
    context.AddMetadata("authorization", "Bearer " + owner_token_);
    profile::v1::GetProfileRequest request;
    request.set_id(kUser);
    profile::v1::Profile profile;
    const grpc::Status status = server_->NewStub()->GetProfile(&context, request, &profile);
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    EXPECT_EQ(profile.name(), kUserName);
    EXPECT_EQ(profile.version(), 1);
  }

  void Check(const Row& row) {
    SCOPED_TRACE(row.name);
    ASSERT_TRUE(!row.http.empty() || row.grpc) << "a row with no request";
    if (!row.http.empty()) {
      SCOPED_TRACE("REST");
      const std::string before = Snapshot();
      const HttpAnswer answer = Exchange(server_->http_address(), row.http);
      EXPECT_EQ(answer.status, row.http_status) << answer.head << "\n"
                                                << answer.body.substr(0, 1000);
      const RestError error = ErrorOf(answer.body);
      EXPECT_TRUE(absl::StrContains(error.message, row.message))
          << "expected '" << row.message << "' in: " << answer.body.substr(0, 1000);
      if (!row.field.empty()) {
        EXPECT_NE(std::find(error.fields.begin(), error.fields.end(), row.field),
                  error.fields.end())
            << "expected field " << row.field << " in: " << answer.body.substr(0, 1000);
      }
      EXPECT_EQ(Snapshot(), before);
      ExpectHealthy();
    }
    if (row.grpc) {
      SCOPED_TRACE("gRPC");
      const std::string before = Snapshot();
      const grpc::Status status =
          Call(row.grpc, row.grpc_authorization.value_or("Bearer " + owner_token_));
      EXPECT_EQ(status.error_code(), row.grpc_code) << status.error_message();
      EXPECT_TRUE(absl::StrContains(status.error_message(), row.message))
          << "expected '" << row.message << "' in: " << status.error_message();
      if (!row.field.empty() && row.grpc_field_too) {
        std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(FromGrpcStatus(status));
        bool named = false;
        if (bad_request.has_value()) {
          for (const auto& violation : bad_request->field_violations()) {
            named = named || violation.field() == row.field;
          }
        }
        EXPECT_TRUE(named) << "expected field " << row.field << " in: " << status.error_message();
      }
      EXPECT_EQ(Snapshot(), before);
      ExpectHealthy();
    }
  }

  void CheckAll(const std::vector<Row>& rows) {
    for (const Row& row : rows) {
      Check(row);
      if (HasFatalFailure()) return;
    }
  }

  // The service's HS256 secret.
  const std::string key_ = std::string(48, 'h');
  std::string dir_;
  std::string owner_token_;
  std::string other_token_;
  std::string admin_token_;
  std::string expired_token_;
  std::string foreign_token_;
  std::string avatar_;
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<ProfileService::Stub> stub_;
  std::unique_ptr<pqxx::connection> snapshots_;
};

// The base requests the rows change one thing of are accepted as they are:
// so each row is refused for its hostile part, not for something else.
TEST_F(HostileRequestsTest, NothingButTheHostilePartIsRefused) {
  const HttpAnswer patched =
      Exchange(server_->http_address(), OwnerPatch(R"({"name":"Ada Hostile"})"));
  EXPECT_EQ(patched.status, 200) << patched.head << "\n" << patched.body;
  const grpc::Status updated = Call(
      Update(OwnerEdit([](UpdateProfileRequest& request) { request.set_expected_version(2); })),
      "Bearer " + owner_token_);
  EXPECT_TRUE(updated.ok()) << updated.error_message();
  // Tokens made by hand are made right: these claims are accepted.
  const grpc::Status read =
      Call(Get(kUser), "Bearer " + SignedToken(key_, "HS256", ClaimsFor(kUser, false)));
  EXPECT_TRUE(read.ok()) << read.error_message();
}

TEST_F(HostileRequestsTest, OversizedRequestsAreRefusedByTheirBounds) {
  const std::string path = absl::StrCat("/user/", kUser);
  // A JSON body one byte over the limit.
  const std::string prefix = R"({"name":")";
  const std::string huge_body =
      prefix + std::string(kBodyLimit + 1 - prefix.size() - 2, 'a') + "\"}";
  std::string chunked = absl::StrCat("PATCH ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                     "Authorization: Bearer ",
                                     owner_token_,
                                     "\r\nIf-Match: \"1\"\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n");
  for (size_t sent = 0; sent <= kBodyLimit; sent += 64 * 1024) {
    absl::StrAppend(&chunked, "10000\r\n", std::string(64 * 1024, ' '), "\r\n");
  }
  absl::StrAppend(&chunked, "0\r\n\r\n");
  std::string many_headers;
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&many_headers, "X-Pad-", i, ": x\r\n");

  const std::string too_long_name(kMaxNameCharacters + 1, 'n');
  std::string too_long_email = std::string(64, 'e') + "@";
  for (int label = 0; label < 4; ++label) too_long_email += std::string(60, 'd') + ".";
  too_long_email += "com";
  ASSERT_GT(too_long_email.size(), kMaxEmailBytes);
  const std::string big_avatar = RealisticPng(kMaxAvatarBytes + 40 * 1024, 3);
  ASSERT_GT(big_avatar.size(), kMaxAvatarBytes);

  CheckAll({
      {.name = "a body one byte over 1 MiB",
       .http = OwnerPatch(huge_body),
       .http_status = 413,
       .message = "the body exceeds 1048576 bytes"},
      {.name = "a Content-Length of a terabyte, with a small body",
       .http = absl::StrCat("PUT ", path,
                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Content-Type: application/json\r\nContent-Length: 1099511627776\r\n"
                            "Authorization: Bearer ",
                            owner_token_, "\r\n\r\n{}"),
       .http_status = 413,
       .message = "the body exceeds 1048576 bytes"},
      {.name = "a chunked body over 1 MiB",
       .http = chunked,
       .http_status = 413,
       .message = "the body exceeds 1048576 bytes"},
      {.name = "one header over 16 KiB",
       .http =
           Rest("GET", path, {}, absl::StrCat("X-Pad: ", std::string(kHeaderLimit, 'x'), "\r\n")),
       .http_status = 431,
       .message = "header"},
      {.name = "2000 small headers",
       .http = Rest("GET", path, {}, many_headers),
       .http_status = 431,
       .message = "header"},
      {.name = "a header line longer than the read buffer",
       .http = Rest("GET", path, {}, absl::StrCat("X-Pad: ", std::string(80 * 1024, 'x'), "\r\n")),
       .http_status = 431,
       .message = "header"},
      {.name = "a request target of 20 KiB",
       .http = Rest("GET", absl::StrCat("/user?page_token=", std::string(20 * 1024, 't'))),
       .http_status = 431,
       .message = "header"},
      {.name = "a bearer token over 8 KiB",
       .http = RestWith("Bearer " + std::string(9000, 'a'), "GET", path),
       .http_status = 401,
       .message = "longer than 8192 bytes"},
      // gRPC's own bound on metadata (8 KiB) refuses it before the service.
      {.name = "gRPC metadata over 8 KiB",
       .grpc = Get(kUser),
       .grpc_authorization = "Bearer " + std::string(9000, 'a'),
       .grpc_code = grpc::StatusCode::RESOURCE_EXHAUSTED,
       .message = "metadata size exceeds limit"},
      {.name = "a name of 101 characters",
       .http = OwnerPatch(absl::StrCat(R"({"name":)", JsonString(too_long_name), "}")),
       .http_status = 400,
       .grpc = Update(OwnerEditOf("name", too_long_name)),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "at most 100 characters",
       .field = "name"},
      {.name = "an e-mail address over 254 bytes",
       .http = OwnerPatch(absl::StrCat(R"({"email":)", JsonString(too_long_email), "}")),
       .http_status = 400,
       .grpc = Update(OwnerEditOf("email", too_long_email)),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "at most 254 bytes",
       .field = "email"},
      {.name = "a real picture over 256 KiB",
       .http = OwnerPatch(absl::StrCat(R"({"avatar":")", absl::Base64Escape(big_avatar), "\"}")),
       .http_status = 400,
       .grpc = Update(OwnerEditOf("avatar", big_avatar)),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "at most 256 KiB",
       .field = "avatar"},
      {.name = "a gRPC message over 4 MiB",
       .grpc = Update(OwnerEditOf("avatar", std::string(kGrpcMessageLimit + 1, 'x'))),
       .grpc_code = grpc::StatusCode::RESOURCE_EXHAUSTED,
       .message = "larger than max"},
  });
}

TEST_F(HostileRequestsTest, MalformedHttpIsRefusedBeforeTheCore) {
  const std::string path = absl::StrCat("/user/", kUser);
  const std::string auth = absl::StrCat("Authorization: Bearer ", owner_token_, "\r\n");
  const std::string edit = R"({"name":"Ada Hostile"})";
  // JSON nested far deeper than a profile (protobuf's parser took minutes
  // over this one, holding an io thread), then with a byte of invalid UTF-8,
  // which is parsed on another path.
  const std::string deep =
      absl::StrCat(R"({"name":)", std::string(100000, '['), std::string(100000, ']'), "}");
  const std::string deep_invalid = absl::StrCat(R"({"name":)", std::string(100000, '['), "\"\xFF\"",
                                                std::string(100000, ']'), "}");
  std::string deep_objects;
  for (int i = 0; i < 20000; ++i) deep_objects += R"({"a":)";
  deep_objects += "1" + std::string(20000, '}');
  auto raw = [&](absl::string_view head, absl::string_view body = {}) {
    return absl::StrCat(head, auth, "\r\n", body);
  };
  CheckAll({
      {.name = "Transfer-Encoding gzip",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n"),
                   edit),
       .http_status = 501,
       .message = "Transfer-Encoding 'gzip' is not supported"},
      {.name = "Transfer-Encoding gzip, chunked",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\n"
                                "Transfer-Encoding: gzip, chunked\r\n"),
                   "16\r\n" + edit + "\r\n0\r\n\r\n"),
       .http_status = 501,
       .message = "is not supported"},
      {.name = "Content-Length and Transfer-Encoding: chunked together (request smuggling)",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "If-Match: \"1\"\r\nContent-Type: application/json\r\n"
                                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
                   "16\r\n" + edit + "\r\n0\r\n\r\n"),
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "two different Content-Lengths",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "If-Match: \"1\"\r\nContent-Type: application/json\r\n"
                                "Content-Length: 22\r\nContent-Length: 5\r\n"),
                   edit),
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "a negative Content-Length",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nContent-Length: -22\r\n"),
                   edit),
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "a chunk size that overflows 64 bits",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"),
                   "1000000000000000016\r\n" + edit + "\r\n0\r\n\r\n"),
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "a request line that is not HTTP",
       .http = "HELLO THERE\r\n\r\n",
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "a NUL byte in a header value",
       .http = Rest("GET", path, {}, std::string("X-Evil: a\0b\r\n", 13)),
       .http_status = 400,
       .message = "malformed HTTP request"},
      {.name = "an HTTP/1.1 request without Host",
       .http = raw(absl::StrCat("GET ", path, " HTTP/1.1\r\nConnection: close\r\n")),
       .http_status = 400,
       .message = "must send Host"},
      {.name = "a Host this server does not answer for (DNS rebinding)",
       .http = raw(absl::StrCat("GET ", path,
                                " HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n")),
       .http_status = 421,
       .message = "does not answer for Host 'evil.example:8080'"},
      {.name = "a body that is not JSON by its Content-Type",
       .http = raw(absl::StrCat("PATCH ", path,
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "If-Match: \"1\"\r\nContent-Type: text/plain\r\n"
                                "Content-Length: 22\r\n"),
                   edit),
       .http_status = 415,
       .message = "the body must be JSON"},
      {.name = "a body that is not JSON",
       .http = OwnerPatch("{name: Ada"),
       .http_status = 400,
       .message = "the body is not a JSON object"},
      {.name = "a JSON array for a body",
       .http = OwnerPatch("[1, 2]"),
       .http_status = 400,
       .message = "the body is not a JSON object"},
      {.name = "arrays nested 100000 levels deep",
       .http = OwnerPatch(deep),
       .http_status = 400,
       .message = "the body nests arrays or objects more than 32 levels deep"},
      {.name = "arrays nested 100000 levels deep around invalid UTF-8",
       .http = OwnerPatch(deep_invalid),
       .http_status = 400,
       .message = "the body nests arrays or objects more than 32 levels deep"},
      {.name = "objects nested 20000 levels deep",
       .http = OwnerPatch(deep_objects),
       .http_status = 400,
       .message = "the body nests arrays or objects more than 32 levels deep"},
      {.name = "a method the path does not have",
       .http = Rest("POST", path),
       .http_status = 405,
       .message = "POST is not allowed here"},
      {.name = "a path with no route",
       .http = Rest("GET", absl::StrCat("/user/../admin/", kUser)),
       .http_status = 404,
       .message = "no route for"},
  });
}

// "a" + one of these + "x": invalid UTF-8 of every kind.
struct InvalidUtf8 {
  const char* what;
  std::string bytes;
};
std::vector<InvalidUtf8> InvalidUtf8Sequences() {
  return {{"a lone 0xFF byte", "\xFF"},
          {"a lone continuation byte", "\x80"},
          {"a truncated two-byte sequence", "\xC3"},
          {"an overlong '/'", "\xC0\xAF"},
          {"a UTF-16 surrogate (U+D800)", "\xED\xA0\x80"},
          {"a code point beyond U+10FFFF", "\xF4\x90\x80\x80"}};
}

TEST_F(HostileRequestsTest, InvalidUtf8InEveryTextFieldIsRefused) {
  const std::string path = absl::StrCat("/user/", kUser);
  std::vector<Row> rows;
  for (const InvalidUtf8& invalid : InvalidUtf8Sequences()) {
    const std::string text = "Ad" + invalid.bytes + "a";
    const std::string email = "ad" + invalid.bytes + "a@example.com";
    rows.push_back({.name = absl::StrCat("name with ", invalid.what),
                    .http = OwnerPatch(absl::StrCat(R"({"name":")", text, "\"}")),
                    .http_status = 400,
                    .grpc = Update(OwnerEditOf("name", text)),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = "UTF-8",
                    .field = "name",
                    .grpc_field_too = false});
    rows.push_back({.name = absl::StrCat("email with ", invalid.what),
                    .http = OwnerPatch(absl::StrCat(R"({"email":")", email, "\"}")),
                    .http_status = 400,
                    .grpc = Update(OwnerEditOf("email", email)),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = "UTF-8",
                    .field = "email",
                    .grpc_field_too = false});
  }
  const std::string bad = "\xFF";
  UpdateProfileRequest bad_id = OwnerEdit();
  bad_id.mutable_profile()->set_id(std::string(kUser).substr(0, 35) + bad);
  UpdateProfileRequest bad_mutation = OwnerEdit();
  bad_mutation.set_mutation_id("7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5" + bad);
  UpdateProfileRequest bad_mask = OwnerEdit();
  bad_mask.mutable_update_mask()->add_paths("na" + bad + "me");
  profile::v1::ListProfilesRequest bad_token;
  bad_token.set_page_token(bad);
  profile::v1::ListProfilesRequest bad_cursor;
  bad_cursor.set_since_cursor(bad);
  for (Row row : std::vector<Row>{
           // protobuf's JSON parser refuses it, saying why and where.
           {.name = "a JSON escape of a lone surrogate in name",
           .http = OwnerPatch(R"({"name":"Ad\ud800a"})"),
           .http_status = 400,
           .message = "the body is not a JSON object: Missing low surrogate"},
           {.name = "a key of the body",
           .http = OwnerPatch("{\"na" + bad + "me\":\"Ada\"}"),
           .http_status = 400,
           .message = "UTF-8",
           .field = "body"},
           {.name = "the id of the path",
           .http = Rest("GET", path.substr(0, path.size() - 1) + bad),
           .http_status = 400,
           .message = "must be a UUID",
           .field = "id"},
           {.name = "the id",
           .grpc = Update(bad_id),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "UTF-8"},
           {.name = "the id of a read",
           .grpc = Get(std::string(kUser).substr(0, 35) + bad),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "UTF-8"},
           {.name = "Idempotency-Key",
           .http =
                OwnerPatch(R"({"name":"Ada Hostile"})",
                           "Idempotency-Key: 7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5" + bad + "\r\n"),
           .http_status = 400,
           .grpc = Update(bad_mutation),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "",
           .field = "Idempotency-Key",
           .grpc_field_too = false},
           {.name = "If-Match",
           .http =
                Rest("PATCH", path, R"({"name":"Ada Hostile"})", "If-Match: \"1" + bad + "\"\r\n"),
           .http_status = 400,
           .message = "entity tag",
           .field = "If-Match"},
           {.name = "Authorization",
           .http = RestWith("Bearer " + owner_token_ + bad, "GET", path),
           .http_status = 400,
           .message = "printable ASCII",
           .field = "Authorization"},
           {.name = "a field mask path",
           .grpc = Update(bad_mask),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "UTF-8"},
           {.name = "page_token",
           .http = Rest("GET", "/user?page_token=%FF"),
           .http_status = 400,
           .grpc = List(bad_token),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "UTF-8",
           .field = "page_token",
           .grpc_field_too = false},
           {.name = "since",
           .http = Rest("GET", "/user?since=%C3"),
           .http_status = 400,
           .grpc = List(bad_cursor),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "UTF-8",
           .field = "since",
           .grpc_field_too = false},
       }) {
    rows.push_back(std::move(row));
  }
  CheckAll(rows);
}

// Every character the text rules forbid (validation.h: controls, line and
// paragraph separators, invisible format characters, noncharacters), in the
// middle of the name and of the e-mail address, on both protocols; and every
// whitespace character inside an e-mail address, which holds none. Each is
// named by its code point.
TEST_F(HostileRequestsTest, EveryForbiddenCharacterInEveryTextFieldIsNamed) {
  std::vector<Row> rows;
  int forbidden = 0;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;  // not characters: see the UTF-8 test
    const bool refused_in_name = IsForbiddenCharacter(c);
    const bool refused_in_email = refused_in_name || IsWhitespace(c);
    if (!refused_in_email) continue;
    forbidden += refused_in_name ? 1 : 0;
    const std::string label =
        c == ' ' ? std::string("a space") : absl::StrFormat("U+%04X", static_cast<uint32_t>(c));
    const std::string character = EncodeUtf8(c);
    if (refused_in_name) {
      const std::string name = "Ada" + character + "Lovelace";
      rows.push_back({.name = absl::StrCat(label, " in name"),
                      .http = OwnerPatch(absl::StrCat(R"({"name":)", JsonString(name), "}")),
                      .http_status = 400,
                      .grpc = Update(OwnerEditOf("name", name)),
                      .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                      .message = label,
                      .field = "name"});
    }
    const std::string email = "ada" + character + "x@example.com";
    rows.push_back({.name = absl::StrCat(label, " in email"),
                    .http = OwnerPatch(absl::StrCat(R"({"email":)", JsonString(email), "}")),
                    .http_status = 400,
                    .grpc = Update(OwnerEditOf("email", email)),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = label,
                    .field = "email"});
  }
  // The classes of validation.h: 65 controls, 2 separators, the format
  // characters and 66 noncharacters; a change of the rules shows here.
  EXPECT_GT(forbidden, 65 + 2 + 66 + 150);
  CheckAll(rows);
}

// SQL in every field that has a syntax is refused by that syntax; in the
// fields that are free text it is text (SqlIsStoredAsText).
TEST_F(HostileRequestsTest, SqlMetacharactersAreRefusedWhereTheFieldHasASyntax) {
  constexpr char kInjection[] = "'; DROP TABLE profiles; --";
  UpdateProfileRequest injected_id = OwnerEdit();
  injected_id.mutable_profile()->set_id(absl::StrCat(kUser, "' OR '1'='1"));
  UpdateProfileRequest injected_mutation = OwnerEdit();
  injected_mutation.set_mutation_id("'; DELETE FROM applied_mutations; --");
  UpdateProfileRequest injected_mask = OwnerEdit();
  injected_mask.mutable_update_mask()->add_paths("name = 'x'; DROP TABLE profiles; --");
  profile::v1::ListProfilesRequest injected_token;
  injected_token.set_page_token("' OR 1=1 --");
  profile::v1::ListProfilesRequest injected_cursor;
  injected_cursor.set_since_cursor(kInjection);
  profile::v1::ListProfilesRequest injected_size;
  injected_size.set_page_size(-1);
  const std::string email = "'; DROP TABLE profiles; --@example.com";
  CheckAll({
      {.name = "the id of a read",
       .http = Rest("GET", "/user/'%20OR%20'1'='1"),
       .http_status = 400,
       .grpc = Get("' OR '1'='1"),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be a UUID",
       .field = "id"},
      {.name = "the id of a write",
       .http = Rest("PUT", "/user/1;DROP%20TABLE%20profiles",
                    R"({"name":"Ada","email":"ada@example.com"})"),
       .http_status = 400,
       .grpc = Update(injected_id),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be a UUID",
       .field = "id"},
      {.name = "Idempotency-Key / mutation_id",
       .http = OwnerPatch(R"({"name":"Ada Hostile"})",
                          "Idempotency-Key: '; DELETE FROM applied_mutations; --\r\n"),
       .http_status = 400,
       .message = "must be a UUID",
       .field = "Idempotency-Key"},
      {.name = "mutation_id",
       .grpc = Update(injected_mutation),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be a UUID",
       .field = "mutation_id"},
      {.name = "If-Match",
       .http = Rest("PATCH", absl::StrCat("/user/", kUser), R"({"name":"Ada Hostile"})",
                    "If-Match: \"1 OR 1=1\"\r\n"),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "the body's version",
       .http = Rest("PATCH", absl::StrCat("/user/", kUser),
                    R"({"name":"Ada Hostile","version":"1; DROP TABLE profiles"})"),
       .http_status = 400,
       .message = "version"},
      {.name = "a field mask path",
       .grpc = Update(injected_mask),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "unknown field",
       .field = "update_mask"},
      {.name = "a key of the body",
       .http = OwnerPatch(R"({"name":"Ada Hostile","name = 'x'; --":1})"),
       .http_status = 400,
       .message = "unknown field",
       .field = "name = 'x'; --"},
      {.name = "page_size",
       .http = Rest("GET", "/user?page_size=1;DROP%20TABLE%20profiles"),
       .http_status = 400,
       .message = "must be a whole number",
       .field = "page_size"},
      {.name = "a negative page_size",
       .http = Rest("GET", "/user?page_size=-1"),
       .http_status = 400,
       .grpc = List(injected_size),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must not be negative",
       .field = "page_size"},
      {.name = "page_token",
       .http = Rest("GET", "/user?page_token='%20OR%201=1%20--"),
       .http_status = 400,
       .grpc = List(injected_token),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "page_token",
       .field = "page_token"},
      {.name = "since",
       .http = Rest("GET", "/user?since='%3B%20DROP%20TABLE%20profiles%3B%20--"),
       .http_status = 400,
       .grpc = List(injected_cursor),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       // The core names the field as the proto does.
       .message = "since_cursor: is not a cursor returned by this service",
       .field = "since_cursor"},
      {.name = "a query parameter's name",
       .http = Rest("GET", "/user?page_size'--=1"),
       .http_status = 400,
       .message = "unknown query parameter",
       .field = "page_size'--"},
      {.name = "an e-mail address",
       .http = OwnerPatch(absl::StrCat(R"({"email":)", JsonString(email), "}")),
       .http_status = 400,
       .grpc = Update(OwnerEditOf("email", email)),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "a space",
       .field = "email"},
      {.name = "an avatar",
       .http = OwnerPatch(absl::StrCat(R"({"avatar":")", absl::Base64Escape(kInjection), "\"}")),
       .http_status = 400,
       .grpc = Update(OwnerEditOf("avatar", kInjection)),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be a PNG, JPEG, WebP or GIF",
       .field = "avatar"},
  });
}

// In a name or an e-mail address SQL is just text: stored byte for byte,
// and nothing else in the database changes.
TEST_F(HostileRequestsTest, SqlIsStoredAsText) {
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"Robert'); DROP TABLE profiles;--", "o'hara+%_@example.com"},
      {"x' OR '1'='1", "x'OR'1'='1@example.com"},
      {"$1 $$ \\ %_ */ /* E'\\x00'", "a$$b@example.com"},
      {"\"; SELECT pg_sleep(30); --", "`whoami`@example.com"},
  };
  auto other_row = [&] {
    pqxx::read_transaction transaction(*snapshots_);
    return transaction
        .exec_params1(
            "SELECT p::text FROM (SELECT id, name, email, avatar_sha256, version, "
            "updated_at FROM profiles WHERE id = $1) p",
            kOther)[0]
        .as<std::string>();
  };
  const std::string other = other_row();
  int64_t version = 1;
  for (const auto& [name, email] : edits) {
    SCOPED_TRACE(name);
    if (version % 2 == 1) {
      const HttpAnswer answer = Exchange(server_->http_address(),
                                         Rest("PATCH", absl::StrCat("/user/", kUser),
                                              absl::StrCat(R"({"name":)", JsonString(name),
                                                           R"(,"email":)", JsonString(email), "}"),
                                              absl::StrCat("If-Match: \"", version, "\"\r\n")));
      ASSERT_EQ(answer.status, 200) << answer.head << "\n" << answer.body;
    } else {
      UpdateProfileRequest request;
      request.mutable_profile()->set_id(kUser);
      request.mutable_profile()->set_name(name);
      request.mutable_profile()->set_email(email);
      request.mutable_update_mask()->add_paths("name");
      request.mutable_update_mask()->add_paths("email");
      request.set_expected_version(version);
      const grpc::Status status = Call(Update(request), "Bearer " + owner_token_);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    ++version;
    pqxx::read_transaction transaction(*snapshots_);
    const pqxx::row stored = transaction.exec_params1(
        "SELECT name, email, version, (SELECT count(*) FROM profiles), "
        "(SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables "
        " WHERE table_schema = 'public') FROM profiles WHERE id = $1",
        kUser);
    EXPECT_EQ(stored[0].as<std::string>(), name);
    EXPECT_EQ(stored[1].as<std::string>(), email);
    EXPECT_EQ(stored[2].as<int64_t>(), version);
    EXPECT_EQ(stored[3].as<int>(), 2);
    EXPECT_EQ(
        stored[4].as<std::string>(),
        "applied_mutations,change_sequencer_state,change_stream_horizon,profile_positions,profiles,"
        "schema_migrations");
  }
  EXPECT_EQ(other_row(), other);
}

// The server-set fields of a profile in a REST body (what a GET returned,
// sent back) are ignored, never trusted: the hash stays the hash of the
// stored picture, the time the server's.
TEST_F(HostileRequestsTest, ServerSetFieldsInABodyAreIgnored) {
  const HttpAnswer answer =
      Exchange(server_->http_address(),
               OwnerPatch(absl::StrCat(R"({"name":"Ada","avatarSha256":")", std::string(64, '0'),
                                       R"(","updatedAt":"1999-12-31T23:59:59Z"})")));
  ASSERT_EQ(answer.status, 200) << answer.head << "\n" << answer.body;
  pqxx::read_transaction transaction(*snapshots_);
  const pqxx::row stored = transaction.exec_params1(
      "SELECT avatar_sha256 = encode(sha256(avatar), 'hex'), updated_at > now() - interval '1 "
      "hour', version FROM profiles WHERE id = $1",
      kUser);
  EXPECT_TRUE(stored[0].as<bool>());
  EXPECT_TRUE(stored[1].as<bool>());
  EXPECT_EQ(stored[2].as<int64_t>(), 2);
}

TEST_F(HostileRequestsTest, PicturesThatLieAboutTheirTypeAreRefused) {
  const std::string png = TestPng(64, 48, 9);
  const std::string jpeg = TestJpeg(64, 48, 9);
  std::string corrupt_png = png;
  // Inside the pixel data (IDAT), past the signature and header chunk.
  for (size_t i = png.size() / 2; i < png.size() / 2 + 16; ++i) corrupt_png[i] ^= 0x5A;
  struct Picture {
    const char* what;
    std::string bytes;
    const char* message;
  };
  const std::vector<Picture> pictures = {
      {"a script behind a PNG signature", "\x89PNG\r\n\x1a\n<script>alert(1)</script>",
       "the bytes start like a PNG but are not one"},
      {"a JPEG behind a PNG signature", "\x89PNG\r\n\x1a\n" + jpeg, "start like a PNG"},
      {"half a PNG", png.substr(0, png.size() / 2), "PNG"},
      {"a PNG with corrupted pixel data", corrupt_png, "PNG"},
      {"a PNG of 16384x16 pixels", FlatPng(16384, 16), "16384×16 pixels; at most 4096×4096"},
      {"HTML behind a JPEG signature", "\xFF\xD8\xFF\xE0<html><body>hi</body></html>", "JPEG"},
      {"half a JPEG", jpeg.substr(0, jpeg.size() / 2), "not a complete JPEG"},
      {"PHP behind a GIF signature", "GIF89a<?php system($_GET['c']); ?>", "GIF"},
      {"garbage in a RIFF WEBP container", "RIFF\x20\0\0\0WEBPVP8 garbage garbage garbage", "WebP"},
      {"an SVG with a script",
       "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
       "must be a PNG, JPEG, WebP or GIF"},
  };
  std::vector<Row> rows;
  for (const Picture& picture : pictures) {
    rows.push_back({.name = picture.what,
                    .http = OwnerPatch(
                        absl::StrCat(R"({"avatar":")", absl::Base64Escape(picture.bytes), "\"}")),
                    .http_status = 400,
                    .grpc = Update(OwnerEditOf("avatar", picture.bytes)),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = picture.message,
                    .field = "avatar"});
  }
  rows.push_back({.name = "an avatar that is not base64",
                  .http = OwnerPatch(R"({"avatar":"<<not base64>>"})"),
                  .http_status = 400,
                  .message = "avatar"});
  CheckAll(rows);
}

TEST_F(HostileRequestsTest, IdsThatAreNotUuidsAreRefused) {
  const std::string user = kUser;
  const std::string edit = R"({"name":"Ada","email":"ada@example.com"})";
  std::vector<Row> rows;
  for (const std::string& id : {
           std::string("not-a-uuid"),
           "{" + user + "}",
           user.substr(0, 35),
           user + "0",
           user.substr(0, 35) + "g",
           absl::StrCat(user.substr(0, 8), user.substr(9)) + "0",  // 36 characters, no dash
           user.substr(0, 8) + "%2F.." + user.substr(13),
       }) {
    UpdateProfileRequest request = OwnerEdit();
    request.mutable_profile()->set_id(id);
    rows.push_back({.name = absl::StrCat("write ", id),
                    .http = Rest("PUT", "/user/" + id, edit),
                    .http_status = 400,
                    .grpc = Update(request),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = "must be a UUID",
                    .field = "id"});
    rows.push_back({.name = absl::StrCat("read ", id),
                    .http = Rest("GET", "/user/" + id),
                    .http_status = 400,
                    .grpc = Get(id),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = "must be a UUID",
                    .field = "id"});
  }
  UpdateProfileRequest no_id = OwnerEdit();
  no_id.mutable_profile()->clear_id();
  UpdateProfileRequest nul_id = OwnerEdit();
  nul_id.mutable_profile()->set_id(user.substr(0, 35) + std::string(1, '\0'));
  for (Row row : std::vector<Row>{
           {.name = "no id",
     .grpc = Update(no_id),
     .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
     .message = "is required",
     .field = "id"},
           {.name = "no id to read",
           .grpc = Get(""),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "is required",
           .field = "id"},
           {.name = "a NUL in the id",
           .http = Rest("GET", "/user/" + user.substr(0, 35) + "%00"),
           .http_status = 400,
           .grpc = Update(nul_id),
           .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
           .message = "must be a UUID",
           .field = "id"},
           {.name = "an avatar of a malformed id",
           .http = Rest("GET", "/user/not-a-uuid/avatar"),
           .http_status = 400,
           .message = "must be a UUID",
           .field = "id"},
           {.name = "a body id other than the path's",
           .http = OwnerPatch(absl::StrCat(R"({"id":")", kOther, R"(","name":"Mallory"})")),
           .http_status = 400,
           .message = "must name the profile of the path",
           .field = "id"},
       }) {
    rows.push_back(std::move(row));
  }
  CheckAll(rows);
}

TEST_F(HostileRequestsTest, NegativeAndOverflowingVersionsAreRefused) {
  const std::string path = absl::StrCat("/user/", kUser);
  const std::string edit = R"({"name":"Ada Hostile"})";
  auto edit_based_on = [](int64_t version) {
    return Update(OwnerEdit(
        [version](UpdateProfileRequest& request) { request.set_expected_version(version); }));
  };
  auto if_match = [&](absl::string_view value) {
    return Rest("PATCH", path, edit, absl::StrCat("If-Match: ", value, "\r\n"));
  };
  auto body_version = [&](absl::string_view json_value) {
    return Rest("PATCH", path,
                absl::StrCat(R"({"name":"Ada Hostile","version":)", json_value, "}"));
  };
  CheckAll({
      {.name = "expected_version -1",
       .grpc = edit_based_on(-1),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be 0 (create) or the version the edit is based on",
       .field = "expected_version"},
      {.name = "expected_version INT64_MIN",
       .grpc = edit_based_on(std::numeric_limits<int64_t>::min()),
       .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
       .message = "must be 0 (create)",
       .field = "expected_version"},
      {.name = "expected_version INT64_MAX (ahead of the profile)",
       .grpc = edit_based_on(std::numeric_limits<int64_t>::max()),
       .grpc_code = grpc::StatusCode::ABORTED,
       .message = "version"},
      {.name = "If-Match INT64_MAX",
       .http = if_match("\"9223372036854775807\""),
       .http_status = 412,
       .message = "version"},
      {.name = "If-Match -1",
       .http = if_match("\"-1\""),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "If-Match INT64_MAX + 1",
       .http = if_match("\"9223372036854775808\""),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "If-Match of 30 digits",
       .http = if_match("\"999999999999999999999999999999\""),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "If-Match in hex",
       .http = if_match("\"0x1\""),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "a weak If-Match",
       .http = if_match("W/\"1\""),
       .http_status = 400,
       .message = "weak",
       .field = "If-Match"},
      {.name = "If-Match *",
       .http = if_match("*"),
       .http_status = 400,
       .message = "not supported",
       .field = "If-Match"},
      {.name = "If-Match listing two versions",
       .http = if_match("\"1\", \"2\""),
       .http_status = 400,
       .message = "entity tag",
       .field = "If-Match"},
      {.name = "two If-Match headers",
       .http = Rest("PATCH", path, edit, "If-Match: \"1\"\r\nIf-Match: \"2\"\r\n"),
       .http_status = 400,
       .message = "exactly one",
       .field = "If-Match"},
      // The core names the field as the proto does.
      {.name = "a negative version in the body",
       .http = body_version("\"-1\""),
       .http_status = 400,
       .message = "must be 0 (create)",
       .field = "expected_version"},
      {.name = "a body version over INT64_MAX",
       .http = body_version("\"9223372036854775808\""),
       .http_status = 400,
       .message = "version"},
      {.name = "a fractional body version",
       .http = body_version("1.5"),
       .http_status = 400,
       .message = "version"},
      {.name = "a body version of 1e400",
       .http = body_version("1e400"),
       .http_status = 400,
       .message = "version"},
  });
}

TEST_F(HostileRequestsTest, MasksNamingUnknownOrServerSetFieldsAreRefused) {
  std::vector<Row> rows;
  for (const char* path : {"id", "version", "avatar_sha256", "updated_at", "bogus", "", "Name",
                           "profile.name", "*", "name.first"}) {
    UpdateProfileRequest request = OwnerEdit();
    request.mutable_update_mask()->add_paths(path);
    rows.push_back({.name = absl::StrCat("update_mask \"", path, "\""),
                    .grpc = Update(request),
                    .grpc_code = grpc::StatusCode::INVALID_ARGUMENT,
                    .message = absl::StrCat("unknown field \"", path, "\""),
                    .field = "update_mask"});
  }
  // A REST PATCH's mask is its body's keys: server-set ones write nothing.
  for (const std::string& body :
       {absl::StrCat(R"({"avatarSha256":")", std::string(64, 'f'), "\"}"),
        absl::StrCat(R"({"avatar_sha256":")", std::string(64, 'f'), "\"}"),
        std::string(R"({"updatedAt":"2000-01-01T00:00:00Z"})"), std::string(R"({"version":"1"})"),
        absl::StrCat(R"({"id":")", kUser, "\"}"), std::string("{}")}) {
    rows.push_back({.name = absl::StrCat("PATCH ", body),
                    .http = Rest("PATCH", absl::StrCat("/user/", kUser), body),
                    .http_status = 400,
                    .message = "a PATCH body must contain at least one of name, email and avatar"});
  }
  rows.push_back({.name = "PATCH of an unknown key",
                  .http = OwnerPatch(R"({"name":"Ada Hostile","admin":true})"),
                  .http_status = 400,
                  .message = "unknown field",
                  .field = "admin"});
  CheckAll(rows);
}

TEST_F(HostileRequestsTest, TokensThatAreNotTheCallersOwnAreRefused) {
  const std::string path = absl::StrCat("/user/", kUser);
  auto rest_edit = [&](absl::string_view authorization) {
    return RestWith(authorization, "PATCH", path, R"({"name":"Ada Hostile"})",
                    "If-Match: \"1\"\r\n");
  };
  auto row = [&](std::string name, std::string authorization, int http_status,
                 grpc::StatusCode grpc_code, std::string message) {
    return Row{.name = std::move(name),
               .http = rest_edit(authorization),
               .http_status = http_status,
               .grpc = Update(OwnerEdit()),
               .grpc_authorization = authorization,
               .grpc_code = grpc_code,
               .message = std::move(message)};
  };
  const auto kUnauthenticated = grpc::StatusCode::UNAUTHENTICATED;
  std::vector<Row> rows = {
      row("another user's token", "Bearer " + other_token_, 403,
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("user ", kOther, " may write only their own profile")),
      row("an expired token", "Bearer " + expired_token_, 401, kUnauthenticated, "expired"),
      row("a token not valid yet (nbf in an hour)",
          "Bearer " +
              SignedToken(
                  key_, "HS256",
                  absl::StrCat(R"({"sub":")", kUser, R"(","nbf":)",
                               absl::ToUnixSeconds(absl::Now() + absl::Hours(1)), R"(,"exp":)",
                               absl::ToUnixSeconds(absl::Now() + absl::Hours(2)), "}")),
          401, kUnauthenticated, "not valid yet (nbf)"),
      row("a token that never expires (no exp)",
          "Bearer " + SignedToken(key_, "HS256", absl::StrCat(R"({"sub":")", kUser, "\"}")), 401,
          kUnauthenticated, "no expiry (exp)"),
      row("a token whose subject is SQL",
          "Bearer " + SignedToken(key_, "HS256", ClaimsFor("' OR '1'='1", true)), 401,
          kUnauthenticated, "the subject (sub) is not a user id"),
      row("a token signed by the key with another algorithm (HS512)",
          "Bearer " + SignedToken(key_, "HS512", ClaimsFor(kUser, true)), 401, kUnauthenticated,
          "signed with HS512, this service accepts HS256"),
      row("an unsigned token (alg: none)", "Bearer " + UnsignedToken(kUser), 401, kUnauthenticated,
          "not signed with this service's key"),
      row("alg: none with a made-up signature", "Bearer " + UnsignedToken(kUser) + "c2ln", 401,
          kUnauthenticated, "not signed with this service's key"),
      row("a token signed with another key", "Bearer " + foreign_token_, 401, kUnauthenticated,
          "not signed with this service's key"),
      row("a token whose claims were changed", "Bearer " + TamperedToken(owner_token_), 401,
          kUnauthenticated, "not signed with this service's key"),
      row("Basic credentials", "Basic YWRhOmFkYQ==", 401, kUnauthenticated,
          "the Authorization scheme is not Bearer"),
      row("no token", "", 401, kUnauthenticated, "no Authorization given"),
      row("a token that is not a JWT", "Bearer not-a-token", 401, kUnauthenticated,
          "not a signed JWT"),
      {.name = "an expired token to read",
       .http = RestWith("Bearer " + expired_token_, "GET", path),
       .http_status = 401,
       .grpc = Get(kUser),
       .grpc_authorization = "Bearer " + expired_token_,
       .grpc_code = kUnauthenticated,
       .message = "expired"},
      {.name = "an unsigned token to list",
       .http = RestWith("Bearer " + UnsignedToken(kUser), "GET", "/user"),
       .http_status = 401,
       .grpc = List({}),
       .grpc_authorization = "Bearer " + UnsignedToken(kUser),
       .grpc_code = kUnauthenticated,
       .message = "not signed with this service's key"},
  };
  CheckAll(rows);
}

// ---------------------------------------------------------------------------
// Slow clients: each is cut off by the read timeout (1 s here) however it
// dawdles, while other clients are served meanwhile.

// What a dawdling client saw.
struct Dawdled {
  // How long after connecting the server ended the connection; unset if it
  // did not within kPatience.
  std::optional<absl::Duration> cut_after;
  size_t trickled = 0;   // bytes of the trickle sent
  std::string received;  // whatever the server sent before it ended it
};

// Connects, sends `at_once`, calls `meanwhile` (other clients' turn), then
// sends `trickle` one byte every `pace` until the server ends the
// connection. The pace is poll()'s timeout, so the end is seen the moment
// it comes; an empty trickle just waits for it.
Dawdled Dawdle(const std::string& address, absl::string_view at_once, absl::string_view trickle,
               absl::Duration pace, const std::function<void()>& meanwhile) {
  Dawdled result;
  const int fd = Connect(address);
  EXPECT_GE(fd, 0);
  if (fd < 0) return result;
  const absl::Time start = absl::Now();
  EXPECT_EQ(send(fd, at_once.data(), at_once.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(at_once.size()));
  meanwhile();
  const absl::Time deadline = start + kPatience;
  while (absl::Now() < deadline) {
    pollfd waiting{.fd = fd, .events = POLLIN, .revents = 0};
    const int wait = trickle.empty() ? MillisecondsUntil(deadline)
                                     : static_cast<int>(absl::ToInt64Milliseconds(pace));
    if (poll(&waiting, 1, wait) > 0) {
      char buffer[4096];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        result.received.append(buffer, static_cast<size_t>(n));
        continue;
      }
      result.cut_after = absl::Now() - start;  // closed, or reset
      break;
    }
    if (result.trickled < trickle.size() &&
        send(fd, trickle.data() + result.trickled, 1, MSG_NOSIGNAL) == 1) {
      ++result.trickled;
    }
  }
  close(fd);
  return result;
}

TEST_F(HostileRequestsTest, SlowClientsAreDisconnected) {
  const std::string path = absl::StrCat("/user/", kUser);
  // A whole write, so that if the server ever handled what it read of one,
  // the profile would change. JSON may end in any amount of whitespace.
  const std::string edit = R"({"name":"Slow Loris"})" + std::string(400, ' ');
  const std::string header = absl::StrCat(
      "PATCH ", path,
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Match: \"1\"\r\nContent-Type: application/json\r\n"
      "Authorization: Bearer ",
      owner_token_, "\r\nContent-Length: ", edit.size(), "\r\n");
  constexpr absl::Duration kPace = absl::Milliseconds(50);
  struct Slow {
    const char* what;
    std::string at_once;
    std::string trickle;
  };
  const std::vector<Slow> clients = {
      {"half a request line, then silence", header.substr(0, 10), ""},
      {"the header, then a header line a byte at a time, forever",
       header + "X-Slow: ", std::string(4096, 'z')},
      {"the whole header, then half the body, then silence",
       header + "\r\n" + edit.substr(0, edit.size() / 2), ""},
      {"the whole header, then the body a byte at a time", header + "\r\n", edit},
  };
  for (const Slow& client : clients) {
    SCOPED_TRACE(client.what);
    const std::string before = Snapshot();
    // While this client dawdles, others are served.
    const Dawdled dawdled = Dawdle(server_->http_address(), client.at_once, client.trickle, kPace,
                                   [this] { ExpectHealthy(); });
    ASSERT_TRUE(dawdled.cut_after.has_value())
        << "still connected after " << kPatience << "; trickled " << dawdled.trickled << " bytes";
    // Cut off by the timeout of the whole request: not before it, even while
    // bytes keep coming, and not long after.
    EXPECT_GE(*dawdled.cut_after, kReadTimeout - absl::Milliseconds(50));
    EXPECT_LE(*dawdled.cut_after, kReadTimeout + absl::Seconds(3));
    if (!client.trickle.empty()) {
      EXPECT_GE(dawdled.trickled, size_t{10});
      EXPECT_LT(dawdled.trickled, client.trickle.size());
    }
    // A request that never arrived is not answered, or answered 408.
    if (!dawdled.received.empty()) {
      EXPECT_TRUE(absl::StartsWith(dawdled.received, "HTTP/1.1 408")) << dawdled.received;
    }
    EXPECT_EQ(Snapshot(), before);
    ExpectHealthy();
  }
}

// An idle keep-alive connection is closed after the read timeout too.
TEST_F(HostileRequestsTest, IdleKeepAliveConnectionsAreClosed) {
  const std::string read =
      absl::StrCat("GET /user/", kUser, " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ",
                   owner_token_, "\r\n\r\n");
  const Dawdled dawdled = Dawdle(server_->http_address(), read, "", absl::ZeroDuration(), [] {});
  ASSERT_TRUE(dawdled.cut_after.has_value());
  EXPECT_TRUE(absl::StartsWith(dawdled.received, "HTTP/1.1 200")) << dawdled.received;
  EXPECT_GE(*dawdled.cut_after, kReadTimeout - absl::Milliseconds(50));
  EXPECT_LE(*dawdled.cut_after, kReadTimeout + absl::Seconds(3));
}

}  // namespace
}  // namespace profiles::testing
