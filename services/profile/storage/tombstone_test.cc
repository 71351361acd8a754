// Deletes in PostgreSQL: version-checked, idempotent, erased for real (checked
// in the tables themselves), listed as tombstones in commit order, and purged
// from the change stream after the retention window without letting a stale
// cursor skip them.

#include <cstdint>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "services/profile/storage/retention_pruner.h"
#include "tests/support/profile_writes.h"
#include "tests/support/sequenced_storage.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::DeleteWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::RenameWrite;
using ::profiles::testing::SequencedStorage;
using ::profiles::testing::TestDatabase;
using ::profiles::testing::UpdateWrite;

constexpr absl::Duration kNinetyDays = absl::Hours(24 * 90);

// A picture-sized avatar (200 KiB behind a PNG signature; storage does not
// decode it) whose bytes are easy to search for.
std::string LargeAvatar() {
  std::string avatar = "\x89PNG\r\n\x1a\n";
  avatar.resize(200 * 1024, 'Q');
  return avatar;
}

class TombstoneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<SequencedStorage>> storage =
        SequencedStorage::Create(database_->url());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    repository_ = storage_->repository();
  }

  profile::v1::Profile MustApply(const ProfileWrite& write) {
    absl::StatusOr<profile::v1::Profile> profile = repository_->Apply(write);
    EXPECT_TRUE(profile.ok()) << profile.status();
    return profile.value_or(profile::v1::Profile());
  }

  ChangePage MustChangesAfter(const ChangeCursor& after, bool include_tombstones = true) {
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(after, 100, false, kDefaultPageBytes, include_tombstones);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.value_or(ChangePage());
  }

  // "id" for a live profile, "id deleted" for a tombstone, in listing order.
  static std::vector<std::string> Listed(const ChangePage& page) {
    std::vector<std::string> listed;
    for (const ProfileChange& change : page.changes) {
      listed.push_back(change.profile.deleted() ? absl::StrCat(change.profile.id(), " deleted")
                                                : change.profile.id());
    }
    return listed;
  }

  int64_t CountRows(const std::string& sql) {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1(sql)[0].as<int64_t>();
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<SequencedStorage> storage_;
  ProfileRepository* repository_ = nullptr;
};

TEST_F(TombstoneTest, DeleteIsVersionCheckedAndLeavesATombstone) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ada", "ada@example.com", LargeAvatar()));
  MustApply(RenameWrite(id, 1, "Ada Lovelace"));

  // Based on version 1, but version 2 exists: the delete would discard a
  // change its caller has not seen.
  absl::StatusOr<profile::v1::Profile> stale = repository_->Apply(DeleteWrite(id, 1));
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted) << stale.status();
  ASSERT_TRUE(ConflictingProfile(stale.status()).has_value());
  EXPECT_EQ(ConflictingProfile(stale.status())->name(), "Ada Lovelace");
  EXPECT_EQ(ConflictingProfile(stale.status())->version(), 2);

  const profile::v1::Profile tombstone = MustApply(DeleteWrite(id, 2));
  EXPECT_TRUE(tombstone.deleted());
  EXPECT_EQ(tombstone.id(), id);
  EXPECT_EQ(tombstone.version(), 3);
  EXPECT_TRUE(tombstone.name().empty());
  EXPECT_TRUE(tombstone.email().empty());
  EXPECT_TRUE(tombstone.avatar().empty());
  EXPECT_TRUE(tombstone.avatar_sha256().empty());
  EXPECT_TRUE(tombstone.has_updated_at());

  absl::StatusOr<profile::v1::Profile> read = repository_->Get(id);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->deleted());
  EXPECT_EQ(read->version(), 3);
}

TEST_F(TombstoneTest, WritesToADeletedProfileAreRefusedAsDeleted) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ada", "ada@example.com"));
  MustApply(DeleteWrite(id, 1));

  // An edit queued against the live profile, an edit "based on" the
  // tombstone's version, and a second delete: all told it is gone.
  for (const ProfileWrite& write :
       {RenameWrite(id, 1, "Ada"), RenameWrite(id, 2, "Ada"), DeleteWrite(id, 2)}) {
    absl::StatusOr<profile::v1::Profile> refused = repository_->Apply(write);
    EXPECT_TRUE(IsProfileDeleted(refused.status())) << refused.status();
    ASSERT_TRUE(ConflictingProfile(refused.status()).has_value());
    EXPECT_TRUE(ConflictingProfile(refused.status())->deleted());
    EXPECT_EQ(ConflictingProfile(refused.status())->version(), 2);
  }

  // An id that never existed is plain NOT_FOUND.
  absl::StatusOr<profile::v1::Profile> unknown = repository_->Apply(DeleteWrite(RandomUuid(), 1));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(IsProfileDeleted(unknown.status()));
}

