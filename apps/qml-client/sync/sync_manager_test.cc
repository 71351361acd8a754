// SyncManager against the real profile_server on a real PostgreSQL
// (PROFILES_TEST_DATABASE_URL): the scenarios of issue 3 and of "Where users
// get hurt" in PRIOR_ART.md that concern syncing.

#include "apps/qml-client/sync/sync_manager.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <QDeadlineTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/test_util.h"
#include "apps/qml-client/sync/profile_client.h"
#include "apps/qml-client/sync/tcp_forwarder.h"
#include "google/rpc/status.pb.h"
#include "services/profile/auth/token_authority.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"
#include "tests/support/test_images.h"

namespace profiles::client {
namespace {

using namespace std::chrono_literals;
using profile::v1::Profile;
using profiles::testing::RandomUuid;
using profiles::testing::ServerProcess;
using profiles::testing::TestDatabase;

const ProfileView* Find(const ClientSnapshot& snapshot, const QString& id) {
  for (const ProfileView& view : snapshot.profiles) {
    if (view.profile->id() == id.toStdString()) return &view;
  }
  return nullptr;
}

// Processes events until `condition` holds for the manager's snapshot or
// `timeout` passes; woken by snapshotChanged.
bool WaitFor(SyncManager& manager, const std::function<bool(const ClientSnapshot&)>& condition,
             std::chrono::milliseconds timeout = 30s) {
  const QDeadlineTimer deadline(timeout);
  while (!condition(*manager.snapshot())) {
    if (deadline.hasExpired()) return false;
    QSignalSpy spy(&manager, &SyncManager::snapshotChanged);
    spy.wait(static_cast<int>(std::min<qint64>(deadline.remainingTime(), 200)));
  }
  return true;
}

// The profile `id` is shown with `state` (and, if given, `name` and `version`).
std::function<bool(const ClientSnapshot&)> Shows(const QString& id, SyncState state,
                                                 const std::string& name = "",
                                                 int64_t version = 0) {
  return [=](const ClientSnapshot& snapshot) {
    const ProfileView* view = Find(snapshot, id);
    return view != nullptr && view->state == state &&
           (name.empty() || view->profile->name() == name) &&
           (version == 0 || view->profile->version() == version);
  };
}

bool AllSynced(const ClientSnapshot& snapshot) {
  if (snapshot.pending_count != 0 || snapshot.connection != ConnectionState::kOnline) return false;
  for (const ProfileView& view : snapshot.profiles) {
    if (view.state != SyncState::kSynced) return false;
  }
  return true;
}

const QStringList kName = {QStringLiteral("name")};

// A gRPC server on a kernel-chosen local port in front of the real one (a
// proxy that adds latency, drops streams or injects faults); `*port` stays 0
// if it could not start.
std::unique_ptr<grpc::Server> StartFront(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

class SyncManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(database_->url());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  QString NewDataDir() {
    directories_.push_back(std::make_unique<QTemporaryDir>());
    EXPECT_TRUE(directories_.back()->isValid());
    return directories_.back()->path();
  }

  SyncManager::Options ClientOptions(const QString& data_dir, bool work_offline) {
    SyncManager::Options options;
    options.data_dir = data_dir;
    options.server_address = QString::fromStdString(server_->grpc_address());
    options.work_offline = work_offline;
    options.backoff = {.initial = 20ms, .max = 500ms};
    options.poll_interval = 500ms;
    options.call_timeout = 5s;
    options.connect_timeout = 1s;
    return options;
  }

  std::unique_ptr<SyncManager> Open(SyncManager::Options options) {
    absl::StatusOr<std::unique_ptr<SyncManager>> manager = SyncManager::Open(std::move(options));
    EXPECT_TRUE(manager.ok()) << manager.status();
    return manager.ok() ? *std::move(manager) : nullptr;
  }

  std::unique_ptr<SyncManager> Open(const QString& data_dir, bool work_offline = false) {
    return Open(ClientOptions(data_dir, work_offline));
  }

  // The server's copy of profile `id`, read directly (with `token`, for a
  // server that requires one).
  Profile ServerCopy(const QString& id, const QString& token = {}) {
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    if (!token.isEmpty()) context.AddMetadata("authorization", "Bearer " + token.toStdString());
    profile::v1::GetProfileRequest request;
    request.set_id(id.toStdString());
    Profile profile;
    const grpc::Status status = stub->GetProfile(&context, request, &profile);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return profile;
  }

  // Another device writes `name` to profile `id` (based on `version`).
  void WriteElsewhere(const QString& id, const std::string& name, int64_t version) {
    ProfileClient other({.address = server_->grpc_address()});
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id.toStdString());
    request.mutable_profile()->set_name(name);
    request.mutable_update_mask()->add_paths("name");
    request.set_expected_version(version);
    request.set_mutation_id(RandomUuid());
    const SendOutcome outcome = other.Send(request);
    ASSERT_TRUE(std::holds_alternative<Acknowledged>(outcome)) << outcome.index();
  }

  // A synced profile created through `manager`.
  QString CreateSynced(SyncManager& manager, const QString& name) {
    const QString id = manager.createProfile(name, name + "@example.com", {});
    EXPECT_FALSE(id.isEmpty());
    EXPECT_TRUE(WaitFor(manager, Shows(id, SyncState::kSynced, name.toStdString(), 1)));
    return id;
  }

  // Creates "Ada" (synced), then, offline, renames her "Ada offline": one
  // edit pending. Returns her id.
  QString AdaWithAPendingRename(SyncManager& manager) {
    const QString ada = CreateSynced(manager, "Ada");
    manager.setWorkOffline(true);
    manager.editProfile(ada, "Ada offline", "", {}, kName);
    EXPECT_TRUE(WaitFor(manager, [](const ClientSnapshot& s) { return s.pending_count == 1; }));
    return ada;
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
  std::vector<std::unique_ptr<QTemporaryDir>> directories_;
};

// redux-offline #281 (outbox lost on restart), sorodrigo/redux-offline #40
// (duplicates across sessions).
TEST_F(SyncManagerTest, OfflineEditsSurviveARestartAndAreAppliedExactlyOnce) {
  const QString dir = NewDataDir();
  auto client = Open(dir);
  const QString id = CreateSynced(*client, "Ada");

  client.reset();
  client = Open(dir, /*work_offline=*/true);
  for (const char* name : {"e1", "e2", "e3"}) client->editProfile(id, name, {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == 3; }));

  // "Restart the client process": a new manager on the same data folder.
  client.reset();
  client = Open(dir, /*work_offline=*/true);
  {
    const auto snapshot = client->snapshot();
    EXPECT_EQ(snapshot->pending_count, 3u);
    EXPECT_EQ(snapshot->connection, ConnectionState::kOffline);
    const ProfileView* view = Find(*snapshot, id);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->profile->name(), "e3");
    EXPECT_EQ(view->state, SyncState::kPending);
  }
  EXPECT_EQ(ServerCopy(id).version(), 1) << "work offline sent something";

  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, AllSynced));
  EXPECT_TRUE(Shows(id, SyncState::kSynced, "e3", 4)(*client->snapshot()));
  Profile server_copy = ServerCopy(id);
  EXPECT_EQ(server_copy.version(), 4);
  EXPECT_EQ(server_copy.name(), "e3");

  // Nothing is sent again by a later session.
  client.reset();
  client = Open(dir);
  ASSERT_TRUE(WaitFor(*client, AllSynced));
  EXPECT_EQ(ServerCopy(id).version(), 4);
}

