#include "apps/qml-client/core/local_store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <QtCore/QBuffer>
#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QLoggingCategory>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUuid>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/core/mutation_queue.h"
#include "apps/qml-client/core/record_io.h"
#include "apps/qml-client/core/test_util.h"
#include "gtest/gtest.h"

namespace profiles::client {
namespace {

using profile::client::v1::FileHeader;
using profile::client::v1::JournalRecord;
using profile::client::v1::PendingMutation;
using testing::Digest;
using testing::MakeProfile;
using testing::Mask;

constexpr char kAda[] = "00000000-0000-4000-8000-00000000000a";
constexpr char kNew[] = "00000000-0000-4000-8000-00000000000b";

constexpr LocalStore::Options kNeverCompact{.compaction_min_journal_bytes = int64_t{1} << 40};

std::string ReadAll(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  const QByteArray bytes = file.readAll();
  return std::string(bytes.constData(), static_cast<size_t>(bytes.size()));
}

void WriteAll(const QString& path, const std::string& bytes) {
  QFile file(path);
  ASSERT_TRUE(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
  ASSERT_EQ(file.write(bytes.data(), static_cast<qint64>(bytes.size())),
            static_cast<qint64>(bytes.size()));
}

QString In(const QTemporaryDir& dir, const char* name) { return QDir(dir.path()).filePath(name); }

std::unique_ptr<LocalStore> OpenOrDie(const QString& directory,
                                      const LocalStore::Options& options = kNeverCompact) {
  auto store = LocalStore::Open(directory, options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

FileHeader HeaderOf(const std::string& file_bytes) {
  QByteArray data(file_bytes.data(), static_cast<qsizetype>(file_bytes.size()));
  QBuffer buffer(&data);
  buffer.open(QIODevice::ReadOnly);
  buffer.seek(static_cast<qint64>(kFileMagic.size()));
  FrameReader reader(&buffer);
  std::string payload;
  FileHeader header;
  if (reader.Next(&payload) == FrameStatus::kOk) header.ParseFromString(payload);
  return header;
}

// The per-offset tests open thousands of damaged stores, and each repair is
// logged; keep the test output readable.
class QuietStoreLog {
 public:
  QuietStoreLog() { QLoggingCategory::setFilterRules("profiles.client.store=false"); }
  ~QuietStoreLog() { QLoggingCategory::setFilterRules(QString()); }
};

// The state after each append that returned, and the journal size then.
struct Boundary {
  int64_t journal_bytes;
  std::string digest;
};

// Drives a queue through every kind of record, one record per call.
std::vector<Boundary> WriteHistory(LocalStore* store) {
  MutationQueue queue(store);
  std::vector<Boundary> boundaries;
  auto mark = [&] { boundaries.push_back({store->journal_bytes(), Digest(store->state())}); };
  auto check = [&](const absl::Status& status) {
    EXPECT_TRUE(status.ok()) << status;
    mark();
  };
  mark();
  const std::string p1 = "00000000-0000-4000-8000-000000000001";
  const std::string p2 = "00000000-0000-4000-8000-000000000002";
  check(queue.ApplyServerProfiles({MakeProfile(p1, "Ada", "ada@example.com", 1)}, ""));
  check(queue.ApplyServerProfiles({MakeProfile(p2, "Bob", "bob@example.com", 1)}, ""));
  check(queue.ApplyServerProfiles({}, "cursor-1"));
  auto create =
      queue.EnqueueCreate(MakeProfile("", "Cy", "cy@example.com", 0), Mask({"name", "email"}));
  check(create.status());
  const std::string p3 = create->profile_id();
  check(queue.EnqueueEdit(p1, 1, MakeProfile("", "Ada L.", "", 0), Mask({"name"})).status());
  check(queue.EnqueueEdit(p1, 1, MakeProfile("", "", "ada@l.org", 0), Mask({"email"})).status());
  check(queue.EnqueueEdit(p2, 1, MakeProfile("", "", "", 0), Mask({"name"})).status());
  auto first = queue.NextToSend().value();
  check(queue.Acknowledge(first.mutation_id(), MakeProfile(p3, "Cy", "cy@example.com", 1)));
  auto second = queue.NextToSend().value();
  check(queue.Conflict(second.mutation_id(), MakeProfile(p1, "Ada K.", "ada@example.com", 2))
            .status());
  auto third = queue.NextToSend().value();
  check(queue.Reject(third.mutation_id(), "invalid", {{"name", "must not be empty"}}));
  auto mine = queue.ResolveApplyMine(p1);
  check(mine.status());
  check(queue.Acknowledge(queue.NextToSend().value().mutation_id(),
                          MakeProfile(p1, "Ada L.", "ada@l.org", 3)));
  check(queue.DismissRejected(third.mutation_id()));
  check(queue.ApplyServerProfiles({}, "cursor-2"));
  return boundaries;
}

TEST(LocalStore, ReopensToTheSameState) {
  QTemporaryDir dir;
  std::string digest;
  {
    auto store = OpenOrDie(dir.path());
    digest = WriteHistory(store.get()).back().digest;
  }
  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_EQ(reopened->open_report().dropped_journal_bytes, 0);
  EXPECT_TRUE(reopened->open_report().problems.empty());
  EXPECT_EQ(DescribeRepair(reopened->open_report()), "");
  EXPECT_EQ(reopened->state().cursor, "cursor-2");
}

// A view redraws only what an append changed: every profile after Open(),
// then the profiles each record names (a mutation's record by its profile,
// read before an acknowledgement removes it), never the store-wide records.
TEST(LocalStore, TakeTouchedProfilesNamesWhatTheAppendsChanged) {
  QTemporaryDir dir;
  {
    auto store = OpenOrDie(dir.path());
    WriteHistory(store.get());
  }
  auto store = OpenOrDie(dir.path());
  const std::string p1 = "00000000-0000-4000-8000-000000000001";
  const std::string p2 = "00000000-0000-4000-8000-000000000002";
  std::set<std::string> all = store->TakeTouchedProfiles();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_TRUE(all.count(p1) && all.count(p2));
  EXPECT_TRUE(store->TakeTouchedProfiles().empty());

  MutationQueue queue(store.get());
  ASSERT_TRUE(queue.ApplyServerProfiles({}, "cursor-3").ok());
  EXPECT_TRUE(store->TakeTouchedProfiles().empty());
  ASSERT_TRUE(queue.EnqueueEdit(p2, 1, MakeProfile("", "Bo", "", 0), Mask({"name"})).ok());
  EXPECT_EQ(store->TakeTouchedProfiles(), std::set<std::string>{p2});
  const PendingMutation sent = queue.NextToSend().value();
  ASSERT_TRUE(
      queue.Acknowledge(sent.mutation_id(), MakeProfile(p2, "Bo", "bob@example.com", 2)).ok());
  EXPECT_EQ(store->TakeTouchedProfiles(), std::set<std::string>{p2});
}

// Every store file of the folder but the lock, by name.
std::map<QString, QByteArray> StoreFiles(const QString& directory) {
  std::map<QString, QByteArray> files;
  for (const QFileInfo& info : QDir(directory).entryInfoList(QDir::Files)) {
    if (info.fileName() == kLockFileName) continue;
    QFile file(info.filePath());
    if (file.open(QIODevice::ReadOnly)) files[info.fileName()] = file.readAll();
  }
  return files;
}

// Two windows of the app on one folder would both accept edits, and one's
// would be lost: the second open is refused before it reads or writes.
TEST(LocalStore, ASecondOpenOfTheSameFolderIsRefusedAndChangesNothing) {
  QTemporaryDir dir;
  auto first = OpenOrDie(dir.path());
  const std::string digest = WriteHistory(first.get()).back().digest;
  const std::map<QString, QByteArray> before = StoreFiles(dir.path());
  ASSERT_FALSE(before.empty());

  absl::StatusOr<std::unique_ptr<LocalStore>> second = LocalStore::Open(dir.path(), kNeverCompact);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("is already open in"), std::string::npos)
      << second.status();
  EXPECT_NE(second.status().message().find(absl::StrCat("(process ", getpid(), ")")),
            std::string::npos)
      << second.status();
  EXPECT_EQ(StoreFiles(dir.path()), before);

  // The owner goes on as before, and once it has closed the folder opens.
  JournalRecord record;
  record.mutable_cursor_updated()->set_cursor("after the refusal");
  ASSERT_TRUE(first->Append(record).ok());
  first.reset();
  auto reopened = OpenOrDie(dir.path());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(reopened->state().cursor, "after the refusal");
  EXPECT_NE(Digest(reopened->state()), digest);
}

// A process killed while it was taking the lock can leave lock files that name
// no owner (QLockFile left an empty profiles.lock, or an empty .rmlock helper,
// and then refused the folder for 30 s or for ever). Whatever lock files a
// dead process left, the folder opens.
TEST(LocalStore, LockFilesLeftEmptyOrGarbledByAKilledProcessDoNotBlockTheFolder) {
  for (const std::string& leftover :
       {std::string(), std::string("17061\nprofiles\nhost\n"), std::string("garbage\0\xff", 10)}) {
    QTemporaryDir dir;
    WriteAll(In(dir, kLockFileName), leftover);
    WriteAll(In(dir, "profiles.lock.rmlock"), "");
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr) << leftover.size();
    // And the lock is really held again.
    EXPECT_EQ(LocalStore::Open(dir.path(), kNeverCompact).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

// A process killed with the folder open leaves its lock file behind; the next
// open sees that its owner is gone and takes the folder over. Meanwhile the
// live owner in another process keeps everyone else out.
TEST(LocalStore, ALockOfAnotherProcessHoldsUntilThatProcessIsKilled) {
  QTemporaryDir dir;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t owner = fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {
    close(ready[0]);
    absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(dir.path(), kNeverCompact);
    const char opened = store.ok() ? 'y' : 'n';
    if (write(ready[1], &opened, 1) != 1) _exit(2);
    for (;;) pause();  // until SIGKILL
  }
  close(ready[1]);
  char opened = 0;
  ASSERT_EQ(read(ready[0], &opened, 1), 1);
  close(ready[0]);
  ASSERT_EQ(opened, 'y') << "the child could not open the store";

  absl::StatusOr<std::unique_ptr<LocalStore>> refused = LocalStore::Open(dir.path(), kNeverCompact);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find(absl::StrCat("(process ", owner, ")")),
            std::string::npos)
      << refused.status();

  ASSERT_EQ(kill(owner, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(owner, &status, 0), owner);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(QFile::exists(In(dir, kLockFileName)))
      << "the killed owner left no lock to take over";
  EXPECT_NE(OpenOrDie(dir.path()), nullptr);
}

// A crash can cut the journal anywhere. Whatever the cut, the store opens
// with exactly the records whose append had returned before it, drops the
// rest, and appends after them correctly.
TEST(LocalStore, ACrashAtAnyByteKeepsEveryRecordWrittenBeforeIt) {
  QuietStoreLog quiet;
  QTemporaryDir source;
  std::vector<Boundary> boundaries;
  {
    auto store = OpenOrDie(source.path());
    boundaries = WriteHistory(store.get());
  }
  const std::string journal = ReadAll(In(source, kJournalFileName));
  ASSERT_EQ(static_cast<int64_t>(journal.size()), boundaries.back().journal_bytes);
  const std::string empty_digest = Digest(StoreState{});

  for (size_t cut = 0; cut <= journal.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    QTemporaryDir dir;
    WriteAll(In(dir, kJournalFileName), journal.substr(0, cut));
    std::string expected = empty_digest;
    int64_t kept = 0;
    for (const Boundary& boundary : boundaries) {
      if (boundary.journal_bytes > static_cast<int64_t>(cut)) break;
      expected = boundary.digest;
      kept = boundary.journal_bytes;
    }
    {
      auto store = OpenOrDie(dir.path());
      ASSERT_NE(store, nullptr);
      EXPECT_EQ(Digest(store->state()), expected);
      if (cut >= static_cast<size_t>(boundaries.front().journal_bytes)) {
        EXPECT_EQ(store->open_report().dropped_journal_bytes, static_cast<int64_t>(cut) - kept);
      } else {
        EXPECT_FALSE(store->open_report().problems.empty());
      }
      JournalRecord record;
      record.mutable_cursor_updated()->set_cursor("after-the-crash");
      ASSERT_TRUE(store->Append(record).ok());
    }
    auto reopened = OpenOrDie(dir.path());
    EXPECT_EQ(reopened->state().cursor, "after-the-crash");
    EXPECT_EQ(reopened->open_report().dropped_journal_bytes, 0);
    EXPECT_TRUE(reopened->open_report().problems.empty());
  }
}

// A damaged byte in the middle: the store keeps the records before the
// damaged one and drops it and everything after (later records may depend on
// it), keeping the dropped bytes aside.
TEST(LocalStore, AFlippedByteKeepsThePrefixBeforeTheDamagedRecord) {
  QuietStoreLog quiet;
  QTemporaryDir source;
  std::vector<Boundary> boundaries;
  {
    auto store = OpenOrDie(source.path());
    boundaries = WriteHistory(store.get());
  }
  const std::string journal = ReadAll(In(source, kJournalFileName));
  for (size_t at = static_cast<size_t>(boundaries.front().journal_bytes); at < journal.size();
       ++at) {
    SCOPED_TRACE("flipped byte " + std::to_string(at));
    QTemporaryDir dir;
    std::string damaged = journal;
    damaged[at] = static_cast<char>(damaged[at] ^ 0xFF);
    WriteAll(In(dir, kJournalFileName), damaged);
    const Boundary* kept = &boundaries.front();
    for (const Boundary& boundary : boundaries) {
      if (boundary.journal_bytes > static_cast<int64_t>(at)) break;
      kept = &boundary;
    }
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(Digest(store->state()), kept->digest);
    EXPECT_EQ(store->open_report().dropped_journal_bytes,
              static_cast<int64_t>(journal.size()) - kept->journal_bytes);
    EXPECT_EQ(ReadAll(In(dir, kDroppedFileName)), damaged.substr(kept->journal_bytes));
  }
}

TEST(LocalStore, AnUnreadableHeaderIsSetAsideNotFatal) {
  QTemporaryDir dir;
  {
    auto store = OpenOrDie(dir.path());
    WriteHistory(store.get());
  }
  std::string journal = ReadAll(In(dir, kJournalFileName));
  journal[0] = 'X';
  WriteAll(In(dir, kJournalFileName), journal);
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Digest(store->state()), Digest(StoreState{}));
  ASSERT_EQ(store->open_report().problems.size(), 1u);
  const QStringList aside = QDir(dir.path()).entryList({"profiles.journal.corrupt-*"});
  ASSERT_EQ(aside.size(), 1);
  EXPECT_EQ(ReadAll(QDir(dir.path()).filePath(aside.front())), journal);
  // What the user reads: what happened, in words, then the file set aside.
  const std::string told = DescribeRepair(store->open_report());
  EXPECT_EQ(told.rfind("Some of the app's data on this device could not be read", 0), 0u) << told;
  EXPECT_NE(told.find("set aside, not deleted"), std::string::npos) << told;
  EXPECT_NE(told.find(aside.front().toStdString()), std::string::npos) << told;
}

// The cost of an edit does not grow with the number of cached profiles: the
// journal takes one small record, the snapshot is not rewritten.
TEST(LocalStore, AnEditAppendsOneSmallRecordWhateverTheCacheSize) {
  QTemporaryDir dir;
  auto store = OpenOrDie(dir.path(), {.compaction_min_journal_bytes = int64_t{64} * 1024});
  std::vector<profile::v1::Profile> profiles;
  for (int i = 0; i < 10000; ++i) {
    char id[37];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
    profiles.push_back(
        MakeProfile(id, absl::StrCat("Person ", i), absl::StrCat("p", i, "@example.com"), 1));
  }
  MutationQueue queue(store.get());
  ASSERT_TRUE(queue.ApplyServerProfiles(profiles, "cursor").ok());
  ASSERT_EQ(store->generation(), 0u) << "a journal that only adds profiles is not rewritten";
  ASSERT_TRUE(store->Compact().ok());
  ASSERT_EQ(store->generation(), 1u);
  const qint64 snapshot_bytes = QFile(In(dir, kSnapshotFileName)).size();
  ASSERT_GT(snapshot_bytes, 500000);

  for (int edit = 0; edit < 100; ++edit) {
    const int64_t before = store->journal_bytes();
    ASSERT_TRUE(
        queue.EnqueueEdit(profiles[edit].id(), 1, MakeProfile("", "Edited", "", 0), Mask({"name"}))
            .ok());
    EXPECT_LT(store->journal_bytes() - before, 200);
    EXPECT_EQ(QFile(In(dir, kJournalFileName)).size(), store->journal_bytes());
  }
  EXPECT_EQ(QFile(In(dir, kSnapshotFileName)).size(), snapshot_bytes);
  EXPECT_EQ(store->generation(), 1u);

  const std::string digest = Digest(store->state());
  store.reset();
  EXPECT_EQ(Digest(OpenOrDie(dir.path())->state()), digest);
}

TEST(LocalStore, CompactsWhenTheJournalOutgrowsTheSnapshot) {
  QTemporaryDir dir;
  auto store = OpenOrDie(dir.path(), {.compaction_min_journal_bytes = 4096});
  MutationQueue queue(store.get());
  const std::string id = "00000000-0000-4000-8000-000000000001";
  ASSERT_TRUE(queue.ApplyServerProfiles({MakeProfile(id, "Ada", "ada@example.com", 1)}, "").ok());
  for (int i = 0; i < 500; ++i) {
    auto mutation = queue.EnqueueEdit(id, 1, MakeProfile("", "Ada " + std::to_string(i), "", 0),
                                      Mask({"name"}));
    ASSERT_TRUE(mutation.ok());
    ASSERT_TRUE(
        queue
            .Acknowledge(queue.NextToSend().value().mutation_id(), MakeProfile(id, "x", "y", i + 2))
            .ok());
  }
  EXPECT_GT(store->generation(), 5u);
  EXPECT_LT(store->journal_bytes(), 4096 + 512);
  const std::string digest = Digest(store->state());
  store.reset();
  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_TRUE(reopened->open_report().problems.empty());
}

// A compaction writes the new snapshot, then resets the journal. A kill can
// leave the folder in each state in between; none loses or repeats a record.
TEST(LocalStore, AKillDuringCompactionLosesNothingAndAppliesNothingTwice) {
  QTemporaryDir dir;
  std::string old_snapshot, old_journal, digest;
  size_t pending = 0;
  {
    auto store = OpenOrDie(dir.path());
    WriteHistory(store.get());
    ASSERT_TRUE(store->Compact().ok());
    MutationQueue queue(store.get());
    const std::string p2 = "00000000-0000-4000-8000-000000000002";
    ASSERT_TRUE(queue.EnqueueEdit(p2, 1, MakeProfile("", "Bo", "", 0), Mask({"name"})).ok());
    ASSERT_TRUE(queue.EnqueueEdit(p2, 1, MakeProfile("", "Bob", "", 0), Mask({"name"})).ok());
    ASSERT_TRUE(queue.ApplyServerProfiles({}, "cursor-3").ok());
    old_snapshot = ReadAll(In(dir, kSnapshotFileName));
    old_journal = ReadAll(In(dir, kJournalFileName));
    digest = Digest(store->state());
    pending = store->state().pending.size();
    ASSERT_EQ(pending, 2u);
    ASSERT_TRUE(store->Compact().ok());
  }
  const std::string new_snapshot = ReadAll(In(dir, kSnapshotFileName));
  const std::string new_journal = ReadAll(In(dir, kJournalFileName));
  ASSERT_EQ(HeaderOf(new_snapshot).generation(), 2u);
  ASSERT_EQ(HeaderOf(old_journal).generation(), 1u);

  struct Case {
    const char* name;
    const std::string* snapshot;
    const std::string* journal;
    bool stale_journal;
  };
  for (const Case& c :
       {Case{"killed before the snapshot rename", &old_snapshot, &old_journal, false},
        Case{"killed before the journal reset", &new_snapshot, &old_journal, true},
        Case{"completed", &new_snapshot, &new_journal, false}}) {
    SCOPED_TRACE(c.name);
    QTemporaryDir copy;
    WriteAll(In(copy, kSnapshotFileName), *c.snapshot);
    WriteAll(In(copy, kJournalFileName), *c.journal);
    // What QSaveFile leaves behind when killed mid-write.
    WriteAll(In(copy, "profiles.snapshot.XyZ123"), new_snapshot.substr(0, 100));
    {
      auto store = OpenOrDie(copy.path());
      ASSERT_NE(store, nullptr);
      EXPECT_EQ(Digest(store->state()), digest);
      EXPECT_EQ(store->open_report().stale_journal_discarded, c.stale_journal);
      EXPECT_TRUE(store->open_report().problems.empty());
      MutationQueue queue(store.get());
      ASSERT_TRUE(queue.ApplyServerProfiles({}, "cursor-4").ok());
    }
    auto reopened = OpenOrDie(copy.path());
    EXPECT_EQ(reopened->state().pending.size(), pending);
    EXPECT_EQ(reopened->state().cursor, "cursor-4");
  }
}

// Compaction orders its two steps (and syncs the folder between them) so that
// a reset journal never sits beside an older snapshot. Should a disk reorder
// them anyway, the store still opens and says what happened.
TEST(LocalStore, AJournalAheadOfItsSnapshotIsReplayedAndReported) {
  QTemporaryDir dir;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Compact().ok());
    ASSERT_TRUE(store->Compact().ok());
    JournalRecord record;
    record.mutable_cursor_updated()->set_cursor("kept");
    ASSERT_TRUE(store->Append(record).ok());
  }
  ASSERT_TRUE(QFile::remove(In(dir, kSnapshotFileName)));
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->state().cursor, "kept");
  EXPECT_EQ(store->open_report().problems.size(), 1u);
  EXPECT_EQ(store->generation(), 3u) << "a sound snapshot was written at once";
  store.reset();
  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(reopened->state().cursor, "kept");
  EXPECT_TRUE(reopened->open_report().problems.empty());
}

TEST(LocalStore, ADamagedSnapshotKeepsItsReadablePrefixAndIsRewritten) {
  QTemporaryDir dir;
  {
    auto store = OpenOrDie(dir.path());
    MutationQueue queue(store.get());
    ASSERT_TRUE(queue
                    .ApplyServerProfiles({MakeProfile(kAda, "Ada", "a@x.org", 1),
                                          MakeProfile(kNew, "Nia", "n@x.org", 1)},
                                         "")
                    .ok());
    ASSERT_TRUE(store->Compact().ok());
  }
  std::string snapshot = ReadAll(In(dir, kSnapshotFileName));
  snapshot.back() = static_cast<char>(snapshot.back() ^ 1);
  WriteAll(In(dir, kSnapshotFileName), snapshot);
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->state().profiles.size(), 1u);
    EXPECT_EQ(store->open_report().problems.size(), 1u);
  }
  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(reopened->state().profiles.size(), 1u);
  EXPECT_TRUE(reopened->open_report().problems.empty());
}

