#ifndef PROFILES_APPS_QML_CLIENT_SYNC_SYNC_ENGINE_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_SYNC_ENGINE_H_

// SyncEngine: the rules of the app's sync, as a single-threaded state
// machine with no threads, no gRPC and no clock of its own. It owns the
// store of the server database being synced and its outbox
// (core/mutation_queue.h), and it reacts to events:
//
//   the user's actions      Create, Edit, Delete, ResolveKeepServer, ... (persisted
//                           first, then published, then sent)
//   connectivity            SetWorkOffline, SetNetworkReachable, SetServerAddress
//   timers                  OnTimer(kRetry / kPoll), when the Host's timer fires
//   answers                 callbacks of its ProfileTransport's calls
//
// and decides what to send (through the ProfileTransport), what to persist
// (through the MutationQueue) and when a new picture of the state is due
// (Host::Publish). SyncManager (sync_manager.h) runs it on its worker thread
// with the gRPC transport and QTimers; the engine's tests run it on an
// in-memory server with a simulated clock and seeded random schedules.
//
// A pass: a health check if the server was not known to be reachable (its
// answer names the database, which picks the store), then the drain, then a
// pull since the cursor, then the watch (or polling while it cannot be
// held). The drain is pipelined: up to Options::max_sends_in_flight
// mutations are in flight at once, each of a different profile, because
// MutationQueue::NextToSend() hands out only the oldest sendable mutation of
// each profile; a profile's next one goes once its predecessor is answered,
// rebased on the result. Answers that arrive together are recorded together
// (one durable write), after Host::Defer().
//
// Thread safety: not thread-safe; every call, and every transport callback,
// on one thread.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/mutation_queue.h"
#include "apps/qml-client/sync/backoff.h"
#include "apps/qml-client/sync/profile_transport.h"
#include "google/protobuf/field_mask.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

enum class ConnectionState {
  kOffline,    // work-offline is on, or the server cannot be reached
  kOnline,     // reachable, nothing to send
  kSyncing,    // sending edits or pulling changes
  kSignedOut,  // the server refused our token: nothing is sent until SetToken()
};

class SyncEngine {
 public:
  enum class Timer {
    kRetry,  // the backoff delay after a failure
    kPoll,   // the next pull while the watch cannot be held
  };
  enum class PublishWhen {
    kNow,   // the user's action or a change of connection: show it at once
    kSoon,  // a change from the server: may be batched with the next ones
  };

  // What the engine needs of its surroundings. Called on the engine's thread.
  class Host {
   public:
    virtual ~Host() = default;
    // Fire OnTimer(timer) after `delay`, replacing a pending one.
    virtual void StartTimer(Timer timer, std::chrono::milliseconds delay) = 0;
    virtual void StopTimer(Timer timer) = 0;
    // Runs `work` on the engine's thread after the events already waiting.
    virtual void Defer(std::function<void()> work) = 0;
    // The state changed; a new picture of it is due.
    virtual void Publish(PublishWhen when) = 0;
    // A local operation failed (e.g. the disk is full): tell the user.
    virtual void ReportLocalError(const absl::Status& status) = 0;
    // The store of server database `database_id` (opened or created), other
    // than `current`, the folder of the one in use.
    virtual absl::StatusOr<std::unique_ptr<LocalStore>> OpenStoreOf(const std::string& database_id,
                                                                    const QString& current) = 0;
    // The server at `address` keeps `database_id` (for offline starts).
    virtual void RememberServer(const std::string& address, const std::string& database_id) = 0;
  };

  struct Options {
    Backoff::Policy backoff;
    Backoff::RandomSource random;  // for the backoff's jitter; empty: std::random_device
    int max_sends_in_flight = 16;
    std::chrono::milliseconds poll_interval{10000};
    bool work_offline = false;
    bool network_reachable = true;
  };

  // `host` and `transport` must outlive the engine.
  SyncEngine(Options options, std::unique_ptr<LocalStore> store, ProfileTransport* transport,
             Host* host);
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  void Start();
  // Ends all network activity; no callback of an earlier call runs after it.
  void Stop();

  // The user's actions. Each is persisted before it returns, then
  // published, then sent. Failures go to Host::ReportLocalError.
  // Create returns the new profile's id (empty on failure).
  std::string Create(const profile::v1::Profile& fields, const google::protobuf::FieldMask& mask);
  // `base`: the version and field values the user's form showed (the merge
  // base); nullopt: the profile as shown now.
  struct Base {
    int64_t version = 0;
    profile::v1::Profile fields;  // name, email, avatar_sha256
  };
  void Edit(const std::string& id, const profile::v1::Profile& fields,
            const google::protobuf::FieldMask& mask, const std::optional<Base>& base);
  // Deletes profile `id` (MutationQueue::EnqueueDelete): hidden at once,
  // sent after the profile's earlier mutations.
  void Delete(const std::string& id);
  void RetryParked(const std::string& id);
  void DismissRejected(const std::string& id);
  void DismissMergeNote(const std::string& id);
  void ResolveKeepServer(const std::string& id);
  void ResolveApplyMine(const std::string& id);