// A server that requires sign-in (--auth=on), and tokens minted with its key.
class SignInTest : public SyncManagerTest {
 protected:
  void SetUp() override {
    key_dir_ = std::make_unique<QTemporaryDir>();
    ASSERT_TRUE(key_dir_->isValid());
    const QString key_file = key_dir_->filePath(QStringLiteral("profiles.key"));
    QFile key(key_file);
    ASSERT_TRUE(key.open(QIODevice::WriteOnly));
    key.write(QByteArray(48, 'k'));
    key.close();
    authority_ = *TokenAuthority::FromKeyFile(key_file.toStdString());
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = *std::move(database);
    std::vector<std::string> flags = {"--auth=on", "--auth-key-file=" + key_file.toStdString()};
    for (std::string& flag : MoreFlags()) flags.push_back(std::move(flag));
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(database_->url(), absl::Seconds(30), true, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  virtual std::vector<std::string> MoreFlags() { return {}; }

  QString Token(const std::string& user, bool admin, absl::Time issued = absl::Now()) {
    return QString::fromStdString(
        *authority_->Mint({.subject = user, .admin = admin}, absl::Hours(1), issued));
  }

  std::unique_ptr<QTemporaryDir> key_dir_;
  std::optional<TokenAuthority> authority_;
};

// A token that expires (or is revoked) while edits wait: the queue stops,
// keeping every edit, until the user gives a new token; then each is
// applied once, in order.
TEST_F(SignInTest, ARefusedTokenKeepsEveryEditUntilANewOneIsGiven) {
  const std::string admin = RandomUuid();
  SyncManager::Options options = ClientOptions(NewDataDir(), /*work_offline=*/false);
  options.token = Token(admin, true, absl::Now() - absl::Hours(3));
  auto client = Open(options);
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) {
    return s.connection == ConnectionState::kSignedOut;
  }));
  EXPECT_NE(client->snapshot()->last_error.find("expired"), std::string::npos)
      << client->snapshot()->last_error;
  const QString id = client->createProfile("Ada", "ada@example.com", {});
  for (const char* name : {"e1", "e2", "e3"}) client->editProfile(id, name, {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == 4; }));
  EXPECT_EQ(client->snapshot()->connection, ConnectionState::kSignedOut);

  client->setToken(Token(admin, true));
  ASSERT_TRUE(WaitFor(*client, AllSynced));
  const Profile server_copy = ServerCopy(id, Token(admin, true));
  EXPECT_EQ(server_copy.name(), "e3");
  EXPECT_EQ(server_copy.version(), 4);
}

// A user may write only their own profile: an edit of another one is the
// server's answer about that edit, parked with its message; the rest goes on.
TEST_F(SignInTest, AnEditOfAnotherUsersProfileIsParkedAndTheirOwnGoesThrough) {
  const std::string user = RandomUuid();
  auto admin = Open([&] {
    SyncManager::Options options = ClientOptions(NewDataDir(), false);
    options.token = Token(RandomUuid(), true);
    return options;
  }());
  const QString other = CreateSynced(*admin, "Grace");
  // The user's own profile, created for them by the admin (its id is theirs).
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(user);
  request.mutable_profile()->set_name("Ada");
  request.mutable_profile()->set_email("ada@example.com");
  ProfileClient as_admin(
      {.address = server_->grpc_address(), .token = Token(RandomUuid(), true).toStdString()});
  ASSERT_TRUE(std::holds_alternative<Acknowledged>(as_admin.Send(request)));

  SyncManager::Options options = ClientOptions(NewDataDir(), false);
  options.token = Token(user, false);
  auto client = Open(options);
  const QString own = QString::fromStdString(user);
  ASSERT_TRUE(WaitFor(*client, Shows(own, SyncState::kSynced, "Ada", 1)));
  ASSERT_TRUE(WaitFor(*client, Shows(other, SyncState::kSynced, "Grace", 1)));
  client->editProfile(other, "Mallory", {}, {}, kName);
  client->editProfile(own, "Ada L.", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, Shows(own, SyncState::kSynced, "Ada L.", 2)));
  ASSERT_TRUE(WaitFor(*client, Shows(other, SyncState::kRejected)));
  EXPECT_EQ(ServerCopy(other, Token(user, false)).name(), "Grace");
}

// A server that allows 5 writes a second per user, in bursts of 25.
class RateLimitedTest : public SignInTest {
 protected:
  std::vector<std::string> MoreFlags() override { return {"--writes-per-second=5"}; }
};

// A backlog of offline edits larger than the burst: the server's limit is
// waited out, no edit is parked, each is applied once, in order.
TEST_F(RateLimitedTest, ABacklogBeyondTheWriteLimitDrainsWithNothingParked) {
  const std::string admin = RandomUuid();
  SyncManager::Options options = ClientOptions(NewDataDir(), /*work_offline=*/true);
  options.token = Token(admin, true);
  auto client = Open(options);
  const QString id = client->createProfile("Ada", "ada@example.com", {});
  constexpr int kEdits = 40;
  for (int e = 1; e <= kEdits; ++e) {
    client->editProfile(id, QStringLiteral("Ada %1").arg(e), {}, {}, kName);
  }
  ASSERT_TRUE(
      WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == kEdits + 1; }));
  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, AllSynced));
  const Profile server_copy = ServerCopy(id, Token(admin, true));
  EXPECT_EQ(server_copy.version(), kEdits + 1);
  EXPECT_EQ(server_copy.name(), "Ada 40");
}

class ConflictTest : public SyncManagerTest {
 protected:
  // Two devices edit the name of the same profile offline; A syncs first.
  void MakeConflict() {
    a_ = Open(NewDataDir());
    id_ = CreateSynced(*a_, "Original");
    b_ = Open(NewDataDir());
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Original", 1)));

    a_->setWorkOffline(true);
    b_->setWorkOffline(true);
    a_->editProfile(id_, "From A", {}, {}, kName);
    b_->editProfile(id_, "From B", {}, {}, kName);
    ASSERT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kPending, "From A")));
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kPending, "From B")));

    a_->setWorkOffline(false);
    ASSERT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kSynced, "From A", 2)));
    b_->setWorkOffline(false);
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kConflict)));

    const auto snapshot = b_->snapshot();
    const ProfileView* view = Find(*snapshot, id_);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->profile->name(), "From B") << "the user's edit is kept until they decide";
    ASSERT_TRUE(view->server_profile.has_value());
    EXPECT_EQ(view->server_profile->name(), "From A");
    EXPECT_EQ(view->server_profile->version(), 2);
    EXPECT_EQ(ServerCopy(id_).name(), "From A") << "a stale edit must not overwrite";
  }

  std::unique_ptr<SyncManager> a_;
  std::unique_ptr<SyncManager> b_;
  QString id_;
};

// Deletes (issue 12): two devices on the real server. A profile is gone from
// a device's list once its snapshot has no view of it.
class DeleteTest : public SyncManagerTest {
 protected:
  // "Ada", created on A and synced to B.
  void SetUp() override {
    SyncManagerTest::SetUp();
    if (HasFatalFailure()) return;
    a_ = Open(NewDataDir());
    b_ = Open(NewDataDir());
    ASSERT_TRUE(a_ && b_);
    id_ = CreateSynced(*a_, "Ada");
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Ada", 1)));
  }

  static std::function<bool(const ClientSnapshot&)> Gone(const QString& id) {
    return [id](const ClientSnapshot& snapshot) {
      return Find(snapshot, id) == nullptr && snapshot.pending_count == 0 &&
             snapshot.connection == ConnectionState::kOnline;
    };
  }

  static std::function<bool(const ClientSnapshot&)> InConflict(const QString& id,
                                                               ConflictKind kind) {
    return [id, kind](const ClientSnapshot& snapshot) {
      const ProfileView* view = Find(snapshot, id);
      return view != nullptr && view->state == SyncState::kConflict && view->conflict == kind;
    };
  }

  // What a snapshot shows of profile `id`, for failure messages.
  static std::string Describe(const ClientSnapshot& snapshot, const QString& id) {
    const ProfileView* view = Find(snapshot, id);
    if (view == nullptr) return absl::StrCat("not shown; ", snapshot.pending_count, " pending");
    return absl::StrCat("\"", view->profile->name(), "\" v", view->profile->version(), " state ",
                        static_cast<int>(view->state), " conflict ",
                        static_cast<int>(view->conflict), " error \"", view->error, "\"; ",
                        snapshot.pending_count, " pending; last error: ", snapshot.last_error);
  }

  // The server's answer to GetProfile(id).
  grpc::StatusCode ServerCode(const QString& id) {
    auto stub = server_->NewStub();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    profile::v1::GetProfileRequest request;
    request.set_id(id.toStdString());
    Profile profile;
    return stub->GetProfile(&context, request, &profile).error_code();
  }