// Version 1 wrote one journal, with a header of only a schema version and
// mutations without created_at. Written here record by record in the version
// 1 framing, so no binary fixture is needed.
std::string V1Frame(const google::protobuf::Message& message) {
  const std::string payload = message.SerializeAsString();
  std::string frame(8, '\0');
  const uint32_t length = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  const uint32_t crc = Crc32(payload, Crc32(std::string_view(frame.data(), 4)));
  for (int i = 0; i < 4; ++i) frame[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  return frame + payload;
}

std::string V1Journal() {
  FileHeader header;
  header.set_schema_version(1);
  std::string file = "PRFS" + V1Frame(header);
  auto add = [&file](const JournalRecord& record) { file += V1Frame(record); };
  JournalRecord record;
  *record.mutable_profile_cached()->mutable_profile() = MakeProfile(kAda, "Ada", "a@x.org", 3);
  add(record);
  auto enqueue = [&](const char* id, const char* profile, uint64_t sequence, bool creates,
                     const char* name) {
    JournalRecord enqueued;
    PendingMutation* mutation = enqueued.mutable_mutation_enqueued();
    mutation->set_mutation_id(id);
    mutation->set_profile_id(profile);
    mutation->set_sequence(sequence);
    mutation->set_creates(creates);
    mutation->set_base_version(creates ? 0 : 3);
    mutation->set_state(PendingMutation::STATE_QUEUED);
    *mutation->mutable_fields() = MakeProfile(profile, name, creates ? "n@x.org" : "", 0);
    *mutation->mutable_mask() = creates ? Mask({"name", "email"}) : Mask({"name"});
    add(enqueued);
  };
  enqueue("11111111-1111-4111-8111-111111111111", kAda, 1, false, "Ada L.");
  enqueue("22222222-2222-4222-8222-222222222222", kNew, 2, true, "Nia");
  enqueue("33333333-3333-4333-8333-333333333333", kAda, 3, false, "Ada Lovelace");
  record.Clear();
  record.mutable_mutation_acknowledged()->set_mutation_id("11111111-1111-4111-8111-111111111111");
  *record.mutable_mutation_acknowledged()->mutable_server_profile() =
      MakeProfile(kAda, "Ada L.", "a@x.org", 4);
  add(record);
  record.Clear();
  record.mutable_cursor_updated()->set_cursor("v1-cursor");
  add(record);
  return file;
}

void ExpectUpgradedState(const LocalStore& store) {
  const StoreState& state = store.state();
  ASSERT_EQ(state.pending.size(), 2u);
  const PendingMutation& create = state.pending.at(2);
  EXPECT_EQ(create.mutation_id(), "22222222-2222-4222-8222-222222222222");
  EXPECT_TRUE(create.creates());
  EXPECT_EQ(create.fields().name(), "Nia");
  EXPECT_TRUE(create.has_created_at());
  const PendingMutation& edit = state.pending.at(3);
  EXPECT_EQ(edit.mutation_id(), "33333333-3333-4333-8333-333333333333");
  EXPECT_EQ(edit.base_version(), 4) << "rebased by the replayed acknowledgement";
  EXPECT_EQ(edit.fields().name(), "Ada Lovelace");
  EXPECT_TRUE(edit.has_created_at());
  EXPECT_EQ(state.profiles.at(kAda)->version(), 4);
  EXPECT_EQ(state.cursor, "v1-cursor");
  EXPECT_EQ(state.next_sequence, 4u);
}

TEST(LocalStore, UpgradesAVersion1JournalKeepingEveryUnsentEdit) {
  QTemporaryDir dir;
  const std::string v1 = V1Journal();
  WriteAll(In(dir, kJournalFileName), v1);
  std::string digest;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->open_report().migrated_from_version, 1u);
    ExpectUpgradedState(*store);
    digest = Digest(store->state());
  }
  EXPECT_EQ(HeaderOf(ReadAll(In(dir, kSnapshotFileName))).schema_version(), kSchemaVersion);
  EXPECT_EQ(HeaderOf(ReadAll(In(dir, kJournalFileName))).schema_version(), kSchemaVersion);
  {
    auto reopened = OpenOrDie(dir.path());
    EXPECT_EQ(reopened->open_report().migrated_from_version, 0u);
    EXPECT_EQ(Digest(reopened->state()), digest);
    MutationQueue queue(reopened.get());
    auto next = queue.NextToSend();
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(next->mutation_id(), "22222222-2222-4222-8222-222222222222");
  }
  // Killed after the upgrade wrote its snapshot but before it replaced the
  // version 1 journal: the journal is recognised as already folded in.
  WriteAll(In(dir, kJournalFileName), v1);
  auto again = OpenOrDie(dir.path());
  EXPECT_TRUE(again->open_report().stale_journal_discarded);
  EXPECT_EQ(Digest(again->state()), digest);
}

