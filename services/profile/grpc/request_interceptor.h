#ifndef PROFILES_SERVICES_PROFILE_GRPC_REQUEST_INTERCEPTOR_H_
#define PROFILES_SERVICES_PROFILE_GRPC_REQUEST_INTERCEPTOR_H_

// Makes a request that cannot be parsed an INVALID_ARGUMENT, as every other
// bad input is.
//
// gRPC parses a request before any handler runs. protobuf refuses a proto3
// string field that is not valid UTF-8 (a name, an id), and gRPC then
// answers INTERNAL with an empty message, telling the client the server is
// broken. This server interceptor notices the failed parse (the handler gets
// no message) and replaces that status with INVALID_ARGUMENT explaining it.
// Any other status passes unchanged.
//
// Example:
//   grpc::ServerBuilder builder;
//   builder.experimental().SetInterceptorCreators(RequestInterceptorCreators());
//
// Thread-safe; one interceptor per call.

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <vector>

namespace profiles {

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
RequestInterceptorCreators();

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_REQUEST_INTERCEPTOR_H_
