#include "apps/qml-client/core/mutation_queue.h"

#include <signal.h>
#include <sys/resource.h>

#include <QtCore/QDir>
#include <QtCore/QTemporaryDir>
#include <QtCore/QUuid>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/core/test_util.h"
#include "gtest/gtest.h"

namespace profiles::client {
namespace {

using profile::client::v1::PendingMutation;
using profile::v1::Profile;
using testing::Digest;
using testing::MakeProfile;
using testing::Mask;

constexpr char kAda[] = "00000000-0000-4000-8000-00000000000a";
constexpr char kBob[] = "00000000-0000-4000-8000-00000000000b";
constexpr char kCy[] = "00000000-0000-4000-8000-00000000000c";

Profile Name(const std::string& name) { return MakeProfile("", name, "", 0); }
Profile Email(const std::string& email) { return MakeProfile("", "", email, 0); }

class MutationQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reopen();
    ASSERT_TRUE(queue_
                    ->ApplyServerProfiles({MakeProfile(kAda, "Ada", "ada@example.com", 3),
                                           MakeProfile(kBob, "Bob", "bob@example.com", 1),
                                           MakeProfile(kCy, "Cy", "cy@example.com", 1)},
                                          "")
                    .ok());
  }

  // A restart: everything in memory is gone, the folder stays.
  void Reopen() {
    queue_.reset();
    store_.reset();
    auto store = LocalStore::Open(dir_.path(), {});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    queue_ = std::make_unique<MutationQueue>(store_.get());
  }

  PendingMutation Edit(const std::string& id, const Profile& fields,
                       const google::protobuf::FieldMask& mask) {
    const int64_t base = queue_->EffectiveProfile(id).value_or(Profile()).version();
    auto mutation = queue_->EnqueueEdit(id, base, fields, mask);
    EXPECT_TRUE(mutation.ok()) << mutation.status();
    return mutation.value_or(PendingMutation());
  }

  std::string NextId() {
    auto next = queue_->NextToSend();
    return next ? next->mutation_id() : "none";
  }

  QTemporaryDir dir_;
  std::unique_ptr<LocalStore> store_;
  std::unique_ptr<MutationQueue> queue_;
};

TEST_F(MutationQueueTest, ACreateGetsNewUuidsAndBaseVersionZero) {
  auto create =
      queue_->EnqueueCreate(MakeProfile("", "Nia", "nia@example.com", 0), Mask({"email", "name"}));
  ASSERT_TRUE(create.ok()) << create.status();
  EXPECT_FALSE(QUuid::fromString(QString::fromStdString(create->profile_id())).isNull());
  EXPECT_FALSE(QUuid::fromString(QString::fromStdString(create->mutation_id())).isNull());
  EXPECT_NE(create->profile_id(), create->mutation_id());
  EXPECT_TRUE(create->creates());
  const auto request = queue_->ToRequest(*create).value();
  EXPECT_EQ(request.expected_version(), 0);
  EXPECT_EQ(request.mutation_id(), create->mutation_id());
  EXPECT_EQ(request.profile().id(), create->profile_id());
  EXPECT_EQ(request.profile().name(), "Nia");
  EXPECT_EQ(request.update_mask().ShortDebugString(), R"(paths: "name" paths: "email")");
  EXPECT_EQ(queue_->EffectiveProfile(create->profile_id())->email(), "nia@example.com");
  EXPECT_EQ(queue_->StateOf(create->profile_id()), SyncState::kPending);
}

// A profile without a pending edit is shown as the cached copy itself, so
// its picture is held once; an edit makes a copy and leaves the cache's alone.
TEST_F(MutationQueueTest, AnUneditedProfileIsSharedWithTheCache) {
  const std::shared_ptr<const Profile> cached = store_->state().profiles.at(kAda);
  EXPECT_EQ(queue_->SharedEffectiveProfile(kAda), cached);
  Edit(kAda, Name("Ada L."), Mask({"name"}));
  const std::shared_ptr<const Profile> shown = queue_->SharedEffectiveProfile(kAda);
  ASSERT_NE(shown, nullptr);
  EXPECT_NE(shown, cached);
  EXPECT_EQ(shown->name(), "Ada L.");
  EXPECT_EQ(cached->name(), "Ada") << "the cached copy is never changed in place";
  EXPECT_EQ(queue_->SharedEffectiveProfile("no-such-profile"), nullptr);
}

TEST_F(MutationQueueTest, RejectsBadMasksAndUnknownProfiles) {
  EXPECT_EQ(queue_->EnqueueEdit(kAda, 3, Name("x"), Mask({})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(queue_->EnqueueEdit(kAda, 3, Name("x"), Mask({"version"})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(queue_->EnqueueEdit("no-such-id", 3, Name("x"), Mask({"name"})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(queue_->PendingCount(), 0u);
}

TEST_F(MutationQueueTest, SendsInCreationOrder) {
  const auto b = Edit(kBob, Name("B"), Mask({"name"}));
  const auto a = Edit(kAda, Name("A"), Mask({"name"}));
  const auto c = Edit(kCy, Name("C"), Mask({"name"}));
  EXPECT_EQ(NextId(), b.mutation_id());
  EXPECT_EQ(NextId(), a.mutation_id());
  EXPECT_EQ(NextId(), c.mutation_id());
  EXPECT_EQ(NextId(), "none");
}

// amplify-js #6363: a second edit queued while the first is in flight must
// not reuse the first one's base version.
TEST_F(MutationQueueTest, TheSecondEditWaitsForTheFirstAndIsBasedOnItsResult) {
  const auto first = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto second = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  EXPECT_EQ(second.base_version(), 3);

  auto sent = queue_->NextToSend();
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->mutation_id(), first.mutation_id());
  EXPECT_EQ(queue_->ToRequest(*sent).value().expected_version(), 3);
  EXPECT_EQ(NextId(), "none") << "the second edit waits while the first is in flight";
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSyncing);

  ASSERT_TRUE(
      queue_->Acknowledge(first.mutation_id(), MakeProfile(kAda, "Ada L.", "ada@example.com", 4))
          .ok());
  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->mutation_id(), second.mutation_id());
  EXPECT_EQ(queue_->ToRequest(*next).value().expected_version(), 4);
  ASSERT_TRUE(
      queue_->Acknowledge(second.mutation_id(), MakeProfile(kAda, "Ada L.", "ada@l.org", 5)).ok());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSynced);
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->version(), 5);
}

TEST_F(MutationQueueTest, AnEditOfAProfileBeingCreatedIsBasedOnTheCreatedVersion) {
  auto create =
      queue_->EnqueueCreate(MakeProfile("", "Nia", "nia@example.com", 0), Mask({"name", "email"}));
  ASSERT_TRUE(create.ok());
  const auto edit = Edit(create->profile_id(), Name("Nia N."), Mask({"name"}));
  EXPECT_EQ(queue_->EffectiveProfile(create->profile_id())->name(), "Nia N.");
  EXPECT_EQ(NextId(), create->mutation_id());
  ASSERT_TRUE(queue_
                  ->Acknowledge(create->mutation_id(),
                                MakeProfile(create->profile_id(), "Nia", "nia@example.com", 1))
                  .ok());
  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->mutation_id(), edit.mutation_id());
  EXPECT_FALSE(next->creates());
  EXPECT_EQ(queue_->ToRequest(*next).value().expected_version(), 1);
}

