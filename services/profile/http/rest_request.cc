#include "services/profile/http/rest_request.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/profile_contract/profile_fields.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"

namespace profiles {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kIfMatch = "If-Match";
constexpr std::string_view kIfNoneMatch = "If-None-Match";
constexpr std::string_view kIdempotencyKey = "Idempotency-Key";

std::string_view ToStd(boost::beast::string_view text) { return {text.data(), text.size()}; }
std::string_view ToStd(absl::string_view text) { return {text.data(), text.size()}; }
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

std::string_view TrimOws(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

template <typename Int>
std::optional<Int> ParseDecimal(std::string_view text) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) return std::nullopt;
  return value;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = HexValue(text[i + 1]);
    const int low = HexValue(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return decoded;
}

// Copies the field violations of `status`, an error about `field`.
void AddViolations(const absl::Status& status, std::string_view field,
                   FieldViolations* violations) {
  std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(status);
  if (!bad_request.has_value()) {
    violations->Add(std::string(field), std::string(status.message()));
    return;
  }
  for (const auto& violation : bad_request->field_violations()) {
    violations->Add(violation.field(), violation.description());
  }
}

absl::Status FieldError(std::string_view field, std::string description) {
  FieldViolations violations;
  violations.Add(std::string(field), std::move(description));
  return violations.ToStatus();
}

bool IsProfileField(const std::string& key) {
  const google::protobuf::Descriptor* descriptor = profile::v1::Profile::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(i);
    if (field->name() == key || field->json_name() == key) return true;
  }
  return false;
}

bool SameProfileId(std::string_view a, std::string_view b) {
  std::optional<std::string> canonical_a = CanonicalUuid(a);
  std::optional<std::string> canonical_b = CanonicalUuid(b);
  if (canonical_a.has_value() && canonical_b.has_value()) return *canonical_a == *canonical_b;
  return a == b;
}

constexpr std::string_view kNotUtf8 = "must be valid UTF-8 text";

// A body that is not UTF-8 cannot be parsed as JSON at all, so the parser
// cannot say where the bad bytes are. Each invalid byte is replaced by
// U+FDD0, a noncharacter the text rules refuse anyway, and the body parsed
// again: every key whose string value (or name) holds it is a bad field.
absl::Status InvalidUtf8BodyError(std::string_view body) {
  constexpr std::string_view kMarker = "\xEF\xB7\x90";  // U+FDD0
  std::string marked;
  marked.reserve(body.size() + 16);
  while (!body.empty()) {
    // The shortest prefix that is one whole character, if any.
    size_t length = 1;
    while (length <= 4 && length <= body.size() && !IsValidUtf8(body.substr(0, length))) ++length;
    if (length <= 4 && length <= body.size()) {
      marked.append(body.substr(0, length));
      body.remove_prefix(length);
    } else {
      marked.append(kMarker);
      body.remove_prefix(1);
    }
  }
  FieldViolations violations;
  google::protobuf::Struct keys;
  if (google::protobuf::util::JsonStringToMessage(marked, &keys).ok()) {
    std::vector<std::string> bad;
    for (const auto& [key, value] : keys.fields()) {
      if (absl::StrContains(key, ToAbsl(kMarker))) {
        bad.emplace_back("body");  // a key: nothing more specific to name
      } else if (value.has_string_value() &&
                 absl::StrContains(value.string_value(), ToAbsl(kMarker))) {
        bad.push_back(key);
      }
    }
    std::sort(bad.begin(), bad.end());
    bad.erase(std::unique(bad.begin(), bad.end()), bad.end());
    for (std::string& key : bad) violations.Add(std::move(key), std::string(kNotUtf8));
  }
  if (violations.empty()) violations.Add("body", "must be valid UTF-8 JSON");
  return violations.ToStatus();
}

// How deeply a write's body may nest arrays and objects. A profile is one
// flat object; the bound exists because protobuf 3.21's JSON parser, parsing
// into a Struct, does not limit the depth of nested arrays and takes time
// about cubic in it (8,000 levels: 3 s): a 200 KB body of "[[[...]]]" held
// an io thread for minutes.
constexpr int kMaxBodyDepth = 32;

