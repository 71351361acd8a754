#include "apps/qml-client/core/merge.h"

#include <QtCore/QByteArray>
#include <QtCore/QCryptographicHash>
#include <string_view>

#include "libs/profile_contract/profile_fields.h"

namespace profiles::client {
namespace {

using profile::v1::Profile;

// The value of `field` as the rule compares it.
std::string Comparable(const Profile& profile, const ProfileField& field, bool is_mine) {
  // Mine holds the bytes the user picked; the server's sha may be all there
  // is of theirs.
  if (field.is_avatar() && is_mine && !profile.avatar().empty()) {
    return AvatarSha256(profile.avatar());
  }
  return std::string(field.Identity(profile));
}

}  // namespace

std::string AvatarSha256(std::string_view bytes) {
  if (bytes.empty()) return {};
  return QCryptographicHash::hash(
             QByteArray::fromRawData(bytes.data(), static_cast<qsizetype>(bytes.size())),
             QCryptographicHash::Sha256)
      .toHex()
      .toStdString();
}

std::string AvatarShaOf(const Profile& profile) {
  return profile.avatar_sha256().empty() ? AvatarSha256(profile.avatar()) : profile.avatar_sha256();
}

void CopyEditedFields(const Profile& from, const google::protobuf::FieldMask& mask, Profile* to) {
  CopyMaskedFields(from, mask, to);
  for (const ProfileField& field : WritableFields()) {
    if (!field.is_avatar() || !field.InMask(mask)) continue;
    to->set_avatar_sha256(from.avatar().empty() ? from.avatar_sha256()
                                                : AvatarSha256(from.avatar()));
  }
}

MergeOutcome MergeEdit(const Profile& base, const google::protobuf::FieldMask& mask,
                       const Profile& mine, const Profile& theirs) {
  MergeOutcome outcome;
  for (const ProfileField& field : WritableFields()) {
    const std::string base_value = Comparable(base, field, /*is_mine=*/false);
    const std::string their_value = Comparable(theirs, field, /*is_mine=*/false);
    const bool changed_elsewhere = their_value != base_value;
    if (!field.InMask(mask)) {
      if (changed_elsewhere) outcome.changed_elsewhere.emplace_back(field.path());
      continue;
    }
    const std::string my_value = Comparable(mine, field, /*is_mine=*/true);
    if (!changed_elsewhere) {
      outcome.mask.add_paths(std::string(field.path()));
    } else if (my_value != their_value) {
      outcome.conflicting_fields.emplace_back(field.path());
    }
    // Else both sides wrote the same value: nothing to write, nothing to
    // decide, and nothing merged either.
  }
  if (outcome.conflicted()) outcome.mask.Clear();
  return outcome;
}

}  // namespace profiles::client
