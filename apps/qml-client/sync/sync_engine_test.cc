// The sync rules, on an in-memory server behind a simulated network
// (fake_transport.h): deterministic, no threads, no sockets, no sleeps.
// Targeted cases first, then thousands of seeded random schedules of edits,
// deletes, edits and deletes made elsewhere, lost, duplicated and reordered
// messages and connectivity changes, each checked against the promises:
// every mutation applied at most once, nothing the user wrote lost, each
// profile's edits applied in the order they were made, nothing deleted
// shown again, and the device converging on the server's state.

#include "apps/qml-client/sync/sync_engine.h"

#include <gtest/gtest.h>

#include <QDir>
#include <QTemporaryDir>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/core/test_util.h"
#include "apps/qml-client/sync/fake_transport.h"

namespace profiles::client {
namespace {

using profile::client::v1::PendingMutation;
using profile::v1::Profile;
using testing::FakeProfileServer;
using testing::FakeTransport;
using testing::Simulation;
using namespace std::chrono_literals;

google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* path : paths) mask.add_paths(path);
  return mask;
}

// The engine's surroundings in the simulation: timers on the simulated
// clock, deferred work as ready tasks.
class SimHost : public SyncEngine::Host {
 public:
  explicit SimHost(Simulation* sim) : sim_(sim) {}

  void StartTimer(SyncEngine::Timer timer, std::chrono::milliseconds delay) override {
    StopTimer(timer);
    tokens_[timer] = sim_->PostAfter(delay, [this, timer] {
      tokens_.erase(timer);
      engine->OnTimer(timer);
    });
  }
  void StopTimer(SyncEngine::Timer timer) override {
    if (auto it = tokens_.find(timer); it != tokens_.end()) {
      sim_->Cancel(it->second);
      tokens_.erase(it);
    }
  }
  void Defer(std::function<void()> work) override { sim_->Post(std::move(work)); }
  void Publish(SyncEngine::PublishWhen) override { ++publishes; }
  void ReportLocalError(const absl::Status& status) override {
    ADD_FAILURE() << "local error: " << status;
  }
  absl::StatusOr<std::unique_ptr<LocalStore>> OpenStoreOf(const std::string& database_id,
                                                          const QString&) override {
    return absl::FailedPreconditionError("one database only in these tests: " + database_id);
  }
  void RememberServer(const std::string&, const std::string& database_id) override {
    remembered = database_id;
  }

  SyncEngine* engine = nullptr;
  int publishes = 0;
  std::string remembered;

 private:
  Simulation* const sim_;
  std::map<SyncEngine::Timer, uint64_t> tokens_;
};

// One device and one server in a simulation.
class World {
 public:
  World(uint64_t seed, FakeTransport::Faults faults, int max_sends_in_flight = 4,
        StoreFiles* files = RealStoreFiles())
      : sim_(seed),
        dir_(QDir("/dev/shm").exists() ? QStringLiteral("/dev/shm/profiles-engine-XXXXXX")
                                       : QDir::tempPath() + "/profiles-engine-XXXXXX"),
        transport_(&sim_, &server_, faults),
        host_(&sim_) {
    absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(dir_.path(), {}, files);
    EXPECT_TRUE(store.ok()) << store.status();
    engine_ = std::make_unique<SyncEngine>(
        SyncEngine::Options{
            .backoff = {.initial = 10ms, .max = 200ms},
            .random =
                [this] { return std::uniform_real_distribution<double>(0, 1)(sim_.random()); },
            .max_sends_in_flight = max_sends_in_flight,
            .poll_interval = 1000ms,
            .work_offline = false,
            .network_reachable = true,
        },
        *std::move(store), &transport_, &host_);
    host_.engine = engine_.get();
  }

  // A profile already on the server.
  std::string Seed(const std::string& name) {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id("seeded-" + name);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email(name + "@example.com");
    request.set_mutation_id("seed-" + name);
    EXPECT_TRUE(std::holds_alternative<Acknowledged>(server_.Update(request)));
    return request.profile().id();
  }

  // Runs until nothing is ready and no timer is left, or `limit` steps.
  void Settle(int limit = 100000) {
    for (int i = 0; i < limit && sim_.RunOne(); ++i) {
    }
  }

  void SetReachable(bool reachable) {
    transport_.set_reachable(reachable);
    engine_->SetNetworkReachable(reachable);
  }

