#ifndef PROFILES_SERVICES_PROFILE_CLI_COMMAND_LINE_H_
#define PROFILES_SERVICES_PROFILE_CLI_COMMAND_LINE_H_

// What the service's commands (profile_server, profilectl) share about their
// command lines.
//
// Abseil spells flags with underscores (--database_url); people type dashes
// (--database-url), as the README and --help do. The commands accept both by
// rewriting the name part of every "--a-b[=c]" argument before
// absl::ParseCommandLine sees it. Values are never touched.
//
//   std::vector<std::string> storage;
//   std::vector<char*> args = AcceptDashedFlags(argc, argv, storage);
//   absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
//
// Thread-compatible (AcceptDashedFlags returns pointers into `storage`).

#include <string>
#include <vector>

namespace profiles {

// argv with dashes in flag names made underscores; the strings live in
// `storage`, which must outlive the result.
std::vector<char*> AcceptDashedFlags(int argc, char** argv, std::vector<std::string>& storage);

// The environment variable `name`, or `fallback` when it is unset or empty:
// the default of a flag that an environment variable may set.
std::string EnvOr(const char* name, std::string fallback);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CLI_COMMAND_LINE_H_
