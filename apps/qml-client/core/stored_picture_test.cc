#include "apps/qml-client/core/stored_picture.h"

#include <malloc.h>
#include <unistd.h>

#include <QtCore/QDir>
#include <QtCore/QFile>
#include <QtCore/QTemporaryDir>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/core/mutation_queue.h"
#include "apps/qml-client/core/test_util.h"
#include "gtest/gtest.h"

namespace profiles::client {
namespace {

using profile::v1::Profile;
using testing::MakeProfile;
using testing::Mask;
using testing::PictureOf;

// ASan keeps freed memory in its quarantine, resident, so a process's memory
// says nothing about what the store holds there.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMemoryIsMeasurable = false;
#else
constexpr bool kMemoryIsMeasurable = true;
#endif

constexpr LocalStore::Options kNeverCompact{.compaction_min_journal_bytes = int64_t{1} << 40};
// A phone photo as the app uploads it: 100-256 KiB, and incompressible.
constexpr size_t kPhotoBytes = size_t{200} * 1024;

std::string IdOf(int i) { return absl::StrCat("00000000-0000-4000-8000-", 100000000000 + i); }

// Distinct and incompressible, like a JPEG's bytes.
std::string Photo(int seed) { return testing::NoisyBytes(seed, kPhotoBytes); }

std::unique_ptr<LocalStore> OpenStore(const QString& dir, StoreFiles* files = RealStoreFiles()) {
  absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(dir, kNeverCompact, files);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

Profile WithPhoto(int i, const std::string& photo, int64_t version = 1) {
  Profile profile = MakeProfile(IdOf(i), absl::StrCat("Person ", i), "", version);
  profile.set_avatar(photo);
  profile.set_avatar_sha256(AvatarSha256(photo));
  return profile;
}

// A first sync of `count` profiles with their own photos, in pages of 10.
void FirstSync(MutationQueue& queue, int count, int64_t version = 1) {
  for (int first = 0; first < count; first += 10) {
    std::vector<Profile> page;
    for (int i = first; i < std::min(count, first + 10); ++i) {
      page.push_back(WithPhoto(i, Photo(i), version));
    }
    ASSERT_TRUE(queue.ApplyServerProfiles(std::move(page), absl::StrCat("c", first)).ok());
  }
}

// Resident memory of this process, in bytes, after giving freed heap back.
int64_t ResidentBytes() {
  malloc_trim(0);
  FILE* statm = std::fopen("/proc/self/statm", "r");
  long size = 0;
  long resident = 0;
  if (statm != nullptr) {
    if (std::fscanf(statm, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(statm);
  }
  return int64_t{resident} * sysconf(_SC_PAGESIZE);
}

// The store files of `dir` this process still has open after they were
// replaced or removed ("... (deleted)" in /proc/self/fd).
std::vector<std::string> DeletedFilesHeldOpen(const QString& dir) {
  std::vector<std::string> held;
  const std::string prefix = QDir(dir).canonicalPath().toStdString();
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(fd.path(), error).string();
    if (!error && target.rfind(prefix, 0) == 0 && target.find("(deleted)") != std::string::npos) {
      held.push_back(target);
    }
  }
  return held;
}

// What a phone needs: 200 photos of 200 KiB (40 MB) cost the store their
// names, not their bytes, and every one reads back whole, before and after a
// compaction and a reopen. The store held every picture in memory before
// (2 GB for 10,000 such profiles).
TEST(StoredPictureTest, PhotosStayOnDiskAndReadBackWholeAfterCompactionAndReopen) {
  constexpr int kProfiles = 200;
  QTemporaryDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    MutationQueue queue(store.get());
    FirstSync(queue, kProfiles);
    for (const auto& [id, profile] : store->state().profiles) {
      EXPECT_TRUE(profile->avatar().empty()) << id;
      EXPECT_LT(profile->ByteSizeLong(), 512u) << id << ": the picture's bytes are on disk";
    }
    EXPECT_EQ(store->state().pictures->size(), static_cast<size_t>(kProfiles));
    for (int i = 0; i < kProfiles; i += 7) {
      EXPECT_EQ(PictureOf(store->state(), *store->state().profiles.at(IdOf(i))), Photo(i));
    }
    ASSERT_TRUE(store->Compact().ok());
    for (int i = 3; i < kProfiles; i += 7) {
      EXPECT_EQ(PictureOf(store->state(), *store->state().profiles.at(IdOf(i))), Photo(i))
          << "read from the new snapshot";
    }
  }

  const int64_t before = ResidentBytes();
  auto reopened = OpenStore(dir.path());
  ASSERT_NE(reopened, nullptr);
  const int64_t opened = ResidentBytes() - before;
  if (kMemoryIsMeasurable) {
    EXPECT_LT(opened, int64_t{kProfiles} * static_cast<int64_t>(kPhotoBytes) / 8)
        << "opening 40 MB of photos took " << opened / 1024 << " KiB of memory";
  }
  ASSERT_EQ(reopened->state().profiles.size(), static_cast<size_t>(kProfiles));
  for (int i = 0; i < kProfiles; ++i) {
    ASSERT_EQ(PictureOf(reopened->state(), *reopened->state().profiles.at(IdOf(i))), Photo(i)) << i;
  }
}

// A compaction replaces the files; the pictures are read from the new ones
// at once, and nothing keeps the old ones (and their disk space) alive, not
// even a view that read through the shelf before.
TEST(StoredPictureTest, ACompactionLetsGoOfTheFilesItReplaced) {
  QTemporaryDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  FirstSync(queue, 20);
  const std::shared_ptr<const PictureShelf> shown = store->state().pictures;
  const std::string sha = AvatarSha256(Photo(5));
  ASSERT_TRUE(shown->Read(sha).ok());
  // Newer copies supersede every record, so the old files hold nothing live.
  FirstSync(queue, 20, /*version=*/2);
  ASSERT_TRUE(store->Compact().ok());
  ASSERT_TRUE(store->Compact().ok());
  EXPECT_EQ(DeletedFilesHeldOpen(dir.path()), std::vector<std::string>{});
  EXPECT_EQ(*shown->Read(sha), Photo(5)) << "the shelf a view holds reads the new files";
}

// The same picture on many profiles (a default avatar, a team logo) is one
// entry, written once by a snapshot, and still every profile's picture.
TEST(StoredPictureTest, APictureManyProfilesShowIsWrittenOnceBySnapshots) {
  constexpr int kProfiles = 30;
  QTemporaryDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_NE(store, nullptr);
    MutationQueue queue(store.get());
    std::vector<Profile> page;
    page.reserve(kProfiles);
    for (int i = 0; i < kProfiles; ++i) page.push_back(WithPhoto(i, Photo(0)));
    ASSERT_TRUE(queue.ApplyServerProfiles(std::move(page), "c").ok());
    EXPECT_EQ(store->state().pictures->size(), 1u);
    ASSERT_TRUE(store->Compact().ok());
  }
  EXPECT_LT(QFile(QDir(dir.path()).filePath(kSnapshotFileName)).size(),
            static_cast<qint64>(kPhotoBytes + size_t{64} * 1024));
  auto reopened = OpenStore(dir.path());
  ASSERT_NE(reopened, nullptr);
  for (const auto& [id, profile] : reopened->state().profiles) {
    EXPECT_EQ(PictureOf(reopened->state(), *profile), Photo(0)) << id;
  }
}

// The user's own picture is sent from disk, byte for byte. If the disk
// fails under it, the edit is not sent without it (that would remove the
// picture on the server): ToRequest says it is lost, and a compaction that
// cannot read it still keeps the store and the edit.
TEST(StoredPictureTest, AnEditsPictureIsSentFromDiskAndNeverWithoutIt) {
  QTemporaryDir dir;
  testing::FaultInjectingStoreFiles files;
  auto store = OpenStore(dir.path(), &files);
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  ASSERT_TRUE(queue.ApplyServerProfiles({MakeProfile(IdOf(1), "Ada", "", 3)}, "c").ok());
  Profile fields;
  fields.set_avatar(Photo(42));
  auto edit = queue.EnqueueEdit(IdOf(1), 3, fields, Mask({"avatar"}));
  ASSERT_TRUE(edit.ok()) << edit.status();
  const auto mutation = queue.NextToSend();
  ASSERT_TRUE(mutation.has_value());
  EXPECT_TRUE(mutation->fields().avatar().empty()) << "queued by sha";
  absl::StatusOr<profile::v1::UpdateProfileRequest> request = queue.ToRequest(*mutation);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->profile().avatar(), Photo(42));
  EXPECT_EQ(queue.EffectiveProfile(IdOf(1))->avatar_sha256(), AvatarSha256(Photo(42)));

