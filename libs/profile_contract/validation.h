#ifndef PROFILES_LIBS_PROFILE_CONTRACT_VALIDATION_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_VALIDATION_H_

// The rules every profile write must meet, whichever protocol it came in by.
//
//   id      a UUID, any version, either case; stored in canonical lowercase
//   name    1 to 100 characters (Unicode code points) after trimming
//           whitespace; the text rules below
//   email   an address local@domain, internationalized ones included, at
//           most 254 bytes of UTF-8; the text rules below, and no whitespace
//   avatar  at most 256 KiB; PNG, JPEG, WebP or GIF by magic bytes; empty
//           clears it
//
// Text rules. The schema's CHECK constraints state exactly the same
// character rules (storage/migrations/0002_text_rules.sql), and
// tests/text_rules_test.cc walks every class below through both, so a value
// this file accepts is always stored, and one the table refuses is always
// refused here first (as INVALID_ARGUMENT naming the field, never as an
// internal error):
//   - valid UTF-8 (no overlong forms, no surrogates);
//   - whitespace is Unicode's White_Space property: U+0009..U+000D, U+0020,
//     U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F,
//     U+205F, U+3000. Writes are trimmed of it at both ends, so no stored
//     value starts or ends with it; an e-mail address holds none at all;
//   - forbidden anywhere, because they are invisible, break lines or
//     reorder the text around them (spoofing, log and UI injection):
//       controls (Cc)       U+0000..U+001F, U+007F..U+009F
//       separators (Zl, Zp) U+2028, U+2029
//       format (Cf)         every Cf character of Unicode 15 except U+200C
//                           ZERO WIDTH NON-JOINER and U+200D ZERO WIDTH
//                           JOINER, which Persian, Indic scripts and emoji
//                           sequences need: U+00AD, U+0600..U+0605, U+061C,
//                           U+06DD, U+070F, U+0890..U+0891, U+08E2, U+180E,
//                           U+200B, U+200E, U+200F, U+202A..U+202E,
//                           U+2060..U+2064, U+2066..U+206F, U+FEFF,
//                           U+FFF9..U+FFFB, U+110BD, U+110CD, U+13430..U+1343F,
//                           U+1BCA0..U+1BCA3, U+1D173..U+1D17A, U+E0001,
//                           U+E0020..U+E007F (tags: subdivision flags such as
//                           Scotland's are therefore refused)
//       noncharacters       U+FDD0..U+FDEF and the last two code points of
//                           every plane (U+FFFE, U+FFFF, ..., U+10FFFF)
//     Everything else is allowed: letters, marks, digits, punctuation,
//     symbols and emoji of every script, private use and unassigned code
//     points. The lists are fixed code points, not locale classes, so the
//     answer does not depend on the database's locale or Unicode version.
//
// E-mail addresses (RFC 5321 dot-atoms with RFC 6531's UTF-8 extension;
// quoted local parts and address literals are refused):
//   - exactly one '@'; the local part is 1 to 64 bytes of ASCII letters,
//     digits, !#$%&'*+/=?^_`{|}~- and any non-ASCII character, with dots
//     between (not first, last or doubled): "josé@example.com";
//   - the domain is two or more dot-separated labels of 1 to 63 bytes, each
//     of ASCII letters, digits and '-' (not first or last) or non-ASCII
//     characters, so internationalized domain names may be given in Unicode
//     ("zoe@exämple.com") or as A-labels ("zoe@xn--exmple-cua.com"); the
//     ideographic and fullwidth full stops (U+3002, U+FF0E, U+FF61) are
//     refused rather than taken for dots; the last label has 2 or more
//     characters and is not all digits. Whether a Unicode label is a valid
//     IDNA2008 label is left to the mail system: checking it would need
//     Unicode tables this project does not carry.
//
// Messages name the offending character as a whole, never a part of its
// UTF-8 encoding, and quote invisible ones by code point ("U+2028").
//
// All functions are pure and thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libs/profile_contract/profile_write.h"
#include "profile/v1/profile.pb.h"

namespace profiles {

inline constexpr size_t kMaxNameCharacters = 100;
inline constexpr size_t kMaxEmailBytes = 254;
inline constexpr size_t kMaxEmailLocalPartBytes = 64;
inline constexpr size_t kMaxDomainLabelBytes = 63;
inline constexpr size_t kMaxAvatarBytes = size_t{256} * 1024;

// The canonical lowercase 8-4-4-4-12 form of a UUID, or nullopt if `text` is
// not one.
std::optional<std::string> CanonicalUuid(std::string_view text);

// The MIME type of an image recognised by its magic bytes ("image/png",
// "image/jpeg", "image/webp", "image/gif"), or nullopt.
std::optional<std::string_view> ImageMimeType(std::string_view bytes);

// Each returns a description of what is wrong, or nullopt when the value is
// acceptable. `name` and `email` are checked as they are, so as stored: the
// service trims them first (TrimWhitespace), and a value that still starts
// or ends with whitespace is refused, as the table would refuse it.
std::optional<std::string> NameProblem(std::string_view name);
std::optional<std::string> EmailProblem(std::string_view email);
std::optional<std::string> AvatarProblem(std::string_view avatar);

// Leading and trailing whitespace (as defined above) removed. Invalid UTF-8
// is returned unchanged.
std::string TrimWhitespace(std::string_view text);

// The code points of `text`, or nullopt if it is not valid UTF-8.
std::optional<std::u32string> DecodeUtf8(std::string_view text);
bool IsValidUtf8(std::string_view text);
// The UTF-8 encoding of code point `c`. REQUIRES: c <= 0x10FFFF.
std::string EncodeUtf8(char32_t c);

// The character classes of the text rules above.
bool IsWhitespace(char32_t c);
bool IsForbiddenCharacter(char32_t c);

// `text` made safe to quote in an error message: always valid UTF-8 (each
// byte of an invalid sequence becomes "\xHH"), with controls, separators,
// format characters and noncharacters written as "<U+XXXX>", and cut to at
// most `max_characters` characters (then "..."), never inside a character.
std::string QuoteForMessage(std::string_view text, size_t max_characters = 64);

// The canonical id of a GetProfile-style request, or INVALID_ARGUMENT naming
// `field`.
absl::StatusOr<std::string> ParseProfileId(std::string_view id, std::string_view field = "id");

// Validates an UpdateProfileRequest and turns it into a ProfileWrite.
// INVALID_ARGUMENT (with a google.rpc.BadRequest listing every bad field) if
// anything is wrong; the field names are those of the proto ("profile.name" is
// reported as "name", so a client can show it next to the field).
absl::StatusOr<ProfileWrite> ParseUpdateRequest(const profile::v1::UpdateProfileRequest& request);

// Validates a DeleteProfileRequest and turns it into a ProfileWrite that
// deletes: INVALID_ARGUMENT (BadRequest) for a bad id or mutation_id, or an
// expected_version below 1 (a delete must name the version it saw).
absl::StatusOr<ProfileWrite> ParseDeleteRequest(const profile::v1::DeleteProfileRequest& request);

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_VALIDATION_H_
