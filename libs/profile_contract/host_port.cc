#include "libs/profile_contract/host_port.h"

#include <arpa/inet.h>

#include <charconv>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace profiles {

AddressProblem CheckHostPort(std::string_view address, bool port_zero_allowed, HostPort* parsed) {
  const absl::string_view trimmed =
      absl::StripAsciiWhitespace(absl::string_view(address.data(), address.size()));
  if (trimmed.empty()) return AddressProblem::kEmpty;
  for (const char c : trimmed) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) return AddressProblem::kHasSpace;
  }
  const size_t colon = trimmed.rfind(':');
  if (colon == absl::string_view::npos) return AddressProblem::kNoPort;
  absl::string_view host = trimmed.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != absl::string_view::npos) {
    return AddressProblem::kNoPort;
  }
  if (host.empty()) return AddressProblem::kNoHost;
  const absl::string_view port_text = trimmed.substr(colon + 1);
  int port = -1;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port < (port_zero_allowed ? 0 : 1) || port > 65535) {
    return AddressProblem::kBadPort;
  }
  if (parsed != nullptr) {
    parsed->host = std::string(host);
    parsed->port = port;
  }
  return AddressProblem::kNone;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "::1" ||
      absl::EqualsIgnoreCase(absl::string_view(host.data(), host.size()), "localhost")) {
    return true;
  }
  // 127.0.0.0/8, written as a dotted quad (inet_pton: no other spellings).
  in_addr address{};
  return inet_pton(AF_INET, std::string(host).c_str(), &address) == 1 &&
         (ntohl(address.s_addr) >> 24) == 127;
}

}  // namespace profiles
