#include "services/profile/storage/wal_sequencer.h"

#include <algorithm>
#include <compare>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "services/profile/storage/pg_profile_repository.h"
#include "tests/support/profile_writes.h"
#include "tests/support/test_database.h"

namespace profiles {
namespace {

using ::profiles::testing::CreateWrite;
using ::profiles::testing::RandomUuid;
using ::profiles::testing::RenameWrite;
using ::profiles::testing::TestDatabase;

constexpr absl::Duration kPatience = absl::Seconds(30);

struct Position {
  int64_t epoch = 0;
  int64_t commit_lsn = 0;  // bytes from 0/0
  int idx = 0;
  auto operator<=>(const Position&) const = default;
};

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout = kPatience) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class WalSequencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<PgProfileRepository>> repository =
        PgProfileRepository::Create({.database_url = database_->url(), .pool_size = 2});
    ASSERT_TRUE(repository.ok()) << repository.status();
    repository_ = *std::move(repository);
  }

  void TearDown() override {
    sequencers_.clear();
    if (database_ != nullptr) {
      const absl::Status dropped = WalSequencer::DropSlot(database_->url());
      EXPECT_TRUE(dropped.ok()) << dropped;
    }
  }

  // Starts a sequencer (kept until the test ends unless Stop()ped) and
  // returns its index.
  size_t StartSequencer(bool never_advance = false,
                        absl::Duration poll_interval = absl::Milliseconds(200)) {
    absl::StatusOr<std::unique_ptr<WalSequencer>> sequencer =
        WalSequencer::Start({.database_url = database_->url(),
                             .poll_interval = poll_interval,
                             .log =
                                 [this](std::string_view line) {
                                   absl::MutexLock lock(&log_mu_);
                                   log_.emplace_back(line);
                                 },
                             .testing_never_advance = never_advance});
    EXPECT_TRUE(sequencer.ok()) << sequencer.status();
    sequencers_.push_back(*std::move(sequencer));
    return sequencers_.size() - 1;
  }
  WalSequencer& sequencer(size_t i) { return *sequencers_[i]; }
  void Stop(size_t i) { sequencers_[i].reset(); }

  void AwaitElected(size_t i) {
    ASSERT_TRUE(WaitFor([&] { return sequencer(i).Lag().elected; }))
        << "sequencer " << i << " not elected; log:\n"
        << Log();
  }

  std::string Log() {
    absl::MutexLock lock(&log_mu_);
    std::string all;
    for (const std::string& line : log_) absl::StrAppend(&all, line, "\n");
    return all;
  }

  int64_t Create(const std::string& id, const std::string& name) {
    absl::StatusOr<AppliedWrite> written =
        repository_->ApplyWrite(CreateWrite(id, name, "a@example.com"));
    EXPECT_TRUE(written.ok()) << written.status();
    return written.ok() ? written->profile.version() : 0;
  }

  void Rename(const std::string& id, int64_t version, const std::string& name) {
    absl::StatusOr<AppliedWrite> written = repository_->ApplyWrite(RenameWrite(id, version, name));
    EXPECT_TRUE(written.ok()) << written.status();
  }

  std::optional<Position> PositionOf(const std::string& id) {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    const pqxx::result rows = txn.exec_params(
        "SELECT epoch, (commit_lsn - '0/0')::bigint, idx FROM profile_positions"
        " WHERE profile_id = $1",
        id);
    if (rows.empty()) return std::nullopt;
    return Position{rows[0][0].as<int64_t>(), rows[0][1].as<int64_t>(), rows[0][2].as<int>()};
  }

  // Waits until `id` has a position after `after` (nullopt: any).
  std::optional<Position> AwaitPositionAfter(const std::string& id,
                                             std::optional<Position> after = std::nullopt,
                                             absl::Duration timeout = kPatience) {
    std::optional<Position> position;
    WaitFor(
        [&] {
          position = PositionOf(id);
          return position.has_value() && (!after.has_value() || *position > *after);
        },
        timeout);
    if (!position.has_value() || (after.has_value() && !(*position > *after))) {
      ADD_FAILURE() << "no new position for " << id << "; log:\n" << Log();
      return std::nullopt;
    }
    return position;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    return txn.exec1(sql)[0].as<int64_t>();
  }

  // The slot's confirmed position, in bytes from 0/0 (-1 without a slot).
  int64_t ConfirmedFlush() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction txn(connection);
    const pqxx::result rows = txn.exec(
        "SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots"
        " WHERE database = current_database()");
    return rows.empty() ? -1 : rows[0][0].as<int64_t>();
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<PgProfileRepository> repository_;
  std::vector<std::unique_ptr<WalSequencer>> sequencers_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_ ABSL_GUARDED_BY(log_mu_);
};

