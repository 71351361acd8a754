#include "services/profile/storage/pg_profile_repository.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "tests/support/profile_writes.h"
#include "tests/support/sequenced_storage.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::RenameWrite;
using ::profiles::testing::SequencedStorage;
using ::profiles::testing::TestDatabase;
using ::profiles::testing::UpdateWrite;

// The 8-byte PNG signature and its SHA-256 (printf '\x89PNG\r\n\x1a\n' | sha256sum).
constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";
constexpr char kPngMagicSha256[] =
    "4c4b6a3be1314ab86138bef4314dde022e600960d8689a2c8f8631802d20dab6";

class PgProfileRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<SequencedStorage>> storage =
        SequencedStorage::Create(database_->url());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *std::move(storage);
    // Lists what was written before (sequenced_storage.h).
    repository_ = storage_->repository();
  }

  profile::v1::Profile MustApply(const ProfileWrite& write) {
    absl::StatusOr<profile::v1::Profile> profile = repository_->Apply(write);
    EXPECT_TRUE(profile.ok()) << profile.status();
    return profile.value_or(profile::v1::Profile());
  }

  ChangePage MustChangesAfter(const ChangeCursor& after, int limit = 100) {
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(after, limit, false, kDefaultPageBytes, true);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.value_or(ChangePage());
  }

  static std::vector<std::string> Ids(const ChangePage& page) {
    std::vector<std::string> ids;
    for (const ProfileChange& change : page.changes) ids.push_back(change.profile.id());
    return ids;
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<SequencedStorage> storage_;
  ProfileRepository* repository_ = nullptr;
};

TEST_F(PgProfileRepositoryTest, CreateRejectsBadOptions) {
  EXPECT_EQ(PgProfileRepository::Create({.database_url = ""}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PgProfileRepositoryTest, PingAnswers) {
  const absl::Status status = repository_->Ping();
  EXPECT_TRUE(status.ok()) << status;
}

// The id names this database of this cluster: what pg_control_system() and
// pg_database say, stable across connections, different for another database.
TEST_F(PgProfileRepositoryTest, DatabaseIdNamesClusterAndDatabase) {
  absl::StatusOr<std::string> id = repository_->DatabaseId();
  ASSERT_TRUE(id.ok()) << id.status();
  pqxx::connection connection(database_->url());
  pqxx::nontransaction txn(connection);
  const pqxx::row expected = txn.exec1(
      "SELECT (SELECT system_identifier FROM pg_control_system())::text, "
      "(SELECT oid FROM pg_database WHERE datname = current_database())::text");
  EXPECT_EQ(*id, absl::StrCat(expected[0].as<std::string>(), "-", expected[1].as<std::string>()));

  absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> other_repository =
      PgProfileRepository::Create({.database_url = (*other)->url(), .pool_size = 1});
  ASSERT_TRUE(other_repository.ok());
  absl::StatusOr<std::string> other_id = (*other_repository)->DatabaseId();
  ASSERT_TRUE(other_id.ok()) << other_id.status();
  EXPECT_NE(*other_id, *id);
  EXPECT_EQ(*repository_->DatabaseId(), *id);
}

// A database restored from a backup has written less WAL, and has no epoch
// beyond its own; a cursor issued before the restore names a commit it has
// not reached, and following it would skip every change since.
TEST_F(PgProfileRepositoryTest, CursorAheadOfTheDatabaseIsRefused) {
  MustApply(CreateWrite(RandomUuid(), "Ada", "ada@example.com"));
  const ChangePage all = MustChangesAfter(ChangeCursor::Start());
  ASSERT_EQ(all.changes.size(), 1u);
  const ChangeCursor issued = all.end;
  for (const ChangeCursor& ahead :
       {ChangeCursor{.epoch = issued.epoch, .lsn = issued.lsn + (uint64_t{1} << 40), .idx = 0},
        ChangeCursor{.epoch = issued.epoch + 1, .lsn = 1, .idx = 0}}) {
    const absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(ahead, 10, false, kDefaultPageBytes, true);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kFailedPrecondition) << page.status();
    ASSERT_TRUE(ErrorInfoOf(page.status()).has_value());
    EXPECT_EQ(ErrorInfoOf(page.status())->reason(), kCursorAheadOfDatabaseReason);
  }
  // A cursor the database did issue, with nothing after it, is fine.
  absl::StatusOr<ChangePage> caught_up =
      repository_->ChangesAfter(issued, 10, false, kDefaultPageBytes, true);
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_TRUE(caught_up->changes.empty());
}

// When the replication slot is replaced, every profile is stamped again at
// a new epoch (wal_sequencer.h); a cursor of the old one cannot be
// continued, and says so instead of skipping what was never ordered.
TEST_F(PgProfileRepositoryTest, CursorOfAnOlderEpochIsExpired) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ada", "ada@example.com"));
  const ChangePage before = MustChangesAfter(ChangeCursor::Start());
  ASSERT_EQ(before.changes.size(), 1u);
  // What a new epoch leaves in the tables.
  ASSERT_TRUE(database_
                  ->ExecuteSql("UPDATE change_sequencer_state SET epoch = epoch + 1; "
                               "UPDATE profile_positions SET epoch = epoch + 1")
                  .ok());
  const absl::StatusOr<ChangePage> old =
      storage_->pg_repository()->ChangesAfter(before.end, 10, false, kDefaultPageBytes, true);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition) << old.status();
  ASSERT_TRUE(ErrorInfoOf(old.status()).has_value());
  EXPECT_EQ(ErrorInfoOf(old.status())->reason(), kCursorExpiredReason);
  // Listing again from the start finds the profile in the new epoch.
  absl::StatusOr<ChangePage> again =
      storage_->pg_repository()->ChangesAfter(ChangeCursor::Start(), 10, false, kDefaultPageBytes, true);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->changes.size(), 1u);
  EXPECT_EQ(again->changes[0].profile.id(), id);
  EXPECT_EQ(again->changes[0].cursor.epoch, before.end.epoch + 1);
}

