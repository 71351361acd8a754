#include "libs/profile_contract/profile_fields.h"

namespace profiles {
namespace {

using profile::v1::Profile;

// Why a table of generated accessors rather than protobuf's own machinery:
//   - google::protobuf::util::FieldMaskUtil orders masks alphabetically
//     (ToCanonicalForm, Union: "avatar, email, name"), while our canonical
//     order is name, email, avatar and is shown to users; its
//     IsValidFieldMask<Profile>() accepts every field of Profile, the
//     server-set id, version and avatar_sha256 included, so the writable
//     subset has to be listed anyway; and MergeMessageTo() builds a tree of
//     path strings and goes through reflection on every call, while the app
//     copies masked fields on every overlay of its outbox, and it would
//     leave a stale avatar_sha256 behind.
//   - Reflection (FieldDescriptor + Reflection::GetStringReference) would
//     type-check nothing at compile time and is slower than a call through
//     a member pointer.
// So each entry holds member pointers to the generated accessors (checked
// by the compiler), and profile_fields_test.cc checks every path against
// Profile's descriptor (field name, JSON name, string/bytes type) and that
// every other field of Profile is deliberately left out.
constexpr ProfileFields kFields = {{
    ProfileField(ProfileFieldId::kName, "name", /*is_avatar=*/false, /*required_to_create=*/true,
                 &Profile::name, &Profile::mutable_name, &ProfileWrite::name),
    ProfileField(ProfileFieldId::kEmail, "email", /*is_avatar=*/false,
                 /*required_to_create=*/true, &Profile::email, &Profile::mutable_email,
                 &ProfileWrite::email),
    ProfileField(ProfileFieldId::kAvatar, "avatar", /*is_avatar=*/true,
                 /*required_to_create=*/false, &Profile::avatar, &Profile::mutable_avatar,
                 &ProfileWrite::avatar),
}};

constexpr bool IdsMatchIndices() {
  for (size_t i = 0; i < kFields.size(); ++i) {
    if (kFields[i].index() != i) return false;
  }
  return true;
}
static_assert(IdsMatchIndices(), "ProfileFieldId must be the field's index in the table");

}  // namespace

bool ProfileField::InMask(const google::protobuf::FieldMask& mask) const {
  for (const std::string& path : mask.paths()) {
    if (path == path_) return true;
  }
  return false;
}

const ProfileFields& WritableFields() { return kFields; }

const ProfileField* FindWritableField(std::string_view path) {
  for (const ProfileField& field : kFields) {
    if (field.path() == path) return &field;
  }
  return nullptr;
}

std::string JoinWritableFieldPaths(std::string_view separator,
                                   std::optional<std::string_view> last_separator) {
  std::string joined;
  for (size_t i = 0; i < kFields.size(); ++i) {
    if (i > 0) {
      const bool last = i + 1 == kFields.size();
      joined.append(last && last_separator.has_value() ? *last_separator : separator);
    }
    joined.append(kFields[i].path());
  }
  return joined;
}

google::protobuf::FieldMask WritableFieldsIn(const google::protobuf::FieldMask& mask) {
  google::protobuf::FieldMask canonical;
  for (const ProfileField& field : kFields) {
    if (field.InMask(mask)) canonical.add_paths(std::string(field.path()));
  }
  return canonical;
}

void CopyMaskedFields(const Profile& from, const google::protobuf::FieldMask& mask, Profile* to) {
  for (const ProfileField& field : kFields) {
    if (!field.InMask(mask)) continue;
    field.Set(to, field.Get(from));
    if (field.is_avatar()) to->clear_avatar_sha256();
  }
}

Profile IdentitiesOf(const Profile& profile) {
  Profile identities;
  for (const ProfileField& field : kFields) {
    if (field.is_avatar()) {
      identities.set_avatar_sha256(profile.avatar_sha256());
    } else {
      field.Set(&identities, field.Identity(profile));
    }
  }
  return identities;
}

}  // namespace profiles