  // B renames Ada "Ada (B)" offline while A deletes her; back online, B
  // shows its edit as deleted elsewhere.
  void EditOnBWhileADeletes() {
    b_->setWorkOffline(true);
    b_->editProfile(id_, "Ada (B)", {}, {}, kName);
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kPending, "Ada (B)")));
    a_->deleteProfile(id_);
    ASSERT_TRUE(WaitFor(*a_, Gone(id_)));
    b_->setWorkOffline(false);
    ASSERT_TRUE(WaitFor(*b_, InConflict(id_, ConflictKind::kDeletedElsewhere)))
        << Describe(*b_->snapshot(), id_);
  }

  // B deletes Ada offline while A renames her "Ada (A)"; back online, B asks
  // again: changed since you deleted it.
  void DeleteOnBWhileAEdits() {
    b_->setWorkOffline(true);
    b_->deleteProfile(id_);
    ASSERT_TRUE(WaitFor(*b_, [&](const ClientSnapshot& s) { return Find(s, id_) == nullptr; }));
    a_->editProfile(id_, "Ada (A)", {}, {}, kName);
    ASSERT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kSynced, "Ada (A)", 2)))
        << Describe(*a_->snapshot(), id_);
    b_->setWorkOffline(false);
    ASSERT_TRUE(WaitFor(*b_, InConflict(id_, ConflictKind::kDeleteChanged)))
        << Describe(*b_->snapshot(), id_);
  }

  std::unique_ptr<SyncManager> a_;
  std::unique_ptr<SyncManager> b_;
  QString id_;
};

TEST_F(DeleteTest, ADeleteMadeOfflineIsSentOnceOnlineAndTheWatchRemovesItOnTheOtherDevice) {
  a_->setWorkOffline(true);
  a_->deleteProfile(id_);
  ASSERT_TRUE(WaitFor(*a_, [&](const ClientSnapshot& s) {
    return Find(s, id_) == nullptr && s.pending_count == 1;
  })) << "gone from the list at once, the delete queued";
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::OK) << "nothing sent while offline";
  // Survives a restart of the app while offline.
  const QString a_dir = directories_[0]->path();
  a_.reset();
  a_ = Open(a_dir, /*work_offline=*/true);
  ASSERT_TRUE(WaitFor(*a_, [&](const ClientSnapshot& s) {
    return Find(s, id_) == nullptr && s.pending_count == 1;
  }));
  a_->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*a_, Gone(id_))) << a_->snapshot()->last_error;
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(WaitFor(*b_, Gone(id_))) << "the tombstone came through B's watch";
}

TEST_F(DeleteTest, AnOfflineEditOfAProfileDeletedElsewhereIsDeletedElsewhereAndCanBeDiscarded) {
  ASSERT_NO_FATAL_FAILURE(EditOnBWhileADeletes());
  {
    const auto snapshot = b_->snapshot();
    const ProfileView* view = Find(*snapshot, id_);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->profile->name(), "Ada (B)") << "the user's edit is shown, not dropped";
    EXPECT_EQ(view->profile->email(), "Ada@example.com");
    ASSERT_TRUE(view->server_profile.has_value());
    EXPECT_TRUE(view->server_profile->deleted());
  }
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::NOT_FOUND) << "not silently resurrected";
  b_->resolveKeepServer(id_);
  EXPECT_TRUE(WaitFor(*b_, Gone(id_)));
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DeleteTest, RecreatingAProfileDeletedElsewhereWritesEveryFieldAfterTheTombstone) {
  ASSERT_NO_FATAL_FAILURE(EditOnBWhileADeletes());
  b_->resolveApplyMine(id_);
  // v1 created, v2 the tombstone, v3 the recreated profile.
  ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Ada (B)", 3)))
      << b_->snapshot()->last_error;
  const Profile server_copy = ServerCopy(id_);
  EXPECT_FALSE(server_copy.deleted());
  EXPECT_EQ(server_copy.name(), "Ada (B)");
  EXPECT_EQ(server_copy.email(), "Ada@example.com") << "recreated with every field";
  EXPECT_EQ(server_copy.version(), 3);
  EXPECT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kSynced, "Ada (B)", 3)))
      << "the recreated profile reaches the device that deleted it";
}

TEST_F(DeleteTest, AnOfflineDeleteOfAProfileEditedElsewhereAsksAgain) {
  ASSERT_NO_FATAL_FAILURE(DeleteOnBWhileAEdits());
  {
    const auto snapshot = b_->snapshot();
    const ProfileView* view = Find(*snapshot, id_);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->profile->name(), "Ada (A)") << "shown again, with the change";
    ASSERT_TRUE(view->deleted_from.has_value());
    EXPECT_EQ(view->deleted_from->name(), "Ada") << "beside what the user deleted";
  }
  EXPECT_EQ(ServerCopy(id_).name(), "Ada (A)") << "a delete never discards an unseen change";
  b_->resolveApplyMine(id_);  // delete anyway
  ASSERT_TRUE(WaitFor(*b_, Gone(id_))) << b_->snapshot()->last_error;
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(WaitFor(*a_, Gone(id_)));
}

TEST_F(DeleteTest, KeepingAProfileEditedElsewhereDropsTheDelete) {
  ASSERT_NO_FATAL_FAILURE(DeleteOnBWhileAEdits());
  b_->resolveKeepServer(id_);
  ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Ada (A)", 2)));
  EXPECT_TRUE(WaitFor(*b_, AllSynced));
  EXPECT_EQ(ServerCode(id_), grpc::StatusCode::OK);
}

// amplify-js #6278/#5945 (conflict handler never runs), rxdb PR #8742
// (conflicts resolved silently).
TEST_F(ConflictTest, KeepServerShowsTheServerVersionWithNothingPending) {
  ASSERT_NO_FATAL_FAILURE(MakeConflict());
  b_->resolveKeepServer(id_);
  ASSERT_TRUE(WaitFor(*b_, AllSynced));
  EXPECT_TRUE(Shows(id_, SyncState::kSynced, "From A", 2)(*b_->snapshot()));
  EXPECT_EQ(ServerCopy(id_).version(), 2);
}

TEST_F(ConflictTest, ApplyMineWritesTheUsersFieldsOnTop) {
  ASSERT_NO_FATAL_FAILURE(MakeConflict());
  b_->resolveApplyMine(id_);
  ASSERT_TRUE(WaitFor(*b_, AllSynced));
  EXPECT_TRUE(Shows(id_, SyncState::kSynced, "From B", 3)(*b_->snapshot()));
  const Profile server_copy = ServerCopy(id_);
  EXPECT_EQ(server_copy.name(), "From B");
  EXPECT_EQ(server_copy.email(), "Original@example.com");
  EXPECT_EQ(server_copy.version(), 3);
  // A sees it too (watch or pull).
  EXPECT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kSynced, "From B", 3)));
}

// powersync.dart #253 / sorodrigo #40 (duplicates), amplify-js #6363
// (reordered or dropped edits): every edit is based on the version the one
// before it produced, so a duplicate or a reordering would be ABORTED (a
// conflict) or show in the final versions.
TEST_F(SyncManagerTest, ServerKilledWhileDraining500MutationsAppliesEachOnceInOrder) {
  constexpr int kProfiles = 5;
  constexpr int kEdits = 500;
  auto client = Open(NewDataDir());
  std::vector<QString> ids;
  for (int p = 0; p < kProfiles; ++p) ids.push_back(CreateSynced(*client, QString("p%1").arg(p)));

  client->setWorkOffline(true);
  for (int k = 1; k <= kEdits; ++k) {
    client->editProfile(ids[(k - 1) % kProfiles], QString("n%1").arg(k), {}, {}, kName);
  }
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == kEdits; }));

  bool conflict_or_rejection = false;
  QObject::connect(client.get(), &SyncManager::snapshotChanged, [&] {
    // Held in a local: a range-for over a member of the temporary shared_ptr
    // would read a snapshot already freed (ASan caught it).
    const std::shared_ptr<const ClientSnapshot> snapshot = client->snapshot();
    for (const ProfileView& view : snapshot->profiles) {
      if (view.state == SyncState::kConflict || view.state == SyncState::kRejected) {
        conflict_or_rejection = true;
      }
    }
  });

  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count <= 400; }));
  server_->StopWith(SIGKILL);
  EXPECT_GT(client->snapshot()->pending_count, 0u) << "the kill must land mid-drain";

  absl::StatusOr<std::unique_ptr<ServerProcess>> restarted = ServerProcess::Start(database_->url());
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  server_ = *std::move(restarted);
  client->setServerAddress(QString::fromStdString(server_->grpc_address()));

  ASSERT_TRUE(WaitFor(*client, AllSynced, 180s)) << client->snapshot()->last_error;
  EXPECT_FALSE(conflict_or_rejection);
  constexpr int kEditsPerProfile = kEdits / kProfiles;
  for (int p = 0; p < kProfiles; ++p) {
    const Profile server_copy = ServerCopy(ids[p]);
    EXPECT_EQ(server_copy.version(), 1 + kEditsPerProfile) << "profile " << p;
    EXPECT_EQ(server_copy.name(), "n" + std::to_string(kEdits - kProfiles + 1 + p));
    EXPECT_TRUE(Shows(ids[p], SyncState::kSynced, server_copy.name(),
                      1 + kEditsPerProfile)(*client->snapshot()));
  }
}

