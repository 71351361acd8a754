#ifndef PROFILES_APPS_QML_CLIENT_CORE_STORE_STATE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_STORE_STATE_H_

// StoreState and its reducer ApplyRecord: what the store's records mean,
// apart from how they are framed and kept on disk (record_log.h) and from
// the store that ties the two together (local_store.h).
//
// The reducer is a pure function of the records: replaying the files on open
// and applying live appends go through the same ApplyRecord, so both arrive
// at the same state and the same derived PendingIndex.
//
// Thread safety: StoreState is a plain value (but for `pictures`, shared and
// thread-safe); ApplyRecord is thread-compatible.

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "apps/qml-client/core/stored_picture.h"
#include "profile/client/v1/local_store.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

// Indexes of StoreState::pending, derived from it by ApplyRecord and never
// stored: with them, finding a mutation, a profile's mutations or the next
// one to send costs O(log n) or O(that profile's mutations) instead of a walk
// over every pending mutation (10,000 queued edits made opening the app, which
// builds a view per profile, take seconds).
struct PendingIndex {
  // The sequences of each profile's pending mutations, in any state; a
  // profile without pending mutations has no entry.
  std::map<std::string, std::set<uint64_t>> by_profile;
  // The sequence of each pending mutation, by mutation id (ids are UUIDs,
  // unique across the queue).
  std::map<std::string, uint64_t> by_mutation_id;
  // Per profile, the sequence of its oldest mutation that is not parked, if
  // that one is queued (not conflicted): the ones that may be sent now.
  std::set<uint64_t> sendable;
  // The sequences of the parked mutations.
  std::set<uint64_t> parked;

  bool operator==(const PendingIndex&) const = default;
};

// The state the records describe.
struct StoreState {
  // The pending mutation `mutation_id`, or null.
  const profile::client::v1::PendingMutation* FindPending(const std::string& mutation_id) const;
  // The sequences of the pending mutations of `profile_id`, in creation
  // order; empty if it has none.
  const std::set<uint64_t>& SequencesOf(const std::string& profile_id) const;
  // Whether the bytes of picture `sha256` are in the store (true for "no
  // picture", the empty sha).
  bool HasPicture(const std::string& sha256) const;

  // The server's copy of every profile seen, by id. Immutable once cached,
  // and shared with the app's views of unedited profiles; a newer copy
  // replaces the pointer. Pictures are named by avatar_sha256 only, their
  // bytes left in the store's files (`pictures`).
  std::map<std::string, std::shared_ptr<const profile::v1::Profile>> profiles;
  // Pending mutations by sequence, i.e. in creation order.
  std::map<uint64_t, profile::client::v1::PendingMutation> pending;
  std::string cursor;
  // The server database the store belongs to; empty until the first contact.
  std::string database_id;
  uint64_t next_sequence = 1;
  // Profiles whose last acknowledged edit was merged with changes made
  // elsewhere, by id: the fields changed elsewhere (maybe none named).
  std::map<std::string, std::vector<std::string>> merge_notes;
  // Derived from `pending` by ApplyRecord, which alone changes it.
  PendingIndex index;
  // Where the bytes of the pictures named above are (stored_picture.h):
  // filled by the store (TakePictures), not by ApplyRecord, since it
  // depends on where each record was written. Shared, not copied, with a
  // copy of the state and with the UI, which reads pictures through it.
  std::shared_ptr<PictureShelf> pictures = std::make_shared<PictureShelf>();
};

// Applies one record to `state`. Deterministic, the same for replay and for
// live appends; records naming unknown mutations, or giving a mutation the id
// of another pending one, change nothing. A cached profile never replaces a
// newer cached version (no going back in time).
void ApplyRecord(const profile::client::v1::JournalRecord& record, StoreState* state);
// The same, taking the cached profile of a ProfileCached record out of
// `record` instead of copying it (a picture is up to 256 KiB).
void ApplyRecord(profile::client::v1::JournalRecord&& record, StoreState* state);

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_STORE_STATE_H_
