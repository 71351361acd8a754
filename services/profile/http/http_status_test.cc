#include "services/profile/http/http_status.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

namespace http = boost::beast::http;

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct parsed;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) << json;
  return parsed;
}

const google::protobuf::Struct& ErrorOf(const google::protobuf::Struct& body) {
  return body.fields().at("error").struct_value();
}

TEST(HttpStatusTest, EveryCanonicalCodeHasItsHttpStatus) {
  const std::vector<std::pair<absl::StatusCode, http::status>> expected = {
      {absl::StatusCode::kOk, http::status::ok},
      {absl::StatusCode::kInvalidArgument, http::status::bad_request},
      {absl::StatusCode::kFailedPrecondition, http::status::bad_request},
      {absl::StatusCode::kOutOfRange, http::status::bad_request},
      {absl::StatusCode::kNotFound, http::status::not_found},
      {absl::StatusCode::kAlreadyExists, http::status::conflict},
      {absl::StatusCode::kAborted, http::status::conflict},
      {absl::StatusCode::kPermissionDenied, http::status::forbidden},
      {absl::StatusCode::kUnauthenticated, http::status::unauthorized},
      {absl::StatusCode::kResourceExhausted, http::status::too_many_requests},
      {absl::StatusCode::kCancelled, http::status::service_unavailable},
      {absl::StatusCode::kDeadlineExceeded, http::status::gateway_timeout},
      {absl::StatusCode::kUnavailable, http::status::service_unavailable},
      {absl::StatusCode::kUnimplemented, http::status::not_implemented},
      {absl::StatusCode::kInternal, http::status::internal_server_error},
      {absl::StatusCode::kUnknown, http::status::internal_server_error},
      {absl::StatusCode::kDataLoss, http::status::internal_server_error},
  };
  for (const auto& [code, status] : expected) {
    EXPECT_EQ(HttpStatusForCode(code), status) << absl::StatusCodeToString(code);
  }
  EXPECT_EQ(HttpStatusForCode(static_cast<absl::StatusCode>(42)),
            http::status::internal_server_error);
}

TEST(HttpStatusTest, ReusedMutationIdIsUnprocessableEntity) {
  EXPECT_EQ(HttpStatusFor(MutationIdReused("123e4567-e89b-12d3-a456-426614174000")),
            http::status::unprocessable_entity);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("bad")), http::status::bad_request);
  EXPECT_EQ(HttpStatusFor(absl::AbortedError("stale")), http::status::conflict);
}

TEST(HttpStatusTest, ErrorJsonHasCodeMessageAndFieldViolations) {
  FieldViolations violations;
  violations.Add("email", "must look like name@example.com");
  violations.Add("name", "must not be empty");
  const google::protobuf::Struct error = ErrorOf(ParseJson(ErrorJson(violations.ToStatus())));

  EXPECT_EQ(error.fields().at("code").string_value(), "INVALID_ARGUMENT");
  EXPECT_NE(error.fields().at("message").string_value().find("email"), std::string::npos);
  const auto& fields = error.fields().at("fields").struct_value().fields();
  EXPECT_EQ(fields.at("email").string_value(), "must look like name@example.com");
  EXPECT_EQ(fields.at("name").string_value(), "must not be empty");
  EXPECT_FALSE(error.fields().contains("current"));
  EXPECT_FALSE(error.fields().contains("reason"));
}

TEST(HttpStatusTest, InternalErrorsShowARequestIdAndNoDetails) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss}) {
    const absl::Status status(code,
                              "get profile failed: ERROR:  relation \"profiles\" violates check "
                              "constraint \"profiles_name_valid\" on host db.internal");
    const HttpResponse response = ErrorResponse(status, 11, true);
    EXPECT_EQ(response.result(), http::status::internal_server_error);
    const google::protobuf::Struct error = ErrorOf(ParseJson(response.body()));
    const std::string message = error.fields().at("message").string_value();
    const std::string request_id = error.fields().at("requestId").string_value();
    EXPECT_EQ(message, "internal error; request id " + request_id);
    EXPECT_EQ(request_id.size(), 32u);
    EXPECT_EQ(std::string(response["X-Request-Id"]), request_id);
    for (const char* secret : {"ERROR", "profiles", "constraint", "db.internal", "get profile"}) {
      EXPECT_EQ(response.body().find(secret), std::string::npos) << secret;
    }
  }
}

