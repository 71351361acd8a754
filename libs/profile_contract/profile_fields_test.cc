#include "libs/profile_contract/profile_fields.h"

#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"

namespace profiles {
namespace {

using google::protobuf::FieldDescriptor;
using profile::v1::Profile;

std::vector<std::string> Paths(const google::protobuf::FieldMask& mask) {
  return {mask.paths().begin(), mask.paths().end()};
}

google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* path : paths) mask.add_paths(path);
  return mask;
}

Profile Sample() {
  Profile profile;
  profile.set_id("123e4567-e89b-12d3-a456-426614174000");
  profile.set_name("Ada");
  profile.set_email("ada@example.com");
  profile.set_avatar(std::string("\x89PNG\0\1", 6));
  profile.set_avatar_sha256("abc123");
  profile.set_version(4);
  return profile;
}

TEST(ProfileFields, CanonicalOrderIsNameEmailAvatar) {
  std::vector<std::string_view> paths;
  for (const ProfileField& field : WritableFields()) paths.push_back(field.path());
  EXPECT_EQ(paths, (std::vector<std::string_view>{"name", "email", "avatar"}));
  EXPECT_EQ(WritableFields().size(), kWritableFieldCount);
}

TEST(ProfileFields, IdsAreIndices) {
  for (size_t i = 0; i < WritableFields().size(); ++i) {
    const ProfileField& field = WritableFields()[i];
    EXPECT_EQ(field.index(), i);
    EXPECT_EQ(&WritableField(field.id()), &field);
  }
  EXPECT_EQ(WritableField(ProfileFieldId::kEmail).path(), "email");
}

// The table agrees with the .proto: every path is a string or bytes field of
// Profile whose JSON name is the same, and every field of Profile that is
// not in the table is one the server sets or the profile's id.
TEST(ProfileFields, AgreeWithTheProfileDescriptor) {
  const google::protobuf::Descriptor* descriptor = Profile::descriptor();
  std::set<std::string> writable;
  for (const ProfileField& field : WritableFields()) {
    const FieldDescriptor* proto_field = descriptor->FindFieldByName(std::string(field.path()));
    ASSERT_NE(proto_field, nullptr) << field.path();
    EXPECT_EQ(proto_field->json_name(), field.path());
    EXPECT_FALSE(proto_field->is_repeated());
    EXPECT_EQ(proto_field->type(),
              field.is_avatar() ? FieldDescriptor::TYPE_BYTES : FieldDescriptor::TYPE_STRING)
        << field.path();
    writable.insert(proto_field->name());
  }
  // "deleted" is written by DeleteProfile only (validation.h refuses it in an edit).
  const std::set<std::string> not_writable = {"id", "avatar_sha256", "version", "updated_at",
                                              "deleted"};
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const std::string& name = descriptor->field(i)->name();
    EXPECT_TRUE(writable.count(name) + not_writable.count(name) == 1)
        << "decide whether Profile." << name << " is writable, and list it in one place only";
  }
}

TEST(ProfileFields, AccessorsReachTheirOwnField) {
  Profile profile = Sample();
  EXPECT_EQ(WritableField(ProfileFieldId::kName).Get(profile), "Ada");
  EXPECT_EQ(WritableField(ProfileFieldId::kEmail).Get(profile), "ada@example.com");
  EXPECT_EQ(WritableField(ProfileFieldId::kAvatar).Get(profile), std::string("\x89PNG\0\1", 6));

  WritableField(ProfileFieldId::kName).Set(&profile, "Bo");
  WritableField(ProfileFieldId::kEmail).Mutable(&profile)->append(".uk");
  WritableField(ProfileFieldId::kAvatar).Set(&profile, "GIF89a");
  EXPECT_EQ(profile.name(), "Bo");
  EXPECT_EQ(profile.email(), "ada@example.com.uk");
  EXPECT_EQ(profile.avatar(), "GIF89a");
  EXPECT_EQ(profile.avatar_sha256(), "abc123");  // Set() leaves the sha alone
}

TEST(ProfileFields, OnlyTheAvatarIsIdentifiedByItsSha) {
  const Profile profile = Sample();
  EXPECT_EQ(WritableField(ProfileFieldId::kName).Identity(profile), "Ada");
  EXPECT_EQ(WritableField(ProfileFieldId::kEmail).Identity(profile), "ada@example.com");
  EXPECT_EQ(WritableField(ProfileFieldId::kAvatar).Identity(profile), "abc123");
  EXPECT_FALSE(WritableField(ProfileFieldId::kName).is_avatar());
  EXPECT_FALSE(WritableField(ProfileFieldId::kEmail).is_avatar());
  EXPECT_TRUE(WritableField(ProfileFieldId::kAvatar).is_avatar());
}

TEST(ProfileFields, NameAndEmailAreRequiredToCreate) {
  EXPECT_TRUE(WritableField(ProfileFieldId::kName).required_to_create());
  EXPECT_TRUE(WritableField(ProfileFieldId::kEmail).required_to_create());
  EXPECT_FALSE(WritableField(ProfileFieldId::kAvatar).required_to_create());
}

