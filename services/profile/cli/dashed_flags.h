#ifndef PROFILES_SERVICES_PROFILE_CLI_DASHED_FLAGS_H_
#define PROFILES_SERVICES_PROFILE_CLI_DASHED_FLAGS_H_

// Abseil spells flags with underscores (--database_url); people type dashes
// (--database-url), as the README and --help do. The service's commands
// accept both by rewriting the name part of every "--a-b[=c]" argument
// before absl::ParseCommandLine sees it. Values are never touched.
//
//   std::vector<std::string> storage;
//   std::vector<char*> args = AcceptDashedFlags(argc, argv, storage);
//   absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
//
// Thread-compatible (pure, but returns pointers into `storage`).

#include <string>
#include <vector>

namespace profiles {

// argv with dashes in flag names made underscores; the strings live in
// `storage`, which must outlive the result.
std::vector<char*> AcceptDashedFlags(int argc, char** argv, std::vector<std::string>& storage);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CLI_DASHED_FLAGS_H_
