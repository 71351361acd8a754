#ifndef PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_FEED_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_FEED_H_

// ChangeFeed tells the watchers in this process about committed profile
// changes, whichever replica wrote them.
//
// One background thread LISTENs on a dedicated PostgreSQL connection for the
// NOTIFY that the WAL sequencer sends whenever it gives newly committed
// changes their positions (wal_sequencer.h), and also polls every
// `poll_interval` (a NOTIFY can be missed while the connection is being
// re-established). Each wake-up reads ProfileRepository::ChangesAfter()
// from the feed's own cursor and publishes the changes, in cursor order, to
// every subscription.
//
// A watcher subscribes first and then catches up from its own cursor with
// ChangesAfter(); after that, the feed's batches contain every change it has
// not seen (it drops changes at or before its cursor). A subscription that
// holds more than `max_queued_bytes` of unread changes (avatars make the
// size of a change vary from bytes to 256 KiB) is marked lagged instead of
// growing without bound; its owner catches up from storage again.
//
// Thread-safe. Destroying the feed stops the thread and ends every
// subscription's Wait() with CANCELLED.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class ChangeFeed {
 public:
  struct Options {
    std::string database_url;
    absl::Duration poll_interval = absl::Seconds(1);
    size_t max_queued_bytes = 64 << 20;
  };

  class Subscription {
   public:
    virtual ~Subscription() = default;
    // Blocks until changes are published or `deadline` passes, and returns
    // every change published since the previous call (empty on timeout).
    //   RESOURCE_EXHAUSTED  this subscription fell behind and changes were
    //                       dropped: catch up from storage, then call again.
    //   CANCELLED           the feed is shutting down.
    virtual absl::StatusOr<std::vector<ProfileChange>> Wait(absl::Time deadline) = 0;
  };

  // Starts the feed at the current end of the change stream. `repository`
  // must outlive the feed. UNAVAILABLE if the database cannot be reached;
  // INVALID_ARGUMENT unless poll_interval > 0 and max_queued_bytes >= 1.
  static absl::StatusOr<std::unique_ptr<ChangeFeed>> Start(Options options,
                                                           ProfileRepository* repository);

  // Whether the feed hears of commits as they happen. `live` is true while
  // its LISTEN connection is up and what was committed while it was down has
  // been published; while it is false, changes still arrive, but only by
  // polling, up to poll_interval late. `generation` changes at every loss and
  // every recovery of the connection, so a reader that sees the same
  // generation twice knows the feed stayed live in between. Every change of
  // health wakes every subscription's Wait() (with an empty batch if nothing
  // was published), so a subscriber can act on it at once.
  struct Health {
    bool live = false;
    uint64_t generation = 0;
  };

  virtual ~ChangeFeed() = default;

  // A new subscription; it receives every batch published after this call.
  virtual std::unique_ptr<Subscription> Subscribe() = 0;

  virtual Health health() const = 0;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_CHANGE_FEED_H_
