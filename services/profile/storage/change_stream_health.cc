#include "services/profile/storage/change_stream_health.h"

#include "absl/strings/str_cat.h"

namespace profiles {
namespace {

std::string Size(int64_t bytes) {
  constexpr int64_t kMebibyte = 1024 * 1024;
  if (bytes < kMebibyte) return absl::StrCat(bytes, " bytes");
  return absl::StrCat(bytes / kMebibyte, " MiB");
}

}  // namespace

absl::Status JudgeChangeStream(const ChangeStreamState& state, int64_t max_lag_bytes) {
  if (!state.has_epoch) {
    return absl::FailedPreconditionError(
        "no change stream yet: no replica has set up the replication slot");
  }
  if (!state.sequencer_elected) {
    return absl::FailedPreconditionError(
        "no replica is sequencing changes (none holds the WAL sequencer's lock): writes succeed, "
        "but delta syncs and watches receive nothing new");
  }
  if (!state.slot_exists || state.wal_status == "lost") {
    return absl::FailedPreconditionError(
        "the change stream's replication slot is gone or lost: the sequencer starts a new epoch, "
        "and every client lists again from the start");
  }
  if (state.lag_bytes > max_lag_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        "PostgreSQL keeps ", Size(state.lag_bytes),
        " of WAL for the change stream's replication slot (alarm at ", Size(max_lag_bytes),
        "): the sequencer is behind, or a transaction held open in this database holds the "
        "slot back; past max_slot_wal_keep_size PostgreSQL invalidates the slot and every "
        "client lists again"));
  }
  return absl::OkStatus();
}

}  // namespace profiles
