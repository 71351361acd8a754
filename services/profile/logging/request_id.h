#ifndef PROFILES_SERVICES_PROFILE_LOGGING_REQUEST_ID_H_
#define PROFILES_SERVICES_PROFILE_LOGGING_REQUEST_ID_H_

// Request ids: what ties a caller's request to the server's log lines about
// it. A client (or a proxy in front) may send its own, as the X-Request-Id
// header (REST) or the x-request-id metadata (gRPC); the server uses it if
// it is sane, makes one up otherwise, answers with it (the same header or
// initial metadata) and logs it with every line about the request.
//
// Thread-safe.

#include <string>
#include <string_view>

namespace profiles {

// The header (REST) and metadata key (gRPC, which wants lower case).
inline constexpr char kRequestIdHeader[] = "X-Request-Id";
inline constexpr char kRequestIdMetadataKey[] = "x-request-id";

// The longest request id accepted from a client.
inline constexpr size_t kMaxRequestIdLength = 128;

// A new request id: 128 random bits as 32 lower-case hex digits, unique
// enough to find one request in a fleet's logs.
std::string NewRequestId();

// Whether a client's id can be used as it is: 1 to kMaxRequestIdLength
// visible ASCII characters ('!' to '~': no spaces, no control characters),
// so it is one token in a log line and travels in an HTTP header and in gRPC
// metadata alike.
bool IsAcceptableRequestId(std::string_view id);

// `sent` if IsAcceptableRequestId(sent), else NewRequestId().
std::string AcceptRequestId(std::string_view sent);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_LOGGING_REQUEST_ID_H_
