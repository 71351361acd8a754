#ifndef PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_
#define PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_

// ProfileServiceImpl is the gRPC adapter of the profile core: it validates
// requests (services/profile/domain/validation.h), calls the repository and
// converts statuses once, in grpc_status.h. It knows nothing of SQL.
//
// WatchProfiles first sends every change after the requested cursor, read
// from the repository, then the live changes published by the ChangeFeed,
// which carries writes of every replica sharing the database. A watcher that
// falls behind catches up from the repository, so it never misses a change.
//
// Caller identity: every write passes through AuthorizeWrite(), the single
// place where a caller's credentials (the `authorization` metadata, which the
// HTTP gateway forwards from its Authorization header) will be checked once
// bearer tokens exist. Today every caller may write every profile.
//
// Thread-safe; `repository` and `feed` must outlive the service.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <string_view>

#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class ProfileServiceImpl final : public profile::v1::ProfileService::Service {
 public:
  ProfileServiceImpl(ProfileRepository* repository, ChangeFeed* feed);

  grpc::Status GetProfile(grpc::ServerContext* context,
                          const profile::v1::GetProfileRequest* request,
                          profile::v1::Profile* response) override;
  grpc::Status UpdateProfile(grpc::ServerContext* context,
                             const profile::v1::UpdateProfileRequest* request,
                             profile::v1::Profile* response) override;
  grpc::Status ListProfiles(grpc::ServerContext* context,
                            const profile::v1::ListProfilesRequest* request,
                            profile::v1::ListProfilesResponse* response) override;
  grpc::Status WatchProfiles(grpc::ServerContext* context,
                             const profile::v1::WatchProfilesRequest* request,
                             grpc::ServerWriter<profile::v1::ProfileEvent>* writer) override;

  // Makes every open WatchProfiles stream end with UNAVAILABLE (clients
  // reconnect, to another replica if need be), so that the server can shut
  // down. Idempotent.
  void StopWatches();

 private:
  absl::Status AuthorizeWrite(const grpc::ServerContext& context, std::string_view profile_id);

  ProfileRepository* const repository_;
  ChangeFeed* const feed_;
  std::atomic<bool> stopping_{false};
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_GRPC_PROFILE_SERVICE_H_
