// The profile core on InMemoryStorage: outcomes, bounds, the read cache's
// coherence and the watch fan-out, without a database or a transport.

#include "services/profile/core/profile_core.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "libs/profile_contract/status_details.h"
#include "services/profile/core/profile_cache.h"
#include "services/profile/storage/testing/in_memory_storage.h"
#include "tests/support/test_images.h"

namespace profiles {
namespace {

using profile::v1::Profile;

std::string Id(int n) { return absl::StrFormat("00000000-0000-4000-8000-%012d", n); }

// Calls an asynchronous core method and waits for its answer.
template <typename T, typename Call>
absl::StatusOr<T> Await(Call call) {
  absl::Notification answered;
  absl::StatusOr<T> result;
  call([&](absl::StatusOr<T> answer) {
    result = std::move(answer);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

class ProfileCoreTest : public ::testing::Test {
 protected:
  void MakeCore(ProfileCore::Options options = {}) {
    core_ = std::make_unique<ProfileCore>(options, storage_.repository(), storage_.feed());
  }
  void SetUp() override { MakeCore({.storage_workers = 4}); }

  absl::StatusOr<WriteOutcome> Update(const std::string& id, const std::string& name,
                                      int64_t expected_version, const std::string& mutation_id = "",
                                      const std::string& avatar = "") {
    profile::v1::UpdateProfileRequest request;
    request.mutable_profile()->set_id(id);
    request.mutable_profile()->set_name(name);
    request.mutable_profile()->set_email("ada@example.com");
    request.mutable_profile()->set_avatar(avatar);
    request.set_expected_version(expected_version);
    request.set_mutation_id(mutation_id);
    return Await<WriteOutcome>(
        [&](auto done) { core_->Update(context_, request, std::move(done)); });
  }

  absl::StatusOr<WriteOutcome> Delete(const std::string& id, int64_t expected_version,
                                      const std::string& mutation_id = "") {
    profile::v1::DeleteProfileRequest request;
    request.set_id(id);
    request.set_expected_version(expected_version);
    request.set_mutation_id(mutation_id);
    return Await<WriteOutcome>(
        [&](auto done) { core_->Delete(context_, request, std::move(done)); });
  }

  absl::StatusOr<profile::v1::ListProfilesResponse> List(const std::string& since_cursor,
                                                         const std::string& page_token = "",
                                                         int page_size = 100) {
    profile::v1::ListProfilesRequest request;
    request.set_since_cursor(since_cursor);
    request.set_page_token(page_token);
    request.set_page_size(page_size);
    return Await<profile::v1::ListProfilesResponse>(
        [&](auto done) { core_->List(context_, request, std::move(done)); });
  }

  absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> Get(const std::string& id) {
    return Await<std::shared_ptr<const ProfileSnapshot>>(
        [&](auto done) { core_->Get(context_, id, std::move(done)); });
  }

  absl::StatusOr<WatchEvents> Next(ProfileWatch& watch) {
    return Await<WatchEvents>([&](auto done) { watch.Next(std::move(done)); });
  }

  InMemoryStorage storage_;
  CallContext context_;
  std::unique_ptr<ProfileCore> core_;
};

TEST_F(ProfileCoreTest, WritesAreCreatedUpdatedOrReplayed) {
  const std::string mutation = "7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b";
  absl::StatusOr<WriteOutcome> created = Update(Id(1), "Ada", 0, mutation);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->kind, WriteOutcomeKind::kCreated);
  EXPECT_EQ(created->profile->version(), 1);
  EXPECT_EQ(created->profile->etag(), "\"1\"");

  absl::StatusOr<WriteOutcome> replayed = Update(Id(1), "Ada", 0, mutation);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->kind, WriteOutcomeKind::kReplayed);
  EXPECT_EQ(replayed->profile->version(), 1);

  absl::StatusOr<WriteOutcome> updated = Update(Id(1), "Ada King", 1);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->kind, WriteOutcomeKind::kUpdated);
  EXPECT_EQ(updated->profile->version(), 2);

  absl::StatusOr<WriteOutcome> reused = Update(Id(1), "Someone else", 0, mutation);
  ASSERT_TRUE(absl::IsInvalidArgument(reused.status())) << reused.status();
  EXPECT_EQ(ErrorInfoOf(reused.status())->reason(), kMutationIdReusedReason);
}

TEST_F(ProfileCoreTest, AConflictCarriesTheWholeCurrentProfile) {
  const std::string picture = testing::RealisticPng(100 * 1024, 3);
  ASSERT_TRUE(Update(Id(2), "Ada", 0, "", picture).ok());
  ASSERT_TRUE(Update(Id(2), "Ada King", 1, "", picture).ok());
  absl::StatusOr<WriteOutcome> stale = Update(Id(2), "Ada Lovelace", 1);
  ASSERT_TRUE(absl::IsAborted(stale.status())) << stale.status();
  std::optional<Profile> current = ConflictingProfile(stale.status());
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->version(), 2);
  EXPECT_EQ(current->name(), "Ada King");
  EXPECT_EQ(current->avatar(), picture);
}

TEST_F(ProfileCoreTest, BadRequestsAreAnsweredInlineWithoutTouchingStorage) {
  absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> bad = Get("not-a-uuid");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  absl::StatusOr<WriteOutcome> nameless = Update(Id(3), "", 0);
  EXPECT_TRUE(absl::IsInvalidArgument(nameless.status())) << nameless.status();
  EXPECT_TRUE(BadRequestOf(nameless.status()).has_value());
  EXPECT_EQ(storage_.get_calls(), 0);
  EXPECT_TRUE(absl::IsNotFound(Get(Id(3)).status()));
}

TEST_F(ProfileCoreTest, AvatarsAreStoredWithoutMetadataAndLiarsAreRefused) {
  const std::string photo = testing::RealisticJpeg(
      150 * 1024, 21,
      {{testing::kJpegApp1, testing::GpsExif()}, {testing::kJpegCom, "at home, 12 Rue X"}});
  absl::StatusOr<WriteOutcome> created = Update(Id(30), "Ada", 0, "", photo);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string& stored = created->profile->profile().avatar();
  EXPECT_LT(stored.size(), photo.size());
  for (std::string_view trace : {std::string_view("Exif"), std::string_view("GPS"),
                                 testing::kTestCameraModel, std::string_view("Rue X")}) {
    EXPECT_EQ(stored.find(trace), std::string::npos) << trace;
  }
  absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> read = Get(Id(30));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)->profile().avatar(), stored);

  // A text file behind a PNG signature: refused, naming the field, and
  // neither a new profile nor a change to an existing one is stored.
  const std::string liar = std::string("\x89PNG\r\n\x1a\n", 8) + "just some notes, not a picture";
  absl::StatusOr<WriteOutcome> refused = Update(Id(31), "Bo", 0, "", liar);
  ASSERT_TRUE(absl::IsInvalidArgument(refused.status())) << refused.status();
  std::optional<google::rpc::BadRequest> bad_request = BadRequestOf(refused.status());
  ASSERT_TRUE(bad_request.has_value());
  ASSERT_EQ(bad_request->field_violations_size(), 1);
  EXPECT_EQ(bad_request->field_violations(0).field(), "avatar");
  EXPECT_EQ(bad_request->field_violations(0).description().rfind(
                "the bytes start like a PNG but are not one", 0),
            0u)
      << bad_request->field_violations(0).description();
  EXPECT_TRUE(absl::IsNotFound(Get(Id(31)).status()));

  absl::StatusOr<WriteOutcome> refused_update = Update(Id(30), "Ada King", 1, "", liar);
  ASSERT_TRUE(absl::IsInvalidArgument(refused_update.status())) << refused_update.status();
  read = Get(Id(30));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)->version(), 1);
  EXPECT_EQ((*read)->profile().name(), "Ada");
  EXPECT_EQ((*read)->profile().avatar(), stored);
}

