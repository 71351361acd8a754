#ifndef PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_FIELDS_H_
#define PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_FIELDS_H_

// The writable fields of a profile, written once. Everything that names
// them (the update-mask check, the REST body, the app's merge rule, editor
// and outbox) iterates this table instead of spelling "name", "email",
// "avatar" again. Its order is the canonical one and is user-visible (error
// messages, the rows of a conflict card): name, email, avatar.
//
// Each field's path is its name in an UpdateProfileRequest's update_mask,
// its proto field name and its JSON key (the three are the same, and
// profile_fields_test.cc checks that against Profile's descriptor). The
// other fields of a profile (id, avatar_sha256, version, updated_at) are set
// by the server or name the profile; they are never written by an edit.
//
//   for (const ProfileField& field : WritableFields()) {
//     if (field.InMask(mask)) Use(field.path(), field.Get(profile));
//   }
//   if (!IsWritableField(path)) ... refuse it
//   CopyMaskedFields(mine, mask, &overlay);
//
// Thread-safe: the table is immutable and every function is pure.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "google/protobuf/field_mask.pb.h"
#include "libs/profile_contract/profile_write.h"
#include "profile/v1/profile.pb.h"

namespace profiles {

// Names a writable field in code (a switch over it is checked for
// exhaustiveness); its value is the field's index in WritableFields().
enum class ProfileFieldId { kName = 0, kEmail = 1, kAvatar = 2 };

inline constexpr size_t kWritableFieldCount = 3;

// One writable field and typed access to it. Instances live only in the
// table below; refer to them by reference or pointer.
class ProfileField {
 public:
  using Getter = const std::string& (profile::v1::Profile::*)() const;
  using Mutator = std::string* (profile::v1::Profile::*)();
  using WriteMember = std::optional<std::string> ProfileWrite::*;

  constexpr ProfileField(ProfileFieldId id, std::string_view path, bool is_avatar,
                         bool required_to_create, Getter getter, Mutator mutator,
                         WriteMember write_member)
      : id_(id),
        path_(path),
        is_avatar_(is_avatar),
        required_to_create_(required_to_create),
        getter_(getter),
        mutator_(mutator),
        write_member_(write_member) {}

  ProfileField(const ProfileField&) = delete;
  ProfileField& operator=(const ProfileField&) = delete;

  constexpr ProfileFieldId id() const { return id_; }
  constexpr size_t index() const { return static_cast<size_t>(id_); }
  // The update-mask path, proto field name and JSON key: "name".
  constexpr std::string_view path() const { return path_; }
  // True for the avatar: bytes rather than UTF-8 text, never trimmed, and
  // identified by `avatar_sha256` in comparisons (the server's copy of a
  // profile may come without its bytes). False for text fields.
  constexpr bool is_avatar() const { return is_avatar_; }
  // Whether creating a profile must write this field (name and email).
  constexpr bool required_to_create() const { return required_to_create_; }

  // The field's value in `profile` (the avatar's raw bytes). The view lives
  // as long as `profile` is not changed.
  std::string_view Get(const profile::v1::Profile& profile) const { return (profile.*getter_)(); }
  // What comparisons of this field compare: its value, or for the avatar its
  // `avatar_sha256` (empty when the profile has no avatar, or when the sha is
  // not known, as on a client's unsent bytes: the caller computes it then).
  std::string_view Identity(const profile::v1::Profile& profile) const {
    return is_avatar_ ? std::string_view(profile.avatar_sha256()) : Get(profile);
  }
  // Sets the field's value in `*profile`; leaves `avatar_sha256` alone.
  void Set(profile::v1::Profile* profile, std::string_view value) const {
    (profile->*mutator_)()->assign(value.data(), value.size());
  }
  std::string* Mutable(profile::v1::Profile* profile) const { return (profile->*mutator_)(); }

  // The field's slot in a validated write.
  const std::optional<std::string>& Of(const ProfileWrite& write) const {
    return write.*write_member_;
  }
  std::optional<std::string>* MutableOf(ProfileWrite* write) const {
    return &(write->*write_member_);
  }

  // Whether `mask` names this field.
  bool InMask(const google::protobuf::FieldMask& mask) const;

 private:
  ProfileFieldId id_;
  std::string_view path_;
  bool is_avatar_;
  bool required_to_create_;
  Getter getter_;
  Mutator mutator_;
  WriteMember write_member_;
};

using ProfileFields = std::array<ProfileField, kWritableFieldCount>;

// The writable fields in canonical order: name, email, avatar.
const ProfileFields& WritableFields();

// The field `id` names.
inline const ProfileField& WritableField(ProfileFieldId id) {
  return WritableFields()[static_cast<size_t>(id)];
}

// The writable field whose path is `path` (exact, case-sensitive), or
// nullptr: "id", "version", "avatar_sha256" and unknown paths are not.
const ProfileField* FindWritableField(std::string_view path);
inline bool IsWritableField(std::string_view path) { return FindWritableField(path) != nullptr; }

// The paths joined for messages, in canonical order: "name, email, avatar"
// with `separator` ", "; `last_separator` goes before the last one
// (", ", " and " gives "name, email and avatar").
std::string JoinWritableFieldPaths(std::string_view separator = ", ",
                                   std::optional<std::string_view> last_separator = std::nullopt);

// The writable paths of `mask`, each once, in canonical order; any other
// path is dropped (check them first with IsWritableField() if that matters).
google::protobuf::FieldMask WritableFieldsIn(const google::protobuf::FieldMask& mask);

// Copies from `from` onto `*to` the writable fields `mask` names; other
// paths in `mask` are ignored. Copying the avatar clears `to`'s
// avatar_sha256: the sha is computed by the server from the bytes it stores,
// and a copied or stale one could name a different picture.
void CopyMaskedFields(const profile::v1::Profile& from, const google::protobuf::FieldMask& mask,
                      profile::v1::Profile* to);

// What comparisons of `profile` compare, as a profile: every writable
// field's Identity() (the text fields, and avatar_sha256 for the avatar),
// without the avatar's bytes. E.g. the merge base a client keeps with an edit.
profile::v1::Profile IdentitiesOf(const profile::v1::Profile& profile);

}  // namespace profiles

#endif  // PROFILES_LIBS_PROFILE_CONTRACT_PROFILE_FIELDS_H_
