#include "services/profile/http/http_status.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <optional>
#include <string>
#include <utility>

#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/domain/caller_errors.h"
#include "services/profile/domain/json_mapping.h"
#include "services/profile/logging/request_id.h"

namespace profiles {

namespace http = boost::beast::http;

http::status HttpStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return http::status::ok;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return http::status::bad_request;
    case absl::StatusCode::kNotFound:
      return http::status::not_found;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return http::status::conflict;
    case absl::StatusCode::kPermissionDenied:
      return http::status::forbidden;
    case absl::StatusCode::kUnauthenticated:
      return http::status::unauthorized;
    case absl::StatusCode::kResourceExhausted:
      return http::status::too_many_requests;
    // The client is still connected when this answer is written, so the call
    // was cancelled on the server side (shutting down): retryable, like
    // UNAVAILABLE. The non-standard 499 would blame the client.
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
      return http::status::service_unavailable;
    case absl::StatusCode::kDeadlineExceeded:
      return http::status::gateway_timeout;
    case absl::StatusCode::kUnimplemented:
      return http::status::not_implemented;
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kDoNotUseReservedForFutureExpansionUseDefaultInSwitchInstead_:
      return http::status::internal_server_error;
  }
  // A code outside the canonical set (a newer peer).
  return http::status::internal_server_error;
}

http::status HttpStatusFor(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
    if (info.has_value() && info->reason() == kMutationIdReusedReason) {
      return http::status::unprocessable_entity;
    }
  }
  // Not 410 Gone: the id may be created again (a PUT without a base), and
  // the body's reason PROFILE_DELETED tells a deleted profile from an
  // unknown one.
  if (IsProfileDeleted(status)) return http::status::not_found;
  // The cursor is gone for good here: 410, so that a client does not retry
  // it as it would a 400 it could fix.
  if (IsCursorRefused(status)) return http::status::gone;
  // This caller's rate limit (it has a retry delay), not the server being
  // busy for everyone (503).
  if (status.code() == absl::StatusCode::kResourceExhausted && RetryDelayOf(status).has_value()) {
    return http::status::too_many_requests;
  }
  return HttpStatusForCode(status.code());
}

namespace {

// The error body: only the keys that apply (protobuf's default options).
std::string ErrorBodyJson(const google::protobuf::Struct& body) {
  std::string json;
  // Printing only fails for invalid UTF-8 in a string, which Utf8() keeps
  // out of the texts that may quote a client.
  if (!google::protobuf::util::MessageToJsonString(body, &json).ok()) return "{}";
  return json;
}

// JSON strings must be UTF-8, or the whole body fails to print; a message
// that quotes what a client sent may not be.
std::string Utf8(std::string_view text) {
  return IsValidUtf8(text) ? std::string(text) : QuoteForMessage(text, text.size());
}

}  // namespace

std::string ResponseJson(const google::protobuf::Message& message) {
  return ToResponseJson(message);
}

std::string ErrorJson(const absl::Status& original) {
  const absl::Status status = ForCaller(original);
  google::protobuf::Struct body;
  google::protobuf::Struct* error =
      body.mutable_fields()->operator[]("error").mutable_struct_value();
  auto& fields = *error->mutable_fields();
  fields["code"].set_string_value(absl::StatusCodeToString(status.code()));
  fields["message"].set_string_value(Utf8({status.message().data(), status.message().size()}));
  if (std::optional<std::string> request_id = RequestIdOf(status)) {
    fields["requestId"].set_string_value(*request_id);
  }

  if (std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(status)) {
    auto& violations = *fields["fields"].mutable_struct_value()->mutable_fields();
    for (const google::rpc::BadRequest::FieldViolation& violation :
         bad_request->field_violations()) {
      violations[Utf8(violation.field())].set_string_value(Utf8(violation.description()));
    }
  }
  if (std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status)) {
    fields["reason"].set_string_value(info->reason());
  }
  // Only a conflict's: a deleted profile's NOT_FOUND carries its tombstone
  // too (for gRPC), which REST never sends as a profile.
  std::optional<profile::v1::Profile> current = ConflictingProfile(status);
  if (status.code() == absl::StatusCode::kAborted && current.has_value()) {
    // Beside "error", not in it: the profile is data the client goes on with.
    // Through the JSON mapping so "current" reads exactly like a GET body.
    google::protobuf::Value current_json;
    if (google::protobuf::util::JsonStringToMessage(ResponseJson(*current), &current_json).ok()) {
      (*body.mutable_fields())["current"] = std::move(current_json);
    }
  }
  return ErrorBodyJson(body);
}

HttpResponse ErrorResponse(http::status http_status, const absl::Status& original,
                           unsigned http_version, bool keep_alive, std::string_view request_id) {
  const absl::Status status = ForCaller(original, request_id);
  HttpResponse response(http_status, http_version);
  response.set(http::field::content_type, "application/json");
  if (!request_id.empty()) {
    response.set(kRequestIdHeader, boost::beast::string_view(request_id.data(), request_id.size()));
  } else if (std::optional<std::string> redacted_id = RequestIdOf(status)) {
    response.set(kRequestIdHeader, *redacted_id);
  }
  // RFC 9110 11.6.1: a 401 names the scheme that would be accepted.
  if (http_status == http::status::unauthorized) {
    response.set(http::field::www_authenticate, R"(Bearer realm="profiles")");
  }
  // Both mean "not now": without a delay, clients retry at once and keep a
  // busy or recovering server busy.
  if (http_status == http::status::too_many_requests ||
      http_status == http::status::service_unavailable) {
    // A rate limit knows when the next call is admitted: whole seconds,
    // rounded up, so a client that waits that long is not refused again.
    const std::optional<absl::Duration> delay = RetryDelayOf(original);
    response.set(http::field::retry_after,
                 delay.has_value()
                     ? std::to_string(std::max<int64_t>(
                           1, absl::ToInt64Seconds(absl::Ceil(*delay, absl::Seconds(1)))))
                     : std::string(kRetryAfterSeconds));
  }
  response.keep_alive(keep_alive);
  response.body() = ErrorJson(status);
  response.prepare_payload();
  return response;
}

HttpResponse ErrorResponse(const absl::Status& status, unsigned http_version, bool keep_alive,
                           std::string_view request_id) {
  return ErrorResponse(HttpStatusFor(status), status, http_version, keep_alive, request_id);
}

}  // namespace profiles