TEST(LocalStore, RefusesFilesOfANewerReleaseWithoutTouchingThem) {
  QTemporaryDir dir;
  FileHeader header;
  header.set_schema_version(kSchemaVersion + 1);
  header.set_kind(FileHeader::KIND_JOURNAL);
  const std::string journal = "PRFS" + EncodeFrame(header.SerializeAsString());
  WriteAll(In(dir, kJournalFileName), journal);
  auto store = LocalStore::Open(dir.path(), {});
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(In(dir, kJournalFileName)), journal);
}

TEST(LocalStore, ACachedProfileNeverGoesBackInTime) {
  QTemporaryDir dir;
  auto store = OpenOrDie(dir.path());
  MutationQueue queue(store.get());
  ASSERT_TRUE(queue.ApplyServerProfiles({MakeProfile(kAda, "New", "a@x.org", 5)}, "").ok());
  ASSERT_TRUE(queue.ApplyServerProfiles({MakeProfile(kAda, "Old", "a@x.org", 4)}, "").ok());
  EXPECT_EQ(store->state().profiles.at(kAda)->name(), "New");
}

TEST(LocalStore, AListingWithoutAvatarsKeepsTheCachedAvatar) {
  QTemporaryDir dir;
  auto store = OpenOrDie(dir.path());
  MutationQueue queue(store.get());
  profile::v1::Profile full = MakeProfile(kAda, "Ada", "a@x.org", 5);
  full.set_avatar("\x89PNG...");
  full.set_avatar_sha256("abc");
  ASSERT_TRUE(queue.ApplyServerProfiles({full}, "").ok());
  profile::v1::Profile listed = full;
  listed.clear_avatar();
  listed.set_name("Ada L.");
  ASSERT_TRUE(queue.ApplyServerProfiles({listed}, "").ok());
  EXPECT_EQ(testing::PictureOf(store->state(), *store->state().profiles.at(kAda)), "\x89PNG...");
  EXPECT_EQ(store->state().profiles.at(kAda)->name(), "Ada L.");
  listed.set_avatar_sha256("");
  ASSERT_TRUE(queue.ApplyServerProfiles({listed}, "").ok());
  EXPECT_EQ(testing::PictureOf(store->state(), *store->state().profiles.at(kAda)), "")
      << "the avatar was removed";
}

