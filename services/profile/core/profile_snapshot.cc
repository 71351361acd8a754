#include "services/profile/core/profile_snapshot.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "services/profile/domain/json_mapping.h"

namespace profiles {

ProfileSnapshot::ProfileSnapshot(profile::v1::Profile profile)
    : profile_(std::move(profile)), etag_(absl::StrCat("\"", profile_.version(), "\"")) {}

const std::string& ProfileSnapshot::json() const {
  absl::call_once(json_once_, [this] { json_ = ToResponseJson(profile_); });
  return json_;
}

size_t ProfileSnapshot::bytes() const {
  // The message, its JSON (base64 makes the avatar 4/3 as large), and the
  // object and strings' own overhead.
  const size_t fields = profile_.id().size() + profile_.name().size() + profile_.email().size() +
                        profile_.avatar().size() + profile_.avatar_sha256().size();
  return sizeof(*this) + fields + fields * 4 / 3 + 256;
}

}  // namespace profiles
