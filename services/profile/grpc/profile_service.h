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
// Thread-safe; `core` must outlive the service and the server it is
// registered with.

#include <grpcpp/grpcpp.h>

#include "profile/v1/profile.grpc.pb.h"
#include "services/profile/core/profile_core.h"

namespace profiles {

class GrpcProfileService final : public profile::v1::ProfileService::CallbackService {
 public:
  explicit GrpcProfileService(ProfileCore* core);

  grpc::ServerUnaryReactor* GetServiceInfo(grpc::CallbackServerContext* context,
                                           const profile::v1::GetServiceInfoRequest* request,
                                           profile::v1::ServiceInfo* response) override;
  grpc::ServerUnaryReactor* GetProfile(grpc::CallbackServerContext* context,
                                       const profile::v1::GetProfileRequest* request,
                                       profile::v1::Profile* response) override;
  grpc::ServerUnaryReactor* UpdateProfile(grpc::CallbackServerContext* context,
                                          const profile::v1::UpdateProfileRequest* request,
                                          profile::v1::Profile* response) override;
  grpc::ServerUnaryReactor* ListProfiles(grpc::CallbackServerContext* context,
                                         const profile::v1::ListProfilesRequest* request,
                                         profile::v1::ListProfilesResponse* response) override;
  grpc::ServerWriteReactor<profile::v1::ProfileEvent>* WatchProfiles(
      grpc::CallbackServerContext* context,
      const profile::v1::WatchProfilesRequest* request) override;

 private:
  ProfileCore* const core_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_
