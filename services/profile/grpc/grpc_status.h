#ifndef PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
#define PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_

// The one place where the service's absl::Status becomes a gRPC status.
//
// ToGrpcStatus() first applies ForCaller() (domain/caller_errors.h): an
// internal failure reaches the caller as a generic message with a request
// id, and its text is logged under that id. Then the payloads travel as the
// contract says (libs/profile_contract/grpc_status.h, where the client's
// FromGrpcStatus() lives too).
//
// Thread-safe.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "libs/profile_contract/grpc_status.h"

namespace profiles {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
