#include "services/profile/grpc/grpc_status.h"

#include "services/profile/domain/caller_errors.h"

namespace profiles {

grpc::Status ToGrpcStatus(const absl::Status& original, std::string_view request_id) {
  if (original.ok()) return grpc::Status::OK;
  return EncodeGrpcStatus(ForCaller(original, request_id));
}

}  // namespace profiles
