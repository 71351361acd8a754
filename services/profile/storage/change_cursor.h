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
// The text form ("c1.<txid>.<seq>") is opaque to clients and is used both as
// delta-sync cursor and page token. Value type; thread-compatible.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace profiles {

struct ChangeCursor {
  uint64_t txid = 0;
  int64_t seq = 0;

  // The position before every change.
  static ChangeCursor Start() { return {}; }

  // Parses the text form; "" is Start(). INVALID_ARGUMENT naming `field`
  // when malformed.
  static absl::StatusOr<ChangeCursor> Parse(std::string_view text, std::string_view field);

  std::string ToString() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  friend auto operator<=>(const ChangeCursor&, const ChangeCursor&) = default;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_CURSOR_H_
