#include "services/profile/grpc/profile_service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/grpc/grpc_status.h"

namespace profiles {
namespace {

// gRPC names a peer "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555" or
// "unix:/path": the address alone, as the REST adapter gives it.
std::string AddressOf(std::string_view peer) {
  const size_t scheme = peer.find(':');
  if (scheme == std::string_view::npos) return std::string(peer);
  std::string_view address = peer.substr(scheme + 1);
  if (peer.substr(0, scheme) == "unix") return std::string(address);
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    return std::string(
        address.substr(1, close == std::string_view::npos ? address.npos : close - 1));
  }
  return std::string(address.substr(0, address.rfind(':')));
}

CallContext ContextOf(const grpc::CallbackServerContext& context) {
  CallContext call;
  call.peer = AddressOf(context.peer());
  // gRPC says "no deadline" with the clock's largest time point.
  if (context.deadline() != std::chrono::system_clock::time_point::max()) {
    call.deadline = absl::FromChrono(context.deadline());
  }
  const auto& metadata = context.client_metadata();
  if (auto found = metadata.find("authorization"); found != metadata.end()) {
    call.authorization.assign(found->second.data(), found->second.size());
  }
  return call;
}

// The one mapping of the core's errors to gRPC: a conflict's details leave
// the avatar out (they travel in a trailer, which clients cap at 8 KiB).
grpc::Status Failure(absl::Status status) {
  return ToGrpcStatus(WithoutConflictAvatar(std::move(status)));
}

// One open WatchProfiles stream: asks the core's watch for events, writes
// them one at a time, and asks again. No thread waits for it in between.
// gRPC owns the reactor from WatchProfiles() until OnDone(), which deletes it
// (the callback API's ownership model: reactors are created with new).
class WatchReactor final : public grpc::ServerWriteReactor<profile::v1::ProfileEvent> {
 public:
  explicit WatchReactor(std::unique_ptr<ProfileWatch> watch) : watch_(std::move(watch)) {
    // At once, not with the first event: a client learns the stream was
    // accepted (not refused over a limit) even when nothing has changed.
    StartSendInitialMetadata();
    RequestEvents();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return End(grpc::Status(grpc::StatusCode::CANCELLED, "the stream was closed"));
    if (++next_ < events_.size()) return StartWrite(events_[next_].get());
    events_.clear();
    RequestEvents();
  }

  void OnCancel() override { watch_->Cancel(); }

  void OnDone() override { delete this; }

 private:
  void RequestEvents() {
    watch_->Next([this](absl::StatusOr<WatchEvents> events) {
      if (!events.ok()) return End(Failure(events.status()));
      events_ = *std::move(events);
      next_ = 0;
      StartWrite(events_.front().get());
    });
  }

  void End(const grpc::Status& status) {
    if (!finished_.exchange(true)) Finish(status);
  }

  const std::unique_ptr<ProfileWatch> watch_;
  // The events being written; each stays alive until its write is done.
  WatchEvents events_;
  size_t next_ = 0;
  std::atomic<bool> finished_{false};
};

}  // namespace

GrpcProfileService::GrpcProfileService(ProfileCore* core) : core_(core) {}

grpc::ServerUnaryReactor* GrpcProfileService::GetServiceInfo(
    grpc::CallbackServerContext* context, const profile::v1::GetServiceInfoRequest* /*request*/,
    profile::v1::ServiceInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Info(ContextOf(*context),
              [reactor, response](absl::StatusOr<profile::v1::ServiceInfo> info) {
                if (!info.ok()) return reactor->Finish(Failure(info.status()));
                *response = *std::move(info);
                reactor->Finish(grpc::Status::OK);
              });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::GetProfile(
    grpc::CallbackServerContext* context, const profile::v1::GetProfileRequest* request,
    profile::v1::Profile* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Get(ContextOf(*context), request->id(),
             [reactor, response](absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> profile) {
               if (!profile.ok()) return reactor->Finish(Failure(profile.status()));
               *response = (*profile)->profile();
               reactor->Finish(grpc::Status::OK);
             });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::UpdateProfile(
    grpc::CallbackServerContext* context, const profile::v1::UpdateProfileRequest* request,
    profile::v1::Profile* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->Update(ContextOf(*context), *request,
                [reactor, response](absl::StatusOr<WriteOutcome> outcome) {
                  if (!outcome.ok()) return reactor->Finish(Failure(outcome.status()));
                  // gRPC tells created, updated and replayed writes apart by
                  // the version alone, as the API always has.
                  *response = outcome->profile->profile();
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::ListProfiles(
    grpc::CallbackServerContext* context, const profile::v1::ListProfilesRequest* request,
    profile::v1::ListProfilesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  core_->List(ContextOf(*context), *request,
              [reactor, response](absl::StatusOr<profile::v1::ListProfilesResponse> page) {
                if (!page.ok()) return reactor->Finish(Failure(page.status()));
                *response = *std::move(page);
                reactor->Finish(grpc::Status::OK);
              });
  return reactor;
}

grpc::ServerWriteReactor<profile::v1::ProfileEvent>* GrpcProfileService::WatchProfiles(
    grpc::CallbackServerContext* context, const profile::v1::WatchProfilesRequest* request) {
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(ContextOf(*context), *request);
  if (!watch.ok()) {
    // A stream that ends before its first write still needs a reactor.
    class Refusal final : public grpc::ServerWriteReactor<profile::v1::ProfileEvent> {
     public:
      explicit Refusal(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refusal(Failure(watch.status()));
  }
  return new WatchReactor(*std::move(watch));
}

}  // namespace profiles