TEST_F(WalSequencerTest, WritesGetPositionsInCommitOrder) {
  AwaitElected(StartSequencer());
  const std::string first = RandomUuid();
  const std::string second = RandomUuid();
  Create(first, "First");
  Create(second, "Second");
  const std::optional<Position> p1 = AwaitPositionAfter(first);
  const std::optional<Position> p2 = AwaitPositionAfter(second);
  ASSERT_TRUE(p1.has_value() && p2.has_value());
  EXPECT_EQ(p1->epoch, 1);
  EXPECT_LT(*p1, *p2);
  Rename(first, 1, "First again");
  const std::optional<Position> p1_again = AwaitPositionAfter(first, p2);
  ASSERT_TRUE(p1_again.has_value());

  // Two transactions that commit in the opposite order to the one they
  // started (and got their transaction ids) in: A writes first, B second,
  // B commits first. Commit order decides.
  pqxx::connection connection_a(database_->url());
  pqxx::connection connection_b(database_->url());
  pqxx::work a(connection_a);
  pqxx::work b(connection_b);
  // Writes `name` to profile `id` in `txn` and returns the transaction's id,
  // which its first write assigned.
  const auto write = [](pqxx::work& txn, const std::string& id, const std::string& name) {
    txn.exec_params0("UPDATE profiles SET name = $2, version = version + 1 WHERE id = $1", id,
                     name);
    return txn.exec1("SELECT pg_current_xact_id()::text::bigint")[0].as<int64_t>();
  };
  const int64_t txid_a = write(a, first, "A");
  const int64_t txid_b = write(b, second, "B");
  EXPECT_LT(txid_a, txid_b);  // the old order
  b.commit();
  a.commit();
  const std::optional<Position> after_b = AwaitPositionAfter(second, p1_again);
  ASSERT_TRUE(after_b.has_value());
  const std::optional<Position> after_a = AwaitPositionAfter(first, after_b);
  ASSERT_TRUE(after_a.has_value());
  EXPECT_LT(*after_b, *after_a);
}

TEST_F(WalSequencerTest, PlainSqlWritesGetPositions) {
  AwaitElected(StartSequencer());
  const std::string id = RandomUuid();
  const std::string other = RandomUuid();
  Create(id, "Before");
  Create(other, "Other");
  const std::optional<Position> before = AwaitPositionAfter(other);
  ASSERT_TRUE(before.has_value());
  ASSERT_TRUE(
      database_
          ->ExecuteSql(absl::StrCat(
              "UPDATE profiles SET name = 'Plain', version = version + 1 WHERE id = '", id, "'"))
          .ok());
  const std::optional<Position> updated = AwaitPositionAfter(id, before);
  ASSERT_TRUE(updated.has_value());
  // Several profiles in one transaction: one commit position, in order.
  ASSERT_TRUE(database_
                  ->ExecuteSql(absl::StrCat(
                      "UPDATE profiles SET version = version + 1 WHERE id = '", other,
                      "'; UPDATE profiles SET version = version + 1 WHERE id = '", id, "'"))
                  .ok());
  const std::optional<Position> second = AwaitPositionAfter(id, updated);
  ASSERT_TRUE(second.has_value());
  const std::optional<Position> first = PositionOf(other);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->commit_lsn, second->commit_lsn);
  EXPECT_EQ(first->idx, 0);
  EXPECT_EQ(second->idx, 1);
  // A delete is sequenced too (by its replica identity).
  ASSERT_TRUE(
      database_->ExecuteSql(absl::StrCat("DELETE FROM profiles WHERE id = '", other, "'")).ok());
  EXPECT_TRUE(AwaitPositionAfter(other, second).has_value());
}

TEST_F(WalSequencerTest, BackfillsProfilesWrittenBeforeTheSlot) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(RandomUuid());
    Create(ids.back(), absl::StrCat("Early ", i));
  }
  AwaitElected(StartSequencer());
  EXPECT_EQ(sequencer(0).Lag().epoch, 1);
  std::vector<int> idxs;
  std::optional<Position> last;
  for (const std::string& id : ids) {
    const std::optional<Position> position =
        PositionOf(id);  // in the same transaction as the epoch
    ASSERT_TRUE(position.has_value()) << id;
    EXPECT_EQ(position->epoch, 1);
    if (last.has_value()) {
      EXPECT_EQ(position->commit_lsn, last->commit_lsn);
    }
    idxs.push_back(position->idx);
    last = position;
  }
  std::sort(idxs.begin(), idxs.end());
  EXPECT_EQ(idxs, (std::vector<int>{1, 2, 3, 4, 5}));
  Rename(ids[0], 1, "Later");
  // After every backfilled position (they share the consistent point).
  const std::optional<Position> later = AwaitPositionAfter(
      ids[0], Position{.epoch = 1, .commit_lsn = last->commit_lsn, .idx = 1 << 30});
  ASSERT_TRUE(later.has_value());
  EXPECT_GT(later->commit_lsn, last->commit_lsn);
  EXPECT_EQ(Count("SELECT count(*) FROM profile_positions"), 5);
  EXPECT_EQ(Count("SELECT epoch FROM change_sequencer_state"), 1);
}

