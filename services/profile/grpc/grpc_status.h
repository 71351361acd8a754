#ifndef PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
#define PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_

// The one place where the service's absl::Status and gRPC's status meet.
//
// absl::Status payloads (see services/profile/domain/status_details.h) travel
// as google.protobuf.Any entries of a google.rpc.Status, serialized into
// grpc::Status::error_details() (the `grpc-status-details-bin` trailer), the
// convention every gRPC client library understands. The two functions are
// inverse, so the HTTP gateway, a gRPC client of the service, recovers the
// same absl::Status (code, message and payloads) the core returned.
//
// What a caller may read. An internal failure's message is for operators: it
// may hold SQL, constraint names, host names and row values. ForCaller()
// (applied by ToGrpcStatus(), and by the HTTP gateway to errors of its own)
// replaces it by a generic message with a request id, and logs the original
// on one line of stderr with the same id:
//   caller  INTERNAL "internal error; request id 5f0c2a9e71d4b8c3"
//   log     profile_server: request 5f0c2a9e71d4b8c3: INTERNAL: get profile
//           failed: ERROR:  column "email" does not exist ...
// INTERNAL, UNKNOWN and DATA_LOSS get the generic message; UNAVAILABLE keeps
// its summary, the text before the first ": " ("the database is
// unreachable (get profile)"), which names no host. The id travels as a
// google.rpc.RequestInfo detail, so an error that was already redacted (the
// gateway receives it from the service) keeps its id and is not logged
// twice. Every other code is an expected answer and passes unchanged.
//
// Thread-safe.

#include <grpcpp/support/status.h>

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace profiles {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// `status` as a caller may see it (see above); logs what it hides.
absl::Status ForCaller(const absl::Status& status);

// The request id of a redacted error (its google.rpc.RequestInfo), if any.
std::optional<std::string> RequestIdOf(const absl::Status& status);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