TEST_F(ProfileCoreTest, ReadsYourWritesFromTheCacheWithoutAStorageRead) {
  ASSERT_TRUE(Update(Id(4), "Ada", 0).ok());
  const int reads_before = storage_.get_calls();
  for (int version = 1; version <= 20; ++version) {
    absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> read = Get(Id(4));
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ((*read)->version(), version);
    ASSERT_TRUE(Update(Id(4), absl::StrCat("Ada ", version), version).ok());
  }
  EXPECT_EQ(storage_.get_calls(), reads_before);
  EXPECT_GE(core_->cache().stats().hits, 20);
}

TEST_F(ProfileCoreTest, AChangeFromAnotherReplicaReplacesTheCachedVersion) {
  ASSERT_TRUE(Update(Id(5), "Ada", 0).ok());
  ASSERT_EQ((*Get(Id(5)))->version(), 1);
  // Another replica writes straight to the shared storage; this core hears
  // of it only through the change feed.
  ProfileWrite write;
  write.id = Id(5);
  write.name = "Ada King";
  write.expected_version = 1;
  ASSERT_TRUE(storage_.repository()->Apply(write).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  int64_t seen = 1;
  while (seen != 2 && absl::Now() < give_up) seen = (*Get(Id(5)))->version();
  EXPECT_EQ(seen, 2);
}

TEST_F(ProfileCoreTest, WhileTheFeedIsDownEveryReadGoesToStorage) {
  ASSERT_TRUE(Update(Id(6), "Ada", 0).ok());
  ASSERT_TRUE(Get(Id(6)).ok());
  storage_.SetFeedLive(false);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (core_->cache().enabled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_FALSE(core_->cache().enabled());
  const int reads_before = storage_.get_calls();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Get(Id(6)).ok());
  EXPECT_EQ(storage_.get_calls(), reads_before + 5);

  storage_.SetFeedLive(true);
  while (!core_->cache().enabled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(core_->cache().enabled());
}

TEST_F(ProfileCoreTest, ACallPastItsDeadlineNeverTouchesStorage) {
  context_.deadline = absl::Now() - absl::Seconds(1);
  absl::StatusOr<WriteOutcome> late = Update(Id(7), "Ada", 0);
  EXPECT_TRUE(absl::IsDeadlineExceeded(late.status())) << late.status();
  context_.deadline = absl::InfiniteFuture();
  EXPECT_TRUE(absl::IsNotFound(Get(Id(7)).status()));
}

TEST_F(ProfileCoreTest, AFullQueueIsRefusedAndAQueuedCallEndsAtItsDeadline) {
  MakeCore({.storage_workers = 1, .max_queued_calls = 1});
  storage_.BlockWrites();
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(Id(8));
  request.mutable_profile()->set_name("Ada");
  request.mutable_profile()->set_email("ada@example.com");
  absl::Notification first_done;
  core_->Update(context_, request, [&](absl::StatusOr<WriteOutcome>) { first_done.Notify(); });
  while (storage_.blocked_writes() == 0) absl::SleepFor(absl::Milliseconds(1));

  CallContext short_context;
  short_context.deadline = absl::Now() + absl::Milliseconds(20);
  absl::Notification queued_done;
  absl::Status queued_status;
  core_->Get(short_context, Id(8), [&](absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> r) {
    queued_status = r.status();
    queued_done.Notify();
  });
  absl::StatusOr<WriteOutcome> refused = Update(Id(9), "Bob", 0);
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();

  absl::SleepFor(absl::Milliseconds(30));  // the queued call's deadline passes
  storage_.UnblockWrites();
  first_done.WaitForNotification();
  queued_done.WaitForNotification();
  EXPECT_TRUE(absl::IsDeadlineExceeded(queued_status)) << queued_status;
}

TEST_F(ProfileCoreTest, ListPagesByCountAndContinuesWithTheToken) {
  for (int n = 10; n < 15; ++n) ASSERT_TRUE(Update(Id(n), "Ada", 0).ok());
  profile::v1::ListProfilesRequest request;
  request.set_page_size(2);
  std::vector<std::string> ids;
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<profile::v1::ListProfilesResponse> page =
        Await<profile::v1::ListProfilesResponse>(
            [&](auto done) { core_->List(context_, request, std::move(done)); });
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Profile& profile : page->profiles()) ids.push_back(profile.id());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(ids, (std::vector<std::string>{Id(10), Id(11), Id(12), Id(13), Id(14)}));
  request.set_page_size(-1);
  EXPECT_TRUE(absl::IsInvalidArgument(Await<profile::v1::ListProfilesResponse>([&](auto done) {
                                        core_->List(context_, request, std::move(done));
                                      }).status()));
}

// A cursor only means something in the database that issued it: one taken to
// another database, or to this one restored to an earlier point, is refused
// (FAILED_PRECONDITION with a reason a client acts on), never followed.
TEST_F(ProfileCoreTest, CursorsNameTheirDatabaseAndAreRefusedElsewhere) {
  absl::StatusOr<profile::v1::ServiceInfo> info =
      Await<profile::v1::ServiceInfo>([&](auto done) { core_->Info(context_, std::move(done)); });
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->database_id(), "memory-1");

  for (int n = 30; n < 33; ++n) ASSERT_TRUE(Update(Id(n), "Ada", 0).ok());
  auto list = [&](const profile::v1::ListProfilesRequest& request) {
    return Await<profile::v1::ListProfilesResponse>(
        [&](auto done) { core_->List(context_, request, std::move(done)); });
  };
  profile::v1::ListProfilesRequest request;
  request.set_page_size(2);
  absl::StatusOr<profile::v1::ListProfilesResponse> first = list(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(absl::StartsWith(first->cursor(), "c3.memory-1.")) << first->cursor();
  ASSERT_FALSE(first->next_page_token().empty());

  // Another database behind the same service.
  storage_.SetDatabaseId("memory-2");
  for (const auto& [field, cursor] :
       {std::pair<std::string, std::string>{"page_token", first->next_page_token()},
        {"since_cursor", first->cursor()}}) {
    profile::v1::ListProfilesRequest again;
    if (field == "page_token") again.set_page_token(cursor);
    if (field == "since_cursor") again.set_since_cursor(cursor);
    const absl::Status refused = list(again).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
    std::optional<google::rpc::ErrorInfo> reason = ErrorInfoOf(refused);
    ASSERT_TRUE(reason.has_value()) << refused;
    EXPECT_EQ(reason->reason(), kCursorFromOtherDatabaseReason);
    EXPECT_EQ(reason->metadata().at("field"), field);
  }
  profile::v1::WatchProfilesRequest watch_request;
  watch_request.set_since_cursor(first->cursor());
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(context_, watch_request);
  ASSERT_TRUE(watch.ok()) << watch.status();
  const absl::Status watch_ended = Next(**watch).status();
  EXPECT_TRUE(IsCursorRefused(watch_ended)) << watch_ended;
  // From the start, the other database lists and names itself.
  absl::StatusOr<profile::v1::ListProfilesResponse> fresh = list({});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(absl::StartsWith(fresh->cursor(), "c3.memory-2.")) << fresh->cursor();

  // The same database, restored to before the cursor: its position lies
  // beyond anything the database has issued.
  profile::v1::ListProfilesRequest ahead;
  ahead.set_since_cursor("c3.memory-2.1.9000.0");
  const absl::Status refused = list(ahead).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  ASSERT_TRUE(ErrorInfoOf(refused).has_value());
  EXPECT_EQ(ErrorInfoOf(refused)->reason(), kCursorAheadOfDatabaseReason);
}

TEST_F(ProfileCoreTest, AWatchCatchesUpThenFollowsLiveChangesWithoutAvatarsUnlessAsked) {
  const std::string picture = testing::RealisticPng(8 * 1024, 5);
  ASSERT_TRUE(Update(Id(20), "Ada", 0, "", picture).ok());
  ASSERT_TRUE(Update(Id(21), "Bob", 0, "", picture).ok());
  profile::v1::WatchProfilesRequest request;
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(context_, request);
  ASSERT_TRUE(watch.ok()) << watch.status();
  request.set_include_avatars(true);
  absl::StatusOr<std::unique_ptr<ProfileWatch>> with_avatars = core_->Watch(context_, request);
  ASSERT_TRUE(with_avatars.ok());

  std::vector<std::string> seen;
  while (seen.size() < 2) {
    absl::StatusOr<WatchEvents> events = Next(**watch);
    ASSERT_TRUE(events.ok()) << events.status();
    for (const auto& event : *events) {
      seen.push_back(event->profile().id());
      EXPECT_TRUE(event->profile().avatar().empty());
      EXPECT_FALSE(event->profile().avatar_sha256().empty());
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{Id(20), Id(21)}));

  ASSERT_TRUE(Update(Id(20), "Ada King", 1, "", picture).ok());
  absl::StatusOr<WatchEvents> live = Next(**watch);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0]->profile().name(), "Ada King");

  // Catching up later, the second watch sees each profile once, at its
  // latest state, picture included.
  std::vector<std::string> with_picture;
  while (with_picture.size() < 2) {
    absl::StatusOr<WatchEvents> events = Next(**with_avatars);
    ASSERT_TRUE(events.ok()) << events.status();
    for (const auto& event : *events) {
      EXPECT_EQ(event->profile().avatar(), picture);
      with_picture.push_back(absl::StrCat(event->profile().id(), "@", event->profile().version()));
    }
  }
  EXPECT_EQ(with_picture,
            (std::vector<std::string>{absl::StrCat(Id(21), "@1"), absl::StrCat(Id(20), "@2")}));
}