// Each switch to offline, or to another address, abandons the sends in
// flight and drops the gRPC client they run on (GrpcTransport::Reset) while
// their answers arrive. Switched back and forth after every answer through a
// drain of 2,000 edits (two addresses, one server: a relay in front of it),
// every edit still lands once and in order. ASan runs this too.
TEST_F(SyncManagerTest, SwitchingOfflineAndAddressMidDrainAppliesEachEditOnceInOrder) {
  constexpr int kProfiles = 10;
  constexpr int kEdits = 2000;
  absl::StatusOr<std::unique_ptr<testing::TcpForwarder>> relay =
      testing::TcpForwarder::Start(server_->grpc_address());
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto client = Open(NewDataDir());
  std::vector<QString> ids;
  for (int p = 0; p < kProfiles; ++p) ids.push_back(CreateSynced(*client, QString("s%1").arg(p)));

  client->setWorkOffline(true);
  for (int k = 1; k <= kEdits; ++k) {
    client->editProfile(ids[(k - 1) % kProfiles], QString("e%1").arg(k), {}, {}, kName);
  }
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == kEdits; }));

  const QString addresses[] = {QString::fromStdString((*relay)->address()),
                               QString::fromStdString(server_->grpc_address())};
  int switches = 0;
  size_t pending = kEdits;
  // Checked every 10 ms: one switch as soon as an answer has landed since
  // the last one, so sends are in flight at nearly every switch, and the
  // drain still moves on between them.
  QTimer switcher;
  QObject::connect(&switcher, &QTimer::timeout, [&] {
    const size_t now = client->snapshot()->pending_count;
    if (now == pending || now == 0) return;
    pending = now;
    if (switches % 2 == 0) {
      client->setWorkOffline(true);
      client->setWorkOffline(false);
    } else {
      client->setServerAddress(addresses[(switches / 2) % 2]);
    }
    ++switches;
  });
  switcher.start(10);
  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, AllSynced, 120s))
      << client->snapshot()->pending_count << " pending: " << client->snapshot()->last_error;
  switcher.stop();
  EXPECT_GE(switches, 5) << "the switches must land mid-drain";
  constexpr int kEditsPerProfile = kEdits / kProfiles;
  for (int p = 0; p < kProfiles; ++p) {
    const Profile server_copy = ServerCopy(ids[p]);
    EXPECT_EQ(server_copy.version(), 1 + kEditsPerProfile) << "profile " << p;
    EXPECT_EQ(server_copy.name(), absl::StrCat("e", kEdits - kProfiles + 1 + p));
  }
}

// amplify-android PR #976/#1794, replicache-old #59: one mutation that can
// never succeed must not block the outbox.
TEST_F(SyncManagerTest, RejectedEditIsParkedAndLaterEditsStillGoThrough) {
  auto client = Open(NewDataDir());
  const QString bad = CreateSynced(*client, "Pat");
  const QString good = CreateSynced(*client, "Quinn");

  client->setWorkOffline(true);
  client->editProfile(bad, "", {}, {}, kName);  // names need 1 to 100 characters
  client->editProfile(good, "Quinn 2", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) { return s.pending_count == 2; }));
  client->setWorkOffline(false);

  ASSERT_TRUE(WaitFor(*client, [&](const ClientSnapshot& s) {
    return s.pending_count == 0 && Shows(bad, SyncState::kRejected)(s) &&
           Shows(good, SyncState::kSynced, "Quinn 2", 2)(s);
  }));
  {
    const auto snapshot = client->snapshot();
    const ProfileView* view = Find(*snapshot, bad);
    EXPECT_FALSE(view->error.empty());
    EXPECT_EQ(view->field_errors.count("name"), 1u);
    EXPECT_EQ(view->profile->name(), "Pat") << "a parked edit is not shown as applied";
  }
  EXPECT_EQ(ServerCopy(good).name(), "Quinn 2");
  EXPECT_EQ(ServerCopy(bad).version(), 1);

  client->dismissRejected(bad);
  ASSERT_TRUE(WaitFor(*client, AllSynced));
  EXPECT_TRUE(Shows(bad, SyncState::kSynced, "Pat", 1)(*client->snapshot()));
}

// Server data replaces cached data, except under a pending edit.
// Measured before stores were kept per server: after switching to a server on
// another database the list still showed the first server's profiles as
// synced, the second server's profile never appeared (the first cursor was
// used against it), and an edit queued for the first server was sent to the
// second. Now each database has its own store: switching shows only that
// server's profiles, an edit waits for the database it was made against, and
// switching back (or restarting) finds each store as it was.
TEST_F(SyncManagerTest, EachServerDatabaseHasItsOwnStoreAndEditsGoOnlyWhereTheyWereMade) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> other_database = TestDatabase::Create();
  ASSERT_TRUE(other_database.ok()) << other_database.status();
  absl::StatusOr<std::unique_ptr<ServerProcess>> other =
      ServerProcess::Start((*other_database)->url());
  ASSERT_TRUE(other.ok()) << other.status();
  const QString first_address = QString::fromStdString(server_->grpc_address());
  const QString second_address = QString::fromStdString((*other)->grpc_address());

  // The second server already holds a profile of its own.
  const std::string bea = RandomUuid();
  {
    ProfileClient writer({.address = (*other)->grpc_address()});
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(bea);
    request.mutable_profile()->set_name("Bea");
    request.mutable_profile()->set_email("bea@example.com");
    request.set_mutation_id(RandomUuid());
    ASSERT_TRUE(std::holds_alternative<Acknowledged>(writer.Send(request)));
  }

  const QString data_dir = NewDataDir();
  auto client = Open(data_dir);
  const QString ada = AdaWithAPendingRename(*client);

  client->setServerAddress(second_address);
  client->setWorkOffline(false);
  auto shows_only_bea = [&](const ClientSnapshot& snapshot) {
    return AllSynced(snapshot) && snapshot.profiles.size() == 1 &&
           snapshot.profiles[0].profile->id() == bea;
  };
  ASSERT_TRUE(WaitFor(*client, shows_only_bea)) << client->snapshot()->profiles.size();
  {
    // Ada's edit never went to the second server.
    grpc::ClientContext context;
    profile::v1::GetProfileRequest request;
    request.set_id(ada.toStdString());
    Profile unused;
    EXPECT_EQ((*other)->NewStub()->GetProfile(&context, request, &unused).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }

  client->setServerAddress(first_address);
  auto shows_only_ada_edited = [&](const ClientSnapshot& snapshot) {
    return AllSynced(snapshot) && snapshot.profiles.size() == 1 &&
           Shows(ada, SyncState::kSynced, "Ada offline", 2)(snapshot);
  };
  ASSERT_TRUE(WaitFor(*client, shows_only_ada_edited));
  EXPECT_EQ(ServerCopy(ada).name(), "Ada offline");
  EXPECT_EQ(ServerCopy(ada).version(), 2);

  // Started offline on the second address, the app opens that server's store.
  client.reset();
  SyncManager::Options offline = ClientOptions(data_dir, /*work_offline=*/true);
  offline.server_address = second_address;
  client = Open(offline);
  ASSERT_EQ(client->snapshot()->profiles.size(), 1u);
  EXPECT_EQ(client->snapshot()->profiles[0].profile->id(), bea);
}