  files.FailRandomReads(true);
  EXPECT_EQ(queue.ToRequest(*mutation).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(store->Compact().ok()) << "an unreadable picture does not stop compaction";
  files.FailRandomReads(false);
  EXPECT_EQ(queue.ToRequest(*mutation).status().code(), absl::StatusCode::kDataLoss)
      << "the picture the compaction could not read is gone, and says so";
  EXPECT_EQ(queue.PendingCount(), 1u) << "the edit itself is kept";
}

// A listing that leaves pictures out names them by sha; when a later copy
// brings the bytes (GetProfile), the profile is redrawn, though its version
// and sha did not change.
TEST(StoredPictureTest, AFetchedPictureRedrawsItsProfile) {
  QTemporaryDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  Profile named = WithPhoto(1, Photo(1));
  named.clear_avatar();
  ASSERT_TRUE(queue.ApplyServerProfiles({named}, "c").ok());
  EXPECT_FALSE(store->state().HasPicture(named.avatar_sha256()));
  store->TakeTouchedProfiles();
  ASSERT_TRUE(queue.ApplyServerProfiles({named}, "c").ok());
  EXPECT_TRUE(store->TakeTouchedProfiles().empty()) << "the same copy again changes nothing";
  ASSERT_TRUE(queue.ApplyServerProfiles({WithPhoto(1, Photo(1))}, "c").ok());
  EXPECT_EQ(store->TakeTouchedProfiles(), std::set<std::string>{IdOf(1)});
  EXPECT_EQ(PictureOf(store->state(), *store->state().profiles.at(IdOf(1))), Photo(1));
}

// A picture read back checks the record's checksum again: bytes changed on
// disk are refused, never shown or sent as the picture.
TEST(StoredPictureTest, ARecordDamagedOnDiskIsRefusedWhenReadBack) {
  QTemporaryDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_NE(store, nullptr);
  MutationQueue queue(store.get());
  FirstSync(queue, 1);
  const std::string sha = AvatarSha256(Photo(0));
  QFile journal(QDir(dir.path()).filePath(kJournalFileName));
  ASSERT_TRUE(journal.open(QIODevice::ReadWrite));
  ASSERT_TRUE(journal.seek(journal.size() - 1000));
  ASSERT_EQ(journal.write("X", 1), 1);
  journal.close();
  EXPECT_EQ(store->state().pictures->Read(sha).status().code(), absl::StatusCode::kDataLoss);
}

// Compaction puts a picture back into the first record that names it, once,
// and never into a merge base (the picture the user saw, named only).
TEST(StoredPictureTest, PicturesGoBackOnceAndNeverIntoAMergeBase) {
  PictureShelf shelf;
  const std::string seen = Photo(1);
  const std::string picked = Photo(2);
  ASSERT_TRUE(shelf.Add(AvatarSha256(seen), StoredPicture::InMemory(seen)));
  ASSERT_TRUE(shelf.Add(AvatarSha256(picked), StoredPicture::InMemory(picked)));

  profile::client::v1::JournalRecord edit;
  profile::client::v1::PendingMutation* mutation = edit.mutable_mutation_enqueued();
  mutation->mutable_fields()->set_avatar_sha256(AvatarSha256(picked));
  mutation->mutable_base_fields()->set_avatar_sha256(AvatarSha256(seen));
  std::set<std::string> written;
  ASSERT_TRUE(PutPicturesBack(shelf, &edit, &written).ok());
  EXPECT_EQ(mutation->fields().avatar(), picked);
  EXPECT_TRUE(mutation->base_fields().avatar().empty()) << "a merge base never holds bytes";
  EXPECT_EQ(written, std::set<std::string>{AvatarSha256(picked)});

  profile::client::v1::JournalRecord again = edit;
  again.mutable_mutation_enqueued()->mutable_fields()->clear_avatar();
  ASSERT_TRUE(PutPicturesBack(shelf, &again, &written).ok());
  EXPECT_TRUE(again.mutation_enqueued().fields().avatar().empty()) << "written once already";
}

}  // namespace
}  // namespace profiles::client
