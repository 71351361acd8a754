#include "services/profile/cli/command_line.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace profiles {

std::vector<char*> AcceptDashedFlags(int argc, char** argv, std::vector<std::string>& storage) {
  storage.assign(argv, argv + argc);
  std::vector<char*> rewritten;
  for (std::string& arg : storage) {
    if (arg.rfind("--", 0) == 0) {
      const size_t name_end = std::min(arg.find('='), arg.size());
      for (size_t i = 2; i < name_end; ++i) {
        if (arg[i] == '-') arg[i] = '_';
      }
    }
    rewritten.push_back(arg.data());
  }
  return rewritten;
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

}  // namespace profiles