// A poison message must not stall the queue (amplify-android #976).
TEST_F(MutationQueueTest, ARejectedMutationIsParkedAndBlocksNothing) {
  const auto bad = Edit(kAda, Name(""), Mask({"name"}));
  const auto later = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  const auto other = Edit(kBob, Name("Bo"), Mask({"name"}));
  EXPECT_EQ(NextId(), bad.mutation_id());
  ASSERT_TRUE(queue_->Reject(bad.mutation_id(), "invalid", {{"name", "must not be empty"}}).ok());

  EXPECT_EQ(NextId(), later.mutation_id());
  EXPECT_EQ(NextId(), other.mutation_id());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kRejected);
  EXPECT_EQ(queue_->PendingCount(), 2u);
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada") << "a rejected value is not shown";
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->email(), "ada@l.org");

  Reopen();
  const auto mutations = queue_->MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 2u);
  EXPECT_EQ(mutations[0].state(), PendingMutation::STATE_PARKED);
  EXPECT_EQ(mutations[0].error_message(), "invalid");
  EXPECT_EQ(mutations[0].field_errors().at("name"), "must not be empty");
  EXPECT_EQ(NextId(), later.mutation_id()) << "parked stays parked after a restart";

  ASSERT_TRUE(queue_->DismissRejected(bad.mutation_id()).ok());
  EXPECT_EQ(queue_->MutationsOf(kAda).size(), 1u);
  EXPECT_EQ(queue_->DismissRejected(bad.mutation_id()).code(), absl::StatusCode::kNotFound);
}

TEST_F(MutationQueueTest, AnEditAfterARejectedCreateBecomesTheCreate) {
  auto create =
      queue_->EnqueueCreate(MakeProfile("", "", "nia@example.com", 0), Mask({"name", "email"}));
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(NextId(), create->mutation_id());
  ASSERT_TRUE(queue_->Reject(create->mutation_id(), "invalid", {{"name", "required"}}).ok());

  auto fix = queue_->EnqueueEdit(create->profile_id(), 0, Name("Nia"), Mask({"name"}));
  ASSERT_TRUE(fix.ok()) << fix.status();
  EXPECT_TRUE(fix->creates());
  EXPECT_EQ(fix->fields().name(), "Nia");
  EXPECT_EQ(fix->fields().email(), "nia@example.com");
  EXPECT_EQ(fix->mask().ShortDebugString(), R"(paths: "name" paths: "email")");
  EXPECT_EQ(NextId(), fix->mutation_id());
}

TEST_F(MutationQueueTest, AConflictHoldsBackItsProfileOnly) {
  const auto mine = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto behind = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  const auto other = Edit(kBob, Name("Bo"), Mask({"name"}));
  EXPECT_EQ(NextId(), mine.mutation_id());
  ASSERT_TRUE(
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@k.org", 7)).ok());

  EXPECT_EQ(NextId(), other.mutation_id());
  EXPECT_EQ(NextId(), "none") << behind.mutation_id() << " waits behind the conflict";
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kConflict);
  const Profile shown = *queue_->EffectiveProfile(kAda);
  EXPECT_EQ(shown.name(), "Ada L.");
  EXPECT_EQ(shown.email(), "ada@l.org");
  EXPECT_EQ(shown.version(), 7);

  Reopen();
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kConflict);
  EXPECT_EQ(queue_->MutationsOf(kAda)[0].server_profile().name(), "Ada K.");
  EXPECT_EQ(NextId(), other.mutation_id());
  EXPECT_EQ(NextId(), "none");
}

TEST_F(MutationQueueTest, KeepServerDropsTheConflictAndTheEditsBehindIt) {
  const auto mine = Edit(kAda, Name("Ada L."), Mask({"name"}));
  Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  const auto other = Edit(kBob, Name("Bo"), Mask({"name"}));
  EXPECT_EQ(NextId(), mine.mutation_id());
  ASSERT_TRUE(
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@k.org", 7)).ok());
  EXPECT_EQ(queue_->ResolveKeepServer(kBob).code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(queue_->ResolveKeepServer(kAda).ok());
  Reopen();
  EXPECT_TRUE(queue_->MutationsOf(kAda).empty());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSynced);
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->ShortDebugString(),
            MakeProfile(kAda, "Ada K.", "ada@k.org", 7).ShortDebugString());
  EXPECT_EQ(NextId(), other.mutation_id());
}

TEST_F(MutationQueueTest, ApplyMineRequeuesAllMyFieldsAsOneMutationOnTheServerVersion) {
  const auto mine = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto behind = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  EXPECT_EQ(NextId(), mine.mutation_id());
  ASSERT_TRUE(
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@k.org", 7)).ok());

  auto replacement = queue_->ResolveApplyMine(kAda);
  ASSERT_TRUE(replacement.ok()) << replacement.status();
  EXPECT_NE(replacement->mutation_id(), mine.mutation_id());
  EXPECT_NE(replacement->mutation_id(), behind.mutation_id());
  Reopen();
  const auto mutations = queue_->MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 1u);
  EXPECT_EQ(mutations[0].mutation_id(), replacement->mutation_id());
  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  const auto request = queue_->ToRequest(*next).value();
  EXPECT_EQ(request.mutation_id(), replacement->mutation_id());
  EXPECT_EQ(request.expected_version(), 7);
  EXPECT_EQ(request.profile().name(), "Ada L.");
  EXPECT_EQ(request.profile().email(), "ada@l.org");
  EXPECT_EQ(request.update_mask().ShortDebugString(), R"(paths: "name" paths: "email")");
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada L.");
}

