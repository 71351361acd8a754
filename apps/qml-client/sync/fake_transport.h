#ifndef PROFILES_APPS_QML_CLIENT_SYNC_FAKE_TRANSPORT_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_FAKE_TRANSPORT_H_

// An in-memory ProfileService and a ProfileTransport to it whose calls travel
// through a simulated network, for deterministic tests of the sync engine:
//
//   Simulation sim(seed);                 // the clock and the network
//   FakeProfileServer server(&sim);       // the service's rules, in memory
//   FakeTransport transport(&sim, &server, faults);
//   SyncEngine engine(options, store, &transport, &host);
//   while (sim.RunOne()) {}               // deliver everything, in random order
//
// The simulation holds every message in flight as a task; RunOne() runs one
// of the ready tasks chosen at random (so answers overtake each other), or,
// when none is ready, advances the clock to the next timer. Faults
// (FakeTransport::Faults) drop requests, lose answers after the server has
// applied the request, deliver requests twice, fail health checks, pages and
// fetches, and end watches, each with its probability.
//
// FakeProfileServer follows proto/profile/v1/profile.proto as the real
// service does: versions checked on every write (ABORTED with the current
// copy, avatar bytes left out), mutation_id replays answered from the first
// application, listings in change order with the latest copy of each
// profile, watches from a cursor. It counts how often each mutation_id was
// applied and keeps the history of writes, for the tests' invariants.
//
// Thread safety: none; one thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "apps/qml-client/sync/profile_transport.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client::testing {

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : random_(seed) {}

  // Makes `task` ready to run (in random order with the other ready ones).
  void Post(std::function<void()> task);
  // Runs `task` once `delay` has passed on the simulated clock; returns a
  // token for Cancel().
  uint64_t PostAfter(std::chrono::milliseconds delay, std::function<void()> task);
  void Cancel(uint64_t token);

  // Runs one ready task, or else advances the clock to the earliest timer
  // and runs it. False when nothing is left.
  bool RunOne();
  // Runs ready tasks until there are none (timers are left waiting).
  void RunReady();
  bool has_ready() const { return !ready_.empty(); }
  bool has_timers() const { return !timers_.empty(); }

  std::chrono::milliseconds now() const { return now_; }
  std::mt19937_64& random() { return random_; }
  // True with probability `p`.
  bool Chance(double p);
  // Uniform in [0, n).
  size_t Below(size_t n);

 private:
  std::mt19937_64 random_;
  std::chrono::milliseconds now_{0};
  std::vector<std::function<void()>> ready_;
  std::map<std::pair<std::chrono::milliseconds, uint64_t>, std::function<void()>> timers_;
  uint64_t next_token_ = 1;
};

class FakeProfileServer {
 public:
  explicit FakeProfileServer(std::string database_id = "fake-db")
      : database_id_(std::move(database_id)) {}

  const std::string& database_id() const { return database_id_; }

  // UpdateProfile. A create (expected_version 0) of a deleted id makes a new
  // profile whose version continues after the tombstone's; an edit of a
  // deleted or unknown id is Deleted (NOT_FOUND).
  SendOutcome Update(const profile::v1::UpdateProfileRequest& request);
  // DeleteProfile: the tombstone (id, version + 1, deleted), version-checked.
  SendOutcome Delete(const profile::v1::DeleteProfileRequest& request);
  // GetProfile: NOT_FOUND for an unknown or deleted id.
  absl::StatusOr<profile::v1::Profile> Get(const std::string& id) const;
  // One page of ListProfiles since `cursor` (avatars included), at most
  // `page_size` profiles; next_page_token is the page's cursor when more
  // follow. Deleted profiles are tombstones, left out from an empty cursor.
  profile::v1::ListProfilesResponse List(const std::string& cursor, int page_size) const;
  // The changes after `cursor`, one event per profile (its latest copy).
  std::vector<profile::v1::ProfileEvent> ChangesSince(const std::string& cursor) const;

  // Another device's write (no version check, as if based on the latest).
  profile::v1::Profile WriteElsewhere(const std::string& id, const std::string& field,
                                      const std::string& value);
  // Another device's delete (no version check); returns the tombstone.
  profile::v1::Profile DeleteElsewhere(const std::string& id);
  // The retention window passes: every tombstone is dropped (edits of those
  // ids answer plain NOT_FOUND), and every cursor issued so far is refused
  // (CURSOR_EXPIRED), so clients list everything again.
  void PurgeTombstones();
  // FAILED_PRECONDITION CURSOR_EXPIRED for a cursor from before a purge.
  absl::Status CheckCursor(const std::string& cursor) const;

  // Called with every change as it is committed (the watches).
  void Subscribe(std::function<void(const profile::v1::ProfileEvent&)> listener) {
    listeners_.push_back(std::move(listener));
  }

  const std::map<std::string, profile::v1::Profile>& profiles() const { return profiles_; }
  // How many times each mutation_id was applied (never more than once).
  const std::map<std::string, int>& applications() const { return applications_; }
  // Every write, in commit order.
  struct Write {
    std::string profile_id;
    std::string mutation_id;                    // empty for WriteElsewhere
    std::map<std::string, std::string> fields;  // "name" -> value ("avatar": its sha)
    bool deletes = false;                       // a delete (no fields)
    bool recreates = false;                     // a create of a deleted id
  };
  const std::vector<Write>& history() const { return history_; }