// A queued edit of Ada (seen at version 3), as a release of an older schema
// wrote it.
JournalRecord QueuedEditOfAda(const char* mutation_id, uint64_t sequence,
                              const profile::v1::Profile& fields,
                              std::initializer_list<const char*> mask) {
  JournalRecord record;
  PendingMutation* mutation = record.mutable_mutation_enqueued();
  mutation->set_mutation_id(mutation_id);
  mutation->set_profile_id(kAda);
  mutation->set_sequence(sequence);
  mutation->set_base_version(3);
  mutation->set_state(PendingMutation::STATE_QUEUED);
  *mutation->mutable_fields() = fields;
  *mutation->mutable_mask() = Mask(mask);
  return record;
}

// Writes a store of an older schema with the current framing (versions 2 and
// 3): a snapshot of Ada at version 3 and `in_snapshot`, and a journal of the
// same generation with `in_journal`.
void WriteOldStore(const QTemporaryDir& dir, uint32_t schema_version, uint64_t generation,
                   uint64_t next_sequence, const std::vector<JournalRecord>& in_snapshot,
                   const std::vector<JournalRecord>& in_journal) {
  FileHeader header;
  header.set_schema_version(schema_version);
  header.set_kind(FileHeader::KIND_SNAPSHOT);
  header.set_generation(generation);
  header.set_next_sequence(next_sequence);
  std::string snapshot = "PRFS" + EncodeFrame(header.SerializeAsString());
  JournalRecord cached;
  *cached.mutable_profile_cached()->mutable_profile() = MakeProfile(kAda, "Ada", "a@x.org", 3);
  snapshot += EncodeFrame(cached.SerializeAsString());
  for (const JournalRecord& record : in_snapshot) {
    snapshot += EncodeFrame(record.SerializeAsString());
  }
  WriteAll(In(dir, kSnapshotFileName), snapshot);
  header.set_kind(FileHeader::KIND_JOURNAL);
  header.clear_next_sequence();
  std::string journal = "PRFS" + EncodeFrame(header.SerializeAsString());
  for (const JournalRecord& record : in_journal) {
    journal += EncodeFrame(record.SerializeAsString());
  }
  WriteAll(In(dir, kJournalFileName), journal);
}