// A lost acknowledgement must never apply a change twice: every retry sends
// the very same request.
TEST_F(MutationQueueTest, ARetrySendsTheSameMutationId) {
  const auto edit = Edit(kAda, Name("Ada L."), Mask({"name"}));
  auto first = queue_->NextToSend();
  ASSERT_TRUE(first.has_value());
  const std::string request = queue_->ToRequest(*first).value().SerializeAsString();
  for (int attempt = 0; attempt < 3; ++attempt) {
    ASSERT_TRUE(queue_->SendFailed(first->mutation_id()).ok());
    EXPECT_EQ(queue_->StateOf(kAda), SyncState::kPending);
    auto retry = queue_->NextToSend();
    ASSERT_TRUE(retry.has_value());
    EXPECT_EQ(queue_->ToRequest(*retry).value().SerializeAsString(), request);
  }
  Reopen();
  auto after_restart = queue_->NextToSend();
  ASSERT_TRUE(after_restart.has_value());
  EXPECT_EQ(queue_->ToRequest(*after_restart).value().SerializeAsString(), request);

  ASSERT_TRUE(
      queue_->Acknowledge(edit.mutation_id(), MakeProfile(kAda, "Ada L.", "a@b.c", 4)).ok());
  EXPECT_EQ(queue_->Acknowledge(edit.mutation_id(), MakeProfile(kAda, "Ada L.", "a@b.c", 4)).code(),
            absl::StatusCode::kNotFound)
      << "a duplicate acknowledgement changes nothing";
}

// redux-offline #281 (outbox empty after a restart) and #368 (a persisted
// "busy" flag leaves the queue stuck).
TEST_F(MutationQueueTest, ARestartRestoresTheQueueAndResendsWhatWasInFlight) {
  auto create =
      queue_->EnqueueCreate(MakeProfile("", "Nia", "nia@example.com", 0), Mask({"name", "email"}));
  ASSERT_TRUE(create.ok());
  const auto bob = Edit(kBob, Name("Bo"), Mask({"name"}));
  const auto nia = Edit(create->profile_id(), Name("Nia N."), Mask({"name"}));
  EXPECT_EQ(NextId(), create->mutation_id());
  EXPECT_EQ(NextId(), bob.mutation_id());
  EXPECT_EQ(queue_->StateOf(create->profile_id()), SyncState::kSyncing);
  const std::string digest = Digest(store_->state());

  Reopen();
  EXPECT_EQ(Digest(store_->state()), digest);
  EXPECT_EQ(queue_->PendingCount(), 3u);
  EXPECT_EQ(queue_->StateOf(create->profile_id()), SyncState::kPending);
  EXPECT_EQ(NextId(), create->mutation_id());
  EXPECT_EQ(NextId(), bob.mutation_id());
  EXPECT_EQ(NextId(), "none");
  ASSERT_TRUE(queue_
                  ->Acknowledge(create->mutation_id(),
                                MakeProfile(create->profile_id(), "Nia", "nia@example.com", 1))
                  .ok());
  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->mutation_id(), nia.mutation_id());
  EXPECT_EQ(next->base_version(), 1);
}

// Write-ahead: whatever a call returned is already on disk, so a copy of the
// folder taken right after any call reopens to the same state.
TEST_F(MutationQueueTest, EveryTransitionIsDurableWhenItReturns) {
  auto durable = [&] {
    QTemporaryDir copy;
    for (const QString& name : QDir(dir_.path()).entryList(QDir::Files)) {
      // The lock names this live process; a crash would leave a dead one's.
      if (name == kLockFileName) continue;
      QFile::copy(QDir(dir_.path()).filePath(name), QDir(copy.path()).filePath(name));
    }
    auto reopened = LocalStore::Open(copy.path(), {});
    return reopened.ok() && Digest((*reopened)->state()) == Digest(store_->state());
  };
  const auto a1 = Edit(kAda, Name("A1"), Mask({"name"}));
  EXPECT_TRUE(durable());
  Edit(kAda, Name("A2"), Mask({"name"}));
  const auto b1 = Edit(kBob, Name(""), Mask({"name"}));
  EXPECT_EQ(NextId(), a1.mutation_id());
  ASSERT_TRUE(queue_->Conflict(a1.mutation_id(), MakeProfile(kAda, "X", "x@y.z", 9)).ok());
  EXPECT_TRUE(durable());
  EXPECT_EQ(NextId(), b1.mutation_id());
  ASSERT_TRUE(queue_->Reject(b1.mutation_id(), "invalid", {}).ok());
  EXPECT_TRUE(durable());
  ASSERT_TRUE(queue_->ResolveApplyMine(kAda).ok());
  EXPECT_TRUE(durable());
  ASSERT_TRUE(queue_
                  ->Acknowledge(queue_->NextToSend().value().mutation_id(),
                                MakeProfile(kAda, "A2", "x@y.z", 10))
                  .ok());
  EXPECT_TRUE(durable());
  ASSERT_TRUE(queue_->ApplyServerProfiles({MakeProfile(kCy, "C", "c@d.e", 2)}, "cursor-9").ok());
  EXPECT_TRUE(durable());
  EXPECT_EQ(queue_->cursor(), "cursor-9");
}

TEST_F(MutationQueueTest, PulledServerDataReplacesTheCacheUnderThePendingFields) {
  Edit(kAda, Name("Mine"), Mask({"name"}));
  ASSERT_TRUE(queue_
                  ->ApplyServerProfiles({MakeProfile(kAda, "Theirs", "new@example.com", 4),
                                         MakeProfile(kBob, "Robert", "bob@example.com", 2)},
                                        "cursor-1")
                  .ok());
  EXPECT_EQ(queue_->EffectiveProfile(kBob)->name(), "Robert");
  Profile ada = *queue_->EffectiveProfile(kAda);
  EXPECT_EQ(ada.name(), "Mine");
  EXPECT_EQ(ada.email(), "new@example.com");
  EXPECT_EQ(ada.version(), 4);
  EXPECT_EQ(queue_->MutationsOf(kAda)[0].base_version(), 3)
      << "a pull never rebases an edit: the server must see that it was stale";
  Reopen();
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->ShortDebugString(), ada.ShortDebugString());
  EXPECT_EQ(queue_->cursor(), "cursor-1");
  EXPECT_EQ(queue_->ProfileIds(), (std::vector<std::string>{kAda, kBob, kCy}));
}

// Issue 6, finding 1: an edit is merged with what changed since the user saw
// the profile, field by field.
TEST_F(MutationQueueTest, AnEditOfAnotherFieldIsRebasedOntoTheNewerVersionUnderADerivedId) {
  const auto mine = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  EXPECT_EQ(mine.base_fields().name(), "Ada");
  EXPECT_EQ(NextId(), mine.mutation_id());
  auto merged =
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@example.com", 4));
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(*merged, MutationQueue::Merged::kRebased);
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kPending);
  EXPECT_EQ(queue_->MergeNoteOf(kAda), std::vector<std::string>{"name"});
  Reopen();

  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(next->mutation_id(), mine.mutation_id()) << "a rebased request is another request";
  EXPECT_FALSE(QUuid::fromString(QString::fromStdString(next->mutation_id())).isNull());
  const auto request = queue_->ToRequest(*next).value();
  EXPECT_EQ(request.expected_version(), 4);
  EXPECT_EQ(request.update_mask().ShortDebugString(), R"(paths: "email")")
      << "the stale name must not be written";
  EXPECT_EQ(request.profile().email(), "ada@l.org");
  const Profile shown = *queue_->EffectiveProfile(kAda);
  EXPECT_EQ(shown.name(), "Ada K.");
  EXPECT_EQ(shown.email(), "ada@l.org");

  ASSERT_TRUE(
      queue_->Acknowledge(next->mutation_id(), MakeProfile(kAda, "Ada K.", "ada@l.org", 5)).ok());
  Reopen();
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSynced);
  EXPECT_EQ(queue_->MergeNoteOf(kAda), std::vector<std::string>{"name"})
      << "the note stays after the acknowledgement";
  ASSERT_TRUE(queue_->DismissMergeNote(kAda).ok());
  Reopen();
  EXPECT_FALSE(queue_->MergeNoteOf(kAda).has_value());
}

