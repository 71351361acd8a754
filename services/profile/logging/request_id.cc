#include "services/profile/logging/request_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace profiles {

std::string NewRequestId() {
  // One generator per thread, seeded from the OS: no lock on the hot path.
  thread_local absl::BitGen generator;
  const uint64_t high = absl::Uniform<uint64_t>(generator);
  const uint64_t low = absl::Uniform<uint64_t>(generator);
  return absl::StrCat(absl::Hex(high, absl::kZeroPad16), absl::Hex(low, absl::kZeroPad16));
}

bool IsAcceptableRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdLength) return false;
  for (char c : id) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

std::string AcceptRequestId(std::string_view sent) {
  return IsAcceptableRequestId(sent) ? std::string(sent) : NewRequestId();
}

}  // namespace profiles