TEST_F(ProfileCoreTest, AWatcherThatLagsCatchesUpFromStorageAndMissesNothing) {
  MakeCore({.storage_workers = 2, .watch_queue_bytes = 4096});
  profile::v1::WatchProfilesRequest request;
  request.set_include_avatars(true);
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(context_, request);
  ASSERT_TRUE(watch.ok());
  const std::string picture = testing::RealisticPng(3 * 1024, 9);
  // Far more than 4 KiB of events arrive while nobody reads them.
  for (int n = 30; n < 60; ++n) ASSERT_TRUE(Update(Id(n), "Ada", 0, "", picture).ok());
  std::vector<std::string> seen;
  ChangeCursor last_cursor;
  while (seen.size() < 30) {
    absl::StatusOr<WatchEvents> events = Next(**watch);
    ASSERT_TRUE(events.ok()) << events.status();
    for (const auto& event : *events) {
      seen.push_back(event->profile().id());
      absl::StatusOr<IssuedCursor> cursor = IssuedCursor::Parse(event->cursor(), "cursor");
      ASSERT_TRUE(cursor.ok());
      EXPECT_GT(cursor->position, last_cursor);
      last_cursor = cursor->position;
    }
  }
  for (int n = 30; n < 60; ++n) EXPECT_EQ(seen[n - 30], Id(n));
}

