#include "services/profile/grpc/grpc_status.h"

#include "services/profile/domain/caller_errors.h"

namespace profiles {

grpc::Status ToGrpcStatus(const absl::Status& original) {
  if (original.ok()) return grpc::Status::OK;
  return EncodeGrpcStatus(ForCaller(original));
}

}  // namespace profiles