// Opens a store of an older schema, which must open as it is, report the
// migration and be rewritten as the current schema.
std::unique_ptr<LocalStore> OpenMigrated(const QTemporaryDir& dir, uint32_t from_version) {
  auto store = OpenOrDie(dir.path());
  if (store == nullptr) return nullptr;
  EXPECT_TRUE(store->open_report().problems.empty());
  EXPECT_EQ(store->open_report().migrated_from_version, from_version);
  EXPECT_EQ(HeaderOf(ReadAll(In(dir, kSnapshotFileName))).schema_version(), kSchemaVersion);
  EXPECT_EQ(HeaderOf(ReadAll(In(dir, kJournalFileName))).schema_version(), kSchemaVersion);
  return store;
}

// A store of the previous schema (2: same framing, no merge bases) opens as
// it is, is rewritten as the current schema, and its edits still merge as
// before (any ABORTED a conflict).
TEST(LocalStore, OpensAVersion2StoreAndRewritesItAsTheCurrentVersion) {
  QTemporaryDir dir;
  WriteOldStore(dir, /*schema_version=*/2, /*generation=*/7, /*next_sequence=*/2,
                {QueuedEditOfAda("11111111-1111-4111-8111-111111111111", 1,
                                 MakeProfile(kAda, "", "b@x.org", 0), {"email"})},
                {});
  auto store = OpenMigrated(dir, 2);
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  auto next = queue.NextToSend();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->mutation_id(), "11111111-1111-4111-8111-111111111111");
  EXPECT_EQ(queue.Conflict(next->mutation_id(), MakeProfile(kAda, "Zed", "a@x.org", 4)).value(),
            MutationQueue::Merged::kConflict);
}