TEST(ProfileFields, ReachTheirSlotOfAWrite) {
  ProfileWrite write;
  *WritableField(ProfileFieldId::kEmail).MutableOf(&write) = "a@b.io";
  EXPECT_EQ(write.email, "a@b.io");
  EXPECT_FALSE(WritableField(ProfileFieldId::kName).Of(write).has_value());
  write.avatar = "";
  EXPECT_EQ(WritableField(ProfileFieldId::kAvatar).Of(write), "");
}

TEST(ProfileFields, FindsOnlyWritablePathsExactly) {
  EXPECT_EQ(FindWritableField("email"), &WritableField(ProfileFieldId::kEmail));
  EXPECT_TRUE(IsWritableField("name"));
  EXPECT_TRUE(IsWritableField("avatar"));
  for (std::string_view path : {"id", "version", "avatar_sha256", "updated_at", "Name", "name ", "",
                                "avatarSha256", "nickname"}) {
    EXPECT_FALSE(IsWritableField(path)) << path;
  }
}

TEST(ProfileFields, JoinsPathsForMessages) {
  EXPECT_EQ(JoinWritableFieldPaths(), "name, email, avatar");
  EXPECT_EQ(JoinWritableFieldPaths(", ", " and "), "name, email and avatar");
  EXPECT_EQ(JoinWritableFieldPaths("|"), "name|email|avatar");
}

TEST(ProfileFields, InMaskMatchesWholePaths) {
  const google::protobuf::FieldMask mask = Mask({"avatar_sha256", "email"});
  EXPECT_TRUE(WritableField(ProfileFieldId::kEmail).InMask(mask));
  EXPECT_FALSE(WritableField(ProfileFieldId::kAvatar).InMask(mask));
  EXPECT_FALSE(WritableField(ProfileFieldId::kName).InMask(mask));
}

TEST(ProfileFields, WritableFieldsInSortsDedupesAndDrops) {
  EXPECT_EQ(Paths(WritableFieldsIn(Mask({"avatar", "version", "name", "avatar"}))),
            (std::vector<std::string>{"name", "avatar"}));
  EXPECT_EQ(Paths(WritableFieldsIn(Mask({"email", "avatar", "name"}))),
            (std::vector<std::string>{"name", "email", "avatar"}));
  EXPECT_TRUE(WritableFieldsIn(Mask({})).paths().empty());
}

TEST(CopyMaskedFields, CopiesOnlyTheMaskedWritableFields) {
  const Profile from = Sample();
  Profile to;
  to.set_id("other");
  to.set_name("Old");
  to.set_email("old@example.com");
  to.set_version(9);
  CopyMaskedFields(from, Mask({"email", "version", "id"}), &to);
  EXPECT_EQ(to.id(), "other");
  EXPECT_EQ(to.name(), "Old");
  EXPECT_EQ(to.email(), "ada@example.com");
  EXPECT_EQ(to.version(), 9);
  EXPECT_TRUE(to.avatar().empty());
}

TEST(CopyMaskedFields, CopiesEmptyValuesToo) {
  Profile to = Sample();
  CopyMaskedFields(Profile(), Mask({"name", "avatar"}), &to);
  EXPECT_EQ(to.name(), "");
  EXPECT_EQ(to.avatar(), "");
  EXPECT_EQ(to.email(), "ada@example.com");
}

TEST(CopyMaskedFields, ANewAvatarDropsTheTargetsSha) {
  Profile to = Sample();
  Profile from;
  from.set_avatar("GIF89a");
  from.set_avatar_sha256("not trusted");
  CopyMaskedFields(from, Mask({"avatar"}), &to);
  EXPECT_EQ(to.avatar(), "GIF89a");
  EXPECT_EQ(to.avatar_sha256(), "");

  to = Sample();
  CopyMaskedFields(from, Mask({"name"}), &to);  // avatar not in the mask
  EXPECT_EQ(to.avatar_sha256(), "abc123");
}

TEST(IdentitiesOf, KeepsTheTextsAndTheAvatarsShaNotItsBytes) {
  Profile profile;
  profile.set_id("id-1");
  profile.set_name("Ada");
  profile.set_email("ada@example.com");
  profile.set_avatar(std::string(150 * 1024, 'p'));
  profile.set_avatar_sha256("abc123");
  profile.set_version(7);
  const Profile identities = IdentitiesOf(profile);
  EXPECT_EQ(identities.name(), "Ada");
  EXPECT_EQ(identities.email(), "ada@example.com");
  EXPECT_EQ(identities.avatar_sha256(), "abc123");
  EXPECT_TRUE(identities.avatar().empty());
  EXPECT_TRUE(identities.id().empty());
  EXPECT_EQ(identities.version(), 0);
}

}  // namespace
}  // namespace profiles
