// Fuzz target: the REST adapter's request mapping
// (services/profile/http/rest_request.h), from the parts of an HTTP request
// to the core's request messages, then the core's validation of the result
// (libs/profile_contract/validation.h) and the JSON the gateway answers with
// (http_status.h, domain/json_mapping.h).
//
// The input reads like an HTTP/1.1 request, lines ending in "\n" (a "\r"
// before it is dropped):
//   PUT /user/123e4567-e89b-12d3-a456-426614174000?a=b
//   Content-Type: application/json
//   If-Match: "3"
//
//   {"name":"Ann","email":"ann@example.com"}
// PUT and PATCH to /user/{id} become UpdateProfileRequests, GET /user a
// ListProfilesRequest (whose cursors go through the core's cursor parser);
// every request's If-Match, If-None-Match and Idempotency-Key are parsed too.
//
// Invariants: SplitTarget loses nothing; what parses is what the core is
// promised (the path's id, a mask of writable fields that PUT fills, a
// canonical mutation id, valid UTF-8 text, a non-negative If-Match); every
// refusal is INVALID_ARGUMENT (400) whose error body prints as JSON; a
// profile's response JSON reads back as the same profile.

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libs/profile_contract/profile_fields.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/domain/json_mapping.h"
#include "services/profile/http/http_status.h"
#include "services/profile/http/rest_request.h"
#include "services/profile/storage/change_cursor.h"
#include "tests/fuzz/fuzz_check.h"

namespace profiles {
namespace {

namespace http = boost::beast::http;

std::string_view ToStd(boost::beast::string_view text) { return {text.data(), text.size()}; }
boost::beast::string_view ToBeast(std::string_view text) { return {text.data(), text.size()}; }

std::string_view StripCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// A refusal as the gateway would answer it: 400 with an error body that
// prints and parses as JSON. Its BadRequest, if any, must read back (a
// client gets it as a google.rpc.Status detail over gRPC; proto3 refuses to
// parse a string that is not UTF-8).
void CheckRefusal(const absl::Status& status) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument) << status;
  FUZZ_CHECK(HttpStatusFor(status) == http::status::bad_request) << status;
  if (status.GetPayload(PayloadTypeUrl(google::rpc::BadRequest())).has_value()) {
    std::optional<google::rpc::BadRequest> bad = BadRequestOf(status);
    FUZZ_CHECK(bad.has_value()) << "unreadable BadRequest: " << status;
    for (const auto& violation : bad->field_violations()) {
      FUZZ_CHECK(IsValidUtf8(violation.field()) && IsValidUtf8(violation.description()));
    }
  }
  const std::string json = ErrorJson(status);
  google::protobuf::Struct body;
  FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(json, &body).ok()) << json;
  FUZZ_CHECK(body.fields().contains("error")) << json;
}

// The core's own parsing of a cursor the query named.
void CheckCursor(const std::string& text, std::string_view field) {
  absl::StatusOr<IssuedCursor> cursor = IssuedCursor::Parse(text, field);
  if (!cursor.ok()) {
    const std::string json = ErrorJson(cursor.status());
    google::protobuf::Struct body;
    FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(json, &body).ok()) << json;
  }
}

void CheckHeaders(const HttpRequest& request) {
  if (request.count(http::field::if_match) > 0) {
    absl::StatusOr<int64_t> version = ParseIfMatch(ToStd(request[http::field::if_match]));
    if (version.ok()) {
      FUZZ_CHECK(*version >= 0);
      // The tag the service sends for that version names it again.
      absl::StatusOr<int64_t> again = ParseIfMatch(EntityTag(std::to_string(*version)));
      FUZZ_CHECK(again.ok() && *again == *version);
    } else {
      CheckRefusal(version.status());
    }
  }
  if (request.count(http::field::if_none_match) > 0) {
    const std::string_view header = ToStd(request[http::field::if_none_match]);
    IfNoneMatchMatches(header, EntityTag("7"));
    // A list that names the tag, or "*", matches whatever else it holds.
    FUZZ_CHECK(IfNoneMatchMatches(std::string(header) + ", W/\"7\"", EntityTag("7")));
    FUZZ_CHECK(IfNoneMatchMatches(std::string(header) + ",*", EntityTag("7")));
  }
  const boost::beast::string_view key_name = "Idempotency-Key";
  if (request.count(key_name) > 0) {
    absl::StatusOr<std::string> key = ParseIdempotencyKey(ToStd(request[key_name]));
    if (key.ok()) {
      FUZZ_CHECK(CanonicalUuid(*key) == *key) << *key;
    } else {
      CheckRefusal(key.status());
    }
  }
}