TEST_F(PgProfileRepositoryTest, CreateThenGet) {
  const std::string id = RandomUuid();
  const absl::Time before = absl::Now();
  const profile::v1::Profile created = MustApply(CreateWrite(id, "Ann", "ann@example.com"));
  EXPECT_EQ(created.id(), id);
  EXPECT_EQ(created.name(), "Ann");
  EXPECT_EQ(created.email(), "ann@example.com");
  EXPECT_EQ(created.avatar(), "");
  EXPECT_EQ(created.avatar_sha256(), "");
  EXPECT_EQ(created.version(), 1);
  const absl::Time updated_at = absl::FromUnixSeconds(created.updated_at().seconds()) +
                                absl::Nanoseconds(created.updated_at().nanos());
  EXPECT_GE(updated_at, before - absl::Seconds(5));
  EXPECT_LE(updated_at, absl::Now() + absl::Seconds(5));

  absl::StatusOr<profile::v1::Profile> fetched = repository_->Get(id);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->SerializeAsString(), created.SerializeAsString());
}

TEST_F(PgProfileRepositoryTest, GetUnknownIsNotFound) {
  EXPECT_EQ(repository_->Get(RandomUuid()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PgProfileRepositoryTest, GetMalformedIdIsInvalidArgument) {
  const absl::Status status = repository_->Get("not-a-uuid").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(BadRequestOf(status).has_value());
  EXPECT_EQ(BadRequestOf(status)->field_violations(0).field(), "id");
}

TEST_F(PgProfileRepositoryTest, UpdateWithCurrentVersionBumpsVersion) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com"));
  const profile::v1::Profile updated = MustApply(RenameWrite(id, 1, "Anne"));
  EXPECT_EQ(updated.version(), 2);
  EXPECT_EQ(updated.name(), "Anne");
  EXPECT_EQ(repository_->Get(id)->name(), "Anne");
}

TEST_F(PgProfileRepositoryTest, StaleVersionIsAbortedWithCurrentProfile) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com"));
  MustApply(RenameWrite(id, 1, "Anne"));
  const profile::v1::Profile current = MustApply(RenameWrite(id, 2, "Annie"));

  const absl::Status status = repository_->Apply(RenameWrite(id, 1, "Stale")).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_EQ(status.message(),
            "profile " + id + " is at version 3, the write was based on version 1");
  std::optional<profile::v1::Profile> attached = ConflictingProfile(status);
  ASSERT_TRUE(attached.has_value());
  EXPECT_EQ(attached->SerializeAsString(), current.SerializeAsString());
  EXPECT_EQ(repository_->Get(id)->name(), "Annie");
}

