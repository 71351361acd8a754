#ifndef PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_
#define PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_

// GrpcProfileService is the gRPC adapter of the profile core
// (services/profile/core/profile_core.h), on gRPC's callback API: no thread
// is tied to a call or to an open WatchProfiles stream. Each method turns
// the request into a core call and the core's answer into a response and a
// grpc::Status, mapped in one place (grpc_status.h); a version conflict's
// details leave the avatar out (WithoutConflictAvatar()).
//
// The caller's deadline and its `authorization` metadata become the core
// call's CallContext.
//
// Request ids: a call's `x-request-id` metadata is its id if it is sane
// (logging/request_id.h), else one is made up; either way the server sends
// it back as `x-request-id` initial metadata (in a trailers-only error
// answer, gRPC delivers it with the trailers), passes it to the core and
// logs it.
//
// When a call ends it is counted (Options::metrics: profiles_requests_total
// with protocol "grpc", the RPC name and the code name; unary calls also in
// the latency histogram) and, with Options::access_log, logged on one line:
//   {"time":...,"level":"info","msg":"request","protocol":"grpc",
//    "method":"GetProfile","status":"OK","duration_ms":0.41,
//    "peer":"127.0.0.1","request_id":"...","subject":"<user id>"}
// (a watch adds "events", the number it sent). Never the request, the
// response or the token. Without the access log, only calls that failed on
// the server's side (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE,
// DEADLINE_EXCEEDED, UNIMPLEMENTED) are logged, at level warning.
//
// Thread-safe; `core` (and Options::metrics) must outlive the service and the
// server it is registered with.

#include <grpcpp/grpcpp.h>

#include "profile/v1/profile.grpc.pb.h"
#include "services/profile/core/profile_core.h"
#include "services/profile/metrics/service_metrics.h"

namespace profiles {

class GrpcProfileService final : public profile::v1::ProfileService::CallbackService {
 public:
  struct Options {
    // Where calls are counted; null: nowhere.
    ServiceMetrics* metrics = nullptr;
    // One log line per call (see above).
    bool access_log = true;
  };

  explicit GrpcProfileService(ProfileCore* core);
  GrpcProfileService(ProfileCore* core, Options options);

  grpc::ServerUnaryReactor* GetServiceInfo(grpc::CallbackServerContext* context,
                                           const profile::v1::GetServiceInfoRequest* request,
                                           profile::v1::ServiceInfo* response) override;
  grpc::ServerUnaryReactor* GetProfile(grpc::CallbackServerContext* context,
                                       const profile::v1::GetProfileRequest* request,
                                       profile::v1::Profile* response) override;
  grpc::ServerUnaryReactor* UpdateProfile(grpc::CallbackServerContext* context,
                                          const profile::v1::UpdateProfileRequest* request,
                                          profile::v1::Profile* response) override;
  grpc::ServerUnaryReactor* DeleteProfile(grpc::CallbackServerContext* context,
                                          const profile::v1::DeleteProfileRequest* request,
                                          profile::v1::Profile* response) override;
  grpc::ServerUnaryReactor* ListProfiles(grpc::CallbackServerContext* context,
                                         const profile::v1::ListProfilesRequest* request,
                                         profile::v1::ListProfilesResponse* response) override;
  grpc::ServerWriteReactor<profile::v1::ProfileEvent>* WatchProfiles(
      grpc::CallbackServerContext* context,
      const profile::v1::WatchProfilesRequest* request) override;

 private:
  ProfileCore* const core_;
  const Options options_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_