TEST_F(TombstoneTest, DeleteIsIdempotentByMutationId) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ada", "ada@example.com"));
  const std::string mutation = RandomUuid();
  absl::StatusOr<AppliedWrite> first = repository_->ApplyWrite(DeleteWrite(id, 1, mutation));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->replayed);

  absl::StatusOr<AppliedWrite> again = repository_->ApplyWrite(DeleteWrite(id, 1, mutation));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_TRUE(again->profile.deleted());
  EXPECT_EQ(again->profile.version(), 2);
  EXPECT_EQ(again->profile.updated_at().seconds(), first->profile.updated_at().seconds());

  absl::StatusOr<AppliedWrite> other = repository_->ApplyWrite(DeleteWrite(id, 5, mutation));
  EXPECT_EQ(ErrorInfoOf(other.status())->reason(), kMutationIdReusedReason) << other.status();
  EXPECT_EQ(repository_->Get(id)->version(), 2);
}

TEST_F(TombstoneTest, DeleteErasesPersonalDataFromProfilesAndIdempotencyRecords) {
  const std::string id = RandomUuid();
  const std::string create = RandomUuid();
  const std::string rename = RandomUuid();
  MustApply(CreateWrite(id, "Grace Hopper", "grace@example.com", LargeAvatar(), create));
  MustApply(
      UpdateWrite(id, 1, "Grace B. Hopper", "grace.hopper@example.com", std::nullopt, rename));
  ASSERT_EQ(CountRows(absl::StrCat("SELECT count(*) FROM applied_mutations WHERE profile_id = '",
                                   id, "' AND result_name IS NOT NULL")),
            2);
  const std::string delete_mutation = RandomUuid();
  MustApply(DeleteWrite(id, 2, delete_mutation));

  // The row keeps id, version and time only.
  EXPECT_EQ(CountRows(absl::StrCat("SELECT count(*) FROM profiles WHERE id = '", id,
                                   "' AND name IS NULL AND email IS NULL AND octet_length(avatar) "
                                   "= 0 AND avatar_sha256 = '' AND deleted_at IS NOT NULL")),
            1);
  // No record of its writes keeps a name, an e-mail, a picture hash or a
  // fingerprint of the request; the delete's own record holds none to begin with.
  EXPECT_EQ(CountRows(absl::StrCat(
                "SELECT count(*) FROM applied_mutations WHERE profile_id = '", id,
                "' AND (result_name IS NOT NULL OR result_email IS NOT NULL OR "
                "coalesce(result_avatar_sha256, '') <> '' OR (fingerprint IS NOT NULL AND NOT "
                "result_deleted))")),
            0);
  EXPECT_EQ(CountRows(absl::StrCat("SELECT count(*) FROM applied_mutations WHERE profile_id = '",
                                   id, "'")),
            3);
  // And no text anywhere in either table mentions the person.
  EXPECT_EQ(CountRows("SELECT count(*) FROM profiles p WHERE p::text LIKE '%Hopper%' OR p::text "
                      "LIKE '%grace%'"),
            0);
  EXPECT_EQ(CountRows("SELECT count(*) FROM applied_mutations m WHERE m::text LIKE '%Hopper%' OR "
                      "m::text LIKE '%grace%'"),
            0);
  // The table refuses to hold personal data in a tombstone, whoever writes.
  EXPECT_FALSE(
      database_
          ->ExecuteSql(absl::StrCat("UPDATE profiles SET name = 'Grace' WHERE id = '", id, "'"))
          .ok());

  // A retry of the create (a device that never saw its answer) is
  // recognised and does not bring the profile back.
  absl::StatusOr<profile::v1::Profile> retried = repository_->Apply(
      CreateWrite(id, "Grace Hopper", "grace@example.com", LargeAvatar(), create));
  EXPECT_TRUE(IsProfileDeleted(retried.status())) << retried.status();
  ASSERT_TRUE(ConflictingProfile(retried.status()).has_value());
  EXPECT_TRUE(ConflictingProfile(retried.status())->deleted());
  EXPECT_TRUE(repository_->Get(id)->deleted());
  // The delete's own replay still answers the tombstone.
  absl::StatusOr<AppliedWrite> replayed =
      repository_->ApplyWrite(DeleteWrite(id, 2, delete_mutation));
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_TRUE(replayed->replayed);
  EXPECT_TRUE(replayed->profile.deleted());
}

TEST_F(TombstoneTest, CreateOfADeletedIdContinuesAfterTheTombstone) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ada", "ada@example.com"));
  MustApply(RenameWrite(id, 1, "Ada L"));
  MustApply(DeleteWrite(id, 2));
  const profile::v1::Profile recreated =
      MustApply(CreateWrite(id, "Ada Again", "ada2@example.com", LargeAvatar()));
  EXPECT_FALSE(recreated.deleted());
  EXPECT_EQ(recreated.version(), 4);
  EXPECT_EQ(recreated.name(), "Ada Again");
  EXPECT_EQ(recreated.avatar().size(), 200u * 1024);
  absl::StatusOr<profile::v1::Profile> read = repository_->Get(id);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->deleted());
  EXPECT_EQ(read->version(), 4);
  // A second create is a conflict with the live profile, as always.
  absl::StatusOr<profile::v1::Profile> again =
      repository_->Apply(CreateWrite(id, "Ada", "ada@example.com"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAborted);
}