// A store of the previous schema (3, before deletes) opens as it is, keeps
// its pending edits, and is rewritten as the current schema, which a version
// 3 release then refuses rather than misread a queued delete.
TEST(LocalStore, OpensAVersion3StoreKeepingItsPendingEditsAndRewritesIt) {
  QTemporaryDir dir;
  JournalRecord with_base = QueuedEditOfAda("33333333-3333-4333-8333-333333333333", 1,
                                            MakeProfile(kAda, "Ada L.", "", 0), {"name"});
  *with_base.mutable_mutation_enqueued()->mutable_base_fields() =
      MakeProfile(kAda, "Ada", "a@x.org", 0);
  WriteOldStore(dir, /*schema_version=*/3, /*generation=*/4, /*next_sequence=*/3, {with_base},
                {QueuedEditOfAda("44444444-4444-4444-8444-444444444444", 2,
                                 MakeProfile(kAda, "", "b@x.org", 0), {"email"})});
  {
    auto store = OpenMigrated(dir, 3);
    ASSERT_NE(store, nullptr);
    MutationQueue queue(store.get());
    EXPECT_EQ(queue.PendingCount(), 2u);
    EXPECT_EQ(queue.EffectiveProfile(kAda)->name(), "Ada L.");
    EXPECT_EQ(queue.EffectiveProfile(kAda)->email(), "b@x.org");
    // The upgraded store takes a delete, which survives a reopen.
    ASSERT_TRUE(queue.EnqueueDelete(kAda).ok());
  }
  auto store = OpenOrDie(dir.path());
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  const auto mutations = queue.MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 3u);
  EXPECT_EQ(mutations[0].mutation_id(), "33333333-3333-4333-8333-333333333333");
  EXPECT_EQ(mutations[1].mutation_id(), "44444444-4444-4444-8444-444444444444");
  EXPECT_TRUE(mutations[2].deletes());
  EXPECT_FALSE(queue.EffectiveProfile(kAda).has_value());
}

