#ifndef PROFILES_TESTS_FAULT_INVARIANTS_H_
#define PROFILES_TESTS_FAULT_INVARIANTS_H_

// The fault test's verdict: what the clients were told (their reports),
// against what the database holds (applied_mutations and profiles, read with
// libpqxx) and what the service answers once every fault has stopped.
//
// Invariants, each failure one line naming the mutation or profile:
//   acknowledged   every acknowledged mutation is applied, once, with the
//                  acknowledged version; an edit at expected_version + 1 with
//                  its content (where its record still holds it, see
//                  erasure), a create right after a tombstone (or as version
//                  1), a delete at expected_version + 1 as a delete record,
//                  answered with a tombstone;
//   refused        a mutation answered ABORTED, or a delete answered
//                  PROFILE_DELETED, is never applied; an edit or create
//                  answered PROFILE_DELETED is applied only if its record was
//                  erased by a later delete (a replay of an erased mutation);
//   exactly once   each queued write is applied at most once over all its
//                  mutation ids (exactly once if acknowledged), except that a
//                  write whose application was answered PROFILE_DELETED (a
//                  delete erased it) is applied again by its recreate, with a
//                  delete between the two; every applied mutation is one a
//                  client sent;
//   gapless        each profile's applied versions (edits, creates and
//                  deletes) are exactly 1..version;
//   client order   a client's acknowledged versions of a profile increase in
//                  queue order;
//   conflicts      every ABORTED carries the live profile, and every
//                  PROFILE_DELETED the tombstone (unless it replays an erased
//                  mutation of a profile re-created since), at a version
//                  above the write's base, equal to what that version really
//                  held;
//   erasure        no tombstone row holds a name, e-mail or picture; a
//                  delete's record holds no content; every other record below
//                  a delete of its profile has no fingerprint, name, e-mail or
//                  picture hash, and every record with no delete above it has
//                  all of them;
//   resurrection   a tombstone's highest applied version is its delete; a
//                  live profile's highest applied version is not a delete;
//   convergence    GetProfile (PROFILE_DELETED with the tombstone for a
//                  deleted profile), a full ListProfiles (paged; its live
//                  profiles are the table's, any tombstone in it is the
//                  table's), a delta ListProfiles from a cursor taken before
//                  the first write and one from a cursor taken after the
//                  creates (paged; every profile, tombstones included; a
//                  profile still at version 1 may be missing from the
//                  second) and the profiles table agree, and each live
//                  profile equals the content of its highest applied version;
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
    std::string name;      // "" when NULL
    std::string email;     // "" when NULL
    bool deleted = false;  // result_deleted: the record of a delete
    // Which of the columns a delete erases are not NULL.
    bool has_fingerprint = false;
    bool has_name = false;
    bool has_email = false;
    bool has_avatar_sha256 = false;
    std::string avatar_sha256;  // "" when NULL
    bool erased() const {
      return !has_fingerprint && !has_name && !has_email && !has_avatar_sha256;
    }
    bool intact() const { return has_fingerprint && has_name && has_email && has_avatar_sha256; }
  };
  std::vector<Applied> applied;
  // The profiles table, by id; a tombstone (deleted_at set) has `deleted`.
  std::map<std::string, profile::v1::Profile> table;
  // Tombstone rows that still hold something ("name", "email", "avatar"), by id.
  std::map<std::string, std::string> tombstone_holds;
  // GetProfile, by id; for a deleted profile the tombstone its PROFILE_DELETED carried.
  std::map<std::string, profile::v1::Profile> got;
  std::vector<profile::v1::Profile> listed;               // ListProfiles, every page
  std::vector<profile::v1::Profile> delta;                // since `start_cursor`, every page
  std::vector<profile::v1::Profile> delta_after_creates;  // since `created_cursor`, every page
  std::vector<std::string> errors;                        // reads that failed
};

// Reads everything Check() needs. `stub` talks to the server directly (not
// through the proxy); `start_cursor` is a ListProfiles cursor taken before
// the first write (on an empty database), `created_cursor` one taken right
// after the test's creates.
Observed Observe(const std::string& database_url, profile::v1::ProfileService::Stub& stub,
                 const std::vector<std::string>& profile_ids, const std::string& start_cursor,
                 const std::string& created_cursor);

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