TEST_F(TombstoneTest, TombstonesAreListedInCommitOrderAndLeftOutOfAFirstListing) {
  const std::string a = RandomUuid();
  const std::string b = RandomUuid();
  const std::string c = RandomUuid();
  MustApply(CreateWrite(a, "A", "a@example.com"));
  MustApply(CreateWrite(b, "B", "b@example.com"));
  const ChangeCursor synced = MustChangesAfter(ChangeCursor::Start()).end;
  MustApply(DeleteWrite(a, 1));
  MustApply(CreateWrite(c, "C", "c@example.com"));

  EXPECT_EQ(Listed(MustChangesAfter(synced)),
            (std::vector<std::string>{absl::StrCat(a, " deleted"), c}));
  EXPECT_EQ(Listed(MustChangesAfter(ChangeCursor::Start(), /*include_tombstones=*/false)),
            (std::vector<std::string>{b, c}));
  EXPECT_EQ(Listed(MustChangesAfter(ChangeCursor::Start())),
            (std::vector<std::string>{b, absl::StrCat(a, " deleted"), c}));
}

// Tombstones anywhere in a page, first, in the middle, after the first two
// rows and last, at every page size, with and without avatars: each is
// listed exactly once and a walk by pages sees the same as one page.
TEST_F(TombstoneTest, TombstonesAreListedWhereverTheyFallInAPage) {
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(RandomUuid());
    MustApply(CreateWrite(ids.back(), absl::StrCat("P", i), "p@example.com", LargeAvatar()));
  }
  const ChangeCursor synced = MustChangesAfter(ChangeCursor::Start()).end;
  std::vector<std::string> expected;
  for (int i = 0; i < 8; ++i) {
    if (i % 3 == 0) {
      MustApply(DeleteWrite(ids[i], 1));
      expected.push_back(absl::StrCat(ids[i], " deleted"));
    } else {
      MustApply(RenameWrite(ids[i], 1, absl::StrCat("Q", i)));
      expected.push_back(ids[i]);
    }
  }
  for (bool include_avatars : {false, true}) {
    for (int page_size : {1, 2, 3, 100}) {
      std::vector<std::string> walked;
      ChangeCursor cursor = synced;
      for (bool more = true; more;) {
        absl::StatusOr<ChangePage> page =
            repository_->ChangesAfter(cursor, page_size, include_avatars, kDefaultPageBytes, true);
        ASSERT_TRUE(page.ok()) << page.status();
        for (const std::string& listed : Listed(*page)) walked.push_back(listed);
        cursor = page->end;
        more = page->more;
      }
      EXPECT_EQ(walked, expected) << "page size " << page_size << ", avatars " << include_avatars;
    }
  }
}

TEST_F(TombstoneTest, PurgedTombstonesExpireOlderCursorsAndKeepTheVersion) {
  const std::string a = RandomUuid();
  const std::string b = RandomUuid();
  MustApply(CreateWrite(a, "A", "a@example.com"));
  MustApply(CreateWrite(b, "B", "b@example.com"));
  const ChangeCursor before_delete = MustChangesAfter(ChangeCursor::Start()).end;
  MustApply(DeleteWrite(a, 1));
  // The delete happened long ago. (This UPDATE is itself a change the
  // sequencer stamps, after `before_delete`.)
  ASSERT_TRUE(database_
                  ->ExecuteSql(absl::StrCat("UPDATE profiles SET deleted_at = now() - interval "
                                            "'100 days' WHERE id = '",
                                            a, "'"))
                  .ok());
  const ChangeCursor after_delete = MustChangesAfter(before_delete).end;
  const std::string c = RandomUuid();
  MustApply(CreateWrite(c, "C", "c@example.com"));

  absl::StatusOr<int64_t> young =
      RetentionPruner::PurgeTombstones(database_->url(), absl::Hours(24 * 365), 100);
  ASSERT_TRUE(young.ok()) << young.status();
  EXPECT_EQ(*young, 0);
  absl::StatusOr<int64_t> purged =
      RetentionPruner::PurgeTombstones(database_->url(), kNinetyDays, 100);
  ASSERT_TRUE(purged.ok()) << purged.status();
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(*RetentionPruner::PurgeTombstones(database_->url(), kNinetyDays, 100), 0);

  // A cursor from before the delete could miss it now: refused, at once and
  // whatever comes after it.
  absl::StatusOr<ChangePage> stale =
      repository_->ChangesAfter(before_delete, 100, false, kDefaultPageBytes, true);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  EXPECT_TRUE(IsCursorRefused(stale.status()));
  EXPECT_EQ(ErrorInfoOf(stale.status())->reason(), kCursorExpiredReason);
  // A cursor that saw the delete goes on; a new listing shows no trace of it.
  EXPECT_EQ(Listed(MustChangesAfter(after_delete)), std::vector<std::string>{c});
  EXPECT_EQ(Listed(MustChangesAfter(ChangeCursor::Start())), (std::vector<std::string>{b, c}));

  // The tombstone row stays (no personal data), so the id's versions go on.
  EXPECT_EQ(MustApply(CreateWrite(a, "A2", "a2@example.com")).version(), 3);
}

}  // namespace
}  // namespace profiles