TEST_F(ProfileCoreTest, WatchesAreBoundedAndEndWhenStoppedOrCancelled) {
  MakeCore({.storage_workers = 2, .max_watches = 2});
  profile::v1::WatchProfilesRequest request;
  absl::StatusOr<std::unique_ptr<ProfileWatch>> first = core_->Watch(context_, request);
  absl::StatusOr<std::unique_ptr<ProfileWatch>> second = core_->Watch(context_, request);
  ASSERT_TRUE(first.ok() && second.ok());
  absl::StatusOr<std::unique_ptr<ProfileWatch>> third = core_->Watch(context_, request);
  EXPECT_TRUE(absl::IsResourceExhausted(third.status())) << third.status();
  EXPECT_EQ(core_->open_watches(), 2);

  absl::Notification cancelled;
  absl::Status cancel_status;
  (*second)->Next([&](absl::StatusOr<WatchEvents> events) {
    cancel_status = events.status();
    cancelled.Notify();
  });
  (*second)->Cancel();
  cancelled.WaitForNotification();
  EXPECT_TRUE(absl::IsCancelled(cancel_status)) << cancel_status;
  second->reset();
  EXPECT_EQ(core_->open_watches(), 1);

  absl::Notification stopped;
  absl::Status stop_status;
  (*first)->Next([&](absl::StatusOr<WatchEvents> events) {
    stop_status = events.status();
    stopped.Notify();
  });
  core_->StopWatches();
  stopped.WaitForNotification();
  EXPECT_TRUE(absl::IsUnavailable(stop_status)) << stop_status;
  EXPECT_TRUE(absl::IsUnavailable(core_->Watch(context_, request).status()));
}

