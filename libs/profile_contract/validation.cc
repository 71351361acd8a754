#include "libs/profile_contract/validation.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "libs/profile_contract/profile_fields.h"
#include "libs/profile_contract/status_details.h"

namespace profiles {
namespace {

// A code point range, both ends included.
struct Range {
  char32_t first;
  char32_t last;
};

// The forbidden characters of validation.h's text rules, in ascending order.
// The same list, written as a regular expression class, is in
// storage/migrations/0002_text_rules.sql; keep them in step (the text rules
// test fails when they differ).
constexpr Range kControls[] = {{0x0000, 0x001F}, {0x007F, 0x009F}};
constexpr Range kSeparators[] = {{0x2028, 0x2029}};
// General category Cf of Unicode 15.0, less U+200C and U+200D.
constexpr Range kFormat[] = {
    {0x00AD, 0x00AD},   {0x0600, 0x0605},   {0x061C, 0x061C},   {0x06DD, 0x06DD},
    {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},   {0x180E, 0x180E},
    {0x200B, 0x200B},   {0x200E, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x2064},
    {0x2066, 0x206F},   {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD},
    {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
};
// Unicode's White_Space property.
constexpr Range kWhitespace[] = {
    {0x0009, 0x000D}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00A0, 0x00A0}, {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
};

template <size_t N>
bool InRanges(const Range (&ranges)[N], char32_t c) {
  for (const Range& range : ranges) {
    if (c < range.first) return false;
    if (c <= range.last) return true;
  }
  return false;
}

bool IsNoncharacter(char32_t c) { return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE; }

// Why `c` is forbidden, for messages; nullptr if it is not.
const char* ForbiddenKind(char32_t c) {
  if (InRanges(kControls, c)) return "a control character";
  if (InRanges(kSeparators, c)) return "a line or paragraph separator";
  if (InRanges(kFormat, c)) return "an invisible formatting character";
  if (IsNoncharacter(c)) return "a noncharacter";
  return nullptr;
}

// "U+" and at least four upper-case hex digits, as Unicode writes them.
std::string CodePointLabel(char32_t c) {
  std::string hex = absl::AsciiStrToUpper(absl::StrCat(absl::Hex(c, absl::kZeroPad4)));
  return absl::StrCat("U+", hex);
}

// How a message names `c`: "'é' (U+00E9)", "'(' ", or only the code point
// and its kind for a character nobody could see ("U+2028, a line or
// paragraph separator"), always whole.
std::string DescribeCharacter(char32_t c) {
  if (const char* kind = ForbiddenKind(c)) return absl::StrCat(CodePointLabel(c), ", ", kind);
  if (IsWhitespace(c)) {
    return c == ' ' ? std::string("a space") : absl::StrCat(CodePointLabel(c), ", a space");
  }
  const std::string quoted = absl::StrCat("'", EncodeUtf8(c), "'");
  if (c < 0x80) return quoted;
  return absl::StrCat(quoted, " (", CodePointLabel(c), ")");
}

// One UTF-8 sequence at the start of `text`: its code point and length, or
// length 0 if it is malformed, overlong or a surrogate.
struct Decoded {
  char32_t code_point = 0;
  size_t length = 0;
};

// A hand-written decoder: neither the standard library nor Debian's Abseil
// (20220623) offers one, and the rules need code points.
Decoded DecodeOne(std::string_view text) {
  const auto lead = static_cast<uint8_t>(text[0]);
  size_t length = 0;
  char32_t code_point = 0;
  if (lead < 0x80) {
    return {lead, 1};
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code_point = lead & 0x07;
  } else {
    return {};
  }
  if (length > text.size()) return {};
  for (size_t k = 1; k < length; ++k) {
    const auto continuation = static_cast<uint8_t>(text[k]);
    if ((continuation & 0xC0) != 0x80) return {};
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  static constexpr std::array<char32_t, 5> kMinimumForLength = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinimumForLength[length] || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return {};
  }
  return {code_point, length};
}

size_t Utf8Length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

// The first character of `text` that is forbidden, or whitespace when
// `whitespace_too`; nullopt if there is none.
std::optional<char32_t> FirstRefused(const std::u32string& text, bool whitespace_too) {
  for (char32_t c : text) {
    if (IsForbiddenCharacter(c) || (whitespace_too && IsWhitespace(c))) return c;
  }
  return std::nullopt;
}

bool IsAsciiAtext(char32_t c) {
  return c < 0x80 && (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                      std::string_view("!#$%&'*+/=?^_`{|}~-").find(static_cast<char>(c)) !=
                          std::string_view::npos);
}

bool IsDotLookalike(char32_t c) { return c == 0x3002 || c == 0xFF0E || c == 0xFF61; }

std::optional<std::string> LocalPartProblem(const std::u32string& local, size_t bytes) {
  if (local.empty() || bytes > kMaxEmailLocalPartBytes) {
    return absl::StrCat("the part before '@' must be 1 to ", kMaxEmailLocalPartBytes,
                        " bytes long (it is ", bytes, ")");
  }
  for (char32_t c : local) {
    if (c != '.' && c < 0x80 && !IsAsciiAtext(c)) {
      return absl::StrCat("the part before '@' must not contain ", DescribeCharacter(c));
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find(U"..") != std::u32string::npos) {
    return "the part before '@' must not start or end with a dot or hold two in a row";
  }
  return std::nullopt;
}

std::optional<std::string> DomainProblem(const std::u32string& domain) {
  for (char32_t c : domain) {
    if (IsDotLookalike(c)) {
      return absl::StrCat("the parts of the domain must be separated by '.', not ",
                          DescribeCharacter(c));
    }
    if (c < 0x80 && !absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return absl::StrCat("the domain may only hold letters, digits, '-' and '.', not ",
                          DescribeCharacter(c));
    }
  }
  std::vector<std::u32string> labels(1);
  for (char32_t c : domain) {
    if (c == '.') {
      labels.emplace_back();
    } else {
      labels.back().push_back(c);
    }
  }
  if (labels.size() < 2) return "the domain needs a dot, as in example.com";
  for (const std::u32string& label : labels) {
    size_t bytes = 0;
    for (char32_t c : label) bytes += Utf8Length(c);
    if (label.empty() || bytes > kMaxDomainLabelBytes) {
      return absl::StrCat("each part of the domain must be 1 to ", kMaxDomainLabelBytes,
                          " bytes long");
    }
    if (label.front() == '-' || label.back() == '-') {
      return "a domain part must not start or end with '-'";
    }
  }
  const std::u32string& top = labels.back();
  bool all_digits = true;
  for (char32_t c : top) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits || top.size() < 2) return "the domain must end in a top-level domain like .com";
  return std::nullopt;
}

bool StartsWith(std::string_view bytes, std::string_view prefix) {
  return bytes.substr(0, prefix.size()) == prefix;
}

// The rule of each writable field (an exhaustive switch: a new field in
// profile_fields.h does not compile until it has one).
std::optional<std::string> FieldProblem(ProfileFieldId field, std::string_view value) {
  switch (field) {
    case ProfileFieldId::kName:
      return NameProblem(value);
    case ProfileFieldId::kEmail:
      return EmailProblem(value);
    case ProfileFieldId::kAvatar:
      return AvatarProblem(value);
  }
  return std::nullopt;
}

}  // namespace

std::string EncodeUtf8(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return out;
}

std::optional<std::u32string> DecodeUtf8(std::string_view text) {
  std::u32string code_points;
  code_points.reserve(text.size());
  while (!text.empty()) {
    const Decoded decoded = DecodeOne(text);
    if (decoded.length == 0) return std::nullopt;
    code_points.push_back(decoded.code_point);
    text.remove_prefix(decoded.length);
  }
  return code_points;
}

bool IsValidUtf8(std::string_view text) {
  while (!text.empty()) {
    const Decoded decoded = DecodeOne(text);
    if (decoded.length == 0) return false;
    text.remove_prefix(decoded.length);
  }
  return true;
}

bool IsWhitespace(char32_t c) { return InRanges(kWhitespace, c); }

bool IsForbiddenCharacter(char32_t c) { return ForbiddenKind(c) != nullptr; }

std::string QuoteForMessage(std::string_view text, size_t max_characters) {
  std::string out;
  size_t characters = 0;
  while (!text.empty()) {
    if (characters == max_characters) {
      out.append("...");
      break;
    }
    ++characters;
    const Decoded decoded = DecodeOne(text);
    if (decoded.length == 0) {
      absl::StrAppend(&out, "\\x",
                      absl::AsciiStrToUpper(
                          absl::StrCat(absl::Hex(static_cast<uint8_t>(text[0]), absl::kZeroPad2))));
      text.remove_prefix(1);
      continue;
    }
    if (IsForbiddenCharacter(decoded.code_point)) {
      absl::StrAppend(&out, "<", CodePointLabel(decoded.code_point), ">");
    } else {
      out.append(text.substr(0, decoded.length));
    }
    text.remove_prefix(decoded.length);
  }
  return out;
}

std::optional<std::string> CanonicalUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::string canonical(text);
  for (size_t i = 0; i < canonical.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    const auto c = static_cast<unsigned char>(canonical[i]);
    if (dash_position ? c != '-' : !absl::ascii_isxdigit(c)) return std::nullopt;
    canonical[i] = absl::ascii_tolower(c);
  }
  return canonical;
}

std::optional<std::string_view> ImageMimeType(std::string_view bytes) {
  if (StartsWith(bytes, "\x89PNG\r\n\x1a\n")) return "image/png";
  if (StartsWith(bytes, "\xFF\xD8\xFF")) return "image/jpeg";
  if (StartsWith(bytes, "GIF87a") || StartsWith(bytes, "GIF89a")) return "image/gif";
  if (bytes.size() >= 12 && StartsWith(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP") {
    return "image/webp";
  }
  return std::nullopt;
}

std::string TrimWhitespace(std::string_view text) {
  std::optional<std::u32string> code_points = DecodeUtf8(text);
  // Invalid UTF-8 is returned untrimmed; NameProblem() rejects it.
  if (!code_points.has_value()) return std::string(text);
  size_t begin = 0;
  size_t end = code_points->size();
  size_t begin_byte = 0;
  size_t end_byte = text.size();
  while (begin < end && IsWhitespace((*code_points)[begin])) {
    begin_byte += Utf8Length((*code_points)[begin++]);
  }
  while (end > begin && IsWhitespace((*code_points)[end - 1])) {
    end_byte -= Utf8Length((*code_points)[--end]);
  }
  return std::string(text.substr(begin_byte, end_byte - begin_byte));
}

std::optional<std::string> NameProblem(std::string_view name) {
  std::optional<std::u32string> code_points = DecodeUtf8(name);
  if (!code_points.has_value()) return "must be valid UTF-8 text";
  if (code_points->empty()) return "must not be empty";
  if (code_points->size() > kMaxNameCharacters) {
    return absl::StrCat("must be at most ", kMaxNameCharacters, " characters (it has ",
                        code_points->size(), ")");
  }
  if (std::optional<char32_t> refused = FirstRefused(*code_points, /*whitespace_too=*/false)) {
    return absl::StrCat("must not contain ", DescribeCharacter(*refused));
  }
  if (IsWhitespace(code_points->front()) || IsWhitespace(code_points->back())) {
    return "must not start or end with a space";
  }
  return std::nullopt;
}

std::optional<std::string> EmailProblem(std::string_view email) {
  std::optional<std::u32string> code_points = DecodeUtf8(email);
  if (!code_points.has_value()) return "must be valid UTF-8 text";
  if (code_points->empty()) return "must not be empty";
  if (email.size() > kMaxEmailBytes) {
    return absl::StrCat("must be at most ", kMaxEmailBytes, " bytes long (it is ", email.size(),
                        ")");
  }
  if (std::optional<char32_t> refused = FirstRefused(*code_points, /*whitespace_too=*/true)) {
    return absl::StrCat("must not contain ", DescribeCharacter(*refused));
  }
  const size_t ats = static_cast<size_t>(std::count(email.begin(), email.end(), '@'));
  if (ats != 1) {
    return ats == 0 ? "must look like name@example.com"
                    : absl::StrCat("must contain one '@', not ", ats);
  }
  const size_t at = email.find('@');
  // Splitting the bytes at an ASCII '@' never cuts a character.
  const std::u32string local = *DecodeUtf8(email.substr(0, at));
  const std::u32string domain = *DecodeUtf8(email.substr(at + 1));
  if (std::optional<std::string> problem = LocalPartProblem(local, at)) return problem;
  return DomainProblem(domain);
}

std::optional<std::string> AvatarProblem(std::string_view avatar) {
  if (avatar.empty()) return std::nullopt;
  if (avatar.size() > kMaxAvatarBytes) {
    return absl::StrCat("must be at most 256 KiB (it is ", avatar.size() / 1024, " KiB)");
  }
  if (!ImageMimeType(avatar).has_value()) return "must be a PNG, JPEG, WebP or GIF image";
  return std::nullopt;
}

absl::StatusOr<std::string> ParseProfileId(std::string_view id, std::string_view field) {
  std::optional<std::string> canonical = CanonicalUuid(id);
  if (canonical.has_value()) return *std::move(canonical);
  FieldViolations violations;
  violations.Add(
      std::string(field),
      id.empty() ? "is required" : "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
  return violations.ToStatus();
}

namespace {

// The id every write names, into `write`.
void ParseWriteId(std::string_view id, ProfileWrite& write, FieldViolations& violations) {
  if (std::optional<std::string> canonical = CanonicalUuid(id)) {
    write.id = *std::move(canonical);
  } else {
    violations.Add("id", id.empty()
                             ? "is required"
                             : "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
  }
}

// The optional mutation_id of a write, into `write`.
void ParseMutationId(std::string_view mutation_id, ProfileWrite& write,
                     FieldViolations& violations) {
  if (mutation_id.empty()) return;
  if (std::optional<std::string> canonical = CanonicalUuid(mutation_id)) {
    write.mutation_id = *std::move(canonical);
  } else {
    violations.Add("mutation_id", "must be a UUID");
  }
}

}  // namespace

absl::StatusOr<ProfileWrite> ParseDeleteRequest(const profile::v1::DeleteProfileRequest& request) {
  FieldViolations violations;
  ProfileWrite write;
  write.deletes = true;
  ParseWriteId(request.id(), write, violations);
  if (request.expected_version() < 1) {
    violations.Add("expected_version",
                   "must be the version being deleted (at least 1): a delete is refused if the "
                   "profile changed since");
  }
  write.expected_version = request.expected_version();
  ParseMutationId(request.mutation_id(), write, violations);
  if (!violations.empty()) return violations.ToStatus();
  return write;
}

absl::StatusOr<ProfileWrite> ParseUpdateRequest(const profile::v1::UpdateProfileRequest& request) {
  FieldViolations violations;
  ProfileWrite write;
  const profile::v1::Profile& profile = request.profile();

  ParseWriteId(profile.id(), write, violations);
  if (profile.deleted()) {
    // Otherwise the edit would be applied as an edit, the opposite of what
    // its caller asked for.
    violations.Add("deleted", "is set by the server; delete a profile with DeleteProfile");
  }

  if (request.expected_version() < 0) {
    violations.Add("expected_version", "must be 0 (create) or the version the edit is based on");
  }
  write.expected_version = request.expected_version();
  ParseMutationId(request.mutation_id(), write, violations);

  // Indexed by ProfileField::index(); an empty mask writes every field.
  std::array<bool, kWritableFieldCount> writes;
  writes.fill(request.update_mask().paths_size() == 0);
  for (const std::string& path : request.update_mask().paths()) {
    if (const ProfileField* field = FindWritableField(path)) {
      writes[field->index()] = true;
    } else {
      violations.Add("update_mask",
                     absl::StrCat("unknown field \"", QuoteForMessage(path),
                                  "\"; writable fields are ", JoinWritableFieldPaths()));
    }
  }

  if (write.creates()) {
    for (const ProfileField& field : WritableFields()) {
      if (field.required_to_create() && !writes[field.index()]) {
        violations.Add(std::string(field.path()), "is required to create a profile");
      }
    }
  }
  for (const ProfileField& field : WritableFields()) {
    if (!writes[field.index()]) continue;
    // Text is trimmed before it is checked; the avatar's bytes are not text.
    std::string value =
        field.is_avatar() ? std::string(field.Get(profile)) : TrimWhitespace(field.Get(profile));
    if (std::optional<std::string> problem = FieldProblem(field.id(), value)) {
      violations.Add(std::string(field.path()), *std::move(problem));
    }
    *field.MutableOf(&write) = std::move(value);
  }

  if (!violations.empty()) return violations.ToStatus();
  return write;
}

}  // namespace profiles
