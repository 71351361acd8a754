#ifndef PROFILES_TESTS_SUPPORT_SEQUENCED_STORAGE_H_
#define PROFILES_TESTS_SUPPORT_SEQUENCED_STORAGE_H_

// Storage for tests that read changes back: a PgProfileRepository on a test
// database with a WalSequencer running beside it, as in the server.
//
// A change is listed only once the sequencer has read its commit from the
// WAL (profile_repository.h), a few milliseconds after the write returns. A
// test that writes and then lists at once would race that, so repository()
// is a view whose ChangesAfter() first waits until everything committed
// before the call has its position (WalSequencer::AwaitSequenced()):
// read-your-writes, for tests. Tests of the timing itself use
// pg_repository(), which does not wait.
//
//   auto storage = SequencedStorage::Create(database->url());
//   ASSERT_TRUE(storage.ok()) << storage.status();
//   (*storage)->repository()->Apply(write);
//   (*storage)->repository()->ChangesAfter(ChangeCursor::Start(), ...);  // lists it
//
// Thread-safe.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "services/profile/storage/profile_repository.h"
#include "services/profile/storage/wal_sequencer.h"

namespace profiles::testing {

class SequencedStorage {
 public:
  // Opens the repository, starts the sequencer and waits until it has set up
  // the change stream (so ChangeFeed::Start() finds an epoch).
  static absl::StatusOr<std::unique_ptr<SequencedStorage>> Create(const std::string& database_url,
                                                                  int pool_size = 4);

  SequencedStorage(const SequencedStorage&) = delete;
  SequencedStorage& operator=(const SequencedStorage&) = delete;
  ~SequencedStorage();

  // The waiting view (see the file comment).
  ProfileRepository* repository();
  // The repository itself.
  PgProfileRepository* pg_repository() { return repository_.get(); }

  // Waits (up to 15 s) until every change committed so far has its position.
  absl::Status AwaitSequenced() const;

 private:
  class AwaitingRepository;

  SequencedStorage(std::string database_url, std::unique_ptr<PgProfileRepository> repository,
                   std::unique_ptr<WalSequencer> sequencer);

  const std::string database_url_;
  const std::unique_ptr<PgProfileRepository> repository_;
  const std::unique_ptr<WalSequencer> sequencer_;
  const std::unique_ptr<AwaitingRepository> view_;
};

}  // namespace profiles::testing

#endif  // PROFILES_TESTS_SUPPORT_SEQUENCED_STORAGE_H_
