#include "apps/qml-client/core/merge.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace profiles::client {
namespace {

using profile::v1::Profile;

Profile Make(const std::string& name, const std::string& email, const std::string& avatar_sha,
             int64_t version = 0) {
  Profile profile;
  profile.set_name(name);
  profile.set_email(email);
  profile.set_avatar_sha256(avatar_sha);
  profile.set_version(version);
  return profile;
}

google::protobuf::FieldMask Mask(std::vector<std::string> paths) {
  google::protobuf::FieldMask mask;
  for (std::string& path : paths) mask.add_paths(std::move(path));
  return mask;
}

std::vector<std::string> Paths(const google::protobuf::FieldMask& mask) {
  return {mask.paths().begin(), mask.paths().end()};
}

using Strings = std::vector<std::string>;

const std::string kPictureA = "picture A bytes";
const std::string kPictureB = "picture B bytes";

TEST(AvatarSha256Test, IsLowercaseHexOfSha256AndEmptyForNoAvatar) {
  EXPECT_EQ(AvatarSha256(""), "");
  EXPECT_EQ(AvatarSha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(MergeEditTest, NothingChangedElsewhereSendsMyFields) {
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome = MergeEdit(base, Mask({"name"}), Make("Ada L.", "", ""),
                                         Make("Ada", "ada@example.com", "", 2));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"name"});
  EXPECT_TRUE(outcome.changed_elsewhere.empty());
}

TEST(MergeEditTest, SameFieldChangedElsewhereIsAConflict) {
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome = MergeEdit(base, Mask({"name"}), Make("Mine", "", ""),
                                         Make("Theirs", "ada@example.com", "", 2));
  EXPECT_TRUE(outcome.conflicted());
  EXPECT_EQ(outcome.conflicting_fields, Strings{"name"});
  EXPECT_TRUE(outcome.mask.paths().empty()) << "nothing is sent while the user decides";
}

TEST(MergeEditTest, DifferentFieldChangedElsewhereIsMerged) {
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome = MergeEdit(base, Mask({"email"}), Make("", "new@example.com", ""),
                                         Make("Renamed", "ada@example.com", "", 2));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"email"});
  EXPECT_EQ(outcome.changed_elsewhere, Strings{"name"});
}

TEST(MergeEditTest, UntouchedFieldsAreNeverWrittenFromTheStaleCopy) {
  // The user changed only the avatar; their stale name and email must not go
  // out, whatever the server holds now.
  const Profile base = Make("Ada", "ada@example.com", AvatarSha256(kPictureA));
  Profile mine = Make("Ada", "ada@example.com", "");
  mine.set_avatar(kPictureB);
  const MergeOutcome outcome =
      MergeEdit(base, Mask({"avatar"}), mine,
                Make("Renamed", "moved@example.com", AvatarSha256(kPictureA), 7));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"avatar"});
  EXPECT_EQ(outcome.changed_elsewhere, (Strings{"name", "email"}));
}

TEST(MergeEditTest, BothSidesWroteTheSameValueIsNeitherConflictNorWrite) {
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome =
      MergeEdit(base, Mask({"name", "email"}), Make("Same", "mine@example.com", ""),
                Make("Same", "ada@example.com", "", 2));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"email"});
  EXPECT_TRUE(outcome.changed_elsewhere.empty());
}

TEST(MergeEditTest, OneConflictingFieldMakesTheWholeEditAConflict) {
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome =
      MergeEdit(base, Mask({"name", "email"}), Make("Mine", "mine@example.com", ""),
                Make("Ada", "theirs@example.com", "", 2));
  EXPECT_EQ(outcome.conflicting_fields, Strings{"email"});
  EXPECT_TRUE(outcome.mask.paths().empty());
}

TEST(MergeEditTest, AvatarsAreComparedBySha256NotBytes) {
  const Profile base = Make("Ada", "ada@example.com", AvatarSha256(kPictureA));
  Profile mine;
  mine.set_avatar(kPictureB);
  // Theirs has the same picture as the base but, as in a conflict's details,
  // without bytes: that is not "avatar cleared".
  Profile theirs = Make("Ada", "ada@example.com", AvatarSha256(kPictureA), 2);
  MergeOutcome outcome = MergeEdit(base, Mask({"avatar"}), mine, theirs);
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"avatar"});

  // Another picture elsewhere: a conflict.
  theirs.set_avatar_sha256(AvatarSha256("picture C bytes"));
  outcome = MergeEdit(base, Mask({"avatar"}), mine, theirs);
  EXPECT_EQ(outcome.conflicting_fields, Strings{"avatar"});

  // The same new picture on both sides: nothing to do.
  theirs.set_avatar_sha256(AvatarSha256(kPictureB));
  outcome = MergeEdit(base, Mask({"avatar"}), mine, theirs);
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_TRUE(outcome.mask.paths().empty());
}

TEST(MergeEditTest, RemovingTheAvatarIsAChangeLikeAnyOther) {
  const Profile base = Make("Ada", "ada@example.com", AvatarSha256(kPictureA));
  const Profile mine;  // no avatar bytes: removed
  MergeOutcome outcome = MergeEdit(base, Mask({"avatar"}), mine,
                                   Make("Other", "ada@example.com", AvatarSha256(kPictureA), 2));
  EXPECT_EQ(Paths(outcome.mask), Strings{"avatar"});
  // Removed elsewhere too: agreed.
  outcome = MergeEdit(base, Mask({"avatar"}), mine, Make("Ada", "ada@example.com", "", 2));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_TRUE(outcome.mask.paths().empty());
  // Replaced elsewhere while removed here: a conflict.
  outcome = MergeEdit(base, Mask({"avatar"}), mine,
                      Make("Ada", "ada@example.com", AvatarSha256(kPictureB), 2));
  EXPECT_EQ(outcome.conflicting_fields, Strings{"avatar"});
}

TEST(MergeEditTest, ChangedBackElsewhereCountsAsUnchanged) {
  // A -> B -> A elsewhere: the value the user saw is the value there now.
  const Profile base = Make("Ada", "ada@example.com", "");
  const MergeOutcome outcome =
      MergeEdit(base, Mask({"name"}), Make("Mine", "", ""), Make("Ada", "ada@example.com", "", 3));
  EXPECT_FALSE(outcome.conflicted());
  EXPECT_EQ(Paths(outcome.mask), Strings{"name"});
  EXPECT_TRUE(outcome.changed_elsewhere.empty());
}

TEST(MergeEditTest, OutcomeMaskIsInCanonicalOrder) {
  const Profile base = Make("Ada", "ada@example.com", "");
  Profile mine = Make("N", "e@example.com", "");
  mine.set_avatar(kPictureA);
  const MergeOutcome outcome = MergeEdit(base, Mask({"avatar", "email", "name"}), mine,
                                         Make("Ada", "ada@example.com", "", 2));
  EXPECT_EQ(Paths(outcome.mask), (Strings{"name", "email", "avatar"}));
}

}  // namespace
}  // namespace profiles::client
