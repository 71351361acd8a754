#ifndef PROFILES_SERVICES_PROFILE_STORAGE_TESTING_IN_MEMORY_STORAGE_H_
#define PROFILES_SERVICES_PROFILE_STORAGE_TESTING_IN_MEMORY_STORAGE_H_

// InMemoryStorage: a ProfileRepository and its ChangeFeed kept in memory,
// for unit tests of the profile core and its adapters. It follows the
// repository's contract (profile_repository.h): version checks, the
// idempotency record of a mutation_id (replay, MUTATION_ID_REUSED), NOT_FOUND
// and conflicts with the current profile attached, change cursors and pages
// bounded by count and bytes. Every applied write is published to the feed
// at once.
//
// Test controls: SetAvailable(false) makes every call UNAVAILABLE;
// SetFeedLive() changes the feed's health (waking its subscribers);
// BlockWrites() holds every ApplyWrite() until UnblockWrites();
// SetDatabaseId() makes it another database as far as cursors go.
//
// Thread-safe.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "services/profile/storage/change_feed.h"
#include "services/profile/storage/profile_repository.h"

namespace profiles {

class InMemoryStorage {
 public:
  InMemoryStorage();
  ~InMemoryStorage();

  ProfileRepository* repository();
  ChangeFeed* feed();

  void SetAvailable(bool available);
  void SetFeedLive(bool live);
  void SetDatabaseId(std::string id);
  void BlockWrites();
  void UnblockWrites();
  // ApplyWrite() calls currently held by BlockWrites().
  int blocked_writes() const;
  // Get() calls so far (to tell a cache hit from a storage read).
  int get_calls() const;

  struct State;  // internal

 private:
  class Repository;
  class Feed;
  std::shared_ptr<State> state_;
  std::unique_ptr<Repository> repository_;
  std::unique_ptr<Feed> feed_;
};

}  // namespace profiles

#endif  // PROFILES_SERVICES_PROFILE_STORAGE_TESTING_IN_MEMORY_STORAGE_H_
