#ifndef PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
#define PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_

// The one place where the service's absl::Status and gRPC's status meet.
//
// absl::Status payloads (see services/profile/domain/status_details.h) travel
// as google.protobuf.Any entries of a google.rpc.Status, serialized into
// grpc::Status::error_details() (the `grpc-status-details-bin` trailer), the
// convention every gRPC client library understands. The two functions are
// inverse: a gRPC client recovers the same absl::Status (code, message and
// payloads) the core returned.
//
// ToGrpcStatus() first applies ForCaller() (domain/caller_errors.h): an
// internal failure reaches the caller as a generic message with a request
// id, and its text is logged under that id.
//
// Thread-safe.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace profiles {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);


}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