TEST_F(WalSequencerTest, OneOfTwoSequencersWorksAndTheOtherTakesOver) {
  AwaitElected(StartSequencer());
  StartSequencer();
  std::vector<std::string> ids;
  auto write = [&](int i) {
    ids.push_back(RandomUuid());
    Create(ids.back(), absl::StrCat("Profile ", i));
  };
  for (int i = 0; i < 3; ++i) write(i);
  ASSERT_TRUE(AwaitPositionAfter(ids.back()).has_value());
  absl::SleepFor(absl::Milliseconds(600));  // three of the second's election rounds
  EXPECT_TRUE(sequencer(0).Lag().elected);
  EXPECT_FALSE(sequencer(1).Lag().elected);
  EXPECT_EQ(sequencer(1).Lag().lag_bytes, -1);
  EXPECT_GE(sequencer(0).Lag().lag_bytes, 0);

  Stop(0);
  for (int i = 3; i < 6; ++i) write(i);  // while nobody sequences
  AwaitElected(1);
  EXPECT_EQ(sequencer(1).Lag().epoch, 1);  // the same stream, continued
  for (int i = 6; i < 9; ++i) write(i);
  ASSERT_TRUE(AwaitPositionAfter(ids.back()).has_value());
  // Every write has exactly one position (the primary key), in write order.
  std::optional<Position> previous;
  for (const std::string& id : ids) {
    const std::optional<Position> position = PositionOf(id);
    ASSERT_TRUE(position.has_value()) << id;
    EXPECT_EQ(position->epoch, 1);
    if (previous.has_value()) {
      EXPECT_LT(*previous, *position);
    }
    previous = position;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM profile_positions"), static_cast<int64_t>(ids.size()));
}

TEST_F(WalSequencerTest, RestampsIdempotentlyAfterDyingBeforeAdvancing) {
  AwaitElected(StartSequencer(/*never_advance=*/true));
  const int64_t created_at = ConfirmedFlush();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(RandomUuid());
    Create(ids.back(), absl::StrCat("Profile ", i));
  }
  ASSERT_TRUE(AwaitPositionAfter(ids.back()).has_value());
  std::vector<Position> stamped;
  for (const std::string& id : ids) stamped.push_back(*PositionOf(id));
  EXPECT_EQ(ConfirmedFlush(), created_at);  // stamped, never advanced
  Stop(0);

  // The successor decodes the same transactions again.
  const size_t successor = StartSequencer();
  AwaitElected(successor);
  ASSERT_TRUE(WaitFor([&] { return ConfirmedFlush() > created_at; })) << Log();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::optional<Position> position = PositionOf(ids[i]);
    ASSERT_TRUE(position.has_value());
    EXPECT_EQ(*position, stamped[i]) << ids[i];
  }
  EXPECT_EQ(sequencer(successor).Lag().epoch, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM profile_positions"), 3);
}

// Every commit is stamped on its notification, never left for the next
// poll (a notification that arrives while the sequencer runs a statement of
// its own is read off the socket by libpq then, so it is taken before
// waiting on the socket). With a ten-minute poll, any such wait fails here.
// The slowest is printed: with synchronous_commit off (the test clusters), a
// peek once waited for the WAL writer, 200 ms, now prevented by flushing
// first.
TEST_F(WalSequencerTest, EveryCommitIsStampedOnItsNotificationNotByAPoll) {
  AwaitElected(StartSequencer(/*never_advance=*/false, /*poll_interval=*/absl::Minutes(10)));
  absl::Duration slowest;
  for (int i = 0; i < 60; ++i) {
    const std::string id = RandomUuid();
    const absl::Time written = absl::Now();
    Create(id, absl::StrCat("Profile ", i));
    ASSERT_TRUE(AwaitPositionAfter(id, std::nullopt, absl::Seconds(20)).has_value()) << i;
    slowest = std::max(slowest, absl::Now() - written);
  }
  std::cerr << "slowest of 60 positions: " << absl::FormatDuration(slowest) << "\n";
  EXPECT_LT(slowest, absl::Seconds(5));
}