TEST_F(PgProfileRepositoryTest, CreateOfExistingIdIsAbortedWithCurrentProfile) {
  const std::string id = RandomUuid();
  const profile::v1::Profile first = MustApply(CreateWrite(id, "Ann", "ann@example.com"));
  const absl::Status status =
      repository_->Apply(CreateWrite(id, "Bob", "bob@example.com")).status();
  ASSERT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  std::optional<profile::v1::Profile> attached = ConflictingProfile(status);
  ASSERT_TRUE(attached.has_value());
  EXPECT_EQ(attached->SerializeAsString(), first.SerializeAsString());
}

TEST_F(PgProfileRepositoryTest, UpdateOfUnknownIdIsNotFound) {
  const absl::Status status = repository_->Apply(RenameWrite(RandomUuid(), 1, "Ann")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
}

TEST_F(PgProfileRepositoryTest, PartialWriteLeavesOtherFieldsAlone) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com", kPngMagic));
  const profile::v1::Profile renamed = MustApply(RenameWrite(id, 1, "Anne"));
  EXPECT_EQ(renamed.email(), "ann@example.com");
  EXPECT_EQ(renamed.avatar(), kPngMagic);

  const profile::v1::Profile new_email =
      MustApply(UpdateWrite(id, 2, std::nullopt, "anne@example.com"));
  EXPECT_EQ(new_email.name(), "Anne");
  EXPECT_EQ(new_email.avatar(), kPngMagic);

  const profile::v1::Profile cleared =
      MustApply(UpdateWrite(id, 3, std::nullopt, std::nullopt, ""));
  EXPECT_EQ(cleared.name(), "Anne");
  EXPECT_EQ(cleared.email(), "anne@example.com");
  EXPECT_EQ(cleared.avatar(), "");
  EXPECT_EQ(cleared.avatar_sha256(), "");
  EXPECT_EQ(cleared.version(), 4);
}

TEST_F(PgProfileRepositoryTest, AvatarSha256IsComputedByTheDatabase) {
  const std::string id = RandomUuid();
  const profile::v1::Profile created =
      MustApply(CreateWrite(id, "Ann", "ann@example.com", std::string(kPngMagic)));
  EXPECT_EQ(created.avatar(), kPngMagic);
  EXPECT_EQ(created.avatar_sha256(), kPngMagicSha256);
  EXPECT_EQ(repository_->Get(id)->avatar_sha256(), kPngMagicSha256);
}

TEST_F(PgProfileRepositoryTest, AvatarWithEveryByteValueRoundTrips) {
  std::string avatar(kPngMagic);
  for (int byte = 0; byte < 256; ++byte) avatar.push_back(static_cast<char>(byte));
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com", avatar));
  EXPECT_EQ(repository_->Get(id)->avatar(), avatar);
}

TEST_F(PgProfileRepositoryTest, RetriedMutationReturnsFirstResultAndAppliesOnce) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com", kPngMagic));
  const std::string mutation = RandomUuid();
  const profile::v1::Profile first = MustApply(RenameWrite(id, 1, "Anne", mutation));
  EXPECT_EQ(first.version(), 2);

  const profile::v1::Profile replayed = MustApply(RenameWrite(id, 1, "Anne", mutation));
  EXPECT_EQ(replayed.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(repository_->Get(id)->version(), 2);

  // Someone else writes in between: the replay still returns the first
  // result, not the current profile, and does not apply again.
  MustApply(RenameWrite(id, 2, "Annie"));
  const profile::v1::Profile later = MustApply(RenameWrite(id, 1, "Anne", mutation));
  EXPECT_EQ(later.version(), 2);
  EXPECT_EQ(later.name(), "Anne");
  EXPECT_EQ(later.avatar_sha256(), kPngMagicSha256);
  EXPECT_EQ(later.avatar(), kPngMagic);
  EXPECT_EQ(repository_->Get(id)->version(), 3);
  EXPECT_EQ(repository_->Get(id)->name(), "Annie");
}

TEST_F(PgProfileRepositoryTest, ReplayOmitsAvatarThatChangedSince) {
  const std::string id = RandomUuid();
  const std::string mutation = RandomUuid();
  const profile::v1::Profile first =
      MustApply(CreateWrite(id, "Ann", "ann@example.com", kPngMagic, mutation));
  MustApply(UpdateWrite(id, 1, std::nullopt, std::nullopt, ""));

  const profile::v1::Profile replayed =
      MustApply(CreateWrite(id, "Ann", "ann@example.com", kPngMagic, mutation));
  EXPECT_EQ(replayed.version(), 1);
  EXPECT_EQ(replayed.avatar_sha256(), kPngMagicSha256);
  EXPECT_EQ(replayed.avatar(), "");
}

