#ifndef PROFILES_SERVICES_PROFILE_LOGGING_ACCESS_LOG_H_
#define PROFILES_SERVICES_PROFILE_LOGGING_ACCESS_LOG_H_

// The access log: one line per request, the same for both transports, so
// that one query finds a request whichever protocol it came by:
//   {"time":"...","level":"info","msg":"request","protocol":"http",
//    "method":"PUT /user/{id}","status":"200","duration_ms":1.93,
//    "peer":"127.0.0.1","request_id":"...","subject":"<user id>"}
// "method" is an RPC name or a REST route (never a path with ids), "status"
// a gRPC code name or an HTTP status, both as strings; "subject" is there
// when the caller's token was verified, "events" for a watch stream. Nothing
// a caller sent beyond that: no body, no header's value, no token.
//
// Thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "services/profile/logging/log.h"

namespace profiles {

struct AccessRecord {
  std::string_view protocol{};  // "grpc" or "http"
  std::string_view method{};
  std::string_view status{};
  absl::Duration duration{};
  std::string_view peer{};
  std::string_view request_id{};
  std::string_view subject{};       // left out when empty
  std::optional<int64_t> events{};  // a watch's events sent
};

// Writes `record`'s line at `level` through DefaultLogger(), if enabled.
void LogAccess(LogLevel level, const AccessRecord& record);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_LOGGING_ACCESS_LOG_H_