TEST_F(MutationQueueTest, TheSameRebaseAlwaysGetsTheSameId) {
  std::string first_id;
  for (int attempt = 0; attempt < 2; ++attempt) {
    QTemporaryDir dir;
    auto store = LocalStore::Open(dir.path(), {});
    ASSERT_TRUE(store.ok());
    MutationQueue queue(store->get());
    ASSERT_TRUE(queue.ApplyServerProfiles({MakeProfile(kAda, "Ada", "a@x.org", 3)}, "").ok());
    // The same enqueued mutation (same id) on both attempts.
    profile::client::v1::JournalRecord record;
    auto* m = record.mutable_mutation_enqueued();
    m->set_mutation_id("11111111-1111-4111-8111-111111111111");
    m->set_profile_id(kAda);
    m->set_base_version(3);
    m->set_sequence(1);
    m->set_state(PendingMutation::STATE_QUEUED);
    *m->mutable_fields() = Email("b@x.org");
    *m->mutable_mask() = Mask({"email"});
    *m->mutable_base_fields() = MakeProfile("", "Ada", "a@x.org", 0);
    ASSERT_TRUE((*store)->Append(record).ok());
    ASSERT_TRUE(queue.NextToSend().has_value());
    ASSERT_TRUE(queue.Conflict(m->mutation_id(), MakeProfile(kAda, "Zed", "a@x.org", 4)).ok());
    const std::string id = queue.NextToSend().value().mutation_id();
    if (attempt == 0) first_id = id;
    EXPECT_EQ(id, first_id);
  }
}

TEST_F(MutationQueueTest, AFieldChangedHereAndElsewhereIsAConflictWithTheServersCopy) {
  const auto mine = Edit(kAda, Name("Ada L."), Mask({"name"}));
  EXPECT_EQ(NextId(), mine.mutation_id());
  auto merged =
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@example.com", 4));
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, MutationQueue::Merged::kConflict);
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kConflict);
  EXPECT_EQ(queue_->MutationsOf(kAda)[0].server_profile().name(), "Ada K.");
  EXPECT_FALSE(queue_->MergeNoteOf(kAda).has_value());
}

TEST_F(MutationQueueTest, AnEditTheServerAlreadyHoldsIsDoneWithoutSending) {
  const auto mine = Edit(kAda, Name("Ada K."), Mask({"name"}));
  EXPECT_EQ(NextId(), mine.mutation_id());
  auto merged =
      queue_->Conflict(mine.mutation_id(), MakeProfile(kAda, "Ada K.", "ada@example.com", 4));
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, MutationQueue::Merged::kNothingLeft);
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSynced);
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->version(), 4);
  EXPECT_EQ(NextId(), "none");
}

// Issue 6, finding 2: the server's copy in a conflict has no avatar bytes.
TEST_F(MutationQueueTest, AConflictCopyWithoutAvatarBytesIsNotAnAvatarRemoval) {
  Profile with_avatar = MakeProfile(kAda, "Ada", "ada@example.com", 5);
  with_avatar.set_avatar(std::string(120 * 1024, '\x42'));
  with_avatar.set_avatar_sha256(AvatarSha256(with_avatar.avatar()));
  ASSERT_TRUE(queue_->ApplyServerProfiles({with_avatar}, "").ok());
  const auto mine = Edit(kAda, Name("Ada L."), Mask({"name"}));
  EXPECT_EQ(mine.base_fields().avatar_sha256(), with_avatar.avatar_sha256());
  EXPECT_TRUE(mine.base_fields().avatar().empty()) << "the base never holds picture bytes";
  EXPECT_EQ(NextId(), mine.mutation_id());

  Profile details = with_avatar;  // as the server sends it in ABORTED
  details.clear_avatar();
  details.set_email("moved@example.com");
  details.set_version(6);
  auto merged = queue_->Conflict(mine.mutation_id(), details);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, MutationQueue::Merged::kRebased);
  const Profile shown = *queue_->EffectiveProfile(kAda);
  EXPECT_EQ(testing::PictureOf(store_->state(), shown), with_avatar.avatar())
      << "the cached picture is still the current one";
  EXPECT_EQ(shown.email(), "moved@example.com");
  EXPECT_EQ(
      queue_->ToRequest(queue_->NextToSend().value()).value().update_mask().ShortDebugString(),
      R"(paths: "name")");
}

// An edit queued behind one that gets rebased never saw the changes made
// elsewhere: it must meet the merge rule too, not be rebased blindly.
TEST_F(MutationQueueTest, EditsBehindARebasedEditAreMergedNotBlindlyRebased) {
  const auto first = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto second = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  EXPECT_EQ(second.base_fields().name(), "Ada L.") << "what the form showed";
  EXPECT_EQ(NextId(), first.mutation_id());
  ASSERT_EQ(queue_->Conflict(first.mutation_id(), MakeProfile(kAda, "Ada", "other@example.com", 4))
                .value(),
            MutationQueue::Merged::kRebased);
  const auto rebased = queue_->NextToSend().value();
  ASSERT_TRUE(
      queue_
          ->Acknowledge(rebased.mutation_id(), MakeProfile(kAda, "Ada L.", "other@example.com", 5))
          .ok());
  const auto next = queue_->NextToSend().value();
  EXPECT_EQ(next.mutation_id(), second.mutation_id());
  EXPECT_EQ(queue_->ToRequest(next).value().expected_version(), 3)
      << "still based on what the user saw, so the server says it is stale";
  ASSERT_EQ(
      queue_->Conflict(next.mutation_id(), MakeProfile(kAda, "Ada L.", "other@example.com", 5))
          .value(),
      MutationQueue::Merged::kConflict);
}

