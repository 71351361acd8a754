#ifndef PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_TRANSPORT_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_TRANSPORT_H_

// ProfileTransport: the calls the sync engine (sync_engine.h) makes to the
// ProfileService, as asynchronous requests whose answers come back as
// callbacks. The engine knows nothing else of the network: GrpcTransport
// (grpc_transport.h) is the real one, and the engine's tests use an
// in-memory server behind a transport that delays, reorders, drops,
// duplicates and fails calls at will.
//
// Contract for every implementation:
//   * Each callback runs on the engine's thread, later: never inside the
//     call that started it (the engine is not reentrant).
//   * A call's final callback (`done`, `ended`) runs exactly once, unless
//     Reset() (or, for a watch, StopWatch()) comes first: then no callback
//     of that call ever runs.
//   * Pages of one Pull arrive in order, before its `done`; a watch's events
//     arrive in order, before its `ended`.
//
// Thread safety: used from the engine's thread only.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

// The server applied the mutation (now or, for a replayed mutation_id, before).
struct Acknowledged {
  profile::v1::Profile profile;
};
// The server answered, but neither success nor a conflict: parked.
struct Rejected {
  std::string message;
  std::map<std::string, std::string> field_errors;  // "name" -> message
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
};
// Based on a stale version; `server_profile` is the server's current copy.
struct Conflicted {
  profile::v1::Profile server_profile;
};
// Not known to have reached the server; safe to retry with the same mutation_id.
struct Failed {
  absl::Status status;
};
// NOT_FOUND: the profile was deleted (PROFILE_DELETED, with the tombstone
// while the server keeps it), or is not there at all, which for an edit or a
// delete means the same: its tombstone was purged after the retention window.
struct Deleted {
  std::optional<profile::v1::Profile> tombstone;
  std::string message;
};
using SendOutcome = std::variant<Acknowledged, Rejected, Conflicted, Failed, Deleted>;

// True for UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED: the request may not
// have reached the server, or its answer was lost on the way, so it is sent
// again later. Every other code is the server's answer.
bool IsTransportFailure(absl::StatusCode code);

class ProfileTransport {
 public:
  virtual ~ProfileTransport() = default;

  // The server's database id once it answers a real call (GetServiceInfo),
  // or why it could not be reached.
  virtual void CheckHealth(std::function<void(absl::StatusOr<std::string>)> done) = 0;
  // UpdateProfile, its answer mapped as profile_client.h describes. Several
  // sends may be in progress at once; their answers come in any order.
  virtual void Send(profile::v1::UpdateProfileRequest request,
                    std::function<void(SendOutcome)> done) = 0;
  // DeleteProfile, its answer mapped as Send's (OK: the tombstone).
  virtual void SendDelete(profile::v1::DeleteProfileRequest request,
                          std::function<void(SendOutcome)> done) = 0;
  // The whole profile `id`, avatar bytes included (GetProfile).
  virtual void Fetch(std::string id,
                     std::function<void(absl::StatusOr<profile::v1::Profile>)> done) = 0;
  // Lists the changes after `cursor` (avatars included) page by page until
  // the last page or the first failure, which `done` reports.
  virtual void Pull(std::string cursor,
                    std::function<void(profile::v1::ListProfilesResponse)> on_page,
                    std::function<void(absl::Status)> done) = 0;
  // Streams the changes after `cursor`, then live ones, until the stream
  // ends; at most one watch at a time. Events that arrive together come in
  // one call of `on_events`.
  virtual void Watch(std::string cursor,
                     std::function<void(std::vector<profile::v1::ProfileEvent>)> on_events,
                     std::function<void(absl::Status)> ended) = 0;
  // Ends the watch, if any; its callbacks no longer run.
  virtual void StopWatch() = 0;
  // Abandons every call in progress, the watch included (see the contract).
  virtual void Reset() = 0;
  // Talks to another server from now on; implies Reset().
  virtual void SetAddress(const std::string& address) = 0;
  // Sends `token` as "authorization: Bearer <token>" with every call from
  // now on (empty: no credentials); implies Reset().
  virtual void SetToken(const std::string& token) = 0;
  // Speaks TLS to the server from now on, trusting the PEM CAs in `ca_pem`
  // (empty: the system's), or plain text when `tls` is false; implies
  // Reset().
  virtual void SetTls(bool tls, const std::string& ca_pem) = 0;
  virtual const std::string& address() const = 0;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_PROFILE_TRANSPORT_H_
