#ifndef PROFILES_TESTS_SUPPORT_PROFILE_WRITES_H_
#define PROFILES_TESTS_SUPPORT_PROFILE_WRITES_H_

// Shorthands for building ProfileWrites in tests. Pure; thread-safe.

#include <cstdint>
#include <optional>
#include <string>

#include "libs/profile_contract/profile_write.h"

namespace profiles::testing {

// A create of profile `id` with every field set.
inline ProfileWrite CreateWrite(std::string id, std::string name, std::string email,
                                std::optional<std::string> avatar = std::nullopt,
                                std::string mutation_id = "") {
  return ProfileWrite{.id = std::move(id),
                      .name = std::move(name),
                      .email = std::move(email),
                      .avatar = std::move(avatar),
                      .expected_version = 0,
                      .mutation_id = std::move(mutation_id)};
}

// An update of `id` based on `expected_version`; nullopt fields are left alone.
inline ProfileWrite UpdateWrite(std::string id, int64_t expected_version,
                                std::optional<std::string> name,
                                std::optional<std::string> email = std::nullopt,
                                std::optional<std::string> avatar = std::nullopt,
                                std::string mutation_id = "") {
  return ProfileWrite{.id = std::move(id),
                      .name = std::move(name),
                      .email = std::move(email),
                      .avatar = std::move(avatar),
                      .expected_version = expected_version,
                      .mutation_id = std::move(mutation_id)};
}

// An update of `id` based on `expected_version` that writes only the name.
inline ProfileWrite RenameWrite(std::string id, int64_t expected_version, std::string name,
                                std::string mutation_id = "") {
  return UpdateWrite(std::move(id), expected_version, std::move(name), std::nullopt, std::nullopt,
                     std::move(mutation_id));
}

// A delete of `id` based on `expected_version`.
inline ProfileWrite DeleteWrite(std::string id, int64_t expected_version,
                                std::string mutation_id = "") {
  return ProfileWrite{.id = std::move(id),
                      .deletes = true,
                      .name = std::nullopt,
                      .email = std::nullopt,
                      .avatar = std::nullopt,
                      .expected_version = expected_version,
                      .mutation_id = std::move(mutation_id)};
}

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_PROFILE_WRITES_H_