// Whether `body` nests arrays and objects deeper than kMaxBodyDepth, by one
// linear pass that skips strings (their escapes included). Works on bytes,
// so invalid UTF-8 does not matter: no byte of a multi-byte character is
// ASCII.
bool NestsTooDeeply(std::string_view body) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxBodyDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// The version of the request's one If-Match header (REQUIRES: it has at
// least one); nullopt, with the violations added, when there are several or
// the one is not a strong version tag.
std::optional<int64_t> IfMatchVersion(const HttpRequest& request, FieldViolations* violations) {
  if (request.count(http::field::if_match) > 1) {
    violations->Add(std::string(kIfMatch), "give exactly one If-Match header");
    return std::nullopt;
  }
  absl::StatusOr<int64_t> version = ParseIfMatch(ToStd(request[http::field::if_match]));
  if (!version.ok()) {
    AddViolations(version.status(), kIfMatch, violations);
    return std::nullopt;
  }
  return *version;
}

// The mutation id of the request's Idempotency-Key header; nullopt when it
// has none, or, with the violations added, several or a malformed one.
std::optional<std::string> IdempotencyKeyOf(const HttpRequest& request,
                                            FieldViolations* violations) {
  const boost::beast::string_view key_name(kIdempotencyKey.data(), kIdempotencyKey.size());
  const size_t count = request.count(key_name);
  if (count == 0) return std::nullopt;
  if (count > 1) {
    violations->Add(std::string(kIdempotencyKey), "give exactly one Idempotency-Key header");
    return std::nullopt;
  }
  absl::StatusOr<std::string> key = ParseIdempotencyKey(ToStd(request[key_name]));
  if (!key.ok()) {
    AddViolations(key.status(), kIdempotencyKey, violations);
    return std::nullopt;
  }
  return *std::move(key);
}

}  // namespace

RequestTarget SplitTarget(std::string_view target) {
  const size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

std::string EntityTag(std::string_view opaque) { return absl::StrCat("\"", ToAbsl(opaque), "\""); }

absl::StatusOr<int64_t> ParseIfMatch(std::string_view value) {
  value = TrimOws(value);
  if (value == "*") {
    return FieldError(kIfMatch, "\"*\" is not supported: name the version you edit, as \"<n>\"");
  }
  if (absl::StartsWith(ToAbsl(value), "W/")) {
    return FieldError(kIfMatch, "a weak entity tag cannot be used: name the version as \"<n>\"");
  }
  std::optional<int64_t> version;
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    version = ParseDecimal<int64_t>(value.substr(1, value.size() - 2));
  }
  if (!version.has_value() || *version < 0) {
    return FieldError(kIfMatch,
                      absl::StrCat("must be one entity tag \"<version>\", as sent in ETag; got '",
                                   QuoteForMessage(value), "'"));
  }
  return *version;
}

bool IfNoneMatchMatches(std::string_view header, std::string_view etag) {
  for (absl::string_view part : absl::StrSplit(ToAbsl(header), ',')) {
    std::string_view tag = TrimOws(ToStd(part));
    if (tag == "*") return true;
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
  }
  return false;
}

absl::StatusOr<std::string> ParseIdempotencyKey(std::string_view value) {
  std::optional<std::string> key = CanonicalUuid(TrimOws(value));
  if (!key.has_value()) {
    return FieldError(kIdempotencyKey,
                      "must be a UUID (e.g. 123e4567-e89b-12d3-a456-426614174000), "
                      "new for every distinct write and reused only to retry it");
  }
  return *key;
}

bool IsJsonContentType(std::string_view value) {
  std::string_view media_type = TrimOws(value.substr(0, value.find(';')));
  return absl::EqualsIgnoreCase(ToAbsl(media_type), "application/json");
}

