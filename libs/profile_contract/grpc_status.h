#ifndef PROFILES_LIBS_PROFILE_CONTRACT_GRPC_STATUS_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_GRPC_STATUS_H_

// How an absl::Status with payloads (status_details.h) travels over gRPC,
// for both ends of the wire.
//
// The payloads travel as google.protobuf.Any entries of a google.rpc.Status,
// serialized into grpc::Status::error_details() (the
// `grpc-status-details-bin` trailer), the convention every gRPC client
// library understands. The two functions are inverse: FromGrpcStatus() of
// EncodeGrpcStatus(s) has the code, message and payloads of s (a message that
// is not UTF-8 is quoted, since the details' proto3 string must be UTF-8).
//
// The server does not call EncodeGrpcStatus() directly: its ToGrpcStatus()
// (services/profile/grpc/grpc_status.h) first hides internal errors.
//
// Thread-safe.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace profiles {

grpc::Status EncodeGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_GRPC_STATUS_H_
