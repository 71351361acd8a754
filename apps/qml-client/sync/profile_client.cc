#include "apps/qml-client/sync/profile_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::client {
namespace {

std::shared_ptr<grpc::ChannelCredentials> CredentialsOf(const ProfileClient::Options& options) {
  if (!options.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  // Empty: gRPC's default roots (the system's CA bundle).
  ssl.pem_root_certs = options.tls_ca_pem;
  return grpc::SslCredentials(ssl);
}

std::shared_ptr<grpc::Channel> NewChannel(const ProfileClient::Options& options) {
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff grows to 120 s; the sync manager has its
  // own backoff, so the channel must be ready to reconnect soon after the
  // server returns.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // Pages with avatars (up to 256 KiB each) exceed the 4 MiB default.
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(options.address, CredentialsOf(options), args);
}

std::chrono::system_clock::time_point DeadlineAfter(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

// The outcome of a non-OK status of UpdateProfile: one exhaustive switch
// over the canonical codes.
SendOutcome OutcomeOf(const grpc::Status& grpc_status) {
  const absl::Status status = FromGrpcStatus(grpc_status);
  // The same mutation_id makes a retry of a transport failure safe.
  if (IsTransportFailure(status.code())) return Failed{status};
  // A rate limit, not an answer about this edit: it goes again after the
  // server's delay (the sync engine waits at least that long).
  if (status.code() == absl::StatusCode::kResourceExhausted && RetryDelayOf(status).has_value()) {
    return Failed{status};
  }
  switch (status.code()) {
    case absl::StatusCode::kAborted:
      if (std::optional<profile::v1::Profile> current = ConflictingProfile(status)) {
        return Conflicted{*std::move(current)};
      }
      // A conflict the client cannot merge without the server's copy.
      break;
    case absl::StatusCode::kNotFound: {
      // Deleted (PROFILE_DELETED, with the tombstone while it is kept), or
      // not there at all: for an edit or a delete, a tombstone purged after
      // the retention window. The outbox decides what that means for the
      // mutation (MutationQueue::Gone).
      std::optional<profile::v1::Profile> tombstone = ConflictingProfile(status);
      if (tombstone && !tombstone->deleted()) tombstone.reset();
      return Deleted{std::move(tombstone), std::string(status.message())};
    }
    case absl::StatusCode::kOk:  // not an error; treated as unexpected
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnavailable:  // transport failures, handled above
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    default:  // absl's reserved enumerator
      break;
  }
  Rejected rejected{std::string(status.message()), {}, status.code()};
  if (std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(status)) {
    for (const auto& violation : bad_request->field_violations()) {
      rejected.field_errors[violation.field()] = violation.description();
    }
  }
  return rejected;
}

}  // namespace

class ProfileClient::ActiveCall {
 public:
  ActiveCall(ProfileClient* client, grpc::ClientContext* context)
      : client_(client), context_(context) {
    std::lock_guard<std::mutex> lock(client_->mu_);
    // Cancelled before it starts: the call then fails at once with CANCELLED.
    if (client_->shut_down_) context_->TryCancel();
    client_->active_.insert(context_);
  }
  ~ActiveCall() {
    std::lock_guard<std::mutex> lock(client_->mu_);
    client_->active_.erase(context_);
  }
  ActiveCall(const ActiveCall&) = delete;
  ActiveCall& operator=(const ActiveCall&) = delete;

 private:
  ProfileClient* const client_;
  grpc::ClientContext* const context_;
};

ProfileClient::ProfileClient(Options options)
    : options_(std::move(options)),
      channel_(NewChannel(options_)),
      stub_(profile::v1::ProfileService::NewStub(channel_)) {}

ProfileClient::~ProfileClient() {
  Shutdown();
  std::unique_lock<std::mutex> lock(mu_);
  sends_finished_.wait(lock,
                       [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return sends_in_flight_ == 0; });
}

void ProfileClient::SendFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  --sends_in_flight_;
  // Under the lock: the destructor may free the condition variable as soon
  // as it sees the count at zero.
  sends_finished_.notify_all();
}

void ProfileClient::Prepare(grpc::ClientContext* context, std::chrono::milliseconds timeout) const {
  context->set_deadline(DeadlineAfter(timeout));
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
}

SendOutcome ProfileClient::Send(const profile::v1::UpdateProfileRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.call_timeout);
  ActiveCall active(this, &context);
  profile::v1::Profile written;
  const grpc::Status status = stub_->UpdateProfile(&context, request, &written);
  if (status.ok()) return Acknowledged{std::move(written)};
  return OutcomeOf(status);
}

SendOutcome ProfileClient::SendDelete(const profile::v1::DeleteProfileRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.call_timeout);
  ActiveCall active(this, &context);
  profile::v1::Profile tombstone;
  const grpc::Status status = stub_->DeleteProfile(&context, request, &tombstone);
  if (status.ok()) return Acknowledged{std::move(tombstone)};
  return OutcomeOf(status);
}

// The callback API's reactor for one UpdateProfile or DeleteProfile
// (`Request`): owns the call's context and messages, and deletes itself in
// OnDone(), the call's last event.
template <typename Request>
class ProfileClient::SendReactor final : public grpc::ClientUnaryReactor {
 public:
  SendReactor(ProfileClient* client, Request request, std::function<void(SendOutcome)> done)
      : client_(client), request_(std::move(request)), done_(std::move(done)) {
    client->Prepare(&context_, client->options_.call_timeout);
    active_.emplace(client, &context_);
    if constexpr (std::is_same_v<Request, profile::v1::DeleteProfileRequest>) {
      client->stub_->async()->DeleteProfile(&context_, &request_, &written_, this);
    } else {
      client->stub_->async()->UpdateProfile(&context_, &request_, &written_, this);
    }
  }