TEST_F(PgProfileRepositoryTest, MutationIdReusedForAnotherWriteIsRefused) {
  const std::string id = RandomUuid();
  const std::string mutation = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com", std::nullopt, mutation));

  std::vector<ProfileWrite> different = {
      CreateWrite(id, "Bob", "ann@example.com", std::nullopt, mutation),
      CreateWrite(id, "Ann", "ann@example.com", "", mutation),
      RenameWrite(id, 1, "Ann", mutation),
      CreateWrite(RandomUuid(), "Ann", "ann@example.com", std::nullopt, mutation),
  };
  for (const ProfileWrite& write : different) {
    const absl::Status status = repository_->Apply(write).status();
    ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->reason(), kMutationIdReusedReason);
    EXPECT_EQ(info->metadata().at("mutation_id"), mutation);
  }
  EXPECT_EQ(repository_->Get(id)->version(), 1);
  EXPECT_EQ(repository_->Get(id)->name(), "Ann");
}

TEST_F(PgProfileRepositoryTest, MutationRecordsBelongToTheirCaller) {
  const std::string id = RandomUuid();
  const std::string mutation = RandomUuid();
  ProfileWrite admins = CreateWrite(id, "Ann", "ann@example.com", std::nullopt, mutation);
  admins.caller = RandomUuid();
  MustApply(admins);

  // The same mutation id and request from another caller is not a replay of
  // the first caller's write: it is theirs, here a create of an existing id.
  ProfileWrite same_from_owner = admins;
  same_from_owner.caller = id;
  EXPECT_EQ(repository_->Apply(same_from_owner).status().code(), absl::StatusCode::kAborted);
  // Nor is another request with it "reused": it is applied, once.
  ProfileWrite rename = RenameWrite(id, 1, "Anne", mutation);
  rename.caller = id;
  EXPECT_EQ(MustApply(rename).version(), 2);
  EXPECT_EQ(MustApply(rename).version(), 2);
  EXPECT_EQ(repository_->Get(id)->version(), 2);
  // The first caller's retry still replays its own result.
  const profile::v1::Profile replayed = MustApply(admins);
  EXPECT_EQ(replayed.version(), 1);
  EXPECT_EQ(replayed.name(), "Ann");
}

TEST_F(PgProfileRepositoryTest, ChangesAfterNeverSkipsALateCommit) {
  const std::string w = RandomUuid();
  MustApply(CreateWrite(w, "Wes", "wes@example.com"));
  const ChangePage baseline = MustChangesAfter(ChangeCursor::Start());
  ASSERT_EQ(Ids(baseline), std::vector<std::string>{w});

  // Transaction A writes X and stays open.
  const std::string x = RandomUuid();
  pqxx::connection connection_a(database_->url());
  pqxx::work txn_a(connection_a);
  txn_a.exec_params(
      "SELECT outcome FROM profiles_apply_write($1::uuid, 0, 'Xena', 'x@example.com', NULL, NULL)",
      x);

  // Transaction B writes Y and commits first.
  const std::string y = RandomUuid();
  MustApply(CreateWrite(y, "Yves", "y@example.com"));

  // A cursor ordered by a sequence or a timestamp would hand Y out now with a
  // position past X (X took its sequence number and timestamp first), and a
  // reader resuming from it would never see X. Positions in commit order
  // hand Y out at once (no waiting for A), and X, committed later, after it.
  const ChangePage while_open = MustChangesAfter(baseline.end);
  EXPECT_EQ(Ids(while_open), std::vector<std::string>{y});
  EXPECT_FALSE(while_open.more);

  txn_a.commit();
  const ChangePage after_commit = MustChangesAfter(while_open.end);
  EXPECT_EQ(Ids(after_commit), std::vector<std::string>{x});
  ASSERT_EQ(after_commit.changes.size(), 1u);
  EXPECT_GT(after_commit.changes[0].cursor, while_open.end);
  EXPECT_EQ(after_commit.end, after_commit.changes[0].cursor);
  // From the start, commit order: W, Y, X.
  EXPECT_EQ(Ids(MustChangesAfter(ChangeCursor::Start())), (std::vector<std::string>{w, y, x}));
}