// Publishing shares the views of unchanged profiles with the previous
// snapshot (same address), so neither the worker nor the list model converts
// or compares every profile, pictures included, at every change.
TEST_F(SyncManagerTest, ASnapshotSharesTheViewsOfProfilesThatDidNotChange) {
  auto client = Open(NewDataDir());
  const std::string picture = profiles::testing::RealisticPng(100 * 1024, 3);
  std::vector<QString> ids;
  for (const char* name : {"Ada", "Bob", "Cy"}) {
    ids.push_back(client->createProfile(name, "x@example.com", QByteArray::fromStdString(picture)));
  }
  ASSERT_TRUE(WaitFor(
      *client, [](const ClientSnapshot& s) { return AllSynced(s) && s.profiles.size() == 3; }));
  const std::shared_ptr<const ClientSnapshot> before = client->snapshot();
  client->editProfile(ids[1], "Bob edited", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, Shows(ids[1], SyncState::kSynced, "Bob edited", 2)));
  const std::shared_ptr<const ClientSnapshot> after = client->snapshot();
  ASSERT_EQ(after->profiles.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const bool edited = after->profiles[i].profile->id() == ids[1].toStdString();
    EXPECT_EQ(after->profiles.shared(i) == before->profiles.shared(i), !edited)
        << after->profiles[i].profile->name();
  }
}

// A database restored from a backup refuses the cursors issued after the
// backup (CURSOR_AHEAD_OF_DATABASE), and a server that orders changes by the
// WAL refuses cursors of the earlier formats (CURSOR_EXPIRED: an app that
// last synced before the upgrade). The app then lists every profile again
// and keeps its pending edit, instead of skipping changes.
TEST_F(SyncManagerTest, ARefusedCursorListsEverythingAgainAndKeepsPendingEdits) {
  ProfileClient other({.address = server_->grpc_address()});
  absl::StatusOr<std::string> database_id = other.CheckHealth();
  ASSERT_TRUE(database_id.ok()) << database_id.status();
  for (const std::string& refused :
       {"c3." + *database_id + ".1.999999999999999.0", "c2." + *database_id + ".999999999999.1"}) {
    SCOPED_TRACE(refused);
    const QString data_dir = NewDataDir();
    auto client = Open(data_dir);
    const QString ada = AdaWithAPendingRename(*client);
    client.reset();

    // While the app is closed: someone else creates a profile, and the
    // store's cursor becomes one the server refuses.
    const std::string zoe = RandomUuid();
    profile::v1::UpdateProfileRequest create;
    create.mutable_profile()->set_id(zoe);
    create.mutable_profile()->set_name("Zoe");
    create.mutable_profile()->set_email("zoe@example.com");
    create.set_mutation_id(RandomUuid());
    ASSERT_TRUE(std::holds_alternative<Acknowledged>(other.Send(create)));
    {
      absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(data_dir, {});
      ASSERT_TRUE(store.ok()) << store.status();
      profile::client::v1::JournalRecord record;
      record.mutable_cursor_updated()->set_cursor(refused);
      ASSERT_TRUE((*store)->Append(record).ok());
    }

    client = Open(data_dir);
    EXPECT_TRUE(WaitFor(*client, [&](const ClientSnapshot& snapshot) {
      return AllSynced(snapshot) && Shows(ada, SyncState::kSynced, "Ada offline", 2)(snapshot) &&
             Shows(QString::fromStdString(zoe), SyncState::kSynced, "Zoe", 1)(snapshot);
    }));
    EXPECT_EQ(ServerCopy(ada).version(), 2);
  }
}

TEST_F(SyncManagerTest, ChangesFromAnotherWriterArriveButPendingEditsKeepTheUsersVersion) {
  SyncManager::Options options = ClientOptions(NewDataDir(), false);
  // No polling within the test's time: what arrives came through the watch.
  options.poll_interval = 3600s;
  auto client = Open(options);
  const QString mine = CreateSynced(*client, "Mine");
  const QString theirs = CreateSynced(*client, "Theirs");

  WriteElsewhere(theirs, "Theirs, changed elsewhere", 1);
  EXPECT_TRUE(WaitFor(*client, Shows(theirs, SyncState::kSynced, "Theirs, changed elsewhere", 2)));

  // A pending edit of `mine` that cannot be sent yet: it waits behind a
  // conflict, then another writer changes the profile again.
  client->setWorkOffline(true);
  client->editProfile(mine, "My edit", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, Shows(mine, SyncState::kPending, "My edit")));
  WriteElsewhere(mine, "Elsewhere 1", 1);
  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, Shows(mine, SyncState::kConflict, "My edit")));
  WriteElsewhere(mine, "Elsewhere 2", 2);

  // The new server version (3) arrives, the user's fields stay on top.
  ASSERT_TRUE(WaitFor(*client, Shows(mine, SyncState::kConflict, "My edit", 3)));
  EXPECT_EQ(client->snapshot()->pending_count, 1u);
  // Keeping the server's copy now shows the newest one.
  client->resolveKeepServer(mine);
  EXPECT_TRUE(WaitFor(*client, Shows(mine, SyncState::kSynced, "Elsewhere 2", 3)));
}

// A gRPC front for the real server that refuses WatchProfiles, as a proxy
// that cannot hold streams would, and forwards every unary call.
class StreamlessProxy final : public profile::v1::ProfileService::Service {
 public:
  explicit StreamlessProxy(const std::string& target)
      : stub_(profile::v1::ProfileService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  grpc::Status GetProfile(grpc::ServerContext* context,
                          const profile::v1::GetProfileRequest* request,
                          Profile* response) override {
    return Forward(&Stub::GetProfile, *context, *request, response);
  }
  grpc::Status UpdateProfile(grpc::ServerContext* context,
                             const profile::v1::UpdateProfileRequest* request,
                             Profile* response) override {
    const std::string& id = request->profile().id();
    {
      std::lock_guard<std::mutex> lock(mu_);
      max_updates_in_flight_ = std::max(max_updates_in_flight_, ++updates_in_flight_);
      if (!profiles_in_flight_.insert(id).second) same_profile_overlapped_ = true;
    }
    // A network's latency: what makes one round trip per mutation slow.
    std::this_thread::sleep_for(update_latency_);
    grpc::Status status = Forward(&Stub::UpdateProfile, *context, *request, response);
    std::lock_guard<std::mutex> lock(mu_);
    --updates_in_flight_;
    profiles_in_flight_.erase(id);
    return status;
  }
  grpc::Status GetServiceInfo(grpc::ServerContext* context,
                              const profile::v1::GetServiceInfoRequest* request,
                              profile::v1::ServiceInfo* response) override {
    return Forward(&Stub::GetServiceInfo, *context, *request, response);
  }

  void set_update_latency(std::chrono::milliseconds latency) { update_latency_ = latency; }
  int max_updates_in_flight() {
    std::lock_guard<std::mutex> lock(mu_);
    return max_updates_in_flight_;
  }
  bool same_profile_overlapped() {
    std::lock_guard<std::mutex> lock(mu_);
    return same_profile_overlapped_;
  }
  grpc::Status ListProfiles(grpc::ServerContext* context,
                            const profile::v1::ListProfilesRequest* request,
                            profile::v1::ListProfilesResponse* response) override {
    return Forward(&Stub::ListProfiles, *context, *request, response);
  }
  grpc::Status WatchProfiles(grpc::ServerContext* /*context*/,
                             const profile::v1::WatchProfilesRequest* /*request*/,
                             grpc::ServerWriter<profile::v1::ProfileEvent>* /*writer*/) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this proxy cannot hold streams");
  }

 private:
  using Stub = profile::v1::ProfileService::Stub;

  template <typename Request, typename Response>
  grpc::Status Forward(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                    Response*),
                       const grpc::ServerContext& server_context, const Request& request,
                       Response* response) {
    grpc::ClientContext context;
    context.set_deadline(server_context.deadline());
    return (stub_.get()->*method)(&context, request, response);
  }

  const std::unique_ptr<Stub> stub_;
  std::chrono::milliseconds update_latency_{0};
  std::mutex mu_;
  int updates_in_flight_ = 0;
  int max_updates_in_flight_ = 0;
  std::set<std::string> profiles_in_flight_;
  bool same_profile_overlapped_ = false;
};

