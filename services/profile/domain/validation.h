#ifndef PROFILES_SERVICES_PROFILE_DOMAIN_VALIDATION_H_
#define PROFILES_SERVICES_PROFILE_DOMAIN_VALIDATION_H_

// The rules every profile write must meet, whichever protocol it came in by.
// The same limits are enforced again by CHECK constraints in the schema.
//
//   id      a UUID, any version, either case; stored in canonical lowercase
//   name    1 to 100 characters (Unicode code points) after trimming
//           whitespace; no control characters
//   email   practical address syntax (local@domain.tld), at most 254 bytes
//   avatar  at most 256 KiB; PNG, JPEG, WebP or GIF by magic bytes; empty
//           clears it
//
// All functions are pure and thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "profile/v1/profile.pb.h"
#include "services/profile/domain/profile_write.h"

namespace profiles {

inline constexpr size_t kMaxNameCharacters = 100;
inline constexpr size_t kMaxEmailBytes = 254;
inline constexpr size_t kMaxAvatarBytes = size_t{256} * 1024;

// The canonical lowercase 8-4-4-4-12 form of a UUID, or nullopt if `text` is
// not one.
std::optional<std::string> CanonicalUuid(std::string_view text);

// The MIME type of an image recognised by its magic bytes ("image/png",
// "image/jpeg", "image/webp", "image/gif"), or nullopt.
std::optional<std::string_view> ImageMimeType(std::string_view bytes);

// Each returns a description of what is wrong, or nullopt when the value is
// acceptable. `name` and `email` are checked after trimming.
std::optional<std::string> NameProblem(std::string_view name);
std::optional<std::string> EmailProblem(std::string_view email);
std::optional<std::string> AvatarProblem(std::string_view avatar);

// Leading and trailing Unicode whitespace removed.
std::string TrimWhitespace(std::string_view text);

// The canonical id of a GetProfile-style request, or INVALID_ARGUMENT naming
// `field`.
absl::StatusOr<std::string> ParseProfileId(std::string_view id, std::string_view field = "id");

// Validates an UpdateProfileRequest and turns it into a ProfileWrite.
// INVALID_ARGUMENT (with a google.rpc.BadRequest listing every bad field) if
// anything is wrong; the field names are those of the proto ("profile.name" is
// reported as "name", so a client can show it next to the field).
absl::StatusOr<ProfileWrite> ParseUpdateRequest(const profile::v1::UpdateProfileRequest& request);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_DOMAIN_VALIDATION_H_
