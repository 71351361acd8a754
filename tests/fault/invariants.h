#ifndef PROFILES_TESTS_FAULT_INVARIANTS_H_
#define PROFILES_TESTS_FAULT_INVARIANTS_H_

// The fault test's verdict: what the clients were told (their reports),
// against what the database holds (applied_mutations and profiles, read with
// libpqxx) and what the service answers once every fault has stopped.
//
// Invariants, each failure one line naming the mutation or profile:
//   acknowledged   every acknowledged mutation is applied, once, with the
//                  acknowledged version and content, and version =
//                  expected_version + 1;
//   refused        a mutation answered ABORTED is never applied;
//   exactly once   each queued write is applied at most once over all its
//                  mutation ids (exactly once if acknowledged), and every
//                  applied mutation is one a client sent;
//   gapless        each profile's applied versions are exactly 1..version;
//   client order   a client's acknowledged versions of a profile increase in
//                  queue order;
//   conflicts      every ABORTED carries the profile, at a version above the
//                  write's base, equal to what that version really held;
//   convergence    GetProfile, a full ListProfiles (paged), a delta
//                  ListProfiles from a cursor taken before the first write
//                  (paged) and the profiles table agree, and each equals the
//                  content of its highest applied version;
//   liveness       every queue drained (no write left unanswered or given up)
//                  and no call was answered INTERNAL or UNKNOWN.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "profile/v1/profile.grpc.pb.h"
#include "tests/fault/fault_client.h"

namespace profiles::testing {

// The state after the quiet period, as the database and the service show it.
struct Observed {
  struct Applied {  // one row of applied_mutations
    std::string caller;
    std::string mutation_id;
    std::string profile_id;
    int64_t version = 0;
    std::string name;
    std::string email;
  };
  std::vector<Applied> applied;
  std::map<std::string, profile::v1::Profile> table;  // the profiles table, by id
  std::map<std::string, profile::v1::Profile> got;    // GetProfile, by id
  std::vector<profile::v1::Profile> listed;           // ListProfiles, every page
  std::vector<profile::v1::Profile> delta;            // since `start_cursor`, every page
  std::vector<std::string> errors;                    // reads that failed
};

// Reads everything Check() needs. `stub` talks to the server directly (not
// through the proxy); `start_cursor` is a ListProfiles cursor taken before
// the first write.
Observed Observe(const std::string& database_url, profile::v1::ProfileService::Stub& stub,
                 const std::vector<std::string>& profile_ids, const std::string& start_cursor);

struct Violation {
  std::string invariant;  // "acknowledged", "exactly once", "gapless", ...
  std::string detail;     // names the mutation or profile
};

// Every broken invariant, one line each; empty when all hold. `setup` holds
// the creates (client -1), `reports` one report per client.
std::vector<Violation> Check(const std::vector<std::string>& profile_ids,
                             const std::vector<SentMutation>& setup,
                             const std::vector<ClientReport>& reports, const Observed& observed);

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_FAULT_INVARIANTS_H_