TEST_F(ProfileCoreTest, AWatchOnAnUnreachableDatabaseEndsUnavailable) {
  storage_.SetAvailable(false);
  profile::v1::WatchProfilesRequest request;
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(context_, request);
  ASSERT_TRUE(watch.ok());
  EXPECT_TRUE(absl::IsUnavailable(Next(**watch).status()));
}

// Who may do what: the rules of profile_core.h, with tokens minted here.
class ProfileCoreAuthTest : public ProfileCoreTest {
 protected:
  static constexpr char kSecret[] = "a-test-secret-that-is-at-least-32-bytes-long";

  void UseTokens(ReadScope scope) {
    MakeCore({.storage_workers = 2, .tokens = authority_, .read_scope = scope});
  }
  std::string Token(const std::string& subject, bool admin = false,
                    absl::Duration ttl = absl::Hours(1), absl::Time now = absl::Now()) {
    return absl::StrCat("Bearer ",
                        *authority_.Mint({.subject = subject, .admin = admin}, ttl, now));
  }
  void As(const std::string& authorization) { context_.authorization = authorization; }

  absl::StatusOr<profile::v1::ListProfilesResponse> List() {
    return Await<profile::v1::ListProfilesResponse>([&](auto done) {
      core_->List(context_, profile::v1::ListProfilesRequest(), std::move(done));
    });
  }

  TokenAuthority authority_ = *TokenAuthority::FromKey(kSecret);
};