void CheckWrite(WriteKind kind, std::string_view id, const HttpRequest& request) {
  absl::StatusOr<WriteRequest> write = ParseWriteRequest(kind, id, request);
  if (!write.ok()) {
    CheckRefusal(write.status());
    return;
  }
  const profile::v1::UpdateProfileRequest& rpc = write->rpc;
  const profile::v1::Profile& profile = rpc.profile();
  FUZZ_CHECK(profile.id() == id);
  FUZZ_CHECK(profile.version() == 0 && profile.avatar_sha256().empty() &&
             !profile.has_updated_at());
  FUZZ_CHECK(rpc.update_mask().paths_size() > 0);
  for (const std::string& path : rpc.update_mask().paths()) {
    FUZZ_CHECK(IsWritableField(path)) << path;
  }
  if (kind == WriteKind::kReplace) {
    FUZZ_CHECK(rpc.update_mask().paths_size() == static_cast<int>(kWritableFieldCount));
  }
  for (const ProfileField& field : WritableFields()) {
    if (!field.is_avatar()) FUZZ_CHECK(IsValidUtf8(field.Get(profile))) << field.path();
  }
  FUZZ_CHECK(rpc.mutation_id().empty() || CanonicalUuid(rpc.mutation_id()) == rpc.mutation_id());
  if (write->base_source == BaseVersionSource::kIfMatch) FUZZ_CHECK(rpc.expected_version() >= 0);
  if (write->base_source == BaseVersionSource::kNone ||
      write->base_source == BaseVersionSource::kIfNoneMatch) {
    FUZZ_CHECK(rpc.expected_version() == 0);
  }

  // What the gateway would answer with this profile reads back as it.
  if (IsValidUtf8(profile.id())) {
    const std::string json = ToResponseJson(profile);
    profile::v1::Profile read_back;
    FUZZ_CHECK(google::protobuf::util::JsonStringToMessage(json, &read_back).ok()) << json;
    FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(profile, read_back)) << json;
  }

  // The core's validation of what the adapter made.
  absl::StatusOr<ProfileWrite> validated = ParseUpdateRequest(rpc);
  if (validated.ok()) {
    FUZZ_CHECK(CanonicalUuid(id) == validated->id);
  } else {
    CheckRefusal(validated.status());
  }
}

void CheckRequest(std::string_view input) {
  const size_t end_of_line = input.find('\n');
  const std::string_view request_line = StripCr(input.substr(0, end_of_line));
  input =
      end_of_line == std::string_view::npos ? std::string_view() : input.substr(end_of_line + 1);
  const size_t space = request_line.find(' ');
  const std::string_view method = request_line.substr(0, space);
  const std::string_view target =
      space == std::string_view::npos ? std::string_view() : request_line.substr(space + 1);

  // Beast throws for verb::unknown; other methods are all alike here.
  http::verb verb = http::string_to_verb(ToBeast(method));
  if (verb == http::verb::unknown) verb = http::verb::get;
  HttpRequest request(verb, ToBeast(target), 11);
  while (!input.empty()) {
    const size_t eol = input.find('\n');
    const std::string_view line = StripCr(input.substr(0, eol));
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    request.insert(ToBeast(line.substr(0, colon)), ToBeast(value));
  }
  request.body() = std::string(input);

  const RequestTarget split = SplitTarget(target);
  if (target.find('?') == std::string_view::npos) {
    FUZZ_CHECK(split.path == target && split.query.empty());
  } else {
    FUZZ_CHECK(std::string(split.path) + "?" + std::string(split.query) == target);
    FUZZ_CHECK(split.path.find('?') == std::string_view::npos);
  }

  CheckHeaders(request);

  constexpr std::string_view kUser = "/user";
  if (split.path == kUser) {
    absl::StatusOr<profile::v1::ListProfilesRequest> list = ParseListQuery(split.query);
    if (!list.ok()) {
      CheckRefusal(list.status());
      return;
    }
    FUZZ_CHECK(IsValidUtf8(list->page_token()) && IsValidUtf8(list->since_cursor()));
    CheckCursor(list->page_token(), "page_token");
    CheckCursor(list->since_cursor(), "since");
    return;
  }
  if (split.path.substr(0, kUser.size() + 1) != "/user/") return;
  const std::string_view id = split.path.substr(kUser.size() + 1);
  if (id.empty() || id.find('/') != std::string_view::npos) return;
  // The handler refuses (400) an id that is not UTF-8 before anything else:
  // ParseWriteRequest() quotes the path's id in its messages as it is.
  if (!IsValidUtf8(id)) return;
  // The handler answers 415 before parsing a body that is not JSON.
  if (!IsJsonContentType(ToStd(request[http::field::content_type]))) return;
  if (request.method() == http::verb::put) CheckWrite(WriteKind::kReplace, id, request);
  if (request.method() == http::verb::patch) CheckWrite(WriteKind::kPatch, id, request);
}

}  // namespace
}  // namespace profiles

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The gateway refuses larger bodies (HttpGateway::Options::body_limit).
  if (size > 1024 * 1024) return 0;
  profiles::CheckRequest(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
