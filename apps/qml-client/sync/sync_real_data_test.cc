// SyncManager with data that looks like a database after a few hours of use:
// thousands of profiles written with plain SQL, whose change positions have
// numbers of different lengths. The first version's listings sorted its
// positions (transaction ids) as text and skipped every row that sorted
// differently, so a fresh install never received them.

#include <gtest/gtest.h>

#include <QDeadlineTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/sync/sync_manager.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

namespace profiles::client {
namespace {

using namespace std::chrono_literals;
using profiles::testing::ServerProcess;
using profiles::testing::TestDatabase;

constexpr int kGeneratedProfiles = 3000;

TEST(SyncRealDataTest, FreshDeviceReceivesEveryProfileWhateverItsPositionLength) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
  ASSERT_TRUE(database.ok()) << database.status();
  // Thousands of profiles from before the server's first start: its WAL
  // sequencer stamps them all at its new slot's position, idx 1 to 3000
  // (1 to 4 digits: "10" sorts before "9" as text).
  std::set<std::string> expected;
  ASSERT_TRUE((*database)
                  ->ExecuteSql(absl::StrCat(
                      "INSERT INTO profiles (id, name, email, version) "
                      "SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, "
                      "'Person ' || i, 'person' || i || '@example.com', 1 "
                      "FROM generate_series(1, ",
                      kGeneratedProfiles, ") i"))
                  .ok());
  for (int i = 1; i <= kGeneratedProfiles; ++i) {
    expected.insert(absl::StrCat("00000000-0000-4000-8000-", absl::Dec(i, absl::kZeroPad12)));
  }

  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start((*database)->url());
  ASSERT_TRUE(server.ok()) << server.status();
  // Then 15 more in one transaction, one INSERT each, with the server
  // running: sequenced from the WAL at that transaction's commit, idx 0 to 14.
  absl::StatusOr<std::vector<std::string>> later =
      (*database)->InsertProfilesInOneTransaction(15, "Later");
  ASSERT_TRUE(later.ok()) << later.status();
  expected.insert(later->begin(), later->end());
  QTemporaryDir data_dir;
  ASSERT_TRUE(data_dir.isValid());
  SyncManager::Options options;
  options.data_dir = data_dir.path();
  options.server_address = QString::fromStdString((*server)->grpc_address());
  options.backoff = {.initial = 20ms, .max = 500ms};
  options.poll_interval = 500ms;
  options.call_timeout = 10s;
  options.connect_timeout = 1s;
  absl::StatusOr<std::unique_ptr<SyncManager>> manager = SyncManager::Open(std::move(options));
  ASSERT_TRUE(manager.ok()) << manager.status();

  // Woken by snapshotChanged; the deadline only bounds a failure.
  const QDeadlineTimer deadline(120s);
  while ((*manager)->snapshot()->profiles.size() < expected.size() && !deadline.hasExpired()) {
    QSignalSpy spy(manager->get(), &SyncManager::snapshotChanged);
    spy.wait(200);
  }
  std::set<std::string> received;
  const std::shared_ptr<const ClientSnapshot> snapshot = (*manager)->snapshot();
  for (const ProfileView& view : snapshot->profiles) {
    received.insert(view.profile->id());
  }
  EXPECT_EQ(received.size(), expected.size());
  EXPECT_EQ(received, expected);
}

}  // namespace
}  // namespace profiles::client
