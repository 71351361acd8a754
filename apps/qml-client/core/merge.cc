#include "apps/qml-client/core/merge.h"

#include <QtCore/QByteArray>
#include <QtCore/QCryptographicHash>
#include <array>
#include <string_view>

namespace profiles::client {
namespace {

using profile::v1::Profile;

bool Contains(const google::protobuf::FieldMask& mask, std::string_view path) {
  for (const std::string& p : mask.paths()) {
    if (p == path) return true;
  }
  return false;
}

// The value of `field` as the rule compares it.
std::string Comparable(const Profile& profile, std::string_view field, bool is_mine) {
  if (field == "name") return profile.name();
  if (field == "email") return profile.email();
  // Mine holds the bytes the user picked; the server's sha may be all there
  // is of theirs.
  return is_mine ? AvatarSha256(profile.avatar()) : profile.avatar_sha256();
}

}  // namespace

std::string AvatarSha256(const std::string& bytes) {
  if (bytes.empty()) return {};
  return QCryptographicHash::hash(
             QByteArray::fromRawData(bytes.data(), static_cast<qsizetype>(bytes.size())),
             QCryptographicHash::Sha256)
      .toHex()
      .toStdString();
}

MergeOutcome MergeEdit(const Profile& base, const google::protobuf::FieldMask& mask,
                       const Profile& mine, const Profile& theirs) {
  constexpr std::array<std::string_view, 3> kFields = {"name", "email", "avatar"};
  MergeOutcome outcome;
  for (std::string_view field : kFields) {
    const std::string base_value = Comparable(base, field, /*is_mine=*/false);
    const std::string their_value = Comparable(theirs, field, /*is_mine=*/false);
    const bool changed_elsewhere = their_value != base_value;
    if (!Contains(mask, field)) {
      if (changed_elsewhere) outcome.changed_elsewhere.emplace_back(field);
      continue;
    }
    const std::string my_value = Comparable(mine, field, /*is_mine=*/true);
    if (!changed_elsewhere) {
      outcome.mask.add_paths(std::string(field));
    } else if (my_value != their_value) {
      outcome.conflicting_fields.emplace_back(field);
    }
    // Else both sides wrote the same value: nothing to write, nothing to
    // decide, and nothing merged either.
  }
  if (outcome.conflicted()) outcome.mask.Clear();
  return outcome;
}

}  // namespace profiles::client
