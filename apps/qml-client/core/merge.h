#ifndef PROFILES_APPS_QML_CLIENT_CORE_MERGE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_MERGE_H_

// The one rule by which an edit meets a profile that moved on since the user
// saw it: a three-way, per-field comparison of
//   base    the field values the user's form was based on,
//   mine    the fields the user changed (the edit's update mask) and their values,
//   theirs  the server's current profile.
// It is used for every edit, made online or offline, whenever the server (or
// a newer copy of the profile) shows that the edit's base version is stale.
//
// Per writable field (WritableFields() of libs/profile_contract/profile_fields.h,
// in its order: name, email, avatar):
//   * not in mine's mask          -> never written: the field keeps theirs.
//   * in the mask, theirs == base -> nobody else changed it: applied on top
//                                    of theirs (the edit is rebased).
//   * in the mask, theirs != base -> changed here and elsewhere: a conflict,
//     and mine == theirs              unless both sides wrote the same value
//                                    (then there is nothing to decide).
// Avatars are compared by their SHA-256 (`avatar_sha256`), never by bytes:
// the server's copy inside a conflict carries no avatar bytes.
//
// The outcome is a conflict if any field conflicts (the user chooses, for the
// whole edit, "Keep server version" or "Apply mine on top"); otherwise a
// rebase onto theirs' version of the fields that still need writing
// (possibly none, when elsewhere already wrote the same values).
//
// Pure: no I/O, no clock, no global state. Thread-compatible.
//
// Example:
//   MergeOutcome outcome = MergeEdit(base, mask, mine, theirs);
//   if (outcome.conflicted()) ... show outcome.conflicting_fields
//   else send outcome.mask on top of theirs.version()

#include <string>
#include <string_view>
#include <vector>

#include "google/protobuf/field_mask.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

struct MergeOutcome {
  // Fields changed both here and elsewhere, to different values.
  std::vector<std::string> conflicting_fields;
  // Without a conflict: the fields of mine still to write, in the canonical
  // order (name, email, avatar); may be empty.
  google::protobuf::FieldMask mask;
  // Fields someone else changed since the base that this edit leaves as they
  // are now (the "merged with a change from elsewhere" of the UI). Only
  // fields the comparison can see: those in `base`.
  std::vector<std::string> changed_elsewhere;

  bool conflicted() const { return !conflicting_fields.empty(); }
};

// The lowercase hex SHA-256 of `bytes`, as the server computes avatar_sha256;
// empty for empty bytes (no avatar).
std::string AvatarSha256(std::string_view bytes);

// The sha of `profile`'s picture: the one it names, else its bytes' (a
// picture the user just picked has bytes and no sha yet); empty for none.
std::string AvatarShaOf(const profile::v1::Profile& profile);

// CopyMaskedFields (profile_fields.h) as the client needs it: a copied
// picture keeps its identity. In the store a picture travels by its sha alone
// (stored_picture.h), so `from` may name its picture without the bytes; the
// contract's copy clears the sha, which on the server the write recomputes.
void CopyEditedFields(const profile::v1::Profile& from, const google::protobuf::FieldMask& mask,
                      profile::v1::Profile* to);

// Applies the rule above. `base` holds the name, email and avatar_sha256 the
// form showed; `mine` the edit's values for the fields in `mask` (avatar as
// bytes); `theirs` the server's current copy (avatar_sha256 set whenever it
// has an avatar, avatar bytes optional).
// REQUIRES: `mask` holds only writable fields (IsWritableField()).
MergeOutcome MergeEdit(const profile::v1::Profile& base, const google::protobuf::FieldMask& mask,
                       const profile::v1::Profile& mine, const profile::v1::Profile& theirs);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_MERGE_H_
