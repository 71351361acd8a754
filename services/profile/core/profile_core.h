#ifndef PROFILES_SERVICES_PROFILE_CORE_PROFILE_CORE_H_
#define PROFILES_SERVICES_PROFILE_CORE_PROFILE_CORE_H_

// ProfileCore is the profile service itself, with no transport: the gRPC
// adapter (services/profile/grpc/) and the REST adapter
// (services/profile/http/) are thin siblings over it, each mapping the
// outcomes below to its protocol in one place.
//
// What lives here: request validation (libs/profile_contract/validation.h),
// who the caller is and what they may do (Authenticate, Authorize*), the
// version and idempotency rules (enforced by the
// repository in the write's own statement), paging policy, the read cache
// (profile_cache.h) and the watch fan-out with its catch-up (WatchHub).
//
// Asynchronous: no call blocks its caller. A call answers through its `done`
// callback, exactly once, either inline (a cache hit, a request that fails
// validation, a full queue) or later on a storage worker thread
// (BoundedExecutor). `done` must be quick and must not call back into the
// core synchronously with a blocking wait.
//
// Bounds: at most Options::max_queued_calls calls wait for a storage worker
// (beyond: RESOURCE_EXHAUSTED "server busy"); a call still waiting at its
// deadline is answered DEADLINE_EXCEEDED without touching storage; at most
// Options::max_watches watches are open (beyond: RESOURCE_EXHAUSTED); a
// watcher queues at most Options::watch_queue_bytes of events (beyond: it
// catches up from storage instead), and a watcher that asked for no avatars
// queues none.
//
// Errors are absl::Status with canonical codes; the details an adapter
// forwards are payloads (libs/profile_contract/status_details.h):
//   INVALID_ARGUMENT    a bad request (BadRequest), or a reused mutation_id
//                       (ErrorInfo MUTATION_ID_REUSED)
//   ABORTED             a version conflict; ConflictingProfile() is the
//                       current profile, avatar included (the gRPC adapter
//                       leaves the avatar out: WithoutConflictAvatar())
//   UNAUTHENTICATED     no valid bearer token (with Options::tokens set);
//                       checked before anything else, so a stranger learns
//                       nothing about the request or the data
//   PERMISSION_DENIED   a valid token that may not do this: a user writes
//                       only the profile whose id is their subject (an admin
//                       any); with ReadScope::kOwnProfile a user reads only
//                       that profile, and listings and watches need an admin
//   RESOURCE_EXHAUSTED  the caller made too many calls (Options::read_rate,
//                       write_rate), checked right after who they are, with
//                       a retry delay (RetryDelayOf); also a full queue
//   NOT_FOUND, UNAVAILABLE, DEADLINE_EXCEEDED
//
// Idempotency records are scoped to the caller's subject: another caller's
// write with the same mutation_id is a different mutation.
//
// Thread-safe. `repository` and `feed` must outlive the core.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/profile_contract/profile_write.h"
#include "profile/v1/profile.pb.h"
#include "services/profile/auth/token_authority.h"
#include "services/profile/core/profile_snapshot.h"
#include "services/profile/core/rate_limiter.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class BoundedExecutor;
class ProfileCache;
class ServiceMetrics;
class WatchHub;

// Who calls, and until when: what every core call needs from its transport.
struct CallContext {
  // The caller's deadline (a gRPC deadline, an HTTP request timeout).
  absl::Time deadline = absl::InfiniteFuture();
  // The caller's credentials as sent ("Bearer ..."), or empty.
  std::string authorization;
  // The caller's network address without its port ("127.0.0.1", "::1"), or
  // empty: whose rate limit a call without a user counts against.
  std::string peer;
  // The request's id (services/profile/logging/request_id.h), which the
  // core's log lines carry; empty if the transport has none.
  std::string request_id;
  // For the adapter's access log: when set, the core stores here the subject
  // of the caller once their token is verified ("" for a caller without one,
  // such as an admin with authentication off), before the call returns or
  // calls `done`; a refused token leaves it untouched. It must stay valid
  // until the core call returns, and be read only after `done` ran.
  std::string* verified_subject = nullptr;
};

// What a caller who is not an administrator may read.
enum class ReadScope {
  kEveryProfile,  // every profile, listings and watches (the app's list needs it)
  kOwnProfile,    // only the profile whose id is their subject
};