TEST_F(ProfileCoreAuthTest, WithoutAValidTokenNothingIsReadOrWritten) {
  UseTokens(ReadScope::kEveryProfile);
  const std::string expired = Token(Id(1), true, absl::Minutes(5), absl::Now() - absl::Hours(1));
  const std::string strangers = absl::StrCat(
      "Bearer ", *TokenAuthority::FromKey(std::string(40, 'x'))
                      ->Mint({.subject = Id(1), .admin = true}, absl::Hours(1), absl::Now()));
  for (const std::string& authorization : {std::string(), expired, strangers}) {
    As(authorization);
    EXPECT_TRUE(absl::IsUnauthenticated(Update(Id(1), "Ada", 0).status()));
    // Checked before validation: a stranger learns nothing from the request.
    EXPECT_TRUE(absl::IsUnauthenticated(Update("not-a-uuid", "", 0).status()));
    EXPECT_TRUE(absl::IsUnauthenticated(Get(Id(1)).status()));
    EXPECT_TRUE(absl::IsUnauthenticated(List().status()));
    EXPECT_TRUE(absl::IsUnauthenticated(
        core_->Watch(context_, profile::v1::WatchProfilesRequest()).status()));
  }
  As(Token(Id(9), true));
  EXPECT_TRUE(absl::IsNotFound(Get(Id(1)).status()));
  EXPECT_EQ(List()->profiles_size(), 0);
}

TEST_F(ProfileCoreAuthTest, AUserWritesOnlyTheirOwnProfileAndAnAdminAny) {
  UseTokens(ReadScope::kEveryProfile);
  As(Token(Id(1)));
  ASSERT_TRUE(Update(Id(1), "Ada", 0).ok());
  absl::Status other = Update(Id(2), "Grace", 0).status();
  EXPECT_TRUE(absl::IsPermissionDenied(other)) << other;
  As(Token(Id(9), true));
  EXPECT_TRUE(absl::IsNotFound(Get(Id(2)).status())) << "the refused write was stored";
  ASSERT_TRUE(Update(Id(2), "Grace", 0).ok());
  ASSERT_TRUE(Update(Id(1), "Ada King", 1).ok());
  // Every user reads every profile in this scope.
  As(Token(Id(1)));
  EXPECT_EQ(Get(Id(2)).value()->profile().name(), "Grace");
  EXPECT_EQ(List()->profiles_size(), 2);
  EXPECT_TRUE(core_->Watch(context_, profile::v1::WatchProfilesRequest()).ok());
}

TEST_F(ProfileCoreAuthTest, InTheOwnProfileScopeAUserReadsOnlyTheirs) {
  UseTokens(ReadScope::kOwnProfile);
  As(Token(Id(9), true));
  ASSERT_TRUE(Update(Id(1), "Ada", 0).ok());
  ASSERT_TRUE(Update(Id(2), "Grace", 0).ok());
  As(Token(Id(1)));
  EXPECT_EQ(Get(Id(1)).value()->profile().name(), "Ada");
  EXPECT_TRUE(absl::IsPermissionDenied(Get(Id(2)).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(List().status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      core_->Watch(context_, profile::v1::WatchProfilesRequest()).status()));
  As(Token(Id(9), true));
  EXPECT_EQ(List()->profiles_size(), 2);
}

TEST_F(ProfileCoreAuthTest, AMutationIdIsScopedToItsCaller) {
  UseTokens(ReadScope::kEveryProfile);
  const std::string mutation = "7d3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b";
  As(Token(Id(9), true));
  ASSERT_EQ(Update(Id(1), "Ada", 0, mutation)->kind, WriteOutcomeKind::kCreated);

  // The owner sends the admin's mutation id with the same request: not a
  // replay of the admin's result, but a create of an existing profile.
  As(Token(Id(1)));
  absl::Status same = Update(Id(1), "Ada", 0, mutation).status();
  EXPECT_TRUE(absl::IsAborted(same)) << same;
  // With another request it is not "reused" either: it is applied as theirs.
  absl::StatusOr<WriteOutcome> theirs = Update(Id(1), "Ada King", 1, mutation);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_EQ(theirs->kind, WriteOutcomeKind::kUpdated);
  EXPECT_EQ(Update(Id(1), "Ada King", 1, mutation)->kind, WriteOutcomeKind::kReplayed);

  // The admin's own retry still replays the admin's first result.
  As(Token(Id(9), true));
  absl::StatusOr<WriteOutcome> retry = Update(Id(1), "Ada", 0, mutation);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->kind, WriteOutcomeKind::kReplayed);
  EXPECT_EQ(retry->profile->profile().name(), "Ada");
}