 private:
  profile::v1::ProfileEvent Commit(profile::v1::Profile profile, Write write);

  const std::string database_id_;
  std::map<std::string, profile::v1::Profile> profiles_;
  // seq -> id of each change; the latest change of a profile is current.
  std::map<int64_t, std::string> changes_;
  std::map<std::string, int64_t> last_change_;
  int64_t next_seq_ = 1;
  // Cursors up to this one are refused (PurgeTombstones).
  int64_t expired_through_ = 0;
  std::map<std::string, profile::v1::Profile> replies_;  // mutation_id -> result
  std::map<std::string, int> applications_;
  std::vector<Write> history_;
  std::vector<std::function<void(const profile::v1::ProfileEvent&)>> listeners_;
};

class FakeTransport : public ProfileTransport {
 public:
  struct Faults {
    double drop_request = 0;  // Send never reaches the server: UNAVAILABLE
    double lose_answer = 0;   // applied, but the answer is DEADLINE_EXCEEDED
    double duplicate = 0;     // the request reaches the server twice
    double fail_health = 0;   // CheckHealth: UNAVAILABLE
    double fail_page = 0;     // a Pull page or a Fetch: UNAVAILABLE
    double end_watch = 0;     // after each delivery, the watch ends: UNAVAILABLE
  };

  FakeTransport(Simulation* sim, FakeProfileServer* server, Faults faults);

  void set_faults(const Faults& faults) { faults_ = faults; }
  // Stops every call from reaching the server (CheckHealth and the rest fail).
  void set_reachable(bool reachable) { reachable_ = reachable; }
  // From now on the server accepts only calls with this token; others are
  // answered UNAUTHENTICATED without reaching it. Unset: every call passes.
  void set_accepted_token(std::optional<std::string> token) { accepted_token_ = std::move(token); }
  // Until `until` on the simulated clock, every send is refused as a rate
  // limit asking to wait until then (RESOURCE_EXHAUSTED with RetryInfo).
  void LimitSendsUntil(std::chrono::milliseconds until) { limited_until_ = until; }
  // The token the engine set last (SetToken).
  const std::string& token() const { return token_; }
  // What the engine set last with SetTls.
  bool tls() const { return tls_; }
  const std::string& tls_ca_pem() const { return tls_ca_pem_; }
  int page_size = 3;
  // Counters, for the tests.
  int sends = 0;
  int max_sends_in_flight = 0;

  void CheckHealth(std::function<void(absl::StatusOr<std::string>)> done) override;
  void Send(profile::v1::UpdateProfileRequest request,
            std::function<void(SendOutcome)> done) override;
  void SendDelete(profile::v1::DeleteProfileRequest request,
                  std::function<void(SendOutcome)> done) override;
  void Fetch(std::string id,
             std::function<void(absl::StatusOr<profile::v1::Profile>)> done) override;
  void Pull(std::string cursor, std::function<void(profile::v1::ListProfilesResponse)> on_page,
            std::function<void(absl::Status)> done) override;
  void Watch(std::string cursor,
             std::function<void(std::vector<profile::v1::ProfileEvent>)> on_events,
             std::function<void(absl::Status)> ended) override;
  void StopWatch() override;
  void Reset() override;
  void SetAddress(const std::string& address) override;
  void SetToken(const std::string& token) override;
  void SetTls(bool tls, const std::string& ca_pem) override;
  const std::string& address() const override { return address_; }

 private:
  bool Refused() const { return accepted_token_.has_value() && *accepted_token_ != token_; }

  struct WatchState {
    uint64_t id = 0;
    std::deque<profile::v1::ProfileEvent> queued;
    bool delivery_posted = false;
    std::function<void(std::vector<profile::v1::ProfileEvent>)> on_events;
    std::function<void(absl::Status)> ended;
  };

  // Posts `answer` to run unless Reset() comes first.
  void Answer(std::function<void()> answer);
  // A write's trip through the simulated network (faults included); `apply`
  // is the server's handling of it.
  void Deliver(std::function<SendOutcome()> apply, std::function<void(SendOutcome)> done);
  void PullPage(
      const std::string& cursor,
      const std::shared_ptr<std::function<void(profile::v1::ListProfilesResponse)>>& on_page,
      const std::shared_ptr<std::function<void(absl::Status)>>& done);
  void DeliverWatch(uint64_t watch_id);
  void EndWatch(const absl::Status& status);

  Simulation* const sim_;
  FakeProfileServer* const server_;
  Faults faults_;
  bool reachable_ = true;
  std::string address_ = "fake:1";
  std::string token_;
  bool tls_ = false;
  std::string tls_ca_pem_;
  std::optional<std::string> accepted_token_;
  std::chrono::milliseconds limited_until_{0};
  uint64_t generation_ = 0;
  int in_flight_ = 0;
  uint64_t next_watch_ = 1;
  // Bumped by StopWatch(): the `ended` of a watch stopped meanwhile is dropped.
  uint64_t watch_epoch_ = 0;
  std::unique_ptr<WatchState> watch_;
};

}  // namespace profiles::client::testing

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_FAKE_TRANSPORT_H_