TEST_F(MutationQueueTest, EditsBehindADirectlyAppliedEditFollowItsVersion) {
  const auto first = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto second = Edit(kAda, Email("ada@l.org"), Mask({"email"}));
  EXPECT_EQ(NextId(), first.mutation_id());
  ASSERT_TRUE(
      queue_->Acknowledge(first.mutation_id(), MakeProfile(kAda, "Ada L.", "ada@example.com", 4))
          .ok());
  EXPECT_EQ(queue_->ToRequest(queue_->NextToSend().value()).value().expected_version(), 4);
}

// Stores written before merge bases existed: any ABORTED stays a conflict.
TEST_F(MutationQueueTest, AnEditWithoutAMergeBaseIsAlwaysAConflict) {
  profile::client::v1::JournalRecord record;
  auto* old = record.mutable_mutation_enqueued();
  old->set_mutation_id("44444444-4444-4444-8444-444444444444");
  old->set_profile_id(kBob);
  old->set_base_version(1);
  old->set_sequence(100);
  old->set_state(PendingMutation::STATE_QUEUED);
  *old->mutable_fields() = Email("b@x.org");
  *old->mutable_mask() = Mask({"email"});
  ASSERT_TRUE(store_->Append(record).ok());
  EXPECT_EQ(NextId(), old->mutation_id());
  EXPECT_EQ(queue_->Conflict(old->mutation_id(), MakeProfile(kBob, "Robert", "bob@example.com", 2))
                .value(),
            MutationQueue::Merged::kConflict);
}

// Issue 6, finding 2/3: an answer the client does not expect parks the one
// mutation, with the server's message, until the user retries or discards.
TEST_F(MutationQueueTest, AParkedAnswerCanBeRetriedWithTheSameId) {
  const auto stuck = Edit(kAda, Name("Ada L."), Mask({"name"}));
  const auto other = Edit(kBob, Name("Bo"), Mask({"name"}));
  EXPECT_EQ(NextId(), stuck.mutation_id());
  ASSERT_TRUE(queue_
                  ->Reject(stuck.mutation_id(), "trailer too large", {},
                           absl::StatusCode::kResourceExhausted)
                  .ok());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kRejected);
  EXPECT_EQ(NextId(), other.mutation_id()) << "the rest of the queue flows";
  Reopen();
  const auto parked = queue_->MutationsOf(kAda)[0];
  EXPECT_EQ(parked.error_message(), "trailer too large");
  EXPECT_EQ(parked.error_code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(queue_->RetryParked(other.mutation_id()).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(queue_->RetryParked(stuck.mutation_id()).ok());
  Reopen();
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kPending);
  EXPECT_TRUE(queue_->MutationsOf(kAda)[0].error_message().empty());
  EXPECT_EQ(NextId(), stuck.mutation_id());
}

// The same answers recorded one by one and as one batch: the same state, the
// same journal bytes (each record is framed alone either way), the same
// queue afterwards; two acknowledgements of one profile in a batch rebase
// the second on the first's version, as one by one.
TEST_F(MutationQueueTest, AcknowledgeAllEqualsAcknowledgingOneByOne) {
  auto create = queue_->EnqueueCreate(MakeProfile("", "Nia", "", 0), Mask({"name"}));
  ASSERT_TRUE(create.ok());
  const std::string nia = create->profile_id();
  const auto nia_edit = Edit(nia, Email("nia@example.com"), Mask({"email"}));
  const auto ada1 = Edit(kAda, Name("A1"), Mask({"name"}));
  const auto ada2 = Edit(kAda, Email("a2@example.com"), Mask({"email"}));
  const auto bob = Edit(kBob, Name("Bo"), Mask({"name"}));
  Edit(kCy, Name("C"), Mask({"name"}));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(queue_->NextToSend().has_value());
  const std::vector<std::pair<std::string, Profile>> acks = {
      {ada1.mutation_id(), MakeProfile(kAda, "A1", "ada@example.com", 4)},
      {create->mutation_id(), MakeProfile(nia, "Nia", "", 1)},
      {ada2.mutation_id(), MakeProfile(kAda, "A1", "a2@example.com", 5)},
      {bob.mutation_id(), MakeProfile(kBob, "Bo", "bob@example.com", 2)},
  };

  QTemporaryDir copy;
  for (const QString& name : QDir(dir_.path()).entryList(QDir::Files)) {
    if (name == kLockFileName) continue;
    ASSERT_TRUE(QFile::copy(QDir(dir_.path()).filePath(name), QDir(copy.path()).filePath(name)));
  }
  auto other_store = LocalStore::Open(copy.path(), {});
  ASSERT_TRUE(other_store.ok());
  MutationQueue other(other_store->get());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(other.NextToSend().has_value());

  for (const auto& [id, profile] : acks) ASSERT_TRUE(queue_->Acknowledge(id, profile).ok());
  ASSERT_TRUE(other.AcknowledgeAll(acks).ok());

  EXPECT_EQ(Digest((*other_store)->state()), Digest(store_->state()));
  EXPECT_EQ(queue_->MutationsOf(nia).at(0).base_version(), 1);
  auto journal = [](const QString& folder) {
    QFile file(QDir(folder).filePath(kJournalFileName));
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
  };
  EXPECT_EQ(journal(copy.path()), journal(dir_.path()));
  // Cy's edit is still in flight in both; Nia's edit follows its create.
  EXPECT_EQ(other.StateOf(kCy), SyncState::kSyncing);
  EXPECT_EQ(NextId(), nia_edit.mutation_id());
  EXPECT_EQ(other.NextToSend().value_or(PendingMutation()).mutation_id(), nia_edit.mutation_id());
  EXPECT_EQ(NextId(), "none");
  EXPECT_FALSE(other.NextToSend().has_value());
}

