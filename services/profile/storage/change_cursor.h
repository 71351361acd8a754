#ifndef PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_

// A position in the commit-ordered stream of profile changes.
//
// Positions come from PostgreSQL's write-ahead log (wal_sequencer.h): the
// end LSN of the commit record of the transaction that made the change, and
// the change's place within that transaction. Logical decoding hands out
// transactions only once they have committed, in the order of their commit
// records, so a position is final as soon as it is written: nothing that
// commits later can sort before it, whatever else runs in the cluster.
//
// Why not a sequence number or a timestamp: both are assigned before
// commit, so a transaction that commits late could land behind a cursor
// that a reader already holds, and that change would never be delivered.
// (The positions of the first version, transaction ids, had the same
// problem and could only be handed out below the cluster-wide snapshot
// xmin, so any long transaction anywhere in the cluster stalled every
// client's sync.)
//
// `epoch` numbers the replication slot whose stream the positions come
// from. When a slot has to be replaced, changes in between were never
// decoded, so positions of an older epoch cannot be continued: such a
// cursor is refused (CURSOR_EXPIRED) and the client lists again. Epoch 0
// is the start: it comes before every position of every epoch.
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
  int64_t epoch = 0;  // >= 0; 0 only for the start
  uint64_t lsn = 0;   // end of the commit record
  int64_t idx = 0;    // 0 <= idx <= INT32_MAX, within the transaction

  // The position before every change.
  static ChangeCursor Start() { return {}; }
  bool is_start() const { return epoch == 0; }

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const ChangeCursor&, const ChangeCursor&) = default;
};

// A position as handed to a client: "c3.<database id>.<epoch>.<lsn>.<idx>"
// (decimal numbers), opaque to it. Positions only mean something in the
// database that issued them: in another database (another server, or one
// restored from a logical dump) the same LSNs name other commits. A cursor
// that did not name its database would then silently skip changes, so it
// names it, and is refused anywhere else (FAILED_PRECONDITION,
// google.rpc.ErrorInfo reason CURSOR_FROM_OTHER_DATABASE; the client lists
// again from the start). The restored-from-backup case keeps the database
// id; the repository refuses its cursors as ahead of the database
// (CURSOR_AHEAD_OF_DATABASE, profile_repository.h).
struct IssuedCursor {
  // The database that issued it; empty only for the start (an empty text).
  std::string database_id;
  ChangeCursor position;

  // Parses the text form; "" is the start. INVALID_ARGUMENT naming `field`
  // when malformed; FAILED_PRECONDITION (CURSOR_EXPIRED) for a cursor of an
  // earlier format ("c1.<txid>.<seq>", "c2.<database id>.<txid>.<seq>"):
  // transaction ids cannot be placed in the commit-ordered stream.
  static absl::StatusOr<IssuedCursor> Parse(std::string_view text, std::string_view field);

  // Whether this is the empty text: the caller holds nothing yet, so the
  // deletes before its position are no news to it (tombstones are left out
  // of a first listing). A cursor the database issued at the start (when it
  // held no change yet) is not empty: its caller may have profiles since.
  bool is_empty() const { return database_id.empty(); }

  // OK when this is the start or was issued by `database_id`; otherwise
  // FAILED_PRECONDITION with ErrorInfo CURSOR_FROM_OTHER_DATABASE naming `field`.
  absl::Status CheckIssuedBy(std::string_view database_id, std::string_view field) const;
};

// The text form of `position` in database `database_id` (see IssuedCursor).
std::string FormatCursor(std::string_view database_id, const ChangeCursor& position);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_