// Thousands of profiles with realistic pictures: pulled page by page (with
// compactions along the way), edited, merged, reopened; nothing is lost or
// mixed up.
TEST(LocalStore, FiveThousandProfilesWithPicturesSurviveCompactionAndReopen) {
  constexpr int kProfiles = 5000;
  constexpr int kPage = 100;
  QTemporaryDir dir;
  constexpr int kRounds = 3;
  auto VersionOf = [](int i, int round) { return 1 + i % 7 + 10 * round; };
  auto id_of = [](int i) {
    return QUuid::createUuidV5(QUuid(), QByteArray::number(i))
        .toString(QUuid::WithoutBraces)
        .toStdString();
  };
  // A few KiB each keeps the test's disk use reasonable while the store
  // passes its compaction threshold several times.
  auto avatar_of = [](int i) { return testing::NoisyBytes(i, 4096); };
  std::string digest;
  {
    auto store = OpenOrDie(dir.path(), {.compaction_min_journal_bytes = 4 * 1024 * 1024});
    MutationQueue queue(store.get());
    // A first sync, then every profile changed twice (newer copies listed
    // again): the first only grows the state and is never rewritten; the
    // superseded copies of the others make the store compact.
    for (int round = 0; round < kRounds; ++round) {
      for (int first = 0; first < kProfiles; first += kPage) {
        std::vector<profile::v1::Profile> page;
        for (int i = first; i < first + kPage; ++i) {
          profile::v1::Profile profile =
              MakeProfile(id_of(i), absl::StrCat("Person ", i),
                          absl::StrCat("p", i, "@example.com"), VersionOf(i, round));
          profile.set_avatar(avatar_of(i));
          profile.set_avatar_sha256(AvatarSha256(profile.avatar()));
          page.push_back(std::move(profile));
        }
        ASSERT_TRUE(queue.ApplyServerProfiles(page, absl::StrCat("cursor-", first)).ok());
      }
      if (round == 0) {
        EXPECT_EQ(store->generation(), 0u) << "a first sync is not rewritten";
      }
    }
    EXPECT_GE(store->generation(), 1u) << "the superseded copies were compacted away";
    // About 21 MB live; three rounds wrote 63 MB.
    EXPECT_LT(QFile(In(dir, kSnapshotFileName)).size() + store->journal_bytes(),
              int64_t{2} * kProfiles * 4300 + 4 * 1024 * 1024)
        << "the files hold about as many superseded bytes as live ones at most";
    for (int i = 0; i < kProfiles; i += 100) {
      ASSERT_TRUE(queue
                      .EnqueueEdit(id_of(i), VersionOf(i, kRounds - 1),
                                   MakeProfile("", absl::StrCat("Edited ", i), "", 0),
                                   Mask({"name"}))
                      .ok());
    }
    digest = Digest(store->state());
  }
  auto store = OpenOrDie(dir.path());
  ASSERT_EQ(store->state().profiles.size(), static_cast<size_t>(kProfiles));
  EXPECT_EQ(Digest(store->state()), digest);
  MutationQueue queue(store.get());
  EXPECT_EQ(queue.PendingCount(), static_cast<size_t>(kProfiles / 100));
  for (int i = 0; i < kProfiles; i += 37) {
    const profile::v1::Profile shown = queue.EffectiveProfile(id_of(i)).value();
    EXPECT_EQ(shown.name(), i % 100 == 0 ? absl::StrCat("Edited ", i) : absl::StrCat("Person ", i));
    EXPECT_EQ(testing::PictureOf(store->state(), shown), avatar_of(i));
  }
  EXPECT_EQ(queue.cursor(), absl::StrCat("cursor-", kProfiles - kPage));
}

// Fault injection (StoreFiles): what a failing disk does to the store.
using Fault = testing::FaultInjectingStoreFiles::Op;

JournalRecord CursorRecord(const std::string& cursor) {
  JournalRecord record;
  record.mutable_cursor_updated()->set_cursor(cursor);
  return record;
}

JournalRecord CachedRecord(const std::string& id, const std::string& name, int64_t version) {
  JournalRecord record;
  *record.mutable_profile_cached()->mutable_profile() = MakeProfile(id, name, "", version);
  return record;
}

TEST(LocalStoreFaults, AFailedAppendChangesNothingAndTheStoreStaysUsable) {
  QTemporaryDir dir;
  testing::FaultInjectingStoreFiles files;
  auto store = LocalStore::Open(dir.path(), kNeverCompact, &files);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Append(CachedRecord(kAda, "Ada", 1)).ok());
  for (const bool short_write : {false, true}) {
    const std::string digest = Digest((*store)->state());
    const int64_t journal_bytes = (*store)->journal_bytes();
    if (short_write) {
      files.FailNth(Fault::kAppend, 1, /*short_write=*/true);
    } else {
      files.FailNth(Fault::kSync, 1);
    }
    EXPECT_EQ((*store)->AppendAll({CachedRecord(kNew, "lost", 1), CursorRecord("lost")}).code(),
              absl::StatusCode::kInternal);
    EXPECT_EQ(Digest((*store)->state()), digest);
    EXPECT_EQ((*store)->journal_bytes(), journal_bytes);
    EXPECT_EQ(ReadAll(In(dir, kJournalFileName)).size(), static_cast<size_t>(journal_bytes));
  }
  ASSERT_TRUE((*store)->Append(CursorRecord("kept")).ok());
  const std::string digest = Digest((*store)->state());
  store->reset();

  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_EQ(reopened->state().profiles.count(kNew), 0u);
  EXPECT_EQ(reopened->open_report().dropped_journal_bytes, 0);
}