TEST_F(MutationQueueTest, AcknowledgeAllSkipsWhatAcknowledgeWouldRefuseAndRecordsTheRest) {
  const auto ada = Edit(kAda, Name("A1"), Mask({"name"}));
  const auto bob = Edit(kBob, Name("Bo"), Mask({"name"}));
  const absl::Status status = queue_->AcknowledgeAll({
      {"no-such-mutation", MakeProfile(kAda, "A1", "ada@example.com", 4)},
      {ada.mutation_id(), MakeProfile(kAda, "A1", "ada@example.com", 4)},
      {ada.mutation_id(), MakeProfile(kAda, "A1", "ada@example.com", 4)},
      {bob.mutation_id(), MakeProfile(kCy, "Bo", "bob@example.com", 2)},
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(status.message().find("no-such-mutation"), std::string_view::npos) << status;
  EXPECT_NE(status.message().find(bob.mutation_id()), std::string_view::npos) << status;
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSynced);
  EXPECT_EQ(queue_->StateOf(kBob), SyncState::kPending);
  EXPECT_EQ(store_->state().profiles.at(kAda)->version(), 4);
  EXPECT_TRUE(queue_->AcknowledgeAll({}).ok());
}

// A disk that refuses the batch (here: a file size limit, as a full disk
// would) records none of it and leaves the queue as it was.
TEST_F(MutationQueueTest, AFailedAcknowledgeAllChangesNothing) {
  const auto ada = Edit(kAda, Name("A1"), Mask({"name"}));
  const auto bob = Edit(kBob, Name("Bo"), Mask({"name"}));
  EXPECT_EQ(NextId(), ada.mutation_id());
  EXPECT_EQ(NextId(), bob.mutation_id());
  const std::string digest = Digest(store_->state());
  const int64_t journal_bytes = store_->journal_bytes();

  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  const sighandler_t saved_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = saved;
  limited.rlim_cur = static_cast<rlim_t>(journal_bytes);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  const absl::Status status =
      queue_->AcknowledgeAll({{ada.mutation_id(), MakeProfile(kAda, "A1", "ada@example.com", 4)},
                              {bob.mutation_id(), MakeProfile(kBob, "Bo", "bob@example.com", 2)}});
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, saved_handler);

  EXPECT_FALSE(status.ok());
  EXPECT_EQ(Digest(store_->state()), digest);
  EXPECT_EQ(store_->journal_bytes(), journal_bytes);
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kSyncing);
  EXPECT_EQ(NextId(), "none");
  Reopen();
  EXPECT_EQ(Digest(store_->state()), digest);
  EXPECT_EQ(store_->open_report().dropped_journal_bytes, 0);
}

// The reducer keeps the pending index up to date record by record; a store
// replayed from its files (journal alone, or snapshot and journal) must
// arrive at the same index, and both must equal one computed from scratch.
// Deletes (issue 12).

Profile Tombstone(const std::string& id, int64_t version) {
  Profile tombstone;
  tombstone.set_id(id);
  tombstone.set_version(version);
  tombstone.set_deleted(true);
  return tombstone;
}

TEST_F(MutationQueueTest, AQueuedDeleteHidesTheProfileAndSurvivesARestart) {
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  EXPECT_EQ(queue_->PendingCount(), 1u);
  Reopen();
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  const auto mutations = queue_->MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 1u);
  EXPECT_TRUE(mutations[0].deletes());
  EXPECT_EQ(mutations[0].base_version(), 3);
  const std::string mutation_id = mutations[0].mutation_id();
  auto next = queue_->NextToSend();
  ASSERT_TRUE(next.has_value());
  const profile::v1::DeleteProfileRequest request = MutationQueue::ToDeleteRequest(*next);
  EXPECT_EQ(request.id(), kAda);
  EXPECT_EQ(request.expected_version(), 3);
  EXPECT_EQ(request.mutation_id(), mutation_id) << "the same id on every attempt";
  // Survives a compaction too (the snapshot carries the whole mutation).
  ASSERT_TRUE(store_->Compact().ok());
  Reopen();
  ASSERT_EQ(queue_->MutationsOf(kAda).size(), 1u);
  EXPECT_TRUE(queue_->MutationsOf(kAda)[0].deletes());
  ASSERT_TRUE(queue_->Acknowledge(mutation_id, Tombstone(kAda, 4)).ok());
  EXPECT_EQ(queue_->PendingCount(), 0u);
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  Reopen();
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
}

TEST_F(MutationQueueTest, ADeleteIsSentAfterTheEditsBeforeItAndRebasedOnThem) {
  Edit(kAda, Name("Ada L."), Mask({"name"}));
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  auto first = queue_->NextToSend();
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->deletes());
  EXPECT_FALSE(queue_->NextToSend().has_value()) << "one at a time per profile";
  ASSERT_TRUE(queue_->Acknowledge(first->mutation_id(), MakeProfile(kAda, "Ada L.", "", 4)).ok());
  auto second = queue_->NextToSend();
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->deletes());
  EXPECT_EQ(second->base_version(), 4);
}

TEST_F(MutationQueueTest, EditsOfADeletedProfileAreRefused) {
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  EXPECT_EQ(queue_->EnqueueEdit(kAda, 3, Name("x"), Mask({"name"})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(queue_->EnqueueDelete(kAda).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(kBob, 2)}, "").ok());
  EXPECT_EQ(queue_->EnqueueEdit(kBob, 1, Name("x"), Mask({"name"})).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MutationQueueTest, ATombstoneRemovesTheProfileAndNoOlderCopyBringsItBack) {
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(kAda, 4)}, "c1").ok());
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  ASSERT_TRUE(
      queue_->ApplyServerProfiles({MakeProfile(kAda, "Ada", "ada@example.com", 3)}, "").ok());
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value()) << "never resurrected";
  // A recreated profile (a newer version) is shown again.
  ASSERT_TRUE(
      queue_->ApplyServerProfiles({MakeProfile(kAda, "Ada 2", "ada@example.com", 5)}, "").ok());
  ASSERT_TRUE(queue_->EffectiveProfile(kAda).has_value());
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada 2");
}

TEST_F(MutationQueueTest, ATombstoneOfAnUnknownIdIsIgnored) {
  const std::string unknown = "00000000-0000-4000-8000-0000000000ff";
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(unknown, 7)}, "c1").ok());
  EXPECT_EQ(store_->state().profiles.count(unknown), 0u);
  EXPECT_EQ(queue_->cursor(), "c1");
}

TEST_F(MutationQueueTest, ATombstoneMakesAPendingEditDeletedElsewhereKeepingEveryField) {
  Edit(kAda, Name("Ada (mine)"), Mask({"name"}));
  Edit(kAda, Email("mine@example.com"), Mask({"email"}));
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(kAda, 4)}, "c1").ok());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kConflict);
  const auto mutations = queue_->MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 2u);
  EXPECT_EQ(mutations[0].state(), PendingMutation::STATE_CONFLICTED);
  EXPECT_TRUE(mutations[0].server_profile().deleted());
  EXPECT_EQ(mutations[0].fields().email(), "ada@example.com") << "the last copy shown, kept";
  EXPECT_FALSE(queue_->NextToSend().has_value()) << "never sent against the tombstone";
  const std::optional<Profile> shown = queue_->EffectiveProfile(kAda);
  ASSERT_TRUE(shown.has_value());
  EXPECT_EQ(shown->name(), "Ada (mine)");
  EXPECT_EQ(shown->email(), "mine@example.com");
  Reopen();
  ASSERT_TRUE(store_->Compact().ok());
  Reopen();
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada (mine)");
  // Recreate: a create of every field, expected_version 0.
  auto recreate = queue_->ResolveApplyMine(kAda);
  ASSERT_TRUE(recreate.ok()) << recreate.status();
  EXPECT_TRUE(recreate->creates());
  const profile::v1::UpdateProfileRequest request = queue_->ToRequest(*recreate).value();
  EXPECT_EQ(request.expected_version(), 0);
  EXPECT_EQ(request.profile().name(), "Ada (mine)");
  EXPECT_EQ(request.profile().email(), "mine@example.com");
  EXPECT_EQ(request.update_mask().paths_size(), 3);
  ASSERT_TRUE(queue_
                  ->Acknowledge(recreate->mutation_id(),
                                MakeProfile(kAda, "Ada (mine)", "mine@example.com", 5))
                  .ok());
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->version(), 5);
}