  void SetWorkOffline(bool offline);
  void SetNetworkReachable(bool reachable);
  void SetServerAddress(const std::string& address);
  // The bearer token for every call from now on (empty: none). A server's
  // UNAUTHENTICATED (no token, or an expired or revoked one) stops the sync
  // with every edit kept queued, none parked or dropped, and
  // connection() kSignedOut until a token is set: retrying with the same
  // token cannot succeed, and only the user can get a new one.
  void SetToken(const std::string& token);
  // TLS or plain text to the server from now on (ProfileTransport::SetTls):
  // what is in flight is abandoned and sent again over the new connection.
  void SetTls(bool tls, const std::string& ca_pem);
  // Pull now, and retry at once if backing off.
  void Refresh();
  void OnTimer(Timer timer);

  const MutationQueue& queue() const { return *queue_; }
  const LocalStore& store() const { return *store_; }
  // The profiles to redraw (LocalStore::TakeTouchedProfiles()).
  std::set<std::string> TakeTouchedProfiles() { return store_->TakeTouchedProfiles(); }
  // Changes whenever another store replaces the one in use.
  uint64_t store_epoch() const { return store_epoch_; }
  ConnectionState connection() const;
  // Why the last attempt to reach the server failed; empty after a success.
  const std::string& last_error() const { return last_error_; }

 private:
  enum class Phase { kIdle, kChecking, kSending, kPulling };

  bool CanTry() const { return !work_offline_ && network_reachable_ && !signed_out_; }
  void Changed();
  // Applies `action` to each parked mutation of profile `id`, then Changed().
  void ForEachParked(const std::string& id,
                     absl::Status (MutationQueue::*action)(const std::string&));
  void ReachabilityChanged();
  void Abandon();
  void RunPass();
  void CheckHealth();
  void OnHealth(const absl::StatusOr<std::string>& database_id);
  absl::Status UseDatabase(const std::string& database_id);
  absl::Status SwitchStore(const std::string& database_id);
  void Step();
  void OnSent(const std::string& mutation_id, SendOutcome outcome);
  void RecordAnswers();
  void OnFetched(const std::string& id, const absl::StatusOr<profile::v1::Profile>& profile);
  // The answer about a profile a full listing left out (unlisted_).
  void OnChecked(const std::string& id, const absl::StatusOr<profile::v1::Profile>& profile);
  void WantAvatarIfMissing(const std::string& id);
  void OnPage(profile::v1::ListProfilesResponse page);
  void OnPulled(const absl::Status& status);
  void ForgetCursor(const absl::Status& refusal);
  void OnFailure(const absl::Status& status);
  // After the backoff's next delay, or `at_least` if longer (a server's
  // rate limit).
  void StartRetryTimer(std::optional<absl::Duration> at_least = std::nullopt);
  void EnsureWatch();
  void OnEvents(std::vector<profile::v1::ProfileEvent> events);
  void OnWatchEnded(const absl::Status& status);
  void StopWatch();

  const Options options_;
  ProfileTransport* const transport_;
  Host* const host_;
  std::unique_ptr<LocalStore> store_;
  std::unique_ptr<MutationQueue> queue_;
  uint64_t store_epoch_ = 0;
  Backoff backoff_;

  bool work_offline_;
  bool network_reachable_;
  bool stopping_ = false;
  // The server refused the token (UNAUTHENTICATED); cleared by SetToken().
  bool signed_out_ = false;
  // The last call reached the server; otherwise a pass starts with a health check.
  bool server_ok_ = false;
  Phase phase_ = Phase::kIdle;
  // Something happened during a pass that needs another one.
  bool pass_wanted_ = false;
  bool retry_pending_ = false;
  bool poll_pending_ = false;
  bool watching_ = false;
  // Mutations sent and not yet answered, by id.
  std::set<std::string> in_flight_;
  // Answers received and not yet recorded (RecordAnswers, deferred).
  std::vector<std::pair<std::string, SendOutcome>> answers_;
  std::string last_error_;
  // Profiles whose cached copy lacks the bytes of its avatar_sha256.
  std::set<std::string> avatars_wanted_;
  // The pull in progress lists everything (from an empty cursor) into a
  // store that has cached profiles: `listed_` collects the ids of its pages.
  // The cached profiles it left out were deleted while this device did not
  // follow the changes, or were written after the listing's position (a
  // later delta brings them): each is asked for (GetProfile) before it is
  // removed, into `unlisted_`. The listing's pages record no cursor until
  // the last, so that an interrupted listing is started over rather than
  // continued without knowing what it left out.
  bool full_listing_ = false;
  std::set<std::string> listed_;
  std::set<std::string> unlisted_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_SYNC_ENGINE_H_
