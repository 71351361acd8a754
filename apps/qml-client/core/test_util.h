#ifndef PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_
#define PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_

// Helpers shared by the client core's tests. Test-only.

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>

#include "apps/qml-client/core/local_store.h"
#include "google/protobuf/field_mask.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client::testing {

inline profile::v1::Profile MakeProfile(const std::string& id, const std::string& name,
                                        const std::string& email, int64_t version) {
  profile::v1::Profile profile;
  profile.set_id(id);
  profile.set_name(name);
  profile.set_email(email);
  profile.set_version(version);
  return profile;
}

inline google::protobuf::FieldMask Mask(std::initializer_list<const char*> paths) {
  google::protobuf::FieldMask mask;
  for (const char* path : paths) mask.add_paths(path);
  return mask;
}

// Everything in `state`, as text (maps print sorted), for comparisons.
inline std::string Digest(const StoreState& state) {
  std::string digest;
  for (const auto& [id, profile] : state.profiles) digest += profile.ShortDebugString() + "\n";
  for (const auto& [sequence, mutation] : state.pending) {
    digest += std::to_string(sequence) + ": " + mutation.ShortDebugString() + "\n";
  }
  for (const auto& [id, fields] : state.merge_notes) {
    digest += "merged " + id + ":";
    for (const std::string& field : fields) digest += " " + field;
    digest += "\n";
  }
  digest += "cursor=" + state.cursor + " next=" + std::to_string(state.next_sequence);
  return digest;
}

// The index of `state.pending` computed from scratch by walking every
// mutation, the way the queue found things before the index existed: the
// reference the reducer's incremental index must equal.
inline PendingIndex RebuiltIndex(const StoreState& state) {
  PendingIndex index;
  std::set<std::string> heads_seen;
  for (const auto& [sequence, mutation] : state.pending) {
    index.by_profile[mutation.profile_id()].insert(sequence);
    index.by_mutation_id.emplace(mutation.mutation_id(), sequence);
    if (mutation.state() == profile::client::v1::PendingMutation::STATE_PARKED) {
      index.parked.insert(sequence);
      continue;
    }
    if (heads_seen.insert(mutation.profile_id()).second &&
        mutation.state() == profile::client::v1::PendingMutation::STATE_QUEUED) {
      index.sendable.insert(sequence);
    }
  }
  return index;
}

}  // namespace profiles::client::testing

#endif  // PROFILES_APPS_QML_CLIENT_CORE_TEST_UTIL_H_