TEST_F(MutationQueueTest, DiscardingAnEditDeletedElsewhereRemovesTheProfile) {
  Edit(kAda, Name("Ada (mine)"), Mask({"name"}));
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(kAda, 4)}, "c1").ok());
  ASSERT_TRUE(queue_->ResolveKeepServer(kAda).ok());
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  EXPECT_EQ(queue_->PendingCount(), 0u);
}

TEST_F(MutationQueueTest, ATombstoneCompletesTheUsersOwnDeleteAndTheEditsBeforeIt) {
  Edit(kAda, Name("Ada (mine)"), Mask({"name"}));
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  ASSERT_TRUE(queue_->ApplyServerProfiles({Tombstone(kAda, 4)}, "c1").ok());
  EXPECT_EQ(queue_->PendingCount(), 0u);
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
}

TEST_F(MutationQueueTest, NotFoundForAnEditIsDeletedElsewhereAndForADeleteIsDone) {
  Edit(kAda, Name("Ada (mine)"), Mask({"name"}));
  ASSERT_TRUE(queue_->EnqueueDelete(kBob).ok());
  auto edit = queue_->NextToSend();
  auto del = queue_->NextToSend();
  ASSERT_TRUE(edit.has_value() && del.has_value());
  // Purged after the retention window: plain NOT_FOUND, no tombstone.
  ASSERT_TRUE(queue_->Gone(edit->mutation_id(), std::nullopt, "not found").ok());
  ASSERT_TRUE(queue_->Gone(del->mutation_id(), Tombstone(kBob, 2), "deleted").ok());
  EXPECT_EQ(queue_->StateOf(kAda), SyncState::kConflict);
  EXPECT_TRUE(queue_->MutationsOf(kAda)[0].server_profile().deleted());
  EXPECT_EQ(queue_->MutationsOf(kAda)[0].server_profile().version(), 4);
  EXPECT_TRUE(queue_->MutationsOf(kBob).empty());
  EXPECT_FALSE(queue_->EffectiveProfile(kBob).has_value());
}

TEST_F(MutationQueueTest, ADeleteOfAProfileChangedElsewhereIsAConflictNeverMerged) {
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  auto del = queue_->NextToSend();
  ASSERT_TRUE(del.has_value());
  auto merged = queue_->Conflict(del->mutation_id(), MakeProfile(kAda, "Ada (theirs)", "", 4));
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, MutationQueue::Merged::kConflict);
  ASSERT_TRUE(queue_->EffectiveProfile(kAda).has_value()) << "shown again, to ask again";
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada (theirs)");
  EXPECT_EQ(queue_->EnqueueDelete(kAda).code(), absl::StatusCode::kFailedPrecondition);
  auto again = queue_->ResolveApplyMine(kAda);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->deletes());
  EXPECT_EQ(again->base_version(), 4);
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
}

TEST_F(MutationQueueTest, AConfirmedDeleteRemovesTheProfileAndConflictsPendingEdits) {
  Edit(kBob, Name("Bob (mine)"), Mask({"name"}));
  // Purged: no tombstone; one is made up after the cached version.
  ASSERT_TRUE(queue_->ConfirmDeleted(kAda, std::nullopt).ok());
  ASSERT_TRUE(queue_->ConfirmDeleted(kBob, std::nullopt).ok());
  EXPECT_FALSE(queue_->EffectiveProfile(kAda).has_value());
  EXPECT_EQ(store_->state().profiles.at(kAda)->version(), 4);
  EXPECT_EQ(queue_->StateOf(kBob), SyncState::kConflict);
  EXPECT_EQ(queue_->EffectiveProfile(kBob)->name(), "Bob (mine)");
  EXPECT_EQ(queue_->EffectiveProfile(kBob)->email(), "bob@example.com");
  EXPECT_TRUE(queue_->EffectiveProfile(kCy).has_value());
}

// An edit, then the user's delete; the edit meets a change made elsewhere:
// the question is the delete's, not the edit's (which would hide behind the
// queued delete, and whose resolution would drop the delete).
TEST_F(MutationQueueTest, AConflictOfAnEditBeforeADeleteIsAskedAsTheDeletes) {
  Edit(kAda, Name("Ada (mine)"), Mask({"name"}));
  ASSERT_TRUE(queue_->EnqueueDelete(kAda).ok());
  auto edit = queue_->NextToSend();
  ASSERT_TRUE(edit.has_value());
  auto merged = queue_->Conflict(edit->mutation_id(), MakeProfile(kAda, "Ada (theirs)", "", 4));
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, MutationQueue::Merged::kConflict);
  const auto mutations = queue_->MutationsOf(kAda);
  ASSERT_EQ(mutations.size(), 1u) << "the edit is superseded by the delete";
  EXPECT_TRUE(mutations[0].deletes());
  EXPECT_EQ(mutations[0].state(), PendingMutation::STATE_CONFLICTED);
  ASSERT_TRUE(queue_->EffectiveProfile(kAda).has_value()) << "shown, to ask again";
  EXPECT_EQ(queue_->EffectiveProfile(kAda)->name(), "Ada (theirs)");
  EXPECT_EQ(queue_->EnqueueEdit(kAda, 4, Name("x"), Mask({"name"})).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "no edit behind a delete that is asked again";
  ASSERT_TRUE(queue_->ResolveApplyMine(kAda).ok());
  auto again = queue_->NextToSend();
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->deletes());
  EXPECT_EQ(again->base_version(), 4);
}

TEST_F(MutationQueueTest, ADeleteBehindACreateWaitsForItAndIsRebasedOnIt) {
  auto create = queue_->EnqueueCreate(MakeProfile("", "Temp", "", 0), Mask({"name"}));
  ASSERT_TRUE(create.ok());
  ASSERT_TRUE(queue_->EnqueueDelete(create->profile_id()).ok());
  EXPECT_FALSE(queue_->EffectiveProfile(create->profile_id()).has_value());
  EXPECT_EQ(NextId(), create->mutation_id());
  ASSERT_TRUE(
      queue_->Acknowledge(create->mutation_id(), MakeProfile(create->profile_id(), "Temp", "", 1))
          .ok());
  auto del = queue_->NextToSend();
  ASSERT_TRUE(del.has_value());
  EXPECT_TRUE(del->deletes());
  EXPECT_EQ(del->base_version(), 1);
}

