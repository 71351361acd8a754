#ifndef PROFILES_SERVICES_PROFILE_HTTP_REST_REQUEST_H_
#define PROFILES_SERVICES_PROFILE_HTTP_REST_REQUEST_H_

// Turns the parts of an HTTP request into the profile.v1 request messages
// that ProfileCore takes (UpdateProfileRequest, DeleteProfileRequest,
// ListProfilesRequest): the parsing half of the REST adapter. JSON is read
// only through protobuf's JSON mapping.
//
// Errors are INVALID_ARGUMENT with a google.rpc.BadRequest payload whose
// field names are what the caller sent: a JSON key ("email", "bogus"), a
// header ("If-Match", "Idempotency-Key") or a query parameter ("page_size").
// The gateway does not repeat the core's validation rules (name, email,
// avatar, id syntax): values are passed on and the core judges them.
//
// All functions are pure and thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "profile/v1/profile.pb.h"
#include "services/profile/http/http_status.h"

namespace profiles {

// The path and the query (without '?') of a request target.
struct RequestTarget {
  std::string_view path;
  std::string_view query;
};
RequestTarget SplitTarget(std::string_view target);

// The entity tag "\"<opaque>\"" (quotes included), as sent in ETag.
std::string EntityTag(std::string_view opaque);

// The version named by an If-Match header: exactly one strong entity tag
// "\"<n>\"" with n a non-negative decimal. Weak tags (W/"n"), "*" and lists
// are INVALID_ARGUMENT: a write must name the one version it edits.
absl::StatusOr<int64_t> ParseIfMatch(std::string_view value);

// True when an If-None-Match header value matches `etag` (quotes included)
// by weak comparison (RFC 9110 13.1.2): "*", or a listed tag equal to it
// with or without the W/ prefix.
bool IfNoneMatchMatches(std::string_view header, std::string_view etag);

// The canonical form of an Idempotency-Key header, which must be a UUID.
absl::StatusOr<std::string> ParseIdempotencyKey(std::string_view value);

// True for "application/json", any case, with or without parameters
// ("application/json; charset=utf-8").
bool IsJsonContentType(std::string_view value);

// The ListProfilesRequest of a `GET /user` query string: page_size (int32),
// page_token, since (a cursor) and include_avatars (true|false), each
// percent-decoded. Unknown or malformed parameters are INVALID_ARGUMENT.
absl::StatusOr<profile::v1::ListProfilesRequest> ParseListQuery(std::string_view query);

// Where the version an edit is based on came from. It decides how a version
// conflict (ABORTED) is reported: 412, 409 or 428.
enum class BaseVersionSource {
  kNone,         // neither If-Match nor "version": create, or 428 if it exists
  kIfMatch,      // If-Match: "<n>"
  kBody,         // "version" in the JSON body
  kIfNoneMatch,  // If-None-Match: *: create only, 412 if it exists
};

enum class WriteKind {
  kReplace,  // PUT: name, email and avatar are written (absent ones cleared)
  kPatch,    // PATCH: only the fields present in the body are written
};

struct WriteRequest {
  profile::v1::UpdateProfileRequest rpc;
  BaseVersionSource base_source = BaseVersionSource::kNone;
};

// The UpdateProfileRequest for `PUT|PATCH /user/{path_id}` with a JSON body
// (REQUIRES: the Content-Type was checked with IsJsonContentType()):
//   - a body nesting arrays or objects more than 32 levels deep is refused
//     before it is parsed (protobuf's parser is slow on deep nesting);
//   - the body is a profile.v1.Profile in JSON; unknown keys are rejected by
//     name; "id", if present, must name the same profile as the path; the
//     server-set "avatarSha256", "updatedAt" and "deleted": false are
//     ignored, so a GET body can be sent back as it is ("deleted": true is
//     refused: deletes are DELETE);
//   - update_mask: PUT name, email, avatar; PATCH the keys present among
//     those three (none is INVALID_ARGUMENT);
//   - expected_version: If-Match, else the body's "version", else 0;
//     If-None-Match: * (create only; RFC 9110 13.1.2) is 0, and goes with
//     neither of the others; other If-None-Match values are refused on
//     writes;
//   - mutation_id: the Idempotency-Key header, if any.
absl::StatusOr<WriteRequest> ParseWriteRequest(WriteKind kind, std::string_view path_id,
                                               const HttpRequest& request);

struct DeleteRequest {
  profile::v1::DeleteProfileRequest rpc;
  // kIfMatch, or kNone when the request named no version (the caller
  // answers 428: a delete must name the version it saw).
  BaseVersionSource base_source = BaseVersionSource::kNone;
};

// The DeleteProfileRequest for `DELETE /user/{path_id}`:
//   - expected_version: If-Match, parsed as for writes (one strong tag
//     "\"<n>\"") and at least 1; none leaves it 0 with base_source kNone;
//   - mutation_id: the Idempotency-Key header, if any, as for writes;
//   - a body (even {"version": ...}) or If-None-Match is refused: the
//     version travels in If-Match only.
// Header and body problems are INVALID_ARGUMENT, reported together.
absl::StatusOr<DeleteRequest> ParseDeleteRequest(std::string_view path_id,
                                                 const HttpRequest& request);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_HTTP_REST_REQUEST_H_