TEST(HttpStatusTest, UnavailableKeepsOnlyItsSummary) {
  const std::string body = ErrorJson(absl::UnavailableError(
      "the database is unreachable (get profile): could not connect to server at "
      "\"db.internal\" (10.0.0.7), port 5432 failed"));
  const google::protobuf::Struct error = ErrorOf(ParseJson(body));
  const std::string request_id = error.fields().at("requestId").string_value();
  EXPECT_EQ(error.fields().at("message").string_value(),
            "the database is unreachable (get profile); request id " + request_id);
  EXPECT_EQ(body.find("db.internal"), std::string::npos);
  EXPECT_EQ(body.find("5432"), std::string::npos);
}

TEST(HttpStatusTest, ExpectedErrorsAreNotRedacted) {
  const google::protobuf::Struct error =
      ErrorOf(ParseJson(ErrorJson(absl::NotFoundError("profile 123 not found"))));
  EXPECT_EQ(error.fields().at("message").string_value(), "profile 123 not found");
  EXPECT_FALSE(error.fields().contains("requestId"));
}

TEST(HttpStatusTest, InvalidUtf8NeverBreaksTheBody) {
  const google::protobuf::Struct error =
      ErrorOf(ParseJson(ErrorJson(absl::NotFoundError("no profile 'na\xFFme'"))));
  EXPECT_EQ(error.fields().at("message").string_value(), "no profile 'na\\xFFme'");
}

TEST(HttpStatusTest, ErrorJsonOfAConflictCarriesTheCurrentProfile) {
  profile::v1::Profile current;
  current.set_id("123e4567-e89b-12d3-a456-426614174000");
  current.set_name("Zoë");
  current.set_email("zoe@example.com");
  current.set_avatar(std::string("\x89PNG", 4));
  current.set_version(9007199254740993);
  const google::protobuf::Struct body =
      ParseJson(ErrorJson(VersionConflict("version 3 is stale", current)));
  const google::protobuf::Struct error = ErrorOf(body);

  EXPECT_EQ(error.fields().at("code").string_value(), "ABORTED");
  EXPECT_EQ(error.fields().at("message").string_value(), "version 3 is stale");
  EXPECT_FALSE(error.fields().contains("current"));
  const auto& profile = body.fields().at("current").struct_value().fields();
  EXPECT_EQ(profile.at("id").string_value(), current.id());
  EXPECT_EQ(profile.at("name").string_value(), "Zoë");
  EXPECT_EQ(profile.at("avatar").string_value(), "iVBORw==");
  // int64 stays exact: the JSON mapping prints it as a string.
  EXPECT_EQ(profile.at("version").string_value(), "9007199254740993");
}

TEST(HttpStatusTest, ErrorJsonNamesTheReason) {
  const google::protobuf::Struct error =
      ErrorOf(ParseJson(ErrorJson(MutationIdReused("123e4567-e89b-12d3-a456-426614174000"))));
  EXPECT_EQ(error.fields().at("reason").string_value(), "MUTATION_ID_REUSED");
}

// A deleted profile is 404 like an unknown one, told apart by the reason;
// its tombstone (which the core attaches for gRPC) is never sent as a
// profile.
TEST(HttpStatusTest, ADeletedProfileIs404WithTheReasonAndNoTombstone) {
  profile::v1::Profile tombstone;
  tombstone.set_id("123e4567-e89b-12d3-a456-426614174000");
  tombstone.set_version(4);
  tombstone.set_deleted(true);
  const absl::Status deleted = ProfileDeleted(
      tombstone.id(), "profile 123e4567-e89b-12d3-a456-426614174000 was deleted", tombstone);
  ASSERT_TRUE(ConflictingProfile(deleted).has_value()) << "the core attaches the tombstone";

  EXPECT_EQ(HttpStatusFor(deleted), http::status::not_found);
  const HttpResponse response = ErrorResponse(deleted, 11, true);
  EXPECT_EQ(response.result(), http::status::not_found);
  const google::protobuf::Struct body = ParseJson(response.body());
  const google::protobuf::Struct error = ErrorOf(body);
  EXPECT_EQ(error.fields().at("code").string_value(), "NOT_FOUND");
  EXPECT_EQ(error.fields().at("reason").string_value(), "PROFILE_DELETED");
  EXPECT_NE(error.fields().at("message").string_value().find("was deleted"), std::string::npos);
  EXPECT_FALSE(body.fields().contains("current")) << response.body();
  EXPECT_EQ(response.body().find("\"deleted\""), std::string::npos) << response.body();

  // A profile that never existed: 404 without a reason.
  const google::protobuf::Struct unknown =
      ErrorOf(ParseJson(ErrorJson(absl::NotFoundError("no profile"))));
  EXPECT_FALSE(unknown.fields().contains("reason"));
}

