#ifndef PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_WRITE_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_WRITE_H_

#include <cstdint>
#include <optional>
#include <string>

namespace profiles {

// One validated write of a profile, as the storage layer applies it: an
// edit (ParseUpdateRequest(), validation.h) or a delete (ParseDeleteRequest());
// every value here has already passed validation and normalisation.
struct ProfileWrite {
  // Canonical lowercase UUID.
  std::string id;
  // Deletes the profile: erases its fields and leaves a tombstone. The fields
  // below are then disengaged and expected_version is at least 1.
  bool deletes = false;
  // Fields to write; a disengaged optional leaves the stored value unchanged.
  std::optional<std::string> name;    // trimmed
  std::optional<std::string> email;   // trimmed
  std::optional<std::string> avatar;  // raw image bytes; empty clears the avatar
  // The version the edit or delete is based on; 0 creates the profile.
  int64_t expected_version = 0;
  // Canonical lowercase UUID, or empty when the caller gave none (the write
  // is then applied without an idempotency record).
  std::string mutation_id{};
  // Whose idempotency record mutation_id names: the verified caller's
  // subject, empty with authentication off. Set by the service, never by
  // the request: the same mutation id from two callers is two mutations.
  std::string caller{};

  bool creates() const { return !deletes && expected_version == 0; }
};

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_WRITE_H_
