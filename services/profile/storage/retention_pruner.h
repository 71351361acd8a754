#ifndef PROFILES_SERVICES_PROFILE_STORAGE_RETENTION_PRUNER_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_RETENTION_PRUNER_H_

// RetentionPruner keeps what the service only needs for a while for its
// retention window, and removes it in the background:
//   * idempotency records (applied_mutations), after `retention`, so the
//     table grows with the write rate times the window, not forever;
//   * tombstones in the change stream, after `tombstone_retention`: their
//     positions are removed (they are no longer listed or watched) and the
//     change stream's horizon is raised to the largest removed position, so
//     a cursor from before it is refused (CURSOR_EXPIRED) instead of missing
//     those deletes. The tombstone row itself (id, version, time; no personal
//     data) stays, so a later create of the id continues its version.
//
// What the idempotency window means for clients: a retry of a mutation applied longer
// ago than the window is no longer recognised as a replay. It is still never
// applied twice, because every write is version-checked: the retry carries
// the version its first application replaced, so it is refused as a
// conflict with the current profile. The window should therefore exceed the
// longest time a device may stay offline with a queued write (default 30
// days).
//
// Every replica runs one; a session advisory lock lets one prune at a time
// (the others skip that pass). A pass deletes in batches, each its own
// short transaction, so writers are never held up behind one long delete.
//
// Example:
//   auto pruner = RetentionPruner::Start({.database_url = url,
//                                        .retention = absl::Hours(24 * 30)});
//
// Thread-safe. The destructor stops the background thread (a pass in
// progress finishes its current batch first).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace profiles {

class RetentionPruner {
 public:
  struct Options {
    std::string database_url;                         // REQUIRES: not empty
    absl::Duration retention = absl::Hours(24 * 30);  // REQUIRES: positive
    // How long a delete stays in the change stream: clients that sync less
    // often than this list again from the start. REQUIRES: positive.
    absl::Duration tombstone_retention = absl::Hours(24 * 90);
    absl::Duration interval = absl::Hours(1);         // between passes; REQUIRES: positive
    int batch_rows = 10000;                           // records per delete; REQUIRES: >= 1
    // One line per pass that deleted something or failed, without a
    // trailing newline. Empty: std::cerr.
    std::function<void(std::string_view)> log{};
  };

  // Starts the background thread; its first pass runs at once. A pass that
  // fails (the database is unreachable) is retried after
  // min(interval, 1 minute). INVALID_ARGUMENT for options breaking the
  // REQUIRES above.
  static absl::StatusOr<std::unique_ptr<RetentionPruner>> Start(Options options);

  RetentionPruner(const RetentionPruner&) = delete;
  RetentionPruner& operator=(const RetentionPruner&) = delete;
  ~RetentionPruner();

  // One pass, now, on a connection of its own: deletes every record applied
  // more than `retention` ago and returns how many. 0 when another process
  // is pruning (it holds the lock) or the schema does not exist yet.
  // UNAVAILABLE when the database cannot be reached, INTERNAL otherwise.
  static absl::StatusOr<int64_t> PruneOnce(const std::string& database_url,
                                           absl::Duration retention, int batch_rows);

  // One pass of the tombstone purge, like PruneOnce(): removes from the
  // change stream every tombstone of a profile deleted more than `retention`
  // ago, raises the horizon past them, and returns how many it removed.
  static absl::StatusOr<int64_t> PurgeTombstones(const std::string& database_url,
                                                 absl::Duration retention, int batch_rows);

 private:
  explicit RetentionPruner(Options options) : options_(std::move(options)) {}
  void Run();
  void Log(std::string_view line) const;

  const Options options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started last, joined first
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_RETENTION_PRUNER_H_