// The drain keeps several mutations in flight, of different profiles, and
// never two of one profile: 40 profiles with 3 edits each behind 30 ms of
// latency drain with many calls at once, and every profile ends with its
// edits applied in order.
TEST_F(SyncManagerTest, DrainSendsSeveralProfilesAtOnceAndEachProfileInOrder) {
  StreamlessProxy proxy(server_->grpc_address());
  int port = 0;
  const std::unique_ptr<grpc::Server> front = StartFront(&proxy, &port);
  ASSERT_NE(port, 0);

  constexpr int kProfiles = 40;
  constexpr int kEditsEach = 3;
  SyncManager::Options options = ClientOptions(NewDataDir(), /*work_offline=*/true);
  options.server_address = QStringLiteral("127.0.0.1:%1").arg(port);
  auto client = Open(options);
  std::vector<QString> ids;
  for (int p = 0; p < kProfiles; ++p) {
    ids.push_back(client->createProfile(QString("p%1").arg(p), "p@example.com", {}));
    for (int k = 1; k <= kEditsEach; ++k) {
      client->editProfile(ids.back(), QString("p%1-edit%2").arg(p).arg(k), {}, {}, kName);
    }
  }
  ASSERT_TRUE(WaitFor(*client, [](const ClientSnapshot& s) {
    return s.pending_count == kProfiles * (1 + kEditsEach);
  }));

  proxy.set_update_latency(30ms);
  client->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client, AllSynced, 120s)) << client->snapshot()->last_error;
  EXPECT_GE(proxy.max_updates_in_flight(), 8);
  EXPECT_FALSE(proxy.same_profile_overlapped());
  for (int p = 0; p < kProfiles; ++p) {
    const Profile server_copy = ServerCopy(ids[p]);
    EXPECT_EQ(server_copy.version(), 1 + kEditsEach) << p;
    EXPECT_EQ(server_copy.name(), absl::StrCat("p", p, "-edit", kEditsEach)) << p;
  }
  client.reset();
  front->Shutdown();
}

// When the watch cannot be held, changes made elsewhere still arrive: polling
// takes over.
TEST_F(SyncManagerTest, PollingTakesOverWhenTheWatchCannotBeHeld) {
  StreamlessProxy proxy(server_->grpc_address());
  int port = 0;
  const std::unique_ptr<grpc::Server> front = StartFront(&proxy, &port);
  ASSERT_NE(port, 0);

  SyncManager::Options options = ClientOptions(NewDataDir(), false);
  options.server_address = QStringLiteral("127.0.0.1:%1").arg(port);
  options.poll_interval = 300ms;
  auto client = Open(options);
  const QString id = CreateSynced(*client, "Ada");

  // The first change may still ride on the pull that follows the create;
  // once it is shown, that pass is over and only polling can bring the next.
  WriteElsewhere(id, "Changed elsewhere", 1);
  ASSERT_TRUE(WaitFor(*client, Shows(id, SyncState::kSynced, "Changed elsewhere", 2), 20s));
  WriteElsewhere(id, "Changed again", 2);
  EXPECT_TRUE(WaitFor(*client, Shows(id, SyncState::kSynced, "Changed again", 3), 20s));
  client.reset();
  front->Shutdown();
}

// powersync-swift #160, powersync-native #15: after a failed upload the
// queue must be retried without waiting for the next local write.
TEST_F(SyncManagerTest, DrainResumesByItselfWhenTheServerIsReachableAgain) {
  absl::StatusOr<std::unique_ptr<testing::TcpForwarder>> forwarder =
      testing::TcpForwarder::Start(server_->grpc_address());
  ASSERT_TRUE(forwarder.ok()) << forwarder.status();
  SyncManager::Options options = ClientOptions(NewDataDir(), false);
  options.server_address = QString::fromStdString((*forwarder)->address());
  // The watch fallback's polling would also resume the drain; keep it out
  // of the test's time so only the backoff retries can.
  options.poll_interval = 3600s;
  auto client = Open(options);
  const QString id = CreateSynced(*client, "Ada");

  (*forwarder)->Cut();
  client->editProfile(id, "Sent later", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client, [&](const ClientSnapshot& s) {
    return s.connection == ConnectionState::kOffline && !s.last_error.empty() &&
           Shows(id, SyncState::kPending, "Sent later")(s);
  }));
  EXPECT_EQ(ServerCopy(id).version(), 1);

  // No new edit, no refresh(): only the retry loop can send it.
  (*forwarder)->Restore(server_->grpc_address());
  ASSERT_TRUE(WaitFor(*client, AllSynced, 20s)) << client->snapshot()->last_error;
  EXPECT_EQ(ServerCopy(id).name(), "Sent later");
  EXPECT_EQ(ServerCopy(id).version(), 2);
}

// Going offline or to another address mid-drain shuts a client down and lets
// go of it while its asynchronous sends are completing on gRPC's threads
// (GrpcTransport::Reset); each answer carries a reference to the client to
// the engine's thread, so the last one may go there at any moment. Each
// round fires a burst of sends and shuts the client down after a different
// number of answers. The channel was once released on a gRPC thread, inside
// its own completion queue's callback: a double free in CI; ASan runs this.
TEST_F(SyncManagerTest, ProfileClientShutDownWhileSendsCompleteLosesNoAnswer) {
  constexpr int kRounds = 40;
  constexpr int kSends = 32;
  for (int round = 0; round < kRounds; ++round) {
    auto client = std::make_shared<ProfileClient>(ProfileClient::Options{
        .address = server_->grpc_address(), .call_timeout = 5s, .connect_timeout = 1s});
    std::mutex mu;
    std::condition_variable answered;
    int answers = 0;
    int acknowledged = 0;
    std::vector<std::string> unexpected;
    // As GrpcTransport posts them to the engine: the references the answers
    // carried, let go of on this thread.
    std::vector<std::shared_ptr<ProfileClient>> handed_over;
    for (int k = 0; k < kSends; ++k) {
      profile::v1::UpdateProfileRequest create;
      create.mutable_profile()->set_id(RandomUuid());
      create.mutable_profile()->set_name(absl::StrCat("Burst ", round, ".", k));
      create.mutable_profile()->set_email(absl::StrCat("burst", round, ".", k, "@example.com"));
      create.set_mutation_id(RandomUuid());
      client->SendAsync(std::move(create), [&, held = client](SendOutcome outcome) mutable {
        std::lock_guard<std::mutex> lock(mu);
        handed_over.push_back(std::move(held));
        if (std::holds_alternative<Acknowledged>(outcome)) {
          ++acknowledged;
        } else if (const auto* failed = std::get_if<Failed>(&outcome);
                   failed == nullptr || failed->status.code() != absl::StatusCode::kCancelled) {
          unexpected.push_back(failed != nullptr ? failed->status.ToString()
                                                 : absl::StrCat("outcome #", outcome.index()));
        }
        ++answers;
        answered.notify_all();
      });
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      answered.wait(lock, [&] { return answers >= round % kSends; });
    }
    client->Shutdown();
    client.reset();
    bool all_answered = false;
    while (!all_answered) {
      std::vector<std::shared_ptr<ProfileClient>> release;
      {
        std::unique_lock<std::mutex> lock(mu);
        ASSERT_TRUE(
            answered.wait_for(lock, 30s, [&] { return !handed_over.empty() || answers == kSends; }))
            << "round " << round << ": " << answers << " of " << kSends << " sends answered";
        release.swap(handed_over);
        all_answered = answers == kSends;
      }
      // Outside the lock: the last reference's destructor waits for the
      // answers still running, which take the lock.
      release.clear();
    }
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(unexpected.empty()) << "round " << round << ": " << unexpected.front();
    EXPECT_GE(acknowledged, round % kSends) << "round " << round;
  }
}

