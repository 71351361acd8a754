#ifndef PROFILES_SERVICES_PROFILE_HTTP_HTTP_STATUS_H_
#define PROFILES_SERVICES_PROFILE_HTTP_HTTP_STATUS_H_

// The one place where the service's canonical status codes become HTTP
// status codes, and where every error response body is built.
//
// Every error the gateway returns has the same JSON body, produced by
// protobuf's JSON mapping (google.protobuf.Struct), never by hand:
//   {"error": {"code": "INVALID_ARGUMENT",          canonical code name
//              "message": "...",                   human-readable
//              "fields": {"email": "..."},         google.rpc.BadRequest, if any
//              "reason": "MUTATION_ID_REUSED",     google.rpc.ErrorInfo, if any
//                                                  (PROFILE_DELETED on a 404 of
//                                                  a deleted profile)
//              "requestId": "5f0c2a9e71d4b8c3"},   google.rpc.RequestInfo, if any
//    "current": {...profile...}}                   profile.v1.Profile on ABORTED
//                                                  only (never a tombstone)
//
// Every 429 and 503 (RESOURCE_EXHAUSTED, UNAVAILABLE, a server busy or
// shutting down) carries Retry-After: the rate limit's delay in whole seconds
// (rounded up) when the status has one (RetryDelayOf), else
// kRetryAfterSeconds.
//
// Internal errors (500) and UNAVAILABLE (503) are redacted by ForCaller()
// (domain/caller_errors.h): the caller reads a generic message and the
// request's id (also in "requestId"), and the details are in the server's log
// under that id. Every response ErrorResponse() builds for a request with an
// id carries it as X-Request-Id. Strings that are not valid UTF-8 are quoted so the body
// always prints.
//
// All functions are pure and thread-safe.

#include <google/protobuf/message.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace profiles {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The Retry-After of every 429 and 503: long enough for a queue to drain a
// little, short enough that a client barely notices.
inline constexpr char kRetryAfterSeconds[] = "1";

// The HTTP status for a canonical code: the exhaustive switch. OK is 200.
boost::beast::http::status HttpStatusForCode(absl::StatusCode code);

// HttpStatusForCode(status.code()), except that a reused mutation id
// (INVALID_ARGUMENT with ErrorInfo MUTATION_ID_REUSED) is 422, a refused
// cursor 410, and a rate limit (RESOURCE_EXHAUSTED with a retry delay) 429.
// A deleted profile (IsProfileDeleted) is 404, like one that never existed;
// the body's reason tells them apart.
boost::beast::http::status HttpStatusFor(const absl::Status& status);

// The JSON error body for a non-OK `status`, including its payloads.
std::string ErrorJson(const absl::Status& status);

// The JSON of a response message (a Profile, a ListProfilesResponse) as every
// route returns it: protobuf's JSON mapping with lowerCamelCase names and
// every primitive field printed, so a profile always has "id", "name",
// "email", "avatar" (base64) and "version" (a JSON string: the mapping prints
// int64 as a string; parsers accept a string or a number).
std::string ResponseJson(const google::protobuf::Message& message);

// A response with `http_status` and the error body of `status`, for the
// request whose id is `request_id` (logging/request_id.h; empty: an internal
// error gets a new one). REQUIRES: !status.ok().
HttpResponse ErrorResponse(boost::beast::http::status http_status, const absl::Status& status,
                           unsigned http_version, bool keep_alive,
                           std::string_view request_id = {});

// ErrorResponse(HttpStatusFor(status), status, ...).
HttpResponse ErrorResponse(const absl::Status& status, unsigned http_version, bool keep_alive,
                           std::string_view request_id = {});

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_HTTP_STATUS_H_
