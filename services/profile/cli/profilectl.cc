// profilectl: administration commands for the Profiles service. Today one:
//
//   profilectl token --user ID [--admin] [--ttl 1h] [--key-file F]
//
// mints a bearer token for user ID (the id of the profile they may write)
// with the service's key and prints it on stdout, alone on its line, so it
// can be captured: TOKEN=$(profilectl token --user ...). Exit codes: 0 done,
// 1 the token could not be made (the key), 2 a usage error.

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/auth/token_authority.h"
#include "services/profile/cli/command_line.h"

ABSL_FLAG(std::string, user, "", "token: the user id (a UUID: the profile the user may write)");
ABSL_FLAG(bool, admin, false, "token: an administrator, who may write every profile");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(1), "token: how long it is valid (e.g. 30m, 1h, 720h)");
ABSL_FLAG(std::string, key_file, profiles::EnvOr("PROFILES_AUTH_KEY_FILE", ""),
          "the service's token key, as profile_server's --auth-key-file (env "
          "PROFILES_AUTH_KEY_FILE)");

namespace {

constexpr char kUsage[] =
    "Administration of the Profiles service.\n"
    "  profilectl token --user ID [--admin] [--ttl 1h] [--key-file F]\n"
    "      prints a bearer token for user ID, signed with the service's key; callers send it as\n"
    "      'authorization: Bearer TOKEN' (gRPC metadata or HTTP header).\n"
    "Flags may be written with dashes or underscores (--key-file or --key_file).";

int MintToken() {
  const std::string key_file = absl::GetFlag(FLAGS_key_file);
  if (key_file.empty()) {
    std::cerr << "profilectl: no key: pass --key-file or set PROFILES_AUTH_KEY_FILE\n";
    return 2;
  }
  if (absl::GetFlag(FLAGS_user).empty()) {
    std::cerr << "profilectl: token needs --user ID (the user's profile id, a UUID)\n";
    return 2;
  }
  // Before the key is read: a mistyped id is the caller's error whatever
  // the key.
  if (absl::StatusOr<std::string> user =
          profiles::ParseProfileId(absl::GetFlag(FLAGS_user), "--user");
      !user.ok()) {
    std::cerr << "profilectl: " << user.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<profiles::TokenAuthority> authority =
      profiles::TokenAuthority::FromKeyFile(key_file);
  if (!authority.ok()) {
    std::cerr << "profilectl: " << authority.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::string> token =
      authority->Mint({.subject = absl::GetFlag(FLAGS_user), .admin = absl::GetFlag(FLAGS_admin)},
                      absl::GetFlag(FLAGS_ttl), absl::Now());
  if (!token.ok()) {
    std::cerr << "profilectl: " << token.status().message() << "\n";
    return absl::IsInvalidArgument(token.status()) ? 2 : 1;
  }
  std::cout << *token << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> storage;
  std::vector<char*> args = profiles::AcceptDashedFlags(argc, argv, storage);
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (positional.size() == 2 && std::string(positional[1]) == "token") return MintToken();
  std::cerr << kUsage << "\n";
  return 2;
}