TEST_F(MutationQueueTest, TheIndexOfALiveStoreEqualsTheReplayedOneAfterRandomOperations) {
  std::mt19937 random(20240601);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  std::vector<std::string> ids = {kAda, kBob, kCy};
  std::vector<PendingMutation> in_flight;
  auto server_copy = [&](const std::string& id, const std::string& name) {
    const auto cached = store_->state().profiles.find(id);
    const int64_t version =
        cached == store_->state().profiles.end() ? 0 : cached->second->version();
    return MakeProfile(id, name, id + "@example.com", version + 1 + static_cast<int64_t>(pick(2)));
  };
  auto expect_consistent = [&](int step) {
    const StoreState& state = store_->state();
    EXPECT_TRUE(state.index == testing::RebuiltIndex(state)) << "after step " << step;
  };
  for (int step = 0; step < 300; ++step) {
    const std::string id = ids[pick(ids.size())];
    const std::string name = absl::StrCat("n", step);
    switch (pick(12)) {
      case 0: {
        auto create = queue_->EnqueueCreate(MakeProfile("", name, "", 0), Mask({"name"}));
        ASSERT_TRUE(create.ok());
        ids.push_back(create->profile_id());
        break;
      }
      case 1:
      case 2: {
        // Refused (NOT_FOUND) for a deleted profile.
        const int64_t base = queue_->EffectiveProfile(id).value_or(Profile()).version();
        (void)queue_->EnqueueEdit(id, base, pick(2) == 0 ? Name(name) : Email(name + "@x.y"),
                                  pick(2) == 0 ? Mask({"name"}) : Mask({"email"}));
        break;
      }
      case 10:
        // Refused for a profile not shown or in conflict.
        (void)queue_->EnqueueDelete(id);
        break;
      case 11: {
        Profile tombstone = server_copy(id, "");
        tombstone.clear_email();
        tombstone.set_deleted(true);
        ASSERT_TRUE(queue_->ApplyServerProfiles({tombstone}, name).ok());
        break;
      }
      case 3:
      case 4:
        if (auto next = queue_->NextToSend()) in_flight.push_back(*next);
        break;
      case 5:
      case 6: {
        if (in_flight.empty()) break;
        const size_t which = pick(in_flight.size());
        const PendingMutation sent = in_flight[which];
        in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(which));
        // Settled meanwhile by a tombstone.
        if (!queue_->IsQueued(sent.mutation_id())) break;
        Profile theirs = server_copy(sent.profile_id(), name);
        if (sent.deletes() && pick(2) == 0) theirs.set_deleted(true);
        if (pick(5) == 0) {
          EXPECT_TRUE(queue_->Gone(sent.mutation_id(), std::nullopt, "gone").ok());
          break;
        }
        switch (pick(4)) {
          case 0:
            EXPECT_TRUE(queue_->Acknowledge(sent.mutation_id(), theirs).ok());
            break;
          case 1:
            EXPECT_TRUE(queue_->Conflict(sent.mutation_id(), theirs).ok());
            break;
          case 2:
            EXPECT_TRUE(queue_->Reject(sent.mutation_id(), "invalid", {}).ok());
            break;
          default:
            EXPECT_TRUE(queue_->SendFailed(sent.mutation_id()).ok());
        }
        break;
      }
      case 7:
        for (const PendingMutation& mutation : queue_->MutationsOf(id)) {
          if (mutation.state() == PendingMutation::STATE_PARKED) {
            EXPECT_TRUE((pick(2) == 0 ? queue_->RetryParked(mutation.mutation_id())
                                      : queue_->DismissRejected(mutation.mutation_id()))
                            .ok());
            break;
          }
          if (mutation.state() == PendingMutation::STATE_CONFLICTED) {
            EXPECT_TRUE((pick(2) == 0 ? queue_->ResolveKeepServer(id)
                                      : queue_->ResolveApplyMine(id).status())
                            .ok());
            break;
          }
        }
        break;
      case 8:
        ASSERT_TRUE(queue_->ApplyServerProfiles({server_copy(id, name)}, name).ok());
        break;
      default:
        if (pick(4) == 0) {
          ASSERT_TRUE(store_->Compact().ok());
        }
        break;
    }
    expect_consistent(step);
    if (step % 100 == 99) {
      const std::string digest = Digest(store_->state());
      const PendingIndex index = store_->state().index;
      Reopen();
      in_flight.clear();
      EXPECT_EQ(Digest(store_->state()), digest);
      EXPECT_TRUE(store_->state().index == index) << "replayed at step " << step;
    }
  }
  EXPECT_GT(store_->state().pending.size(), 0u);
}

// A loose guard against walks over the whole queue per profile: with 20,000
// queued edits, building every profile's view took about 20 s that way and
// takes milliseconds with the index. The bound is far from both.
TEST(MutationQueueScale, ViewsOfEveryProfileWithTwentyThousandQueuedEditsAreQuick) {
  QTemporaryDir dir;
  auto store = LocalStore::Open(dir.path(), {});
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr int kProfiles = 10000;
  constexpr int kEdits = 20000;
  std::vector<Profile> profiles;
  for (int i = 0; i < kProfiles; ++i) {
    profiles.push_back(MakeProfile(absl::StrCat("p", i), "n", "e", 1));
  }
  MutationQueue queue(store->get());
  ASSERT_TRUE(queue.ApplyServerProfiles(profiles, "").ok());
  std::vector<profile::client::v1::JournalRecord> records(kEdits);
  for (int i = 0; i < kEdits; ++i) {
    PendingMutation* mutation = records[static_cast<size_t>(i)].mutable_mutation_enqueued();
    mutation->set_mutation_id(absl::StrCat("m", i));
    mutation->set_profile_id(absl::StrCat("p", i % kProfiles));
    mutation->set_sequence(static_cast<uint64_t>(i) + 1);
    mutation->set_base_version(1);
    mutation->set_state(PendingMutation::STATE_QUEUED);
    mutation->mutable_fields()->set_name(absl::StrCat("e", i));
    *mutation->mutable_mask() = Mask({"name"});
  }
  ASSERT_TRUE((*store)->AppendAll(records).ok());

  const auto start = std::chrono::steady_clock::now();
  size_t mutations = 0;
  for (const std::string& id : queue.ProfileIds()) {
    ASSERT_TRUE(queue.EffectiveProfile(id).has_value());
    EXPECT_EQ(queue.StateOf(id), SyncState::kPending);
    mutations += queue.MutationsOf(id).size();
  }
  EXPECT_EQ(queue.PendingCount(), static_cast<size_t>(kEdits));
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(queue.NextToSend().has_value());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(mutations, static_cast<size_t>(kEdits));
  EXPECT_LT(seconds, 3.0);
}

}  // namespace
}  // namespace profiles::client