  Simulation& sim() { return sim_; }
  FakeProfileServer& server() { return server_; }
  FakeTransport& transport() { return transport_; }
  SyncEngine& engine() { return *engine_; }
  const MutationQueue& queue() { return engine_->queue(); }

 private:
  Simulation sim_;
  QTemporaryDir dir_;
  FakeProfileServer server_;
  FakeTransport transport_;
  SimHost host_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST(SyncEngineTest, FirstContactBindsTheStoreAndListsTheServersProfiles) {
  World world(1, {});
  world.Seed("ada");
  world.Seed("grace");
  world.engine().Start();
  world.Settle();
  EXPECT_EQ(world.queue().database_id(), "fake-db");
  EXPECT_EQ(world.engine().store().state().profiles.size(), 2u);
  EXPECT_EQ(world.engine().connection(), ConnectionState::kOnline);
}

TEST(SyncEngineTest, DrainsSeveralProfilesAtOnceAndEachProfileInOrder) {
  World world(2, {}, /*max_sends_in_flight=*/4);
  world.SetReachable(false);
  world.engine().Start();
  std::vector<std::string> ids;
  for (int p = 0; p < 6; ++p) {
    Profile fields;
    fields.set_name("p" + std::to_string(p));
    fields.set_email("p" + std::to_string(p) + "@example.com");
    ids.push_back(world.engine().Create(fields, Mask({"name", "email"})));
    for (int e = 1; e <= 3; ++e) {
      fields.set_name("p" + std::to_string(p) + "-e" + std::to_string(e));
      world.engine().Edit(ids.back(), fields, Mask({"name"}), std::nullopt);
    }
  }
  ASSERT_EQ(world.queue().PendingCount(), 24u);
  world.SetReachable(true);
  world.Settle();

  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.transport().max_sends_in_flight, 4);
  for (size_t p = 0; p < ids.size(); ++p) {
    std::vector<std::string> names;
    for (const auto& write : world.server().history()) {
      if (write.profile_id == ids[p]) names.push_back(write.fields.at("name"));
    }
    const std::string prefix = "p" + std::to_string(p);
    EXPECT_EQ(names,
              (std::vector<std::string>{prefix, prefix + "-e1", prefix + "-e2", prefix + "-e3"}));
    EXPECT_EQ(world.server().profiles().at(ids[p]).version(), 4);
  }
}

TEST(SyncEngineTest, ALostAnswerIsSentAgainUnderTheSameIdAndAppliedOnce) {
  World world(3, {.lose_answer = 1.0});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.sim().RunReady();
  Profile fields;
  fields.set_name("Ada L.");
  world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  world.sim().RunReady();
  // Applied, but the answer was lost: still pending, backing off.
  EXPECT_EQ(world.server().profiles().at(id).name(), "Ada L.");
  EXPECT_EQ(world.queue().PendingCount(), 1u);
  world.transport().set_faults({});
  world.Settle();

  EXPECT_EQ(world.queue().PendingCount(), 0u);
  for (const auto& [mutation_id, count] : world.server().applications()) {
    EXPECT_EQ(count, 1) << mutation_id;
  }
  EXPECT_EQ(world.server().profiles().at(id).version(), 2);
  EXPECT_EQ(world.engine().store().state().profiles.at(id)->version(), 2);
}

TEST(SyncEngineTest, GoingOfflineReturnsTheMutationsInFlightToTheQueue) {
  World world(4, {});
  world.engine().Start();
  world.sim().RunReady();
  Profile fields;
  fields.set_name("Bea");
  fields.set_email("bea@example.com");
  const std::string id = world.engine().Create(fields, Mask({"name", "email"}));
  // The send is on its way; the network goes before the answer comes.
  world.SetReachable(false);
  world.Settle();
  EXPECT_EQ(world.queue().PendingCount(), 1u);
  EXPECT_EQ(world.engine().connection(), ConnectionState::kOffline);

  world.SetReachable(true);
  world.Settle();
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.server().profiles().at(id).name(), "Bea");
  EXPECT_EQ(world.server().applications().size(), 1u);
}

