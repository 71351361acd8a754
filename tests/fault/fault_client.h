#ifndef PROFILES_TESTS_FAULT_FAULT_CLIENT_H_
#define PROFILES_TESTS_FAULT_FAULT_CLIENT_H_

// FaultClient: one device of the fault test, with a queue of chained writes
// (edits and deletes) to profiles it shares with every other client, sent in
// order over a gRPC channel of its own (through the ChaosProxy), the way the
// app's sync does:
//
//   * Each write is based on the version this client last knew of the
//     profile (expected_version) and carries a fresh mutation_id. An edit is
//     an UpdateProfile, or a create (expected_version 0) when the client
//     knows the profile is deleted; a delete is a DeleteProfile.
//   * A transport failure (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, a cut
//     connection) or RESOURCE_EXHAUSTED: the write may or may not have been
//     applied, so the SAME request (same mutation id, same expected version)
//     is sent again after a backoff, until it is answered.
//   * ABORTED: the details must carry the current profile; the write is
//     rebased on it (its version becomes the new expected version, the
//     intent stays; a create becomes an edit, since the profile was
//     re-created meanwhile) and sent as a new mutation. The refused mutation
//     id must then never appear as applied.
//   * NOT_FOUND with PROFILE_DELETED: the profile was deleted (the details
//     carry its tombstone, unless it has been re-created since). For a
//     delete the profile is already gone: done. For an edit or a create
//     (whose earlier application a delete erased) the user chooses
//     "recreate with my edit": a new mutation, a create with the same
//     content.
//   * OK: acknowledged; the answer's version is the new known version (a
//     delete's answer is the tombstone: the profile is known deleted).
//
// A write's content names its client and position in the queue
// (WriteName/WriteEmail), and its mutation id names client, position and
// rebase (MutationId), so the database itself shows what was applied and
// the invariant checks can name the mutation that broke one.
//
// Every mutation sent is recorded with how it ended (ClientReport).
//
// Thread safety: Run() on one thread; report() after it returned.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "profile/v1/profile.grpc.pb.h"
#include "tests/fault/fault_schedule.h"

namespace profiles::testing {

// Ids, names and e-mail addresses of the run with seed `seed`. `client` is
// -1 for the test's own writes (the creates before the clients start, at
// sequence 0..profiles-1, and the final delete after they stop).
std::string ProfileId(uint64_t seed, int profile);
std::string MutationId(uint64_t seed, int client, int sequence, int rebase);
std::string WriteName(int client, int sequence);
std::string WriteEmail(int client, int sequence);

// One mutation id sent: a write, or a write sent again as a new mutation
// after an ABORTED or a PROFILE_DELETED.
struct SentMutation {
  enum class Kind {
    kEdit,    // UpdateProfile on expected_version >= 1
    kCreate,  // UpdateProfile with expected_version 0 (the set-up, or a recreate)
    kDelete,  // DeleteProfile on expected_version
  };
  enum class Outcome {
    kUnresolved,      // the client stopped before it was answered
    kAcknowledged,    // OK; `answer` is the acknowledged profile (a delete's: the tombstone)
    kAborted,         // ABORTED; `answer` is the carried profile, if any
    kProfileDeleted,  // NOT_FOUND with PROFILE_DELETED; `answer` is the carried tombstone, if
                      // any. A delete is then done (already gone); an edit or create is sent
                      // again as a create
    kRejected,        // any other answer (`rejection`); the write was given up
  };
  std::string mutation_id{};
  int client = 0;
  int sequence = 0;
  int rebase = 0;
  int profile = 0;
  Kind kind = Kind::kEdit;
  int64_t expected_version = 0;
  // A delete of a profile this client knew was deleted: expected_version is its tombstone's.
  bool base_deleted = false;
  Outcome outcome = Outcome::kUnresolved;
  profile::v1::Profile answer{};
  bool carried_profile = false;  // kAborted, kProfileDeleted: the details held a profile
  std::string rejection{};
  // Answers that were neither transport failures nor the server's verdict
  // (INTERNAL, UNKNOWN), after which the same request was sent again.
  std::vector<std::string> odd_answers{};
};

std::string Describe(const SentMutation& mutation);

struct ClientReport {
  std::vector<SentMutation> sent;      // in the order sent
  int acknowledged = 0;                // writes of the queue done
  int acknowledged_after_resend = 0;   // ...of which only a resend was answered
  int attempts = 0;                    // calls made
  std::map<std::string, int> retried;  // transient failures by code
  bool drained = false;                // the whole queue was answered
  int deletes_acknowledged = 0;        // delete writes done with a tombstone
  int deletes_already_gone = 0;        // delete writes done with PROFILE_DELETED
  int found_deleted = 0;               // edits and creates answered PROFILE_DELETED
  int recreated = 0;                   // creates acknowledged (a profile brought back)
};

class FaultClient {
 public:
  struct Options {
    int index = 0;
    uint64_t seed = 0;
    std::vector<QueuedWrite> queue;
    std::vector<std::string> profile_ids;
    std::string target;  // host:port, the proxy
    absl::Time start;    // write i is not sent before start + i * pace
    absl::Duration pace;
    absl::Duration call_timeout = absl::Seconds(5);
  };

  explicit FaultClient(Options options);

  // Sends the queue; returns when every write was answered or `stop` is set.
  void Run(const std::atomic<bool>& stop);
  const ClientReport& report() const { return report_; }

 private:
  // Waits `delay` or until `stop`; false if stopped.
  static bool Sleep(absl::Duration delay, const std::atomic<bool>& stop);

  const Options options_;
  std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
  ClientReport report_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_FAULT_FAULT_CLIENT_H_