// The transport's mapping of answers, against the real server.
TEST_F(SyncManagerTest, ProfileClientMapsTheServersAnswers) {
  ProfileClient client({.address = server_->grpc_address()});
  ASSERT_TRUE(client.CheckHealth().ok());

  profile::v1::UpdateProfileRequest create;
  create.mutable_profile()->set_id(RandomUuid());
  create.mutable_profile()->set_name("Ada");
  create.mutable_profile()->set_email("ada@example.com");
  create.set_mutation_id(RandomUuid());
  SendOutcome outcome = client.Send(create);
  ASSERT_TRUE(std::holds_alternative<Acknowledged>(outcome));
  EXPECT_EQ(std::get<Acknowledged>(outcome).profile.version(), 1);
  // A replay is acknowledged with the first result, not applied again.
  outcome = client.Send(create);
  ASSERT_TRUE(std::holds_alternative<Acknowledged>(outcome));
  EXPECT_EQ(std::get<Acknowledged>(outcome).profile.version(), 1);

  profile::v1::UpdateProfileRequest invalid = create;
  invalid.set_mutation_id(RandomUuid());
  invalid.set_expected_version(1);
  invalid.mutable_profile()->set_email("not an address");
  outcome = client.Send(invalid);
  ASSERT_TRUE(std::holds_alternative<Rejected>(outcome));
  EXPECT_EQ(std::get<Rejected>(outcome).field_errors.count("email"), 1u);

  profile::v1::UpdateProfileRequest stale = create;
  stale.set_mutation_id(RandomUuid());
  stale.set_expected_version(0);
  outcome = client.Send(stale);
  ASSERT_TRUE(std::holds_alternative<Conflicted>(outcome));
  EXPECT_EQ(std::get<Conflicted>(outcome).server_profile.version(), 1);

  // A write shows in delta reads once every older transaction on the cluster
  // has finished (the watermark of change_cursor.h; another test's CREATE
  // DATABASE can hold it back for a moment), so follow it up to a deadline.
  int pulled = 0;
  for (const QDeadlineTimer deadline(20s); pulled == 0 && !deadline.hasExpired();) {
    ASSERT_TRUE(client
                    .Pull("",
                          [&](const profile::v1::ListProfilesResponse& page) {
                            pulled += page.profiles_size();
                          })
                    .ok());
  }
  EXPECT_EQ(pulled, 1);

  server_->StopWith(SIGKILL);
  outcome = client.Send(create);
  ASSERT_TRUE(std::holds_alternative<Failed>(outcome));
  EXPECT_FALSE(client.CheckHealth().ok());
}

// Issue 6, finding 1: two devices edit the same profile online at the same
// time. B's form was opened at version 1; A's rename reaches the server
// (and B's cache) before B presses Save.
class OnlineEditTest : public SyncManagerTest {
 protected:
  void SetUp() override {
    SyncManagerTest::SetUp();
    if (HasFatalFailure()) return;
    a_ = Open(NewDataDir());
    id_ = CreateSynced(*a_, "Original");
    b_ = Open(NewDataDir());
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Original", 1)));
    // What B's form shows and keeps as its base while the user types.
    form_base_ = EditBase{.version = 1,
                          .name = QStringLiteral("Original"),
                          .email = QStringLiteral("Original@example.com"),
                          .avatar_sha256 = {}};
    a_->editProfile(id_, "Renamed by A", {}, {}, kName);
    ASSERT_TRUE(WaitFor(*a_, Shows(id_, SyncState::kSynced, "Renamed by A", 2)));
    // B's cache is at version 2 when B saves: the old code based the edit on it.
    ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Renamed by A", 2)));
  }

  std::unique_ptr<SyncManager> a_;
  std::unique_ptr<SyncManager> b_;
  QString id_;
  EditBase form_base_;
};

TEST_F(OnlineEditTest, SameFieldIsAConflictNotASilentOverwrite) {
  b_->editProfile(id_, "Renamed by B", "Original@example.com", {}, kName, form_base_);
  ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kConflict, "Renamed by B")))
      << "B's rename would overwrite A's, which B never saw";
  const auto snapshot = b_->snapshot();
  const ProfileView* view = Find(*snapshot, id_);
  ASSERT_TRUE(view->server_profile.has_value());
  EXPECT_EQ(view->server_profile->name(), "Renamed by A");
  EXPECT_EQ(ServerCopy(id_).name(), "Renamed by A");
  EXPECT_EQ(ServerCopy(id_).version(), 2);

  b_->resolveApplyMine(id_);
  ASSERT_TRUE(WaitFor(*b_, Shows(id_, SyncState::kSynced, "Renamed by B", 3)));
  EXPECT_EQ(ServerCopy(id_).name(), "Renamed by B");
}

TEST_F(OnlineEditTest, DifferentFieldsAreMergedAndBothChangesReachTheServer) {
  b_->editProfile(id_, "Original", "b@example.com", {}, {QStringLiteral("email")}, form_base_);
  ASSERT_TRUE(WaitFor(*b_, [&](const ClientSnapshot& s) {
    const ProfileView* view = Find(s, id_);
    return s.pending_count == 0 && view != nullptr && view->state == SyncState::kSynced &&
           view->profile->version() == 3;
  })) << b_->snapshot()->last_error;
  const Profile server_copy = ServerCopy(id_);
  EXPECT_EQ(server_copy.name(), "Renamed by A") << "B's untouched name must not be written";
  EXPECT_EQ(server_copy.email(), "b@example.com");
  {
    const auto snapshot = b_->snapshot();
    const ProfileView* view = Find(*snapshot, id_);
    ASSERT_TRUE(view->merged_with.has_value()) << "B is told its edit was merged";
    EXPECT_EQ(*view->merged_with, std::vector<std::string>{"name"});
    EXPECT_EQ(view->profile->name(), "Renamed by A");
    EXPECT_EQ(view->profile->email(), "b@example.com");
  }
  EXPECT_TRUE(WaitFor(*a_, [&](const ClientSnapshot& s) {
    const ProfileView* view = Find(s, id_);
    return view != nullptr && view->profile->version() == 3 &&
           view->profile->email() == "b@example.com" && view->profile->name() == "Renamed by A";
  }));
  b_->dismissMergeNote(id_);
  EXPECT_TRUE(WaitFor(*b_, [&](const ClientSnapshot& s) {
    const ProfileView* view = Find(s, id_);
    return view != nullptr && !view->merged_with.has_value();
  }));
}

// A gRPC front for the real server that misbehaves on purpose for one
// profile's writes, and forwards everything else (WatchProfiles refused, so
// the client polls).
class FaultyFront final : public profile::v1::ProfileService::Service {
 public:
  enum class Fault {
    kNone,
    // ABORTED whose grpc-status-details-bin trailer is ~200 KB: far over the
    // 8 KiB a default gRPC client reads (an old server's conflict details
    // holding the avatar bytes).
    kHugeTrailer,
    // INTERNAL, an answer the client does not expect.
    kInternal,
    // Forward, and take the avatar bytes out of a conflict's details, as the
    // server does now.
    kStripConflictAvatar,
  };

  explicit FaultyFront(const std::string& target)
      : stub_(profile::v1::ProfileService::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  void Break(const std::string& profile_id, Fault fault) {
    std::lock_guard<std::mutex> lock(mu_);
    broken_id_ = profile_id;
    fault_ = fault;
  }
  int faults_served() const { return faults_served_.load(); }

  grpc::Status GetProfile(grpc::ServerContext* context,
                          const profile::v1::GetProfileRequest* request,
                          Profile* response) override {
    ++get_calls_;
    grpc::ClientContext client;
    client.set_deadline(context->deadline());
    return stub_->GetProfile(&client, *request, response);
  }
  grpc::Status UpdateProfile(grpc::ServerContext* context,
                             const profile::v1::UpdateProfileRequest* request,
                             Profile* response) override {
    Fault fault;
    {
      std::lock_guard<std::mutex> lock(mu_);
      fault = request->profile().id() == broken_id_ ? fault_ : Fault::kNone;
    }
    if (fault == Fault::kHugeTrailer || fault == Fault::kInternal) ++faults_served_;
    if (fault == Fault::kHugeTrailer) {
      Profile current = request->profile();
      current.set_avatar(std::string(200 * 1024, 'x'));
      google::rpc::Status details;
      details.set_code(grpc::StatusCode::ABORTED);
      details.set_message("stale version");
      details.add_details()->PackFrom(current);
      return grpc::Status(grpc::StatusCode::ABORTED, "stale version", details.SerializeAsString());
    }
    if (fault == Fault::kInternal) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "internal error (request id r-42)");
    }
    grpc::ClientContext client;
    client.set_deadline(context->deadline());
    grpc::Status status = stub_->UpdateProfile(&client, *request, response);
    if (fault == Fault::kStripConflictAvatar && status.error_code() == grpc::StatusCode::ABORTED) {
      google::rpc::Status details;
      if (details.ParseFromString(status.error_details())) {
        for (auto& any : *details.mutable_details()) {
          Profile current;
          if (any.UnpackTo(&current)) {
            stripped_avatar_bytes_ += current.avatar().size();
            current.clear_avatar();
            any.PackFrom(current);
          }
        }
        status =
            grpc::Status(status.error_code(), status.error_message(), details.SerializeAsString());
      }
    }
    return status;
  }
  grpc::Status GetServiceInfo(grpc::ServerContext* context,
                              const profile::v1::GetServiceInfoRequest* request,
                              profile::v1::ServiceInfo* response) override {
    grpc::ClientContext client;
    client.set_deadline(context->deadline());
    return stub_->GetServiceInfo(&client, *request, response);
  }
  grpc::Status ListProfiles(grpc::ServerContext* context,
                            const profile::v1::ListProfilesRequest* request,
                            profile::v1::ListProfilesResponse* response) override {
    grpc::ClientContext client;
    client.set_deadline(context->deadline());
    return stub_->ListProfiles(&client, *request, response);
  }
  grpc::Status WatchProfiles(grpc::ServerContext* /*context*/,
                             const profile::v1::WatchProfilesRequest* /*request*/,
                             grpc::ServerWriter<profile::v1::ProfileEvent>* /*writer*/) override {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "this front cannot hold streams");
  }

  std::atomic<int> get_calls_{0};
  std::atomic<size_t> stripped_avatar_bytes_{0};

 private:
  const std::unique_ptr<profile::v1::ProfileService::Stub> stub_;
  std::mutex mu_;
  std::string broken_id_;
  Fault fault_ = Fault::kNone;
  std::atomic<int> faults_served_{0};
};

