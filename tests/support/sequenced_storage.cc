#include "tests/support/sequenced_storage.h"

#include <string_view>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace profiles::testing {

class SequencedStorage::AwaitingRepository final : public ProfileRepository {
 public:
  explicit AwaitingRepository(const SequencedStorage* storage) : storage_(storage) {}

  absl::StatusOr<profile::v1::Profile> Get(std::string_view id) override {
    return storage_->repository_->Get(id);
  }
  absl::StatusOr<AppliedWrite> ApplyWrite(const ProfileWrite& write) override {
    return storage_->repository_->ApplyWrite(write);
  }
  absl::StatusOr<ChangePage> ChangesAfter(const ChangeCursor& after, int limit,
                                          bool include_avatars, int64_t max_bytes,
                                          bool include_tombstones) override {
    if (absl::Status sequenced = storage_->AwaitSequenced(); !sequenced.ok()) return sequenced;
    return storage_->repository_->ChangesAfter(after, limit, include_avatars, max_bytes, include_tombstones);
  }
  absl::StatusOr<std::string> DatabaseId() override { return storage_->repository_->DatabaseId(); }
  absl::Status Ping() override { return storage_->repository_->Ping(); }

 private:
  const SequencedStorage* const storage_;
};

absl::StatusOr<std::unique_ptr<SequencedStorage>> SequencedStorage::Create(
    const std::string& database_url, int pool_size) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
      PgProfileRepository::Create({.database_url = database_url, .pool_size = pool_size});
  if (!repository.ok()) return repository.status();
  absl::StatusOr<std::unique_ptr<WalSequencer>> sequencer =
      WalSequencer::Start({.database_url = database_url, .poll_interval = absl::Milliseconds(200)});
  if (!sequencer.ok()) return sequencer.status();
  std::unique_ptr<SequencedStorage> storage(
      new SequencedStorage(database_url, *std::move(repository), *std::move(sequencer)));
  if (absl::Status sequenced = storage->AwaitSequenced(); !sequenced.ok()) return sequenced;
  return storage;
}

SequencedStorage::SequencedStorage(std::string database_url,
                                   std::unique_ptr<PgProfileRepository> repository,
                                   std::unique_ptr<WalSequencer> sequencer)
    : database_url_(std::move(database_url)),
      repository_(std::move(repository)),
      sequencer_(std::move(sequencer)),
      view_(std::make_unique<AwaitingRepository>(this)) {}

SequencedStorage::~SequencedStorage() = default;

ProfileRepository* SequencedStorage::repository() { return view_.get(); }

absl::Status SequencedStorage::AwaitSequenced() const {
  return WalSequencer::AwaitSequenced(database_url_, absl::Now() + absl::Seconds(15));
}

}  // namespace profiles::testing
