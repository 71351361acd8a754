#ifndef PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_STREAM_HEALTH_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_STREAM_HEALTH_H_

// Whether the commit-ordered change stream (wal_sequencer.h) is keeping up:
// what an operator's alert and the server's health check ask.
//
// When no replica sequences changes, or the replication slot falls behind,
// every write still succeeds, but delta syncs and watches stop receiving
// new changes, and the slot holds back ever more WAL until PostgreSQL
// invalidates it (max_slot_wal_keep_size) and every client must list again.
// Nothing else shows it: requests keep answering. So the server reports it
// separately (gRPC health service kChangeStreamHealthService, a log line
// at each change) rather than through readiness, which would take every
// replica out of the load balancer for something none of them can fix by
// restarting.
//
// Value types; thread-compatible.

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace profiles {

// The gRPC health service name under which the server reports it.
inline constexpr char kChangeStreamHealthService[] = "profiles.ChangeStream";

// What the database says about the stream (PgProfileRepository::
// ReadChangeStreamState()).
struct ChangeStreamState {
  bool has_epoch = false;          // a sequencer has set up the stream
  bool slot_exists = false;        // the epoch's replication slot is there
  std::string wal_status;          // pg_replication_slots.wal_status
  int64_t lag_bytes = 0;           // WAL kept for the slot (current minus restart_lsn)
  bool sequencer_elected = false;  // some session holds the sequencer's lock
};

// OK when changes are being sequenced and the slot is at most
// `max_lag_bytes` behind; otherwise FAILED_PRECONDITION saying what is
// wrong and what it means for clients.
absl::Status JudgeChangeStream(const ChangeStreamState& state, int64_t max_lag_bytes);

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_STREAM_HEALTH_H_