absl::StatusOr<profile::v1::ListProfilesRequest> ParseListQuery(std::string_view query) {
  profile::v1::ListProfilesRequest request;
  FieldViolations violations;
  for (absl::string_view pair : absl::StrSplit(ToAbsl(query), '&', absl::SkipEmpty())) {
    const size_t equals = pair.find('=');
    // The name is reported back as the field, so it must be printable.
    const std::string name = QuoteForMessage(ToStd(pair.substr(0, equals)));
    std::optional<std::string> value = PercentDecode(
        equals == absl::string_view::npos ? std::string_view() : ToStd(pair.substr(equals + 1)));
    if (!value.has_value()) {
      violations.Add(name, "malformed percent-encoding");
    } else if (!IsValidUtf8(*value)) {
      // Every parameter becomes a proto3 string, which must be UTF-8.
      violations.Add(name, absl::StrCat("must be valid UTF-8 once percent-decoded; got '",
                                        QuoteForMessage(*value), "'"));
    } else if (name == "page_size") {
      std::optional<int32_t> page_size = ParseDecimal<int32_t>(*value);
      if (page_size.has_value()) {
        request.set_page_size(*page_size);
      } else {
        violations.Add(name,
                       absl::StrCat("must be a whole number; got '", QuoteForMessage(*value), "'"));
      }
    } else if (name == "page_token") {
      request.set_page_token(*value);
    } else if (name == "since") {
      request.set_since_cursor(*value);
    } else if (name == "include_avatars") {
      if (*value == "true" || *value == "false") {
        request.set_include_avatars(*value == "true");
      } else {
        violations.Add(name,
                       absl::StrCat("must be true or false; got '", QuoteForMessage(*value), "'"));
      }
    } else {
      violations.Add(name,
                     "unknown query parameter; expected page_size, page_token, since or "
                     "include_avatars");
    }
  }
  if (!violations.empty()) return violations.ToStatus();
  return request;
}

