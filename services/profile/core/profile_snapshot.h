#ifndef PROFILES_SERVICES_PROFILE_CORE_PROFILE_SNAPSHOT_H_
#define PROFILES_SERVICES_PROFILE_CORE_PROFILE_SNAPSHOT_H_

// ProfileSnapshot is one version of a profile, ready to send: immutable and
// shared (std::shared_ptr<const ProfileSnapshot>) by the read cache and by
// every request that reads it, so a cache hit copies no bytes until an
// adapter writes them to its socket.
//
// Besides the profile it holds its entity tag and, rendered once on first
// use, its JSON (profile.v1's JSON mapping, as the REST API sends it): a
// profile is read far more often than it is written, and rendering 4 KiB of
// base64 per read would cost more than the rest of a cached read.
//
// Thread-safe: every accessor may be called from many threads at once.

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/call_once.h"
#include "profile/v1/profile.pb.h"

namespace profiles {

class ProfileSnapshot {
 public:
  explicit ProfileSnapshot(profile::v1::Profile profile);

  ProfileSnapshot(const ProfileSnapshot&) = delete;
  ProfileSnapshot& operator=(const ProfileSnapshot&) = delete;

  static std::shared_ptr<const ProfileSnapshot> Make(profile::v1::Profile profile) {
    return std::make_shared<const ProfileSnapshot>(std::move(profile));
  }

  const profile::v1::Profile& profile() const { return profile_; }
  const std::string& id() const { return profile_.id(); }
  int64_t version() const { return profile_.version(); }

  // The strong entity tag of this version: "\"<version>\"" (RFC 9110 8.8.3).
  const std::string& etag() const { return etag_; }

  // The profile in profile.v1's JSON mapping, every field printed (as
  // ProfileJson() in services/profile/domain/json_mapping.h renders it).
  const std::string& json() const;

  // Roughly the memory this snapshot holds (its JSON counted once rendered
  // or not: it is rendered at the first REST read), for the cache's bound.
  size_t bytes() const;

 private:
  const profile::v1::Profile profile_;
  const std::string etag_;
  mutable absl::once_flag json_once_;
  mutable std::string json_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_PROFILE_SNAPSHOT_H_