TEST(SyncEngineTest, ARefusedTokenStopsTheSyncWithEveryEditKeptUntilANewToken) {
  World world(5, {});
  const std::string id = world.Seed("ada");
  world.engine().SetToken("first");
  world.transport().set_accepted_token("first");
  world.engine().Start();
  world.Settle();
  ASSERT_EQ(world.engine().connection(), ConnectionState::kOnline);

  // The token is revoked (or expires) while the user edits offline-first.
  world.transport().set_accepted_token("second");
  Profile fields;
  for (int e = 1; e <= 3; ++e) {
    fields.set_name("Ada " + std::to_string(e));
    world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  }
  fields.set_name("Bea");
  fields.set_email("bea@example.com");
  const std::string created = world.engine().Create(fields, Mask({"name", "email"}));
  world.Settle();
  const int sends_when_refused = world.transport().sends;
  EXPECT_EQ(world.engine().connection(), ConnectionState::kSignedOut);
  EXPECT_NE(world.engine().last_error().find("Settings"), std::string::npos)
      << world.engine().last_error();
  // Nothing dropped, nothing parked as rejected (PendingCount leaves parked
  // edits out), nothing written.
  EXPECT_EQ(world.queue().PendingCount(), 4u);
  EXPECT_EQ(world.server().profiles().at(id).name(), "ada");
  // And no retries with a token that cannot work: Settle() has run every
  // timer; a refresh by the user does not send either.
  world.engine().Refresh();
  world.Settle();
  EXPECT_EQ(world.transport().sends, sends_when_refused);

  world.engine().SetToken("second");
  world.Settle();
  EXPECT_EQ(world.engine().connection(), ConnectionState::kOnline);
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.server().profiles().at(id).name(), "Ada 3");
  EXPECT_EQ(world.server().profiles().at(created).name(), "Bea");
  for (const auto& [mutation_id, count] : world.server().applications()) {
    EXPECT_EQ(count, 1) << mutation_id;
  }
}

TEST(SyncEngineTest, ARateLimitIsWaitedOutAndNothingIsParked) {
  World world(6, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.transport().LimitSendsUntil(world.sim().now() + 5000ms);
  Profile fields;
  for (int e = 1; e <= 3; ++e) {
    fields.set_name("Ada " + std::to_string(e));
    world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  }
  const int sends_before = world.transport().sends;
  world.Settle();
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.server().profiles().at(id).name(), "Ada 3");
  EXPECT_EQ(world.server().profiles().at(id).version(), 4);
  // One refused send, then the wait the server asked for (5 s), not the
  // backoff's 10-200 ms retries: about 25 more sends without it.
  EXPECT_LE(world.transport().sends - sends_before, 5);
}