TEST(HttpStatusTest, ResponseJsonPrintsEveryPrimitiveField) {
  const google::protobuf::Struct profile = ParseJson(ResponseJson(profile::v1::Profile()));
  for (const char* key : {"id", "name", "email", "avatar", "avatarSha256", "version"}) {
    EXPECT_TRUE(profile.fields().contains(key)) << key;
  }
  EXPECT_EQ(profile.fields().at("version").string_value(), "0");
}

TEST(HttpStatusTest, ErrorResponseIsJsonWithTheGivenStatus) {
  HttpResponse response = ErrorResponse(http::status::payload_too_large,
                                        absl::InvalidArgumentError("too big"), 11, false);
  EXPECT_EQ(response.result(), http::status::payload_too_large);
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(response[http::field::content_length], std::to_string(response.body().size()));
  EXPECT_EQ(ErrorOf(ParseJson(response.body())).fields().at("message").string_value(), "too big");

  response = ErrorResponse(absl::NotFoundError("no such profile"), 11, true);
  EXPECT_EQ(response.result(), http::status::not_found);
  EXPECT_TRUE(response.keep_alive());
}

// "Not now, retry later" answers say when; the others must not invite a
// retry.
TEST(HttpStatusTest, Only429And503CarryRetryAfter) {
  EXPECT_EQ(ErrorResponse(absl::ResourceExhaustedError("server busy"), 11,
                          true)[http::field::retry_after],
            "1");
  EXPECT_EQ(ErrorResponse(absl::UnavailableError("the database is unreachable"), 11,
                          true)[http::field::retry_after],
            "1");
  EXPECT_EQ(
      ErrorResponse(http::status::service_unavailable, absl::ResourceExhaustedError("server busy"),
                    11, false)[http::field::retry_after],
      "1");
  for (const absl::Status& status :
       {absl::InvalidArgumentError("bad"), absl::DeadlineExceededError("slow"),
        absl::InternalError("broken"), absl::AbortedError("stale")}) {
    EXPECT_FALSE(ErrorResponse(status, 11, true).count(http::field::retry_after)) << status;
  }
}

TEST(HttpStatusTest, Only401NamesTheBearerScheme) {
  EXPECT_EQ(ErrorResponse(absl::UnauthenticatedError("bearer token refused: expired"), 11,
                          true)[http::field::www_authenticate],
            R"(Bearer realm="profiles")");
  for (const absl::Status& status :
       {absl::PermissionDeniedError("not yours"), absl::InvalidArgumentError("bad")}) {
    EXPECT_FALSE(ErrorResponse(status, 11, true).count(http::field::www_authenticate)) << status;
  }
}

TEST(HttpStatusTest, ARateLimitSaysWhenToComeBackInWholeSeconds) {
  EXPECT_EQ(ErrorResponse(RateLimited("too many write calls", absl::Milliseconds(2300)), 11,
                          true)[http::field::retry_after],
            "3");
  EXPECT_EQ(ErrorResponse(RateLimited("too many write calls", absl::Milliseconds(20)), 11,
                          true)[http::field::retry_after],
            "1");
  EXPECT_EQ(ErrorResponse(RateLimited("x", absl::Seconds(1)), 11, true).result(),
            http::status::too_many_requests);
}

}  // namespace
}  // namespace profiles