// The stall of the first version: a transaction holding an xid anywhere in
// the cluster, here in another database, held back every change.
TEST_F(PgProfileRepositoryTest, TransactionInAnotherDatabaseDoesNotHoldChangesBack) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  pqxx::connection elsewhere((*other)->url());
  pqxx::work open(elsewhere);
  open.exec("SELECT pg_current_xact_id()");

  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com"));
  const absl::Time start = absl::Now();
  ASSERT_TRUE(storage_->AwaitSequenced().ok());
  absl::StatusOr<ChangePage> page =
      storage_->pg_repository()->ChangesAfter(ChangeCursor::Start(), 10, false, kDefaultPageBytes, true);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Ids(*page), std::vector<std::string>{id});
  EXPECT_LT(took, absl::Seconds(2)) << "while a transaction of another database was open";
  open.abort();
}

TEST_F(PgProfileRepositoryTest, ChangesAfterPaginatesWithMore) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(RandomUuid());
    MustApply(CreateWrite(ids.back(), absl::StrCat("P", i), "p@example.com"));
  }
  ASSERT_TRUE(storage_->AwaitSequenced().ok());

  std::vector<std::string> seen;
  ChangeCursor cursor = ChangeCursor::Start();
  std::vector<bool> more;
  for (;;) {
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(cursor, 2, false, kDefaultPageBytes, true);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const ProfileChange& change : page->changes) {
      EXPECT_GT(change.cursor, cursor);
      seen.push_back(change.profile.id());
    }
    more.push_back(page->more);
    cursor = page->end;
    if (!page->more) break;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(more, (std::vector<bool>{true, true, false}));

  absl::StatusOr<ChangePage> empty = repository_->ChangesAfter(cursor, 2, false, kDefaultPageBytes, true);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->changes.empty());
  EXPECT_EQ(empty->end, cursor);
}

TEST_F(PgProfileRepositoryTest, ProfileChangedTwiceAppearsOnceAtItsLatestPosition) {
  const std::string a = RandomUuid();
  const std::string b = RandomUuid();
  MustApply(CreateWrite(a, "Ann", "ann@example.com"));
  MustApply(CreateWrite(b, "Bob", "bob@example.com"));
  MustApply(RenameWrite(a, 1, "Anne"));

  const ChangePage page = MustChangesAfter(ChangeCursor::Start());
  EXPECT_EQ(Ids(page), (std::vector<std::string>{b, a}));
  ASSERT_EQ(page.changes.size(), 2u);
  EXPECT_EQ(page.changes[1].profile.version(), 2);
  EXPECT_EQ(page.changes[1].profile.name(), "Anne");
}

TEST_F(PgProfileRepositoryTest, ChangesLeaveAvatarsOutUnlessAsked) {
  const std::string id = RandomUuid();
  MustApply(CreateWrite(id, "Ann", "ann@example.com", kPngMagic));

  for (const bool include_avatars : {false, true}) {
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(ChangeCursor::Start(), 10, include_avatars, kDefaultPageBytes, true);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->changes.size(), 1u);
    EXPECT_EQ(page->changes[0].profile.avatar_sha256(), kPngMagicSha256);
    EXPECT_EQ(page->changes[0].profile.avatar(), include_avatars ? kPngMagic : "");
  }
}

TEST_F(PgProfileRepositoryTest, ChangesAfterRejectsNonPositiveLimit) {
  EXPECT_EQ(
      repository_->ChangesAfter(ChangeCursor::Start(), 0, false, kDefaultPageBytes, true).status().code(),
      absl::StatusCode::kInvalidArgument);
}

