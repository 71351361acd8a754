#ifndef PROFILES_LIBS_PROFILE_CONTRACT_HOST_PORT_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_HOST_PORT_H_

// One rule for a network address, "host:port", wherever one is typed: the
// server's --http-address and the app's server field. The port follows the
// last colon; an IPv6 literal is written in brackets ("[::1]:50051"), so a
// colon inside the host is never taken for the port's. Surrounding
// whitespace is ignored; whitespace inside is not an address.
//
//   HostPort parsed;
//   if (CheckHostPort(text, /*port_zero_allowed=*/false, &parsed) != AddressProblem::kNone) ...
//
// Thread-safe (pure functions).

#include <string>
#include <string_view>

namespace profiles {

enum class AddressProblem {
  kNone,
  kEmpty,     // nothing but whitespace
  kHasSpace,  // whitespace inside
  kNoPort,    // no colon, or an IPv6 host without brackets
  kNoHost,    // nothing before the colon
  kBadPort,   // not a number in range
};

struct HostPort {
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;
};

// What is wrong with `address`, or kNone with `*parsed` set (if not null).
// Ports are 1 to 65535, and also 0 when `port_zero_allowed` (an address to
// listen on, where 0 lets the kernel pick).
AddressProblem CheckHostPort(std::string_view address, bool port_zero_allowed, HostPort* parsed);

// True for a host that only this machine can reach: "localhost", an address
// in 127.0.0.0/8, or "::1" (with or without brackets).
bool IsLoopbackHost(std::string_view host);

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_HOST_PORT_H_