template <typename T>
using Done = absl::AnyInvocable<void(absl::StatusOr<T>) &&>;

enum class WriteOutcomeKind {
  kCreated,   // the write created the profile (version 1, or one more than
              // the tombstone of a deleted profile of the same id)
  kUpdated,   // the write changed an existing profile
  kReplayed,  // its mutation_id was applied before; nothing was written now
  kDeleted,   // the profile was deleted; `profile` is its tombstone
};

struct WriteOutcome {
  WriteOutcomeKind kind = WriteOutcomeKind::kUpdated;
  std::shared_ptr<const ProfileSnapshot> profile;  // as written, never null
};

// Events of one watch, in cursor order, shared with other watchers of the
// same change.
using WatchEvents = std::vector<std::shared_ptr<const profile::v1::ProfileEvent>>;

// One open WatchProfiles stream. Thread-safe.
class ProfileWatch {
 public:
  virtual ~ProfileWatch() = default;

  // Calls `done` once with the next events (never an empty list): inline if
  // some are queued, else when changes arrive (on the feed's thread) or a
  // catch-up page is read (on a storage worker). Ends with
  //   UNAVAILABLE  the server is stopping or the change feed stopped; the
  //                client resumes from the last cursor it received;
  //   CANCELLED    after Cancel().
  // REQUIRES: no other Next() is pending.
  virtual void Next(Done<WatchEvents> done) = 0;

  // Ends a pending Next() with CANCELLED, and every later one. Idempotent.
  virtual void Cancel() = 0;
};

class ProfileCore {
 public:
  struct Options {
    // Threads doing storage work; the database pool's size.
    int storage_workers = 16;
    // Calls waiting for a storage worker; beyond, RESOURCE_EXHAUSTED.
    int max_queued_calls = 4096;
    // The read cache's bound in bytes; 0 disables it.
    size_t cache_bytes = size_t{256} << 20;
    // Open watches per process; beyond, RESOURCE_EXHAUSTED.
    int max_watches = 16384;
    // Bytes of events one watcher may have queued before it is made to catch
    // up from storage instead.
    size_t watch_queue_bytes = size_t{4} << 20;
    // Verifies bearer tokens. Unset, authentication is off and every caller
    // may do everything: for local development only (profile_server allows
    // it only on loopback addresses).
    std::optional<TokenAuthority> tokens{};
    ReadScope read_scope = ReadScope::kEveryProfile;
    // Calls per caller (a user, or a peer address for calls without one):
    // reads (Get, List, Watch, Info) and writes (Update). Beyond,
    // RESOURCE_EXHAUSTED with the delay after which a retry is admitted
    // (RetryDelayOf). 0 per second: no limit (the default here; profile_server
    // sets limits).
    RateLimiter::Rate read_rate{};
    RateLimiter::Rate write_rate{};
    // Where the core counts version conflicts, idempotent replays, watch
    // events sent and the change feed's lag, and exports the read cache's
    // hits, misses and bytes, the open watches and the calls waiting for
    // storage (read at each scrape until the core is destroyed); null:
    // nowhere. Must outlive the core.
    ServiceMetrics* metrics = nullptr;
  };

  ProfileCore(Options options, ProfileRepository* repository, ChangeFeed* feed);
  // Ends every watch (UNAVAILABLE), then waits for the storage work in flight.
  ~ProfileCore();

  ProfileCore(const ProfileCore&) = delete;
  ProfileCore& operator=(const ProfileCore&) = delete;

  // What the service is (ServiceInfo, profile.proto). UNAVAILABLE until
  // storage has been reached once.
  void Info(const CallContext& context, Done<profile::v1::ServiceInfo> done);

  // The profile `id` (avatar included). INVALID_ARGUMENT for an id that is
  // not a UUID, NOT_FOUND (with IsProfileDeleted() and the tombstone attached
  // when it was deleted).
  void Get(const CallContext& context, std::string_view id,
           Done<std::shared_ptr<const ProfileSnapshot>> done);

