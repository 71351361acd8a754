#include "services/profile/grpc/profile_service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/grpc/grpc_status.h"
#include "services/profile/logging/access_log.h"
#include "services/profile/logging/request_id.h"

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

// The canonical name of a gRPC code ("NOT_FOUND"), as the metrics and the
// access log show it.
std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "CANCELLED",
                                                "UNKNOWN",
                                                "INVALID_ARGUMENT",
                                                "DEADLINE_EXCEEDED",
                                                "NOT_FOUND",
                                                "ALREADY_EXISTS",
                                                "PERMISSION_DENIED",
                                                "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION",
                                                "ABORTED",
                                                "OUT_OF_RANGE",
                                                "UNIMPLEMENTED",
                                                "INTERNAL",
                                                "UNAVAILABLE",
                                                "DATA_LOSS",
                                                "UNAUTHENTICATED"};
  const auto index = static_cast<size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "UNKNOWN";
}

// A failure on the server's side, logged even without the access log.
bool IsServerFailure(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

// One call, from its start to its status: the core's context for it, its
// request id (answered as initial metadata at once), and the report when it
// ends (metrics and the access log line). Created on the heap per call, so
// that the subject the core verifies has a fixed address until the end.
class Call {
 public:
  Call(const GrpcProfileService::Options& options, std::string_view method,
       grpc::CallbackServerContext* server_context)
      : options_(options), method_(method), started_(absl::Now()) {
    context_.peer = AddressOf(server_context->peer());
    // gRPC says "no deadline" with the clock's largest time point.
    if (server_context->deadline() != std::chrono::system_clock::time_point::max()) {
      context_.deadline = absl::FromChrono(server_context->deadline());
    }
    const auto& metadata = server_context->client_metadata();
    if (auto found = metadata.find("authorization"); found != metadata.end()) {
      context_.authorization.assign(found->second.data(), found->second.size());
    }
    std::string_view sent;
    if (auto found = metadata.find(kRequestIdMetadataKey); found != metadata.end()) {
      sent = std::string_view(found->second.data(), found->second.size());
    }
    context_.request_id = AcceptRequestId(sent);
    context_.verified_subject = &subject_;
    server_context->AddInitialMetadata(kRequestIdMetadataKey, context_.request_id);
  }

  // A copy: the core call gets it while the Call itself moves into the
  // call's `done`, which may end (on a storage thread) before the core call
  // returns. Its verified_subject points into this Call, which the core
  // writes before it can call `done`.
  CallContext context() const { return context_; }

  // The one mapping of the core's errors to gRPC: a conflict's details leave
  // the avatar out (they travel in a trailer, which clients cap at 8 KiB).
  // Reports the call as ended with that status, and returns it.
  grpc::Status End(const absl::Status& status, bool stream = false) {
    const grpc::Status answer =
        status.ok() ? grpc::Status::OK
                    : ToGrpcStatus(WithoutConflictAvatar(status), context_.request_id);
    Report(answer, stream);
    return answer;
  }

  // A watch event was written.
  void CountEvent() { ++events_; }

 private:
  void Report(const grpc::Status& status, bool stream) {
    const absl::Duration took = absl::Now() - started_;
    const std::string_view code = CodeName(status.error_code());
    if (options_.metrics != nullptr) {
      options_.metrics->RecordRequest(ServiceMetrics::Protocol::kGrpc, method_, code,
                                      stream ? std::nullopt : std::optional(took));
    }
    const bool failed = IsServerFailure(status.error_code());
    if (!options_.access_log && !failed) return;
    LogAccess(failed ? LogLevel::kWarning : LogLevel::kInfo,
              {.protocol = "grpc",
               .method = method_,
               .status = code,
               .duration = took,
               .peer = context_.peer,
               .request_id = context_.request_id,
               .subject = subject_,
               .events = stream ? std::optional(events_) : std::nullopt});
  }

  const GrpcProfileService::Options& options_;
  const std::string_view method_;
  const absl::Time started_;
  CallContext context_;
  std::string subject_;
  int64_t events_ = 0;
};

// One open WatchProfiles stream: asks the core's watch for events, writes
// them one at a time, and asks again. No thread waits for it in between.
// gRPC owns the reactor from WatchProfiles() until OnDone(), which deletes it
// (the callback API's ownership model: reactors are created with new).
class WatchReactor final : public grpc::ServerWriteReactor<profile::v1::ProfileEvent> {
 public:
  WatchReactor(std::unique_ptr<Call> call, std::unique_ptr<ProfileWatch> watch)
      : call_(std::move(call)), watch_(std::move(watch)) {
    // At once, not with the first event: a client learns the stream was
    // accepted (not refused over a limit) even when nothing has changed.
    StartSendInitialMetadata();
    RequestEvents();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return End(absl::CancelledError("the stream was closed"));
    call_->CountEvent();
    if (++next_ < events_.size()) return StartWrite(events_[next_].get());
    events_.clear();
    RequestEvents();
  }

  void OnCancel() override { watch_->Cancel(); }

  void OnDone() override { delete this; }

 private:
  void RequestEvents() {
    watch_->Next([this](absl::StatusOr<WatchEvents> events) {
      if (!events.ok()) return End(events.status());
      events_ = *std::move(events);
      next_ = 0;
      StartWrite(events_.front().get());
    });
  }

  void End(const absl::Status& status) {
    if (!finished_.exchange(true)) Finish(call_->End(status, /*stream=*/true));
  }

  const std::unique_ptr<Call> call_;
  const std::unique_ptr<ProfileWatch> watch_;
  // The events being written; each stays alive until its write is done.
  WatchEvents events_;
  size_t next_ = 0;
  std::atomic<bool> finished_{false};
};

}  // namespace

