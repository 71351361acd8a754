#ifndef PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_

// A position in the commit-ordered stream of profile changes.
//
// Why not a sequence number or a timestamp: both are assigned before commit,
// so a transaction that commits late could land behind a cursor that a
// reader already holds, and that change would never be delivered. Instead
// every profile row records the 64-bit id of the transaction that last wrote
// it (`pg_current_xact_id()`, xid8) and a sequence number within it. Readers
// only return rows whose transaction id is below the xmin of their own
// snapshot (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction
// below xmin has finished, and every transaction that has not yet finished,
// or not yet started, has an id at or above it. So once a reader has passed
// position (txid, seq), no later commit can ever sort before it.
//
// Clients see a position only in its text form (IssuedCursor, below), used
// both as delta-sync cursor and page token. Value types; thread-compatible.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace profiles {

struct ChangeCursor {
  uint64_t txid = 0;
  int64_t seq = 0;

  // The position before every change.
  static ChangeCursor Start() { return {}; }

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const ChangeCursor&, const ChangeCursor&) = default;
};

// A position as handed to a client: "c2.<database id>.<txid>.<seq>", opaque
// to it. Positions only mean something in the database that issued them: in
// another database (another server, or one restored from a logical dump) the
// same transaction ids name other transactions, and in one restored from a
// backup the ids run again from an earlier point. A cursor that did not name
// its database would then silently skip changes, so it names it, and is
// refused anywhere else (FAILED_PRECONDITION, google.rpc.ErrorInfo reason
// CURSOR_FROM_OTHER_DATABASE; the client lists again from the start). The
// restored-from-backup case keeps the database id; the repository refuses
// its cursors as ahead of the database (CURSOR_AHEAD_OF_DATABASE,
// profile_repository.h).
struct IssuedCursor {
  // The database that issued it; empty only for the start (an empty text).
  std::string database_id;
  ChangeCursor position;

  // Parses the text form; "" is the start. INVALID_ARGUMENT naming `field`
  // when malformed; FAILED_PRECONDITION (CURSOR_FROM_OTHER_DATABASE) for a
  // cursor of the first format ("c1.<txid>.<seq>"), which named no database.
  static absl::StatusOr<IssuedCursor> Parse(std::string_view text, std::string_view field);

  // OK when this is the start or was issued by `database_id`; otherwise
  // FAILED_PRECONDITION with ErrorInfo CURSOR_FROM_OTHER_DATABASE naming `field`.
  absl::Status CheckIssuedBy(std::string_view database_id, std::string_view field) const;
};

// The text form of `position` in database `database_id` (see IssuedCursor).
std::string FormatCursor(std::string_view database_id, const ChangeCursor& position);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_