  // Applies an UpdateProfileRequest (validation: libs/profile_contract/validation.h).
  // A new avatar is stored as MakePictureSafe() returns it
  // (services/profile/pictures/safe_picture.h): fully decoded and without
  // location or camera metadata; a picture it refuses is INVALID_ARGUMENT
  // with a BadRequest violation on "avatar", and nothing is written. The
  // picture is checked on a storage worker, before storage is touched: a
  // check costs up to ~0.1 s of CPU, and the workers bound how many run at
  // once.
  void Update(const CallContext& context, const profile::v1::UpdateProfileRequest& request,
              Done<WriteOutcome> done);

  // Deletes a profile (DeleteProfileRequest, profile.proto): version-checked
  // and idempotent like Update(), with the same errors; answers the
  // tombstone (kDeleted, or kReplayed). A profile already deleted is
  // NOT_FOUND with IsProfileDeleted().
  void Delete(const CallContext& context, const profile::v1::DeleteProfileRequest& request,
              Done<WriteOutcome> done);

  // One page of the listing or of a delta (page_size 0: 100; at most 1000;
  // at most kDefaultPageBytes). Deleted profiles are tombstones
  // (Profile.deleted), left out of the first page from the start.
  void List(const CallContext& context, const profile::v1::ListProfilesRequest& request,
            Done<profile::v1::ListProfilesResponse> done);

  // Opens a watch: every change after request.since_cursor() (catch-up from
  // storage, then live). INVALID_ARGUMENT for a bad cursor, FAILED_PRECONDITION
  // for one of another database (at once or when the watch first reads),
  // RESOURCE_EXHAUSTED over max_watches, UNAVAILABLE once StopWatches() ran.
  absl::StatusOr<std::unique_ptr<ProfileWatch>> Watch(
      const CallContext& context, const profile::v1::WatchProfilesRequest& request);

  // Ends every open watch with UNAVAILABLE (clients reconnect, to another
  // replica if need be) and refuses new ones, so the server can shut down.
  // Idempotent.
  void StopWatches();

  // The caller `context` names: UNAUTHENTICATED unless its token verifies.
  // With authentication off, an administrator without a subject. Every call
  // above checks this itself; an adapter asks first only to refuse a
  // stranger before it reads the rest of a request (a REST body).
  absl::StatusOr<Caller> Authenticate(const CallContext& context) const;

  // For tests and diagnostics.
  ProfileCache& cache() { return *cache_; }
  int open_watches() const;

 private:
  // PERMISSION_DENIED unless `caller` may write the profile `profile_id`.
  absl::Status AuthorizeWrite(const Caller& caller, std::string_view profile_id) const;
  // PERMISSION_DENIED unless `caller` may read the profile `profile_id`, or
  // every profile (a listing, a watch) when `profile_id` is empty.
  absl::Status AuthorizeRead(const Caller& caller, std::string_view profile_id) const;
  // RESOURCE_EXHAUSTED (with a retry delay) if the caller, a user or else
  // the peer, is over `limiter`'s rate; counts the call otherwise.
  absl::Status Limit(const absl::StatusOr<Caller>& caller, const CallContext& context,
                     RateLimiter& limiter, std::string_view what);
  // Authenticate(), then Limit(): the first thing every call does.
  absl::StatusOr<Caller> Admit(const CallContext& context, RateLimiter& limiter,
                               std::string_view what);
  // Applies a validated, authorized write (an edit or a delete) on a storage
  // worker; `what` names the call in errors and logs.
  void ApplyOnStorage(const CallContext& context, std::string_view what, ProfileWrite write,
                      Done<WriteOutcome> done);
  // Registers the numbers the core's parts keep with `metrics`.
  void ExportMetrics(ServiceMetrics& metrics);
  // Runs `work` on a storage worker unless the queue is full or the deadline
  // passes first; then `fail` gets the status instead.
  void OnStorage(const CallContext& context, std::string_view what,
                 absl::AnyInvocable<void() &&> work,
                 absl::AnyInvocable<void(absl::Status) &&> fail);

  const Options options_;
  ProfileRepository* const repository_;
  std::unique_ptr<RateLimiter> reads_;
  std::unique_ptr<RateLimiter> writes_;
  std::unique_ptr<ProfileCache> cache_;
  std::unique_ptr<BoundedExecutor> executor_;
  std::unique_ptr<WatchHub> hub_;  // after executor_: destroyed first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_CORE_PROFILE_CORE_H_
