// Fuzz target: the write rules every profile edit meets, whichever protocol
// it came by (libs/profile_contract/validation.h).
//
// The whole input is checked as one text by each rule (UTF-8 decoding,
// trimming, quoting, name, e-mail, avatar, id); then it is split at '\n'
// into the fields of an UpdateProfileRequest and validated as a write:
//   id \n name \n email \n avatar \n mutation_id \n mask paths (',') \n expected_version
//
// Invariants: decoding and encoding UTF-8 round-trip; a quote for a message
// is valid UTF-8 without forbidden characters; trimming is idempotent; an id
// that parses is a canonical lowercase UUID; a write that validates meets
// every field rule; a refused one is INVALID_ARGUMENT naming known fields in
// valid UTF-8.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace profiles {
namespace {

bool IsCanonicalUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool HasForbidden(std::string_view text) {
  std::optional<std::u32string> code_points = DecodeUtf8(text);
  if (!code_points.has_value()) return true;
  for (char32_t c : *code_points) {
    if (IsForbiddenCharacter(c)) return true;
  }
  return false;
}

void CheckText(std::string_view text) {
  // Decoding: the decoder and the validity check agree, and encoding gives
  // the same bytes back.
  const std::optional<std::u32string> code_points = DecodeUtf8(text);
  FUZZ_CHECK(code_points.has_value() == IsValidUtf8(text));
  if (code_points.has_value()) {
    std::string encoded;
    for (char32_t c : *code_points) {
      FUZZ_CHECK(c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF)) << static_cast<uint32_t>(c);
      encoded += EncodeUtf8(c);
    }
    FUZZ_CHECK(encoded == text);
  }

  // Quoting: always printable in a message, never longer than asked.
  for (size_t max_characters : {size_t{0}, size_t{1}, size_t{64}, text.size()}) {
    const std::string quoted = QuoteForMessage(text, max_characters);
    FUZZ_CHECK(IsValidUtf8(quoted)) << "quote of " << max_characters;
    FUZZ_CHECK(!HasForbidden(quoted)) << "quote of " << max_characters;
    if (code_points.has_value() && code_points->size() <= max_characters && !HasForbidden(text)) {
      FUZZ_CHECK(quoted == text) << "valid text is quoted as it is";
    }
  }

  // Trimming: a substring, idempotent, and no whitespace left at the ends.
  const std::string trimmed = TrimWhitespace(text);
  FUZZ_CHECK(text.find(trimmed) != std::string_view::npos);
  FUZZ_CHECK(TrimWhitespace(trimmed) == trimmed);
  if (std::optional<std::u32string> kept = DecodeUtf8(trimmed); kept && !kept->empty()) {
    FUZZ_CHECK(!IsWhitespace(kept->front()) && !IsWhitespace(kept->back()));
  }

  // The field rules: any answer is printable (messages quote characters).
  for (const std::optional<std::string>& problem :
       {NameProblem(text), EmailProblem(text), AvatarProblem(text), NameProblem(trimmed),
        EmailProblem(trimmed)}) {
    if (problem.has_value()) FUZZ_CHECK(IsValidUtf8(*problem)) << *problem;
  }
  if (!NameProblem(text).has_value()) {
    FUZZ_CHECK(code_points.has_value() && !code_points->empty() && code_points->size() <= 100);
    FUZZ_CHECK(TrimWhitespace(text) == text) << "an accepted name is trimmed";
  }
  if (!EmailProblem(text).has_value()) {
    FUZZ_CHECK(text.size() <= kMaxEmailBytes);
    FUZZ_CHECK(text.find('@') != std::string_view::npos && text.find('@') == text.rfind('@'));
  }

  // Ids: canonical lowercase on success, INVALID_ARGUMENT naming the field
  // otherwise.
  absl::StatusOr<std::string> id = ParseProfileId(text, "id");
  FUZZ_CHECK(id.ok() == CanonicalUuid(text).has_value());
  if (id.ok()) {
    FUZZ_CHECK(IsCanonicalUuid(*id)) << *id;
    FUZZ_CHECK(CanonicalUuid(*id) == *id);
    for (size_t i = 0; i < text.size(); ++i) {
      FUZZ_CHECK(absl::ascii_tolower(static_cast<unsigned char>(text[i])) == (*id)[i]);
    }
  } else {
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument);
    std::optional<google::rpc::BadRequest> bad = BadRequestOf(id.status());
    FUZZ_CHECK(bad.has_value() && bad->field_violations_size() == 1 &&
               bad->field_violations(0).field() == "id");
  }
}

void CheckUpdateRequest(std::string_view input) {
  const std::vector<std::string_view> parts = fuzz::SplitInput(input, '\n', 7);
  auto part = [&parts](size_t i) {
    return i < parts.size() ? std::string(parts[i]) : std::string();
  };
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(part(0));
  request.mutable_profile()->set_name(part(1));
  request.mutable_profile()->set_email(part(2));
  request.mutable_profile()->set_avatar(part(3));
  request.set_mutation_id(part(4));
  if (parts.size() > 5 && !parts[5].empty()) {
    for (std::string_view path : fuzz::SplitInput(parts[5], ',', 8)) {
      request.mutable_update_mask()->add_paths(std::string(path));
    }
  }
  if (parts.size() > 6) {
    int64_t version = 0;
    std::from_chars(parts[6].data(), parts[6].data() + parts[6].size(), version);
    request.set_expected_version(version);
  }

  absl::StatusOr<ProfileWrite> write = ParseUpdateRequest(request);
  if (write.ok()) {
    FUZZ_CHECK(IsCanonicalUuid(write->id)) << write->id;
    FUZZ_CHECK(write->expected_version >= 0);
    FUZZ_CHECK(write->mutation_id.empty() || IsCanonicalUuid(write->mutation_id));
    if (write->name.has_value()) FUZZ_CHECK(!NameProblem(*write->name).has_value());
    if (write->email.has_value()) FUZZ_CHECK(!EmailProblem(*write->email).has_value());
    if (write->avatar.has_value()) FUZZ_CHECK(!AvatarProblem(*write->avatar).has_value());
    if (write->creates()) FUZZ_CHECK(write->name.has_value() && write->email.has_value());
    return;
  }
  FUZZ_CHECK(write.status().code() == absl::StatusCode::kInvalidArgument);
  std::optional<google::rpc::BadRequest> bad = BadRequestOf(write.status());
  FUZZ_CHECK(bad.has_value() && bad->field_violations_size() > 0);
  static const std::set<std::string> kFields = {
      "id", "expected_version", "mutation_id", "update_mask", "name", "email", "avatar"};
  for (const auto& violation : bad->field_violations()) {
    FUZZ_CHECK(kFields.contains(violation.field())) << violation.field();
    FUZZ_CHECK(IsValidUtf8(violation.description())) << violation.description();
  }
}

}  // namespace
}  // namespace profiles

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  profiles::CheckText(input);
  profiles::CheckUpdateRequest(input);
  return 0;
}