  void Start() { StartCall(); }

  void OnDone(const grpc::Status& status) override {
    SendOutcome outcome =
        status.ok() ? SendOutcome(Acknowledged{std::move(written_)}) : OutcomeOf(status);
    active_.reset();
    ProfileClient* const client = client_;
    std::function<void(SendOutcome)> done = std::move(done_);
    // The context goes first, and with it its reference to the channel,
    // which the client still holds: the channel must never be destroyed on
    // this thread, inside its own completion queue's callback (gRPC then
    // frees that queue twice: a double free CI caught).
    delete this;
    done(std::move(outcome));
    // Last: from here on the client may be destroyed (see ~ProfileClient).
    client->SendFinished();
  }

 private:
  ProfileClient* const client_;
  grpc::ClientContext context_;
  const Request request_;
  profile::v1::Profile written_;
  std::function<void(SendOutcome)> done_;
  std::optional<ActiveCall> active_;
};

void ProfileClient::SendAsync(profile::v1::UpdateProfileRequest request,
                              std::function<void(SendOutcome)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++sends_in_flight_;
  }
  // Owned by gRPC from here on: it deletes itself when the call is over.
  (new SendReactor<profile::v1::UpdateProfileRequest>(this, std::move(request), std::move(done)))
      ->Start();
}

void ProfileClient::SendDeleteAsync(profile::v1::DeleteProfileRequest request,
                                    std::function<void(SendOutcome)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++sends_in_flight_;
  }
  (new SendReactor<profile::v1::DeleteProfileRequest>(this, std::move(request), std::move(done)))
      ->Start();
}

absl::StatusOr<profile::v1::Profile> ProfileClient::Fetch(const std::string& id) {
  grpc::ClientContext context;
  Prepare(&context, options_.call_timeout);
  ActiveCall active(this, &context);
  profile::v1::GetProfileRequest request;
  request.set_id(id);
  profile::v1::Profile profile;
  const grpc::Status status = stub_->GetProfile(&context, request, &profile);
  if (!status.ok()) return FromGrpcStatus(status);
  return profile;
}

absl::Status ProfileClient::Pull(
    const std::string& cursor,
    const std::function<void(profile::v1::ListProfilesResponse)>& on_page) {
  profile::v1::ListProfilesRequest request;
  request.set_page_size(options_.page_size);
  request.set_since_cursor(cursor);
  request.set_include_avatars(true);
  while (true) {
    grpc::ClientContext context;
    Prepare(&context, options_.call_timeout);
    ActiveCall active(this, &context);
    profile::v1::ListProfilesResponse page;
    const grpc::Status status = stub_->ListProfiles(&context, request, &page);
    if (!status.ok()) return FromGrpcStatus(status);
    std::string next = page.next_page_token();
    on_page(std::move(page));
    if (next.empty()) return absl::OkStatus();
    request.set_page_token(std::move(next));
  }
}

absl::StatusOr<std::string> ProfileClient::CheckHealth() {
  channel_->GetState(/*try_to_connect=*/true);
  grpc::ClientContext context;
  Prepare(&context, options_.connect_timeout);
  context.set_wait_for_ready(true);
  ActiveCall active(this, &context);
  profile::v1::ServiceInfo info;
  const grpc::Status status =
      stub_->GetServiceInfo(&context, profile::v1::GetServiceInfoRequest(), &info);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    // Waiting for a connection hides why there is none (refused, a failed
    // TLS handshake, TLS on one side only): gRPC says only "Deadline
    // Exceeded". The user can act on what to check.
    return absl::DeadlineExceededError(absl::StrCat(
        "no answer from ", options_.address, " within ", options_.connect_timeout.count(),
        " ms: check the address",
        options_.tls ? ", and that this device trusts the CA of the server's certificate"
                     : "; a server that uses TLS needs Encrypted connection on"));
  }
  if (!status.ok()) return FromGrpcStatus(status);
  if (info.database_id().empty()) {
    return absl::FailedPreconditionError(
        "the server does not name its database; it is older than this app");
  }
  // The id names a folder of the app's data (ServerDirectory): letters,
  // digits and dashes only, as the service makes them.
  const bool plain = info.database_id().size() <= 64 &&
                     std::all_of(info.database_id().begin(), info.database_id().end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                     });
  if (!plain) {
    return absl::FailedPreconditionError("the server names its database in an unexpected form");
  }
  return std::move(*info.mutable_database_id());
}

absl::Status ProfileClient::Watch(const std::string& cursor, grpc::ClientContext* context,
                                  const std::function<void(profile::v1::ProfileEvent)>& on_event) {
  if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
  profile::v1::WatchProfilesRequest request;
  request.set_since_cursor(cursor);
  request.set_include_avatars(true);
  std::unique_ptr<grpc::ClientReader<profile::v1::ProfileEvent>> reader =
      stub_->WatchProfiles(context, request);
  profile::v1::ProfileEvent event;
  while (reader->Read(&event)) on_event(std::move(event));
  return FromGrpcStatus(reader->Finish());
}

void ProfileClient::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shut_down_ = true;
  for (grpc::ClientContext* context : active_) context->TryCancel();
}

}  // namespace profiles::client