// Positions of different lengths are normal life for any database: the
// first version sorted transaction ids as text ("10" before "9") while the
// cursor compared numbers, and skipped rows. Commit LSNs travel as decimal
// text too; here they are set to values of every length.
TEST_F(PgProfileRepositoryTest, ChangesAfterWalksPositionsOfEveryLength) {
  const std::vector<std::string> lsns = {"0/9", "0/A", "0/63", "0/64", "0/200"};
  std::vector<std::string> expected;
  for (size_t i = 0; i < lsns.size() * 2; ++i) {
    expected.push_back(RandomUuid());
    MustApply(CreateWrite(expected.back(), absl::StrCat("T", i), "t@example.com"));
  }
  // Once stamped, the sequencer leaves them alone: nothing writes them again.
  ASSERT_TRUE(storage_->AwaitSequenced().ok());
  for (size_t i = 0; i < expected.size(); ++i) {
    ASSERT_TRUE(database_
                    ->ExecuteSql(absl::StrCat("UPDATE profile_positions SET commit_lsn = '",
                                              lsns[i / 2], "', idx = ", i % 2,
                                              " WHERE profile_id = '", expected[i], "'"))
                    .ok());
  }

  for (const int limit : {1, 2, 3, 100}) {
    std::vector<std::string> seen;
    ChangeCursor cursor = ChangeCursor::Start();
    for (bool more = true; more;) {
      absl::StatusOr<ChangePage> page =
          repository_->ChangesAfter(cursor, limit, false, kDefaultPageBytes, true);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const ProfileChange& change : page->changes) {
        EXPECT_GT(change.cursor, cursor) << "limit " << limit;
        cursor = change.cursor;
        seen.push_back(change.profile.id());
      }
      cursor = page->end;
      more = page->more;
    }
    EXPECT_EQ(seen, expected) << "limit " << limit;
  }

  // A delta from the middle (after 0/63's rows) returns exactly the rest.
  const ChangePage first = MustChangesAfter(ChangeCursor::Start(), /*limit=*/6);
  ASSERT_EQ(first.end.lsn, 0x63u);
  ASSERT_EQ(first.end.idx, 1);
  const ChangePage rest = MustChangesAfter(first.end);
  EXPECT_EQ(Ids(rest), std::vector<std::string>(expected.begin() + 6, expected.end()));
}

// 40 profiles with 256 KiB pictures are 10 MiB: a page with avatars ends once
// its byte budget is spent, and the walk still returns every profile.
TEST_F(PgProfileRepositoryTest, ChangesAfterBoundsPagesByBytes) {
  const std::string avatar = profiles::testing::RealisticPng(kMaxAvatarBytes, 1);
  ASSERT_GT(avatar.size(), 230u * 1024);
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(RandomUuid());
    MustApply(CreateWrite(ids.back(), absl::StrCat("P", i), "p@example.com",
                          profiles::testing::RealisticPng(kMaxAvatarBytes, i)));
  }
  ASSERT_EQ(MustChangesAfter(ChangeCursor::Start(), 1000).changes.size(), ids.size());

  constexpr int64_t kBudget = int64_t{1} << 20;
  std::vector<std::string> seen;
  ChangeCursor cursor = ChangeCursor::Start();
  int pages = 0;
  for (bool more = true; more; ++pages) {
    absl::StatusOr<ChangePage> page = repository_->ChangesAfter(cursor, 1000, true, kBudget, true);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_FALSE(page->changes.empty());
    int64_t bytes = 0;
    for (const ProfileChange& change : page->changes) {
      EXPECT_GT(change.profile.avatar().size(), 200u * 1024);
      bytes += static_cast<int64_t>(change.profile.avatar().size());
      seen.push_back(change.profile.id());
    }
    EXPECT_LE(bytes, kBudget);
    cursor = page->end;
    more = page->more;
  }
  EXPECT_EQ(seen, ids);
  EXPECT_GE(pages, 10);  // about four 250 KiB pictures per MiB

  // A budget smaller than one picture still makes progress, one per page.
  absl::StatusOr<ChangePage> one = repository_->ChangesAfter(ChangeCursor::Start(), 1000, true, 1, true);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->changes.size(), 1u);
  EXPECT_TRUE(one->more);
  // Without avatars the same budget holds every profile.
  absl::StatusOr<ChangePage> all =
      repository_->ChangesAfter(ChangeCursor::Start(), 1000, false, kBudget, true);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->changes.size(), ids.size());
  EXPECT_FALSE(all->more);
}

TEST_F(PgProfileRepositoryTest, ChangesAfterRejectsNonPositiveByteBudget) {
  EXPECT_EQ(repository_->ChangesAfter(ChangeCursor::Start(), 10, false, 0, true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PgProfileRepositoryTest, UnreachableDatabaseIsUnavailable) {
  absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository = PgProfileRepository::Create(
      {.database_url = "postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2"});
  ASSERT_TRUE(repository.ok()) << repository.status();
  const absl::Status status = (*repository)->Get(RandomUuid()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("the database is unreachable"), absl::string_view::npos)
      << status;
  EXPECT_EQ((*repository)->Ping().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace profiles