TEST(LocalStoreFaults, AnAppendThatCannotBeUndoneBreaksTheStoreAndAReopenRecovers) {
  QuietStoreLog quiet;
  QTemporaryDir dir;
  testing::FaultInjectingStoreFiles files;
  auto store = LocalStore::Open(dir.path(), kNeverCompact, &files);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Append(CachedRecord(kAda, "Ada", 1)).ok());
  const std::string digest = Digest((*store)->state());
  files.FailNth(Fault::kAppend, 1, /*short_write=*/true);
  files.FailNth(Fault::kTruncate, 1);
  EXPECT_EQ((*store)->Append(CursorRecord("half written")).code(), absl::StatusCode::kInternal);
  const absl::Status later = (*store)->Append(CursorRecord("later"));
  EXPECT_EQ(later.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(later.message().find("reopen"), std::string_view::npos) << later;
  EXPECT_EQ(Digest((*store)->state()), digest);
  store->reset();

  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_GT(reopened->open_report().dropped_journal_bytes, 0);
  EXPECT_TRUE(reopened->Append(CursorRecord("after")).ok());
}

TEST(LocalStoreFaults, AFailedCompactionKeepsTheOldFilesAndLosesNothing) {
  QTemporaryDir dir;
  testing::FaultInjectingStoreFiles files;
  auto store = LocalStore::Open(dir.path(), kNeverCompact, &files);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->Compact().ok());
  ASSERT_TRUE((*store)->Append(CachedRecord(kAda, "Ada", 1)).ok());
  const std::string snapshot = ReadAll(In(dir, kSnapshotFileName));
  const uint64_t generation = (*store)->generation();
  files.FailNth(Fault::kRename, 1);
  EXPECT_FALSE((*store)->Compact().ok());
  EXPECT_EQ((*store)->generation(), generation);
  EXPECT_EQ(ReadAll(In(dir, kSnapshotFileName)), snapshot);
  ASSERT_TRUE((*store)->Append(CachedRecord(kNew, "Nia", 1)).ok());
  const std::string digest = Digest((*store)->state());
  store->reset();

  auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_EQ(reopened->generation(), generation);
  EXPECT_TRUE(reopened->open_report().problems.empty());
}

// The snapshot is renamed into place, then the journal reset fails (here:
// the folder's fsync before it). Whether the process then dies or goes on,
// nothing is lost and nothing is applied twice.
TEST(LocalStoreFaults, ACompactionStoppedBetweenSnapshotAndJournalResetLosesNothing) {
  for (const bool crash : {true, false}) {
    QTemporaryDir dir;
    testing::FaultInjectingStoreFiles files;
    auto store = LocalStore::Open(dir.path(), kNeverCompact, &files);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Append(CachedRecord(kAda, "Ada", 1)).ok());
    auto queue = std::make_unique<MutationQueue>(store->get());
    ASSERT_TRUE(
        queue->EnqueueEdit(kAda, 1, MakeProfile(kAda, "Ada L.", "", 0), Mask({"name"})).ok());
    const uint64_t generation = (*store)->generation();
    files.FailNth(Fault::kSyncDirectory, 1);
    EXPECT_FALSE((*store)->Compact().ok());
    EXPECT_EQ((*store)->generation(), generation + 1);
    if (!crash) {
      ASSERT_TRUE((*store)->Append(CursorRecord("after")).ok());
    }
    const std::string digest = Digest((*store)->state());
    queue.reset();
    store->reset();

    auto reopened = OpenOrDie(dir.path());
    EXPECT_EQ(Digest(reopened->state()), digest) << "crash: " << crash;
    EXPECT_EQ(reopened->open_report().stale_journal_discarded, crash);
    EXPECT_EQ(reopened->state().pending.size(), 1u);
  }
}

// A disk that fails to read is not a damaged file: the open fails, and no
// byte is cut, set aside or rewritten, wherever in either file the read
// fails. Once the disk reads again, everything is there.
TEST(LocalStoreFaults, AReadErrorFailsTheOpenAndRepairsNothing) {
  QTemporaryDir dir;
  {
    auto store = OpenOrDie(dir.path());
    ASSERT_TRUE(store->Append(CachedRecord(kAda, "Ada", 1)).ok());
    ASSERT_TRUE(store->Compact().ok());
    ASSERT_TRUE(store->Append(CachedRecord(kNew, "Nia", 1)).ok());
    ASSERT_TRUE(store->Append(CursorRecord("kept")).ok());
  }
  const std::string snapshot = ReadAll(In(dir, kSnapshotFileName));
  const std::string journal = ReadAll(In(dir, kJournalFileName));
  const QStringList files_before = QDir(dir.path()).entryList(QDir::Files);
  const std::string digest = Digest(OpenOrDie(dir.path())->state());
  const size_t longest = std::max(snapshot.size(), journal.size());
  for (size_t readable = 0; readable < longest; ++readable) {
    testing::FaultInjectingStoreFiles files;
    files.FailReadsAfter(static_cast<int64_t>(readable));
    const auto store = LocalStore::Open(dir.path(), kNeverCompact, &files);
    ASSERT_FALSE(store.ok()) << "read error after " << readable << " bytes";
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInternal) << store.status();
    EXPECT_NE(store.status().message().find("cannot read"), std::string_view::npos)
        << store.status();
    ASSERT_EQ(ReadAll(In(dir, kSnapshotFileName)), snapshot) << readable;
    ASSERT_EQ(ReadAll(In(dir, kJournalFileName)), journal) << readable;
    ASSERT_EQ(QDir(dir.path()).entryList(QDir::Files), files_before) << readable;
  }
  const auto reopened = OpenOrDie(dir.path());
  EXPECT_EQ(Digest(reopened->state()), digest);
  EXPECT_TRUE(reopened->open_report().problems.empty());
  EXPECT_EQ(reopened->open_report().dropped_journal_bytes, 0);
}

}  // namespace
}  // namespace profiles::client