GrpcProfileService::GrpcProfileService(ProfileCore* core) : GrpcProfileService(core, Options{}) {}

GrpcProfileService::GrpcProfileService(ProfileCore* core, Options options)
    : core_(core), options_(options) {}

grpc::ServerUnaryReactor* GrpcProfileService::GetServiceInfo(
    grpc::CallbackServerContext* context, const profile::v1::GetServiceInfoRequest* /*request*/,
    profile::v1::ServiceInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<Call>(options_, "GetServiceInfo", context);
  const CallContext call_context = call->context();
  core_->Info(call_context, [reactor, response, call = std::move(call)](
                                absl::StatusOr<profile::v1::ServiceInfo> info) {
    if (!info.ok()) return reactor->Finish(call->End(info.status()));
    *response = *std::move(info);
    reactor->Finish(call->End(absl::OkStatus()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::GetProfile(
    grpc::CallbackServerContext* context, const profile::v1::GetProfileRequest* request,
    profile::v1::Profile* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<Call>(options_, "GetProfile", context);
  const CallContext call_context = call->context();
  core_->Get(call_context, request->id(),
             [reactor, response, call = std::move(call)](
                 absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> profile) {
               if (!profile.ok()) return reactor->Finish(call->End(profile.status()));
               *response = (*profile)->profile();
               reactor->Finish(call->End(absl::OkStatus()));
             });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::UpdateProfile(
    grpc::CallbackServerContext* context, const profile::v1::UpdateProfileRequest* request,
    profile::v1::Profile* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<Call>(options_, "UpdateProfile", context);
  const CallContext call_context = call->context();
  core_->Update(call_context, *request,
                [reactor, response, call = std::move(call)](absl::StatusOr<WriteOutcome> outcome) {
                  if (!outcome.ok()) return reactor->Finish(call->End(outcome.status()));
                  // gRPC tells created, updated and replayed writes apart by
                  // the version alone, as the API always has.
                  *response = outcome->profile->profile();
                  reactor->Finish(call->End(absl::OkStatus()));
                });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::DeleteProfile(
    grpc::CallbackServerContext* context, const profile::v1::DeleteProfileRequest* request,
    profile::v1::Profile* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<Call>(options_, "DeleteProfile", context);
  const CallContext call_context = call->context();
  core_->Delete(call_context, *request,
                [reactor, response, call = std::move(call)](absl::StatusOr<WriteOutcome> outcome) {
                  if (!outcome.ok()) return reactor->Finish(call->End(outcome.status()));
                  *response = outcome->profile->profile();  // the tombstone
                  reactor->Finish(call->End(absl::OkStatus()));
                });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcProfileService::ListProfiles(
    grpc::CallbackServerContext* context, const profile::v1::ListProfilesRequest* request,
    profile::v1::ListProfilesResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto call = std::make_unique<Call>(options_, "ListProfiles", context);
  const CallContext call_context = call->context();
  core_->List(call_context, *request,
              [reactor, response,
               call = std::move(call)](absl::StatusOr<profile::v1::ListProfilesResponse> page) {
                if (!page.ok()) return reactor->Finish(call->End(page.status()));
                *response = *std::move(page);
                reactor->Finish(call->End(absl::OkStatus()));
              });
  return reactor;
}

grpc::ServerWriteReactor<profile::v1::ProfileEvent>* GrpcProfileService::WatchProfiles(
    grpc::CallbackServerContext* context, const profile::v1::WatchProfilesRequest* request) {
  auto call = std::make_unique<Call>(options_, "WatchProfiles", context);
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(call->context(), *request);
  if (!watch.ok()) {
    // A stream that ends before its first write still needs a reactor.
    class Refusal final : public grpc::ServerWriteReactor<profile::v1::ProfileEvent> {
     public:
      explicit Refusal(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refusal(call->End(watch.status(), /*stream=*/true));
  }
  return new WatchReactor(std::move(call), *std::move(watch));
}

}  // namespace profiles