class FaultTest : public SyncManagerTest {
 protected:
  void SetUp() override {
    SyncManagerTest::SetUp();
    if (HasFatalFailure()) return;
    front_ = std::make_unique<FaultyFront>(server_->grpc_address());
    int port = 0;
    server_front_ = StartFront(front_.get(), &port);
    ASSERT_NE(port, 0);
    SyncManager::Options options = ClientOptions(NewDataDir(), false);
    options.server_address = QStringLiteral("127.0.0.1:%1").arg(port);
    options.poll_interval = 300ms;
    client_ = Open(options);
  }

  void TearDown() override {
    client_.reset();
    if (server_front_) server_front_->Shutdown();
  }

  std::unique_ptr<FaultyFront> front_;
  std::unique_ptr<grpc::Server> server_front_;
  std::unique_ptr<SyncManager> client_;
};

// Issue 6, finding 2/3: an answer that cannot be read (a trailer over gRPC's
// metadata limit) used to read as "no connection" forever and wedge the
// queue. It parks that one mutation, visibly; everything else flows.
TEST_F(FaultTest, AnAnswerTooLargeToReadParksThatEditAndTheQueueKeepsDraining) {
  const QString stuck = CreateSynced(*client_, "Stuck");
  const QString fine = CreateSynced(*client_, "Fine");
  front_->Break(stuck.toStdString(), FaultyFront::Fault::kHugeTrailer);

  client_->setWorkOffline(true);
  client_->editProfile(stuck, "Stuck 2", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client_, [](const ClientSnapshot& s) { return s.pending_count == 1; }));
  client_->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client_, Shows(stuck, SyncState::kRejected)))
      << client_->snapshot()->last_error;

  // Edits made after it flow past the parked one. (They are made only now:
  // a call in flight on the same HTTP/2 connection as the oversized trailer
  // was once seen to fail with the same RESOURCE_EXHAUSTED and be parked
  // too; see the closing note of issue 6.)
  client_->editProfile(fine, "Fine 2", {}, {}, kName);
  client_->editProfile(fine, "Fine 3", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client_, [&](const ClientSnapshot& s) {
    return Shows(stuck, SyncState::kRejected)(s) && Shows(fine, SyncState::kSynced, "Fine 3", 3)(s);
  })) << client_->snapshot()->last_error;
  EXPECT_GE(front_->faults_served(), 1);
  EXPECT_EQ(ServerCopy(fine).name(), "Fine 3") << "the rest of the queue kept flowing";
  {
    const auto snapshot = client_->snapshot();
    EXPECT_EQ(snapshot->pending_count, 0u);
    // Online or syncing (the fallback polling may be pulling right now), but
    // never offline.
    EXPECT_NE(snapshot->connection, ConnectionState::kOffline)
        << "an answer is not a lost connection";
    const ProfileView* view = Find(*snapshot, stuck);
    EXPECT_FALSE(view->error.empty()) << "the server's (or gRPC's) message is shown";
    EXPECT_TRUE(view->retryable);
    EXPECT_NE(view->error_code, absl::StatusCode::kUnavailable);
    EXPECT_NE(view->error_code, absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(view->profile->name(), "Stuck") << "a parked edit is not shown as applied";
    std::cerr << "parked with " << absl::StatusCodeToString(view->error_code) << ": " << view->error
              << "\n";
  }

  // Retry once the server answers properly: same mutation, applied once.
  front_->Break(stuck.toStdString(), FaultyFront::Fault::kNone);
  client_->retryParked(stuck);
  ASSERT_TRUE(WaitFor(*client_, Shows(stuck, SyncState::kSynced, "Stuck 2", 2)))
      << client_->snapshot()->last_error;
  EXPECT_EQ(ServerCopy(stuck).name(), "Stuck 2");
}

TEST_F(FaultTest, AnUnexpectedAnswerCanBeDiscarded) {
  const QString stuck = CreateSynced(*client_, "Stuck");
  front_->Break(stuck.toStdString(), FaultyFront::Fault::kInternal);
  client_->editProfile(stuck, "Never", {}, {}, kName);
  ASSERT_TRUE(WaitFor(*client_, Shows(stuck, SyncState::kRejected)));
  {
    const auto snapshot = client_->snapshot();
    const ProfileView* view = Find(*snapshot, stuck);
    EXPECT_EQ(view->error_code, absl::StatusCode::kInternal);
    EXPECT_EQ(view->error, "internal error (request id r-42)");
    EXPECT_TRUE(view->retryable);
  }
  client_->dismissRejected(stuck);
  ASSERT_TRUE(WaitFor(*client_, AllSynced));
  EXPECT_TRUE(Shows(stuck, SyncState::kSynced, "Stuck", 1)(*client_->snapshot()));
  EXPECT_EQ(ServerCopy(stuck).version(), 1);
}

// Issue 6, finding 2: a conflict's details carry the avatar's sha but no
// bytes. The client shows the server's real picture (fetched with
// GetProfile), never "no picture".
TEST_F(FaultTest, AConflictWithoutAvatarBytesShowsTheServersPictureFetchedSeparately) {
  const std::string theirs = profiles::testing::RealisticPng(200 * 1024, 1);
  const std::string mine = profiles::testing::RealisticPng(150 * 1024, 2);
  const QString id = CreateSynced(*client_, "Pic");
  front_->Break(id.toStdString(), FaultyFront::Fault::kStripConflictAvatar);

  // Another device sets a picture; this one, offline, sets another.
  client_->setWorkOffline(true);
  client_->editProfile(id, {}, {}, QByteArray::fromStdString(mine), {QStringLiteral("avatar")});
  ASSERT_TRUE(WaitFor(*client_, Shows(id, SyncState::kPending)));
  {
    ProfileClient other({.address = server_->grpc_address()});
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id.toStdString());
    request.mutable_profile()->set_avatar(theirs);
    request.mutable_update_mask()->add_paths("avatar");
    request.set_expected_version(1);
    request.set_mutation_id(RandomUuid());
    ASSERT_TRUE(std::holds_alternative<Acknowledged>(other.Send(request)));
  }
  client_->setWorkOffline(false);
  ASSERT_TRUE(WaitFor(*client_, [&](const ClientSnapshot& s) {
    const ProfileView* view = Find(s, id);
    return view != nullptr && view->state == SyncState::kConflict && view->server_profile &&
           testing::PictureOf(*s.pictures, *view->server_profile) == theirs;
  })) << "the conflict must show the server's picture";
  EXPECT_GT(front_->get_calls_.load(), 0) << "fetched with GetProfile";
  const auto snapshot = client_->snapshot();
  const ProfileView* view = Find(*snapshot, id);
  EXPECT_EQ(testing::PictureOf(*snapshot->pictures, *view->profile), mine)
      << "the user's own picture stays on top";
  EXPECT_FALSE(view->server_profile->avatar_sha256().empty());
}

}  // namespace
}  // namespace profiles::client