absl::StatusOr<WriteRequest> ParseWriteRequest(WriteKind kind, std::string_view path_id,
                                               const HttpRequest& request) {
  // Before anything parses the body (InvalidUtf8BodyError() does too).
  if (NestsTooDeeply(request.body())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body nests arrays or objects more than ", kMaxBodyDepth,
                     " levels deep; a profile is one JSON object of name, email and avatar"));
  }
  if (!IsValidUtf8(request.body())) return InvalidUtf8BodyError(request.body());
  // First as a Struct, to learn which keys the body has (a PATCH writes only
  // those) and to name every unknown one.
  google::protobuf::Struct keys;
  google::protobuf::util::Status parsed =
      google::protobuf::util::JsonStringToMessage(request.body(), &keys);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a JSON object: ", parsed.message().ToString()));
  }
  FieldViolations violations;
  std::vector<std::string> unknown;
  for (const auto& [key, value] : keys.fields()) {
    if (!IsProfileField(key)) unknown.push_back(key);
  }
  std::sort(unknown.begin(), unknown.end());
  for (std::string& key : unknown) {
    violations.Add(std::move(key), absl::StrCat("unknown field; a profile body has ",
                                                JoinWritableFieldPaths(), ", version and id"));
  }
  if (!violations.empty()) return violations.ToStatus();

  WriteRequest write;
  profile::v1::Profile* profile = write.rpc.mutable_profile();
  parsed = google::protobuf::util::JsonStringToMessage(request.body(), profile);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the body is not a valid profile: ", parsed.message().ToString()));
  }

  // JSON escapes can still spell invalid UTF-8 (a lone surrogate, "\ud800")
  // in the id and the text fields; the avatar is bytes.
  if (!IsValidUtf8(profile->id())) violations.Add("id", std::string(kNotUtf8));
  for (const ProfileField& field : WritableFields()) {
    if (!field.is_avatar() && !IsValidUtf8(field.Get(*profile))) {
      violations.Add(std::string(field.path()), std::string(kNotUtf8));
    }
  }
  if (!violations.empty()) return violations.ToStatus();

  if (!profile->id().empty() && !SameProfileId(profile->id(), path_id)) {
    violations.Add("id", absl::StrCat("must name the profile of the path (", ToAbsl(path_id),
                                      ") or be left out"));
  }
  profile->set_id(std::string(path_id));
  // "deleted": false is what every GET body carries, so it may come back; a
  // write that says true would be taken for a delete it is not.
  if (profile->deleted()) {
    violations.Add("deleted",
                   "a write cannot delete the profile: send DELETE /user/{id} with If-Match");
  }
  profile->clear_deleted();
  const bool body_has_version = keys.fields().contains("version");
  const int64_t body_version = profile->version();
  profile->clear_version();
  profile->clear_avatar_sha256();
  profile->clear_updated_at();

  // A writable field's JSON key is its mask path (profile_fields.h).
  for (const ProfileField& field : WritableFields()) {
    const std::string path(field.path());
    if (kind == WriteKind::kReplace || keys.fields().contains(path)) {
      write.rpc.mutable_update_mask()->add_paths(path);
    }
  }
  if (write.rpc.update_mask().paths_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("a PATCH body must contain at least one of ",
                                                   JoinWritableFieldPaths(", ", " and ")));
  }

  const size_t if_match_count = request.count(http::field::if_match);
  const size_t if_none_match_count = request.count(http::field::if_none_match);
  if (if_none_match_count > 0) {
    if (if_none_match_count > 1 || TrimOws(ToStd(request[http::field::if_none_match])) != "*") {
      violations.Add(std::string(kIfNoneMatch),
                     "on a write only \"*\" is understood (create the profile only if it does "
                     "not exist); to edit, send If-Match with its version");
    } else if (if_match_count > 0 || body_has_version) {
      violations.Add(std::string(kIfNoneMatch),
                     "\"*\" creates only; it cannot go with If-Match or a \"version\" in the "
                     "body");
    } else {
      write.rpc.set_expected_version(0);
      write.base_source = BaseVersionSource::kIfNoneMatch;
    }
  } else if (if_match_count > 0) {
    if (std::optional<int64_t> version = IfMatchVersion(request, &violations)) {
      write.rpc.set_expected_version(*version);
      write.base_source = BaseVersionSource::kIfMatch;
    }
  } else if (body_has_version) {
    write.rpc.set_expected_version(body_version);
    write.base_source = BaseVersionSource::kBody;
  }
  if (std::optional<std::string> key = IdempotencyKeyOf(request, &violations)) {
    write.rpc.set_mutation_id(*std::move(key));
  }

  if (!violations.empty()) return violations.ToStatus();
  return write;
}

absl::StatusOr<DeleteRequest> ParseDeleteRequest(std::string_view path_id,
                                                 const HttpRequest& request) {
  DeleteRequest deletion;
  deletion.rpc.set_id(std::string(path_id));
  FieldViolations violations;
  // RFC 9110 9.3.5: a DELETE body has no meaning, and proxies may drop it;
  // a "version" sent there must not be mistaken for a base version.
  if (!request.body().empty()) {
    violations.Add("body",
                   "a DELETE takes no body: send the version you delete as If-Match, e.g. "
                   "If-Match: \"3\"");
  }
  if (request.count(http::field::if_none_match) > 0) {
    violations.Add(std::string(kIfNoneMatch),
                   "a DELETE cannot be conditional on If-None-Match: send If-Match with the "
                   "version you delete");
  }
  if (request.count(http::field::if_match) > 0) {
    if (std::optional<int64_t> version = IfMatchVersion(request, &violations)) {
      if (*version < 1) {
        violations.Add(std::string(kIfMatch),
                       "no profile has version 0 (versions start at 1): send the ETag of the "
                       "profile you delete");
      } else {
        deletion.rpc.set_expected_version(*version);
        deletion.base_source = BaseVersionSource::kIfMatch;
      }
    }
  }
  if (std::optional<std::string> key = IdempotencyKeyOf(request, &violations)) {
    deletion.rpc.set_mutation_id(*std::move(key));
  }
  if (!violations.empty()) return violations.ToStatus();
  return deletion;
}

}  // namespace profiles
