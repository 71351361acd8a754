#ifndef PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
#define PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_

// The one place where the service's absl::Status becomes a gRPC status.
//
// ToGrpcStatus() first applies ForCaller() (domain/caller_errors.h): an
// internal failure reaches the caller as a generic message with the call's
// request id, and its text is logged under that id. Then the payloads travel as the
// contract says (libs/profile_contract/grpc_status.h, where the client's
// FromGrpcStatus() lives too).
//
// Thread-safe.

#include <grpcpp/support/status.h>

#include <string_view>

#include "absl/status/status.h"
#include "libs/profile_contract/grpc_status.h"

namespace profiles {

// `request_id`: the call's (logging/request_id.h); empty makes one up.
grpc::Status ToGrpcStatus(const absl::Status& status, std::string_view request_id = {});

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_GRPC_STATUS_H_