TEST_F(ProfileCoreAuthTest, EachUserHasTheirOwnRateAndStrangersShareTheirAddresss) {
  MakeCore({.storage_workers = 2,
            .tokens = authority_,
            .read_rate = {.per_second = 0.001, .burst = 3},
            .write_rate = {.per_second = 0.001, .burst = 2}});
  As(Token(Id(1)));
  ASSERT_TRUE(Update(Id(1), "Ada", 0).ok());
  ASSERT_TRUE(Update(Id(1), "Ada King", 1).ok());
  absl::Status third = Update(Id(1), "Ada Lovelace", 2).status();
  ASSERT_TRUE(absl::IsResourceExhausted(third)) << third;
  std::optional<absl::Duration> delay = RetryDelayOf(third);
  ASSERT_TRUE(delay.has_value());
  EXPECT_GT(*delay, absl::Minutes(10));  // one token per 1000 s
  // Refused: nothing written.
  EXPECT_EQ(Get(Id(1)).value()->profile().version(), 2);
  // Reads have their own budget, and another user their own.
  EXPECT_TRUE(Get(Id(1)).ok());
  As(Token(Id(2)));
  EXPECT_TRUE(Update(Id(2), "Grace", 0).ok());

  // Without a valid token, calls count against the address they come from:
  // guessing tokens is limited like anything else.
  context_.peer = "192.0.2.7";
  As("Bearer not-a-token");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(absl::IsUnauthenticated(Get(Id(1)).status())) << i;
  absl::Status limited = Get(Id(1)).status();
  EXPECT_TRUE(absl::IsResourceExhausted(limited)) << limited;
  context_.peer = "192.0.2.8";
  EXPECT_TRUE(absl::IsUnauthenticated(Get(Id(1)).status()));
}

TEST_F(ProfileCoreTest, ADeleteAnswersItsTombstoneAndReadsSayTheProfileIsGone) {
  const std::string mutation = "9a3f1c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b";
  ASSERT_TRUE(Update(Id(40), "Ada", 0).ok());
  ASSERT_TRUE(Update(Id(40), "Ada King", 1).ok());
  ASSERT_TRUE((*Get(Id(40)))->profile().name() == "Ada King");  // cached now

  absl::StatusOr<WriteOutcome> stale = Delete(Id(40), 1);
  ASSERT_TRUE(absl::IsAborted(stale.status())) << stale.status();
  EXPECT_EQ(ConflictingProfile(stale.status())->version(), 2);

  absl::StatusOr<WriteOutcome> deleted = Delete(Id(40), 2, mutation);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->kind, WriteOutcomeKind::kDeleted);
  EXPECT_TRUE(deleted->profile->profile().deleted());
  EXPECT_EQ(deleted->profile->version(), 3);
  absl::StatusOr<WriteOutcome> replayed = Delete(Id(40), 2, mutation);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(replayed->kind, WriteOutcomeKind::kReplayed);
  EXPECT_TRUE(replayed->profile->profile().deleted());

  // From the cache (which held version 2) and from storage alike.
  const int reads_before = storage_.get_calls();
  absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> cached = Get(Id(40));
  EXPECT_TRUE(IsProfileDeleted(cached.status())) << cached.status();
  EXPECT_EQ(storage_.get_calls(), reads_before);
  MakeCore({.storage_workers = 2});
  absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> stored = Get(Id(40));
  EXPECT_TRUE(IsProfileDeleted(stored.status())) << stored.status();
  ASSERT_TRUE(ConflictingProfile(stored.status()).has_value());
  EXPECT_EQ(ConflictingProfile(stored.status())->version(), 3);

  absl::StatusOr<WriteOutcome> edit = Update(Id(40), "Ada Lovelace", 2);
  EXPECT_TRUE(IsProfileDeleted(edit.status())) << edit.status();
  absl::StatusOr<WriteOutcome> recreated = Update(Id(40), "Ada Again", 0);
  ASSERT_TRUE(recreated.ok()) << recreated.status();
  EXPECT_EQ(recreated->kind, WriteOutcomeKind::kCreated);
  EXPECT_EQ(recreated->profile->version(), 4);
  EXPECT_EQ((*Get(Id(40)))->profile().name(), "Ada Again");
}

TEST_F(ProfileCoreTest, ADeleteNeedsTheVersionItSaw) {
  ASSERT_TRUE(Update(Id(41), "Ada", 0).ok());
  absl::StatusOr<WriteOutcome> unversioned = Delete(Id(41), 0);
  ASSERT_TRUE(absl::IsInvalidArgument(unversioned.status())) << unversioned.status();
  EXPECT_EQ(BadRequestOf(unversioned.status())->field_violations(0).field(), "expected_version");
  EXPECT_TRUE(Get(Id(41)).ok());
  // An edit that says "deleted" is refused rather than applied as an edit.
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(Id(41));
  request.mutable_profile()->set_name("Ada");
  request.mutable_profile()->set_deleted(true);
  request.set_expected_version(1);
  absl::StatusOr<WriteOutcome> confused =
      Await<WriteOutcome>([&](auto done) { core_->Update(context_, request, std::move(done)); });
  ASSERT_TRUE(absl::IsInvalidArgument(confused.status())) << confused.status();
  EXPECT_EQ(BadRequestOf(confused.status())->field_violations(0).field(), "deleted");
}

