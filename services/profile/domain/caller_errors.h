#ifndef PROFILES_SERVICES_PROFILE_DOMAIN_CALLER_ERRORS_H_
#define PROFILES_SERVICES_PROFILE_DOMAIN_CALLER_ERRORS_H_

// What a caller may read of an error, for every transport alike.
//
// An internal failure's message is for operators: it may hold SQL,
// constraint names, host names and row values. ForCaller() replaces it by a
// generic message with the request's id, and logs the original on one line
// (services/profile/logging/log.h) with the same id:
//   caller  INTERNAL "internal error; request id 5f0c2a9e71d4b8c3..."
//   log     {"time":...,"level":"error","msg":"internal error",
//            "request_id":"5f0c2a9e71d4b8c3...","code":"INTERNAL",
//            "error":"get profile failed: ERROR:  column \"email\" does not exist ..."}
// INTERNAL, UNKNOWN and DATA_LOSS get the generic message; UNAVAILABLE keeps
// its summary, the text before the first ": " ("the database is
// unreachable (get profile)"), which names no host. The id travels as a
// google.rpc.RequestInfo payload, so an error that was already redacted
// keeps its id and is not logged twice. Every other code is an expected
// answer and passes unchanged.
//
// Each adapter applies it where it maps a status to its protocol
// (grpc/grpc_status.h, http/http_status.h).
//
// Thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace profiles {

// `status` as a caller may see it (see above); logs what it hides under
// `request_id`, the id of the request it answers (a new one if empty).
absl::Status ForCaller(const absl::Status& status, std::string_view request_id = {});

// The request id of a redacted error (its google.rpc.RequestInfo), if any.
std::optional<std::string> RequestIdOf(const absl::Status& status);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_DOMAIN_CALLER_ERRORS_H_