TEST(SyncEngineTest, AnEditOfAFieldChangedElsewhereWaitsForTheUserAndOverwritesNothing) {
  World world(5, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile fields;
  fields.set_name("Ada (mine)");
  world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  world.server().WriteElsewhere(id, "name", "Ada (theirs)");
  world.SetReachable(true);
  world.Settle();

  EXPECT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  EXPECT_EQ(world.server().profiles().at(id).name(), "Ada (theirs)");
  world.engine().ResolveApplyMine(id);
  world.Settle();
  EXPECT_EQ(world.queue().StateOf(id), SyncState::kSynced);
  EXPECT_EQ(world.server().profiles().at(id).name(), "Ada (mine)");
  EXPECT_EQ(world.server().profiles().at(id).version(), 3);
}

TEST(SyncEngineTest, AnEditOfAnotherFieldIsRebasedOnTheChangeMadeElsewhere) {
  World world(6, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile fields;
  fields.set_name("Ada (mine)");
  world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  world.server().WriteElsewhere(id, "email", "ada@elsewhere.example");
  world.SetReachable(true);
  world.Settle();

  const Profile& server = world.server().profiles().at(id);
  EXPECT_EQ(server.name(), "Ada (mine)");
  EXPECT_EQ(server.email(), "ada@elsewhere.example");
  EXPECT_EQ(world.queue().StateOf(id), SyncState::kSynced);
  EXPECT_TRUE(world.queue().MergeNoteOf(id).has_value());
}

// The picture of a queued edit that can no longer be read back (the disk
// failed under it) is never sent without it, which would remove it on the
// server: the edit is parked with the reason shown at the picture, and the
// rest of the queue goes on.
TEST(SyncEngineTest, AnEditWhosePictureCannotBeReadIsParkedNotSentWithoutIt) {
  testing::FaultInjectingStoreFiles files;
  World world(11, {}, /*max_sends_in_flight=*/4, &files);
  const std::string ada = world.Seed("ada");
  const std::string bob = world.Seed("bob");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile picture;
  picture.set_avatar(std::string(150 * 1024, 'p'));
  world.engine().Edit(ada, picture, Mask({"avatar"}), std::nullopt);
  Profile name;
  name.set_name("Bob B.");
  world.engine().Edit(bob, name, Mask({"name"}), std::nullopt);
  files.FailRandomReads(true);
  world.SetReachable(true);
  world.Settle();
  EXPECT_EQ(world.queue().StateOf(ada), SyncState::kRejected);
  const std::vector<PendingMutation> parked = world.queue().MutationsOf(ada);
  ASSERT_EQ(parked.size(), 1u);
  ASSERT_EQ(parked[0].field_errors().count("avatar"), 1u);
  EXPECT_NE(parked[0].field_errors().at("avatar").find("can no longer be read"), std::string::npos)
      << parked[0].field_errors().at("avatar");
  EXPECT_EQ(world.server().profiles().at(ada).avatar_sha256(), "") << "sent without its picture";
  EXPECT_EQ(world.server().profiles().at(bob).name(), "Bob B.");
}

TEST(SyncEngineTest, APictureLeftOutOfAnEventIsFetched) {
  World world(7, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  const std::string picture(150 * 1024, 'p');
  world.server().WriteElsewhere(id, "avatar", picture);
  world.Settle();
  const Profile& cached = *world.engine().store().state().profiles.at(id);
  EXPECT_EQ(cached.avatar_sha256(), AvatarSha256(picture));
  EXPECT_EQ(testing::PictureOf(world.engine().store().state(), cached), picture);
}

// Deletes (issue 12). `Live` is the profile as the user sees it.
std::optional<Profile> Live(World& world, const std::string& id) {
  return world.queue().EffectiveProfile(id);
}

std::vector<std::string> WritesOf(World& world, const std::string& id) {
  std::vector<std::string> writes;
  for (const auto& write : world.server().history()) {
    if (write.profile_id != id) continue;
    writes.push_back(write.deletes                ? "delete"
                     : write.fields.count("name") ? write.fields.at("name")
                                                  : "?");
  }
  return writes;
}

TEST(SyncEngineTest, ADeleteMadeOfflineHidesTheProfileAtOnceAndIsSentWhenOnline) {
  World world(21, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  world.engine().Delete(id);
  EXPECT_FALSE(Live(world, id).has_value()) << "optimistic: gone from the list at once";
  EXPECT_EQ(world.queue().PendingCount(), 1u);
  EXPECT_FALSE(world.server().profiles().at(id).deleted());
  world.SetReachable(true);
  world.Settle();
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_FALSE(Live(world, id).has_value());
  const Profile& cached = *world.engine().store().state().profiles.at(id);
  EXPECT_TRUE(cached.deleted()) << "acknowledged by the tombstone";
  EXPECT_EQ(cached.version(), 2);
}

// Lost answers and duplicated requests: the delete is applied once, and
// settled by its retry's answer or by its tombstone from the watch,
// whichever comes first.
TEST(SyncEngineTest, ALostDeleteAnswerIsSentAgainUnderTheSameIdAndAppliedOnce) {
  World world(22, {.lose_answer = 1.0, .duplicate = 1.0});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.engine().Delete(id);
  const std::string mutation_id = world.queue().MutationsOf(id).at(0).mutation_id();
  world.sim().RunReady();
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
  world.transport().set_faults({});
  world.Settle();
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.server().applications().at(mutation_id), 1);
  EXPECT_EQ(world.server().profiles().at(id).version(), 2);
}

TEST(SyncEngineTest, EditsQueuedBeforeADeleteAreSentBeforeIt) {
  World world(23, {});
  const std::string id = world.Seed("ada");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile fields;
  fields.set_name("Ada L.");
  world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  fields.set_name("Ada Lovelace");
  world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
  world.engine().Delete(id);
  world.SetReachable(true);
  world.Settle();
  EXPECT_EQ(WritesOf(world, id),
            (std::vector<std::string>{"ada", "Ada L.", "Ada Lovelace", "delete"}));
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
  EXPECT_EQ(world.server().profiles().at(id).version(), 4) << "the delete was rebased on v3";
  EXPECT_EQ(world.queue().PendingCount(), 0u);
}

TEST(SyncEngineTest, ADeleteOfAProfileCreatedOfflineIsSentAfterItsCreate) {
  World world(24, {});
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile fields;
  fields.set_name("Temp");
  fields.set_email("temp@example.com");
  const std::string id = world.engine().Create(fields, Mask({"name", "email"}));
  world.engine().Delete(id);
  EXPECT_FALSE(Live(world, id).has_value());
  world.SetReachable(true);
  world.Settle();
  EXPECT_EQ(WritesOf(world, id), (std::vector<std::string>{"Temp", "delete"}));
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_FALSE(Live(world, id).has_value());
}

TEST(SyncEngineTest, ATombstoneFromTheWatchRemovesTheProfile) {
  World world(25, {});
  const std::string id = world.Seed("ada");
  const std::string other = world.Seed("grace");
  world.engine().Start();
  world.Settle();
  ASSERT_TRUE(Live(world, id).has_value());
  world.server().DeleteElsewhere(id);
  world.Settle();
  EXPECT_FALSE(Live(world, id).has_value());
  EXPECT_TRUE(world.engine().store().state().profiles.at(id)->deleted());
  EXPECT_TRUE(Live(world, other).has_value());
}

// Offline, the user edits a profile another device deletes meanwhile.
World* EditOfAProfileDeletedElsewhere(World* world, std::string* id) {
  *id = world->Seed("ada");
  world->engine().Start();
  world->Settle();
  world->SetReachable(false);
  Profile fields;
  fields.set_name("Ada (mine)");
  world->engine().Edit(*id, fields, Mask({"name"}), std::nullopt);
  world->server().DeleteElsewhere(*id);
  world->SetReachable(true);
  world->Settle();
  return world;
}

TEST(SyncEngineTest, AnEditOfAProfileDeletedElsewhereIsAConflictKeepingEveryField) {
  World world(26, {});
  std::string id;
  EditOfAProfileDeletedElsewhere(&world, &id);
  ASSERT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  const auto mutations = world.queue().MutationsOf(id);
  ASSERT_EQ(mutations.size(), 1u);
  EXPECT_TRUE(mutations[0].server_profile().deleted()) << "deleted elsewhere";
  const std::optional<Profile> shown = Live(world, id);
  ASSERT_TRUE(shown.has_value()) << "shown to the user, not silently dropped";
  EXPECT_EQ(shown->name(), "Ada (mine)");
  EXPECT_EQ(shown->email(), "ada@example.com");
  EXPECT_TRUE(world.server().profiles().at(id).deleted()) << "not silently resurrected";
}

TEST(SyncEngineTest, DiscardingAnEditOfAProfileDeletedElsewhereRemovesIt) {
  World world(27, {});
  std::string id;
  EditOfAProfileDeletedElsewhere(&world, &id);
  ASSERT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  world.engine().ResolveKeepServer(id);
  world.Settle();
  EXPECT_FALSE(Live(world, id).has_value());
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
}

TEST(SyncEngineTest, RecreatingAProfileDeletedElsewhereCreatesItWithEveryField) {
  World world(28, {});
  std::string id;
  EditOfAProfileDeletedElsewhere(&world, &id);
  ASSERT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  world.engine().ResolveApplyMine(id);
  world.Settle();
  const Profile& server = world.server().profiles().at(id);
  EXPECT_FALSE(server.deleted());
  EXPECT_EQ(server.name(), "Ada (mine)");
  EXPECT_EQ(server.email(), "ada@example.com");
  EXPECT_EQ(server.version(), 3) << "after the tombstone's version 2";
  EXPECT_EQ(world.queue().StateOf(id), SyncState::kSynced);
  ASSERT_TRUE(Live(world, id).has_value());
  EXPECT_EQ(Live(world, id)->version(), 3);
}

// Offline, the user deletes a profile another device edits meanwhile.
void DeleteOfAProfileChangedElsewhere(World* world, std::string* id) {
  *id = world->Seed("ada");
  world->engine().Start();
  world->Settle();
  world->SetReachable(false);
  world->engine().Delete(*id);
  world->server().WriteElsewhere(*id, "name", "Ada (theirs)");
  world->SetReachable(true);
  world->Settle();
}

TEST(SyncEngineTest, ADeleteOfAProfileChangedElsewhereShowsTheChangeAndAsksAgain) {
  World world(29, {});
  std::string id;
  DeleteOfAProfileChangedElsewhere(&world, &id);
  EXPECT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  EXPECT_FALSE(world.server().profiles().at(id).deleted()) << "not deleted over a change";
  ASSERT_TRUE(Live(world, id).has_value()) << "shown again, with the change";
  EXPECT_EQ(Live(world, id)->name(), "Ada (theirs)");
  world.engine().ResolveApplyMine(id);  // delete anyway
  EXPECT_FALSE(Live(world, id).has_value());
  world.Settle();
  EXPECT_TRUE(world.server().profiles().at(id).deleted());
  EXPECT_EQ(world.server().profiles().at(id).version(), 3);
  EXPECT_EQ(world.queue().PendingCount(), 0u);
}

TEST(SyncEngineTest, KeepingAProfileChangedElsewhereDropsTheDelete) {
  World world(30, {});
  std::string id;
  DeleteOfAProfileChangedElsewhere(&world, &id);
  ASSERT_EQ(world.queue().StateOf(id), SyncState::kConflict);
  world.engine().ResolveKeepServer(id);
  world.Settle();
  EXPECT_FALSE(world.server().profiles().at(id).deleted());
  ASSERT_TRUE(Live(world, id).has_value());
  EXPECT_EQ(Live(world, id)->name(), "Ada (theirs)");
  EXPECT_EQ(world.queue().PendingCount(), 0u);
  EXPECT_EQ(world.queue().StateOf(id), SyncState::kSynced);
}

// After the retention window: the tombstones are gone from the server and
// the device's cursor is refused; the full listing removes what it left out,
// and an edit of a purged profile is "deleted elsewhere" all the same.
TEST(SyncEngineTest, AfterTheRetentionWindowAFullListingRemovesWhatItLeftOut) {
  World world(31, {});
  const std::string ada = world.Seed("ada");
  const std::string grace = world.Seed("grace");
  const std::string alan = world.Seed("alan");
  world.engine().Start();
  world.Settle();
  world.SetReachable(false);
  Profile fields;
  fields.set_name("Grace (mine)");
  world.engine().Edit(grace, fields, Mask({"name"}), std::nullopt);
  world.server().DeleteElsewhere(ada);
  world.server().DeleteElsewhere(grace);
  world.server().PurgeTombstones();
  world.SetReachable(true);
  world.Settle();
  EXPECT_FALSE(Live(world, ada).has_value()) << "left out of the full listing: deleted";
  EXPECT_TRUE(Live(world, alan).has_value());
  EXPECT_EQ(world.queue().StateOf(grace), SyncState::kConflict);
  ASSERT_TRUE(Live(world, grace).has_value());
  EXPECT_EQ(Live(world, grace)->name(), "Grace (mine)");
  EXPECT_FALSE(world.queue().cursor().empty());
  world.engine().ResolveApplyMine(grace);
  world.Settle();
  EXPECT_EQ(world.server().profiles().at(grace).name(), "Grace (mine)");
  EXPECT_EQ(world.server().profiles().at(grace).email(), "grace@example.com");
}

TEST(SyncEngineTest, AnEditDeletedElsewhereWhileOnlineIsSettledByTheWatchEvenInFlight) {
  // The tombstone and the edit's answer race: whichever comes first, the
  // edit ends as "deleted elsewhere" and nothing is reported as an error.
  for (uint64_t seed = 40; seed < 60; ++seed) {
    World world(seed, {});
    const std::string id = world.Seed("ada");
    world.engine().Start();
    world.Settle();
    Profile fields;
    fields.set_name("Ada (mine)");
    world.server().DeleteElsewhere(id);
    world.engine().Edit(id, fields, Mask({"name"}), std::nullopt);
    world.Settle();
    EXPECT_EQ(world.queue().StateOf(id), SyncState::kConflict) << "seed " << seed;
    EXPECT_TRUE(world.server().profiles().at(id).deleted());
  }
}

// The random schedules. Each seed is a world: four profiles on the server,
// then 150 random events (the user's edits, creations and deletes, another
// device's edits and deletes, the network coming and going, refreshes,
// messages delivered in random order with drops, lost answers and
// duplicates), then a calm period without faults until everything is
// settled. Conflicts are resolved by the user with "apply mine" (keep their
// edit, recreate a profile deleted elsewhere, delete anyway a profile changed
// elsewhere), so every value the user wrote to a profile they did not delete
// must reach the server, and every profile they deleted must end deleted.
class RandomSchedule {
 public:
  explicit RandomSchedule(uint64_t seed)
      : world_(seed, {.drop_request = 0.1,
                      .lose_answer = 0.1,
                      .duplicate = 0.1,
                      .fail_health = 0.1,
                      .fail_page = 0.05,
                      .end_watch = 0.05}) {}

  void Run() {
    for (const char* name : {"ada", "grace", "alan", "barbara"}) world_.Seed(name);
    world_.engine().Start();
    Simulation& sim = world_.sim();
    for (int step = 0; step < 150; ++step) {
      const size_t roll = sim.Below(100);
      if (roll < 14) {
        UserEdit();
      } else if (roll < 17) {
        UserCreate();
      } else if (roll < 21) {
        UserDelete();
      } else if (roll < 28) {
        ElsewhereEdit();
      } else if (roll < 31) {
        ElsewhereDelete();
      } else if (roll < 35) {
        world_.SetReachable(!reachable_);
        reachable_ = !reachable_;
      } else if (roll < 37) {
        world_.engine().Refresh();
      } else if (roll < 44) {
        ResolveAConflict();
      } else {
        sim.RunOne();
      }
    }
    // Calm: no faults, the network up, conflicts resolved as they appear.
    world_.transport().set_faults({});
    world_.SetReachable(true);
    for (int i = 0; i < 200000; ++i) {
      if (ResolveAConflict()) continue;
      if (!sim.RunOne()) break;
    }
  }

  void Check() {
    const FakeProfileServer& server = world_.server();
    const MutationQueue& queue = world_.queue();
    // Exactly once.
    for (const auto& [mutation_id, count] : server.applications()) {
      EXPECT_EQ(count, 1) << "mutation " << mutation_id << " applied " << count << " times";
    }
    // Per-profile order, and each value written once: the user's values
    // are numbered in the order they were made. A recreate writes every
    // field of the user's copy again, so it may repeat the last value.
    std::map<std::pair<std::string, std::string>, int> last_written;
    std::set<std::string> written;
    for (const FakeProfileServer::Write& write : server.history()) {
      if (write.mutation_id.empty() || write.mutation_id.rfind("seed-", 0) == 0) continue;
      for (const auto& [field, value] : write.fields) {
        const auto number = numbers_.find(value);
        if (number == numbers_.end()) continue;  // a value of another field kept by a create
        const bool first = written.insert(value).second;
        int& last = last_written[{write.profile_id, field}];
        if (write.recreates) {
          EXPECT_LE(last, number->second) << field << " of " << write.profile_id
                                          << ": recreated with " << value << " after a later edit";
        } else {
          EXPECT_TRUE(first) << value << " written twice";
          EXPECT_LT(last, number->second)
              << field << " of " << write.profile_id << ": " << value << " after a later edit";
        }
        last = number->second;
      }
    }
    // The user's deletes: each ends deleted on the server.
    for (const std::string& id : deleted_here_) {
      ASSERT_EQ(server.profiles().count(id), 1u) << id;
      EXPECT_TRUE(server.profiles().at(id).deleted()) << "the user's delete of " << id << " lost";
    }
    // Nothing lost: the user's last value of every field of a profile they
    // did not delete reached the server.
    for (const auto& [key, value] : last_value_) {
      if (deleted_here_.count(key.first) != 0) continue;
      EXPECT_TRUE(written.count(value) == 1)
          << key.second << " of " << key.first << ": " << value << " never reached the server";
    }
    // Convergence: deleted profiles not shown, the others as the server has
    // them, and nothing shown that the server does not have live.
    EXPECT_EQ(queue.PendingCount(), 0u);
    EXPECT_EQ(world_.engine().connection(), ConnectionState::kOnline);
    for (const auto& [id, theirs] : server.profiles()) {
      const std::optional<Profile> mine = queue.EffectiveProfile(id);
      if (theirs.deleted()) {
        EXPECT_FALSE(mine.has_value()) << id << " deleted on the server but shown";
        continue;
      }
      EXPECT_EQ(queue.StateOf(id), SyncState::kSynced) << id;
      ASSERT_TRUE(mine.has_value()) << id;
      EXPECT_EQ(mine->version(), theirs.version()) << id;
      EXPECT_EQ(mine->name(), theirs.name()) << id;
      EXPECT_EQ(mine->email(), theirs.email()) << id;
      EXPECT_EQ(mine->avatar_sha256(), theirs.avatar_sha256()) << id;
      EXPECT_EQ(testing::PictureOf(world_.engine().store().state(), *mine), theirs.avatar()) << id;
    }
    for (const std::string& id : Shown(/*outside_conflicts=*/false)) {
      ASSERT_EQ(server.profiles().count(id), 1u) << id << " shown but never on the server";
      EXPECT_FALSE(server.profiles().at(id).deleted()) << id << " resurrected";
    }
  }

 private:
  // A new value, numbered in creation order.
  std::string NewValue(const std::string& prefix) {
    const std::string value = prefix + std::to_string(++counter_);
    numbers_[value] = counter_;
    return value;
  }

  // The profiles the user sees, or (`outside_conflicts`) may delete.
  std::vector<std::string> Shown(bool outside_conflicts) {
    std::vector<std::string> shown;
    for (const std::string& id : world_.queue().ProfileIds()) {
      if (!world_.queue().EffectiveProfile(id)) continue;
      if (outside_conflicts && world_.queue().StateOf(id) == SyncState::kConflict) continue;
      shown.push_back(id);
    }
    return shown;
  }

  std::vector<std::string> LiveOnServer() {
    std::vector<std::string> live;
    for (const auto& [id, profile] : world_.server().profiles()) {
      if (!profile.deleted()) live.push_back(id);
    }
    return live;
  }

  void UserEdit() {
    // Edits in a conflict too, but (as the app) not of a profile the user
    // deleted, shown again while "changed since you deleted it".
    std::vector<std::string> ids;
    for (const std::string& id : Shown(/*outside_conflicts=*/false)) {
      if (deleted_here_.count(id) == 0) ids.push_back(id);
    }
    if (ids.empty()) return;
    const std::string& id = ids[world_.sim().Below(ids.size())];
    static constexpr const char* kFields[] = {"name", "email", "avatar"};
    const std::string field = kFields[world_.sim().Below(3)];
    Profile fields;
    const std::string value = NewValue(field == "avatar" ? "picture-" : "u");
    if (field == "name") fields.set_name(value);
    if (field == "email") fields.set_email(value + "@example.com");
    if (field == "avatar") fields.set_avatar(value);
    const std::string recorded = field == "email"    ? value + "@example.com"
                                 : field == "avatar" ? AvatarSha256(value)
                                                     : value;
    numbers_[recorded] = numbers_[value];
    last_value_[{id, field}] = recorded;
    world_.engine().Edit(id, fields, Mask({field.c_str()}), std::nullopt);
  }

  void UserCreate() {
    Profile fields;
    const std::string name = NewValue("new-");
    fields.set_name(name);
    fields.set_email(name + "@example.com");
    const std::string id = world_.engine().Create(fields, Mask({"name", "email"}));
    last_value_[{id, "name"}] = name;
  }

  void UserDelete() {
    const std::vector<std::string> ids = Shown(/*outside_conflicts=*/true);
    if (ids.empty()) return;
    const std::string& id = ids[world_.sim().Below(ids.size())];
    world_.engine().Delete(id);
    EXPECT_FALSE(world_.queue().EffectiveProfile(id).has_value());
    deleted_here_.insert(id);
  }

  void ElsewhereEdit() {
    const std::vector<std::string> live = LiveOnServer();
    if (live.empty()) return;
    static constexpr const char* kFields[] = {"name", "email"};
    world_.server().WriteElsewhere(live[world_.sim().Below(live.size())],
                                   kFields[world_.sim().Below(2)],
                                   "elsewhere-" + std::to_string(++elsewhere_));
  }

  void ElsewhereDelete() {
    const std::vector<std::string> live = LiveOnServer();
    if (live.empty()) return;
    world_.server().DeleteElsewhere(live[world_.sim().Below(live.size())]);
  }

  bool ResolveAConflict() {
    for (const std::string& id : world_.queue().ProfileIds()) {
      if (world_.queue().StateOf(id) == SyncState::kConflict) {
        world_.engine().ResolveApplyMine(id);
        return true;
      }
    }
    return false;
  }

  World world_;
  bool reachable_ = true;
  int counter_ = 0;
  int elsewhere_ = 0;
  std::map<std::string, int> numbers_;
  std::map<std::pair<std::string, std::string>, std::string> last_value_;
  std::set<std::string> deleted_here_;
};

// Every promise on every seed: 3000 by default (a few seconds), or
// PROFILES_ENGINE_SEEDS.
TEST(SyncEngineTest, RandomSchedulesApplyOnceInOrderLoseNothingNeverResurrectAndConverge) {
  const char* env = std::getenv("PROFILES_ENGINE_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 3000;
  for (int seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RandomSchedule schedule(static_cast<uint64_t>(seed));
    schedule.Run();
    schedule.Check();
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace profiles::client
