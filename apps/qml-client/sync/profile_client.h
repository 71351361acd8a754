#ifndef PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_CLIENT_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_CLIENT_H_

// ProfileClient: the sync manager's gRPC transport to the ProfileService
// (proto/profile/v1/profile.proto). One channel to one server address; every
// call has a deadline; answers are values, never exceptions.
//
//   ProfileClient client({.address = "127.0.0.1:50051"});
//   SendOutcome outcome = client.Send(MutationQueue::ToRequest(mutation));
//   if (auto* ack = std::get_if<Acknowledged>(&outcome)) ...
//
// Send() tells the transport's failures from the server's answers, and maps
// them to what the outbox does:
//   OK                                   -> Acknowledged{written profile}
//   ABORTED with the server's profile    -> Conflicted{server profile}
//   NOT_FOUND                            -> Deleted{tombstone, if attached}:
//                                           the profile was deleted (or its
//                                           tombstone purged)
//   UNAVAILABLE, DEADLINE_EXCEEDED,      -> Failed{status}: the request may not
//   CANCELLED                               have reached the server (unreachable,
//                                           connection reset, no answer in
//                                           time, or we cancelled): retry later
//                                           with the same mutation_id
//   RESOURCE_EXHAUSTED with a retry      -> Failed{status}: a rate limit; sent
//   delay (RetryDelayOf)                    again after that delay
//   any other code (INVALID_ARGUMENT,    -> Rejected{message, field errors, code}:
//   INTERNAL, UNKNOWN, RESOURCE_         an answer; parked with the server's
//   EXHAUSTED e.g. for a trailer too        message, blocking nothing, until
//   large to read, FAILED_PRECONDITION,     the user retries or discards it
//   PERMISSION_DENIED, ABORTED without
//   a profile, ...)
// A server's answer is never taken for a lost connection: that wedged the
// whole queue behind one mutation whose answer could not be read.
//
// Health: CheckHealth() asks the channel to connect (GetState(true)) and
// then makes a real call, GetServiceInfo, waiting for the connection up to
// Options::connect_timeout. That proves more than the health service would
// (the server answers, and has reached its database), and its answer names
// the database, which decides which local store the app syncs.
//
// Thread safety: thread-safe. Send/Pull/CheckHealth block the calling thread
// (the sync manager's transport thread) until the answer or the deadline;
// Watch blocks its own thread. Shutdown() may be called from any thread: it
// cancels the unary calls in progress and every later one (they return
// Failed/CANCELLED), so a discarded client never holds its caller up.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <variant>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/sync/profile_transport.h"
#include "profile/v1/profile.grpc.pb.h"
#include "profile/v1/profile.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace profiles::client {

class ProfileClient {
 public:
  struct Options {
    std::string address;  // host:port
    // Deadline of each unary call, and of each page of a pull.
    std::chrono::milliseconds call_timeout{10000};
    // How long CheckHealth() waits for a connection.
    std::chrono::milliseconds connect_timeout{2000};
    // Profiles per ListProfiles page. Avatars are included (up to 256 KiB
    // each), and the service also ends a page before about 3 MiB of rows, so
    // large pictures make a page shorter, never larger than a gRPC message
    // may be. Each page costs a round trip, a durable append and a publish:
    // at 16 a first sync of 10,000 profiles took 625 of each.
    int page_size = 500;
    // The bearer token sent with every call ("authorization: Bearer ...");
    // empty: none (a server with --auth=off).
    std::string token{};
    // TLS (a server started with --tls-cert-file): the server's certificate
    // must be valid for the address's host and signed by a CA in
    // `tls_ca_pem`, or by one the system trusts when that is empty. Off:
    // plain text, for loopback or a trusted network.
    bool tls = false;
    std::string tls_ca_pem{};
  };

  explicit ProfileClient(Options options);
  ProfileClient(const ProfileClient&) = delete;
  ProfileClient& operator=(const ProfileClient&) = delete;
  // Cancels what is in progress (Shutdown) and waits until every SendAsync's
  // `done` has returned, so that the channel is released here, never on
  // one of gRPC's threads. Not to be called from a `done`.
  ~ProfileClient();

  const std::string& address() const { return options_.address; }

  SendOutcome Send(const profile::v1::UpdateProfileRequest& request);
  // Send() without blocking, so that several mutations can be in flight on
  // the one channel: `done` runs exactly once, with the outcome, on a gRPC
  // thread (it must not block, and must not destroy this client: the
  // destructor waits for every `done` to return). Shutdown() cancels it
  // like a blocking call.
  void SendAsync(profile::v1::UpdateProfileRequest request, std::function<void(SendOutcome)> done);
  // DeleteProfile, as Send() and SendAsync() (OK: Acknowledged{tombstone}).
  SendOutcome SendDelete(const profile::v1::DeleteProfileRequest& request);
  void SendDeleteAsync(profile::v1::DeleteProfileRequest request,
                       std::function<void(SendOutcome)> done);

  // The whole profile `id`, avatar bytes included (GetProfile), e.g. for the
  // picture a conflict's details leave out.
  absl::StatusOr<profile::v1::Profile> Fetch(const std::string& id);

  // Lists the changes after `cursor` page by page (avatars included) until
  // next_page_token is empty, calling `on_page` with each page in order.
  // Stops at the first failed call and returns its status.
  absl::Status Pull(const std::string& cursor,
                    const std::function<void(profile::v1::ListProfilesResponse)>& on_page);

  // The server's database id when it answers a real call; see the file
  // comment.
  absl::StatusOr<std::string> CheckHealth();

  // Streams the changes after `cursor`, then live changes, calling
  // `on_event` for each, until the stream ends; returns why it ended
  // (CANCELLED after context->TryCancel()). `context` must be fresh and
  // outlive the call; TryCancel() on it is the way to stop a watch.
  absl::Status Watch(const std::string& cursor, grpc::ClientContext* context,
                     const std::function<void(profile::v1::ProfileEvent)>& on_event);

  // Cancels every Send/Pull/CheckHealth in progress or to come. Thread-safe.
  void Shutdown();

 private:
  // Sets a call's deadline, `timeout` from now, and its credentials.
  void Prepare(grpc::ClientContext* context, std::chrono::milliseconds timeout) const;
  // Registers a unary call's context so Shutdown() can reach it.
  class ActiveCall;
  // One SendAsync() or SendDeleteAsync() call.
  template <typename Request>
  class SendReactor;

  const Options options_;
  const std::shared_ptr<grpc::Channel> channel_;
  // Called by a SendReactor as its very last step.
  void SendFinished();

  const std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
  std::mutex mu_;
  std::set<grpc::ClientContext*> active_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int sends_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::condition_variable sends_finished_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_CLIENT_H_