// The same, for bursts: concurrent writers commit while the sequencer is
// busy stamping, so their transactions and notifications arrive in the
// middle of its statements. The last write of each burst must still get its
// position promptly, with nothing else to wake the sequencer (the poll is
// ten minutes): the replication stream's socket and the notifications
// libpq already read both count as wake-ups.
TEST_F(WalSequencerTest, TheLastWriteOfABurstIsStampedWithoutAPoll) {
  AwaitElected(StartSequencer(/*never_advance=*/false, /*poll_interval=*/absl::Minutes(10)));
  constexpr int kRounds = 15;
  constexpr int kWriters = 2;
  constexpr int kWritesEach = 15;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::vector<std::string>> ids(kWriters);
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < kWritesEach; ++i) {
          ids[w].push_back(RandomUuid());
          Create(ids[w].back(), absl::StrCat("Burst ", round, " ", w, " ", i));
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
    for (const std::vector<std::string>& written : ids) {
      ASSERT_TRUE(AwaitPositionAfter(written.back(), std::nullopt, absl::Seconds(10)).has_value())
          << "round " << round;
    }
  }
}

// The point of issue 11: a transaction holding an xid in another database
// of the cluster held back the snapshot-xmin watermark of the first
// version, and so every change; it holds back neither a position nor the
// listing that reads them.
TEST_F(WalSequencerTest, AnOpenTransactionInAnotherDatabaseDelaysNothing) {
  AwaitElected(StartSequencer());  // creating a slot waits for running transactions
  const std::string warm = RandomUuid();
  Create(warm, "Warm");
  const std::optional<Position> before = AwaitPositionAfter(warm);
  ASSERT_TRUE(before.has_value());

  absl::StatusOr<std::unique_ptr<TestDatabase>> other = TestDatabase::Create();
  ASSERT_TRUE(other.ok()) << other.status();
  {
    pqxx::connection other_connection((*other)->url());
    pqxx::work holder(other_connection);
    holder.exec("SELECT pg_current_xact_id()");

    const std::string id = RandomUuid();
    const absl::Time written_at = absl::Now();
    Create(id, "Not held back");
    const std::optional<Position> position =
        AwaitPositionAfter(id, before, /*timeout=*/absl::Seconds(1));
    const absl::Duration delay = absl::Now() - written_at;
    EXPECT_TRUE(position.has_value());
    std::cerr << "position after " << absl::FormatDuration(delay)
              << " while a transaction in another database is open\n";
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(ChangeCursor::Start(), 100, false, 1 << 20, true);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_FALSE(page->changes.empty());
    EXPECT_EQ(page->changes.back().profile.id(), id);
    holder.abort();
  }
}

// A slot that is gone (dropped here; lost to max_slot_wal_keep_size takes the
// same path after dropping it) means changes were never decoded: a new epoch
// restamps every profile.
TEST_F(WalSequencerTest, ANewSlotStartsANewEpochAndRestampsEverything) {
  AwaitElected(StartSequencer());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(RandomUuid());
    Create(ids.back(), absl::StrCat("Profile ", i));
  }
  ASSERT_TRUE(AwaitPositionAfter(ids.back()).has_value());
  Stop(0);
  ASSERT_TRUE(WalSequencer::DropSlot(database_->url()).ok());
  // Unsequenced: a delete and an update while there is no slot.
  ASSERT_TRUE(
      database_->ExecuteSql(absl::StrCat("DELETE FROM profiles WHERE id = '", ids[2], "'")).ok());
  Rename(ids[0], 1, "Renamed unseen");

  const size_t successor = StartSequencer();
  AwaitElected(successor);
  EXPECT_EQ(sequencer(successor).Lag().epoch, 2);
  EXPECT_EQ(Count("SELECT epoch FROM change_sequencer_state"), 2);
  const std::optional<Position> a = PositionOf(ids[0]);
  const std::optional<Position> b = PositionOf(ids[1]);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->epoch, 2);
  EXPECT_EQ(b->epoch, 2);
  EXPECT_EQ(a->commit_lsn, b->commit_lsn);
  EXPECT_FALSE(PositionOf(ids[2]).has_value());  // deleted under epoch 1
  EXPECT_TRUE(absl::StrContains(Log(), "LOST CHANGE STREAM")) << Log();
}

TEST(WalSequencerOptionsTest, RefusesBadOptions) {
  EXPECT_TRUE(absl::IsInvalidArgument(WalSequencer::Start({}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      WalSequencer::Start({.database_url = "postgresql://x", .poll_interval = absl::ZeroDuration()})
          .status()));
}

}  // namespace
}  // namespace profiles
