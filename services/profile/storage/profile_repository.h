#ifndef PROFILES_SERVICES_PROFILE_STORAGE_PROFILE_REPOSITORY_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_PROFILE_REPOSITORY_H_

// ProfileRepository is where profiles are kept: the one seam between the
// profile core and storage. PgProfileRepository implements it on PostgreSQL;
// a caching decorator can wrap it without the adapters noticing.
//
// Implementations are thread-safe. Expected failures are returned as
// absl::Status (never thrown) with the canonical codes below.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libs/profile_contract/profile_write.h"
#include "profile/v1/profile.pb.h"
#include "services/profile/storage/change_cursor.h"

namespace profiles {

// Byte budget of a listing page or a catch-up batch: far enough below any
// client's default 4 MiB message limit (gRPC's, and so the REST gateway's)
// that a page of profiles with 256 KiB avatars always fits, and small enough
// that a server holds few such pages in memory at once.
inline constexpr int64_t kDefaultPageBytes = int64_t{3} * 1024 * 1024;

// What one profile counts against a page's byte budget: its variable-length
// fields plus a fixed allowance for the id, version, timestamps, cursor and
// framing.
inline constexpr int64_t kProfileFixedWireBytes = 160;

struct ProfileChange {
  profile::v1::Profile profile;  // as it is after the change
  ChangeCursor cursor;           // position of this change
};

// What Apply() did with a write it accepted.
struct AppliedWrite {
  profile::v1::Profile profile;  // as written (avatar included)
  // True when the write's mutation_id had already been applied: nothing was
  // written now, and `profile` is the result of that first application.
  bool replayed = false;
};

struct ChangePage {
  std::vector<ProfileChange> changes;  // in cursor order
  // Resume point: the cursor of the last change, or the requested cursor when
  // `changes` is empty.
  ChangeCursor end;
  // True when more changes after `end` were already visible.
  bool more = false;
};

class ProfileRepository {
 public:
  virtual ~ProfileRepository() = default;

  // The profile with canonical id `id` (avatar included), or its tombstone
  // (`deleted` set: id, version and time only) if it was deleted.
  // NOT_FOUND when there is none; UNAVAILABLE when storage cannot be reached.
  virtual absl::StatusOr<profile::v1::Profile> Get(std::string_view id) = 0;

  // Applies `write` atomically, in one round trip: the version check, the
  // write and the idempotency record happen in one statement.
  // Returns the profile as written (avatar included).
  //   ABORTED           stale expected_version, or create of an existing id;
  //                     the current profile is attached (ConflictingProfile()).
  //   NOT_FOUND         update or delete of an id that does not exist; with
  //                     IsProfileDeleted() (and the tombstone attached, see
  //                     ConflictingProfile()) when the profile was deleted, or
  //                     when the replayed mutation's profile has since been
  //                     deleted (its record was erased with it).
  //   INVALID_ARGUMENT  mutation_id already used for a different write
  //                     (MutationIdReused()).
  //   UNAVAILABLE       storage cannot be reached; the write may or may not
  //                     have been applied, so retry with the same mutation_id.
  // A write whose mutation_id was already applied is not applied again: the
  // result of its first application is returned, with `replayed` set.
  // A delete (write.deletes) returns the tombstone; it erases the profile's
  // name, e-mail and picture, and the recorded results and fingerprints of
  // its earlier writes, in the same statement. A create of a deleted id is a
  // new profile at the tombstone's version + 1.
  virtual absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) = 0;

  // ApplyWrite() for callers that need only the profile.
  absl::StatusOr<profile::v1::Profile> Apply(const ProfileWrite& write) {
    absl::StatusOr<AppliedWrite> applied = ApplyWrite(write);
    if (!applied.ok()) return applied.status();
    return std::move(applied->profile);
  }

  // At most `limit` changes after `after`, in cursor order, each profile at
  // its latest state (a deleted one as its tombstone, unless
  // `include_tombstones` is false). Never skips a change (see
  // change_cursor.h). A change
  // is listed once it has its position: in PostgreSQL, once the WAL
  // sequencer has read its commit (wal_sequencer.h), normally within
  // milliseconds; never before it is committed.
  // FAILED_PRECONDITION when `after` cannot be continued here:
  //   CursorAheadOfDatabase()  a position this database has not reached yet:
  //                            the cursor was issued before the database was
  //                            restored from a backup, and every change made
  //                            since the restore would sort before it;
  //   CursorExpired()          a position of an older epoch of the stream
  //                            (its replication slot was lost and replaced),
  //                            or below the horizon up to which tombstones
  //                            were purged (PurgeTombstones()).
  // Avatars are left out unless `include_avatars` (avatar_sha256 is always set).
  // The page also ends early, with `more` set, before the profiles it holds
  // would exceed `max_bytes` (each counts its name, e-mail, the avatar if it
  // is sent, and kProfileFixedWireBytes); it always holds at
  // least one change if any is visible, so a walk never stalls.
  virtual absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                                  bool include_avatars, int64_t max_bytes,
                                                  bool include_tombstones) = 0;

  // Names the database: the same across restarts, reconnects and every
  // replica of the service on it; different for any other database (one
  // restored from a logical dump included). Cursors carry it (IssuedCursor).
  // UNAVAILABLE while storage cannot be reached and the id is not known
  // yet; once known, cheap (no round trip).
  virtual absl::StatusOr<std::string> DatabaseId() = 0;

  // OK when storage answers; UNAVAILABLE otherwise. For readiness checks.
  virtual absl::Status Ping() = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_PROFILE_REPOSITORY_H_