TEST_F(ProfileCoreTest, AListingFromTheStartLeavesTombstonesOutOfItsFirstPageOnly) {
  ASSERT_TRUE(Update(Id(42), "Gone before", 0).ok());
  ASSERT_TRUE(Update(Id(43), "Kept", 0).ok());
  ASSERT_TRUE(Update(Id(44), "Gone later", 0).ok());
  ASSERT_TRUE(Delete(Id(42), 1).ok());

  absl::StatusOr<profile::v1::ListProfilesResponse> first = List("", "", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->profiles_size(), 1);
  EXPECT_EQ(first->profiles(0).id(), Id(43));
  ASSERT_FALSE(first->next_page_token().empty());
  // Deleted while the caller pages: the later page must say so.
  ASSERT_TRUE(Delete(Id(44), 1).ok());
  std::vector<std::string> later;
  std::string token = first->next_page_token();
  while (!token.empty()) {
    absl::StatusOr<profile::v1::ListProfilesResponse> page = List("", token, 1);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const Profile& profile : page->profiles()) {
      later.push_back(absl::StrCat(profile.id(), profile.deleted() ? " deleted" : ""));
    }
    token = page->next_page_token();
  }
  EXPECT_EQ(later, (std::vector<std::string>{absl::StrCat(Id(42), " deleted"),
                                             absl::StrCat(Id(44), " deleted")}));
}

// A device that first synced an empty database holds a cursor at the start
// of the stream, and everything after it, deletes included, is news to it.
TEST_F(ProfileCoreTest, ACursorIssuedByAnEmptyDatabaseGetsTombstones) {
  absl::StatusOr<profile::v1::ListProfilesResponse> empty = List("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_EQ(empty->profiles_size(), 0);
  ASSERT_FALSE(empty->cursor().empty());
  ASSERT_TRUE(Update(Id(47), "Ada", 0).ok());
  ASSERT_TRUE(Delete(Id(47), 1).ok());

  absl::StatusOr<profile::v1::ListProfilesResponse> delta = List(empty->cursor());
  ASSERT_TRUE(delta.ok()) << delta.status();
  ASSERT_EQ(delta->profiles_size(), 1);
  EXPECT_TRUE(delta->profiles(0).deleted());

  profile::v1::WatchProfilesRequest request;
  request.set_since_cursor(empty->cursor());
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch = core_->Watch(context_, request);
  ASSERT_TRUE(watch.ok()) << watch.status();
  absl::StatusOr<WatchEvents> events = Next(**watch);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_TRUE((*events)[0]->profile().deleted());
}

TEST_F(ProfileCoreTest, AWatchDeliversADeleteAsItsTombstone) {
  // Deleted before Bo was created: its tombstone sorts before Bo, where a
  // watch from the start leaves tombstones out. (One sorting after Bo, the
  // end of the first catch-up page, may or may not reach the watcher, as
  // on a listing's later pages; a client ignores a tombstone it has no
  // profile for.)
  ASSERT_TRUE(Update(Id(45), "Ada", 0).ok());
  ASSERT_TRUE(Delete(Id(45), 1).ok());
  ASSERT_TRUE(Update(Id(46), "Bo", 0).ok());
  absl::StatusOr<std::unique_ptr<ProfileWatch>> watch =
      core_->Watch(context_, profile::v1::WatchProfilesRequest());
  ASSERT_TRUE(watch.ok()) << watch.status();
  // From the start: only what exists.
  absl::StatusOr<WatchEvents> existing = Next(**watch);
  ASSERT_TRUE(existing.ok()) << existing.status();
  ASSERT_EQ(existing->size(), 1u);
  EXPECT_EQ((*existing)[0]->profile().id(), Id(46));
  ASSERT_TRUE(Delete(Id(46), 1).ok());
  absl::StatusOr<WatchEvents> live = Next(**watch);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0]->profile().id(), Id(46));
  EXPECT_TRUE((*live)[0]->profile().deleted());
  EXPECT_EQ((*live)[0]->profile().version(), 2);
}

}  // namespace
}  // namespace profiles
