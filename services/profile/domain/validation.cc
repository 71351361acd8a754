#include "services/profile/domain/validation.h"

#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/profile/domain/status_details.h"

namespace profiles {
namespace {

// A minimal UTF-8 decoder: neither the standard library nor Abseil 20220623
// offers one, and names must be measured in code points and scanned for
// control characters. Returns false on any malformed, overlong or surrogate
// sequence.
bool DecodeUtf8(std::string_view text, std::vector<char32_t>& out) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    int length = 0;
    char32_t code_point = 0;
    if (lead < 0x80) {
      length = 1;
      code_point = lead;
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
      return false;
    }
    if (i + length > text.size()) return false;
    for (int k = 1; k < length; ++k) {
      const auto continuation = static_cast<uint8_t>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (continuation & 0x3F);
    }
    static constexpr std::array<char32_t, 5> kMinimumForLength = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinimumForLength[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    out.push_back(code_point);
    i += length;
  }
  return true;
}

bool IsUnicodeWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

size_t Utf8Length(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

bool IsLocalPartChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) != std::string_view::npos;
}

std::optional<std::string> DomainProblem(std::string_view domain) {
  const std::vector<absl::string_view> labels =
      absl::StrSplit(absl::string_view(domain.data(), domain.size()), '.');
  if (labels.size() < 2) return "the domain needs a dot, as in example.com";
  for (absl::string_view label : labels) {
    if (label.empty() || label.size() > 63) return "each part of the domain must be 1-63 characters";
    if (label.front() == '-' || label.back() == '-') {
      return "a domain part must not start or end with '-'";
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return "the domain may only hold letters, digits, '-' and '.'";
      }
    }
  }
  const absl::string_view top = labels.back();
  bool all_digits = true;
  for (char c : top) all_digits = all_digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  if (all_digits || top.size() < 2) return "the domain must end in a top-level domain like .com";
  return std::nullopt;
}

bool StartsWith(std::string_view bytes, std::string_view prefix) {
  return bytes.substr(0, prefix.size()) == prefix;
}

}  // namespace

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
  std::vector<char32_t> code_points;
  // Invalid UTF-8 is returned untrimmed; NameProblem() rejects it.
  if (!DecodeUtf8(text, code_points)) return std::string(text);
  size_t begin = 0;
  size_t end = code_points.size();
  size_t begin_byte = 0;
  size_t end_byte = text.size();
  while (begin < end && IsUnicodeWhitespace(code_points[begin])) {
    begin_byte += Utf8Length(code_points[begin++]);
  }
  while (end > begin && IsUnicodeWhitespace(code_points[end - 1])) {
    end_byte -= Utf8Length(code_points[--end]);
  }
  return std::string(text.substr(begin_byte, end_byte - begin_byte));
}

std::optional<std::string> NameProblem(std::string_view name) {
  std::vector<char32_t> code_points;
  if (!DecodeUtf8(name, code_points)) return "must be valid UTF-8 text";
  if (code_points.empty()) return "must not be empty";
  if (code_points.size() > kMaxNameCharacters) {
    return absl::StrCat("must be at most ", kMaxNameCharacters, " characters (it has ",
                        code_points.size(), ")");
  }
  for (char32_t c : code_points) {
    if (IsControl(c)) return "must not contain control characters such as tabs or line breaks";
  }
  return std::nullopt;
}

std::optional<std::string> EmailProblem(std::string_view email) {
  if (email.empty()) return "must not be empty";
  if (email.size() > kMaxEmailBytes) {
    return absl::StrCat("must be at most ", kMaxEmailBytes, " characters");
  }
  const size_t at = email.rfind('@');
  if (at == std::string_view::npos) return "must look like name@example.com";
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > 64) return "the part before '@' must be 1-64 characters";
  for (char c : local) {
    if (!IsLocalPartChar(c)) {
      return absl::StrCat("the part before '@' must not contain '", std::string(1, c), "'");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return "the part before '@' must not start or end with a dot or hold two in a row";
  }
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
  violations.Add(std::string(field),
                 id.empty() ? "is required"
                            : "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
  return violations.ToStatus();
}

absl::StatusOr<ProfileWrite> ParseUpdateRequest(const profile::v1::UpdateProfileRequest& request) {
  FieldViolations violations;
  ProfileWrite write;
  const profile::v1::Profile& profile = request.profile();

  if (std::optional<std::string> id = CanonicalUuid(profile.id())) {
    write.id = *std::move(id);
  } else {
    violations.Add("id", profile.id().empty()
                             ? "is required"
                             : "must be a UUID such as 123e4567-e89b-12d3-a456-426614174000");
  }

  if (request.expected_version() < 0) {
    violations.Add("expected_version", "must be 0 (create) or the version the edit is based on");
  }
  write.expected_version = request.expected_version();

  if (!request.mutation_id().empty()) {
    if (std::optional<std::string> mutation_id = CanonicalUuid(request.mutation_id())) {
      write.mutation_id = *std::move(mutation_id);
    } else {
      violations.Add("mutation_id", "must be a UUID");
    }
  }

  bool write_name = request.update_mask().paths_size() == 0;
  bool write_email = write_name;
  bool write_avatar = write_name;
  for (const std::string& path : request.update_mask().paths()) {
    if (path == "name") {
      write_name = true;
    } else if (path == "email") {
      write_email = true;
    } else if (path == "avatar") {
      write_avatar = true;
    } else {
      violations.Add("update_mask", absl::StrCat("unknown field \"", path,
                                                 "\"; writable fields are name, email, avatar"));
    }
  }

  if (write.creates()) {
    if (!write_name) violations.Add("name", "is required to create a profile");
    if (!write_email) violations.Add("email", "is required to create a profile");
  }
  if (write_name) {
    std::string name = TrimWhitespace(profile.name());
    if (std::optional<std::string> problem = NameProblem(name)) {
      violations.Add("name", *std::move(problem));
    }
    write.name = std::move(name);
  }
  if (write_email) {
    std::string email = TrimWhitespace(profile.email());
    if (std::optional<std::string> problem = EmailProblem(email)) {
      violations.Add("email", *std::move(problem));
    }
    write.email = std::move(email);
  }
  if (write_avatar) {
    if (std::optional<std::string> problem = AvatarProblem(profile.avatar())) {
      violations.Add("avatar", *std::move(problem));
    }
    write.avatar = profile.avatar();
  }

  if (!violations.empty()) return violations.ToStatus();
  return write;
}

}  // namespace profiles
