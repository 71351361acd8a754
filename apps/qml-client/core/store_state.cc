#include "apps/qml-client/core/store_state.h"

#include <algorithm>
#include <utility>

#include "apps/qml-client/core/merge.h"
#include "libs/profile_contract/profile_fields.h"

namespace profiles::client {
namespace {

using profile::client::v1::JournalRecord;
using profile::client::v1::PendingMutation;

PendingMutation* FindMutation(const std::string& mutation_id, StoreState* state) {
  const auto it = state->index.by_mutation_id.find(mutation_id);
  return it == state->index.by_mutation_id.end() ? nullptr : &state->pending.at(it->second);
}

void ErasePending(uint64_t sequence, StoreState* state) {
  const auto it = state->pending.find(sequence);
  if (it == state->pending.end()) return;
  PendingIndex& index = state->index;
  const auto by_id = index.by_mutation_id.find(it->second.mutation_id());
  if (by_id != index.by_mutation_id.end() && by_id->second == sequence) {
    index.by_mutation_id.erase(by_id);
  }
  const auto of_profile = index.by_profile.find(it->second.profile_id());
  if (of_profile != index.by_profile.end()) {
    of_profile->second.erase(sequence);
    if (of_profile->second.empty()) index.by_profile.erase(of_profile);
  }
  index.sendable.erase(sequence);
  index.parked.erase(sequence);
  state->pending.erase(it);
}

// Recomputes the sendable and parked entries of `profile_id`, after any
// change to its mutations: O(its mutations), not O(all pending).
void Reindex(const std::string& profile_id, StoreState* state) {
  PendingIndex& index = state->index;
  const auto of_profile = index.by_profile.find(profile_id);
  if (of_profile == index.by_profile.end()) return;
  bool head_seen = false;
  for (uint64_t sequence : of_profile->second) {
    const PendingMutation::State mutation_state = state->pending.at(sequence).state();
    index.sendable.erase(sequence);
    if (mutation_state == PendingMutation::STATE_PARKED) {
      index.parked.insert(sequence);
      continue;
    }
    index.parked.erase(sequence);
    if (!head_seen && mutation_state == PendingMutation::STATE_QUEUED) {
      index.sendable.insert(sequence);
    }
    head_seen = true;
  }
}

// Adds `mutation`, replacing any with its sequence.
void InsertPending(const PendingMutation& mutation, StoreState* state) {
  const auto replaced = state->pending.find(mutation.sequence());
  std::string replaced_profile;
  if (replaced != state->pending.end()) replaced_profile = replaced->second.profile_id();
  ErasePending(mutation.sequence(), state);
  state->pending.emplace(mutation.sequence(), mutation);
  state->index.by_mutation_id.emplace(mutation.mutation_id(), mutation.sequence());
  state->index.by_profile[mutation.profile_id()].insert(mutation.sequence());
  if (!replaced_profile.empty() && replaced_profile != mutation.profile_id()) {
    Reindex(replaced_profile, state);
  }
  Reindex(mutation.profile_id(), state);
}

// `Profile` is a const profile::v1::Profile& (copied in) or a
// profile::v1::Profile&& (moved in).
template <typename Profile>
void CacheProfile(Profile&& profile, StoreState* state) {
  const auto it = state->profiles.find(profile.id());
  if (it == state->profiles.end()) {
    std::string id = profile.id();
    state->profiles.emplace(std::move(id), std::make_shared<const profile::v1::Profile>(
                                               std::forward<Profile>(profile)));
    return;
  }
  if (profile.version() < it->second->version()) return;
  // A copy without picture bytes names its picture by sha, like every
  // cached copy (stored_picture.h): nothing to carry over.
  it->second = std::make_shared<const profile::v1::Profile>(std::forward<Profile>(profile));
}

// An edit of a profile deleted elsewhere ("deleted elsewhere"): the cached
// copy is about to become the tombstone, which keeps no field, while the user
// may still recreate the profile with their edit. So the edit takes every
// field of the last copy shown (its own fields on top). Done here, before
// the tombstone is cached, so that a replay arrives at the same fields; a
// snapshot then carries the widened mutation. A picture whose bytes the store
// lacks (only its sha is known) cannot be recreated and stays out of the mask.
void KeepEveryFieldOf(PendingMutation* mutation, const StoreState& state) {
  const auto cached = state.profiles.find(mutation->profile_id());
  if (cached == state.profiles.end() || cached->second->deleted()) return;
  const profile::v1::Profile& shown = *cached->second;
  profile::v1::Profile fields = shown;
  fields.clear_version();
  fields.clear_updated_at();
  CopyEditedFields(mutation->fields(), mutation->mask(), &fields);
  google::protobuf::FieldMask mask;
  for (const ProfileField& field : WritableFields()) {
    const bool mine = field.InMask(mutation->mask());
    if (!mine && field.is_avatar() && !state.HasPicture(shown.avatar_sha256())) {
      continue;
    }
    mask.add_paths(std::string(field.path()));
  }
  *mutation->mutable_fields() = std::move(fields);
  *mutation->mutable_mask() = std::move(mask);
}

}  // namespace

const PendingMutation* StoreState::FindPending(const std::string& mutation_id) const {
  const auto it = index.by_mutation_id.find(mutation_id);
  return it == index.by_mutation_id.end() ? nullptr : &pending.at(it->second);
}

bool StoreState::HasPicture(const std::string& sha256) const {
  return sha256.empty() || pictures->Contains(sha256);
}

const std::set<uint64_t>& StoreState::SequencesOf(const std::string& profile_id) const {
  static const std::set<uint64_t>* const kNone = new std::set<uint64_t>();
  const auto it = index.by_profile.find(profile_id);
  return it == index.by_profile.end() ? *kNone : it->second;
}

void ApplyRecord(JournalRecord&& record, StoreState* state) {
  if (record.kind_case() != JournalRecord::kProfileCached) return ApplyRecord(record, state);
  CacheProfile(std::move(*record.mutable_profile_cached()->mutable_profile()), state);
}

void ApplyRecord(const JournalRecord& record, StoreState* state) {
  switch (record.kind_case()) {
    case JournalRecord::kProfileCached:
      CacheProfile(record.profile_cached().profile(), state);
      break;
    case JournalRecord::kMutationEnqueued: {
      const PendingMutation& mutation = record.mutation_enqueued();
      // A second pending mutation with a pending one's id (only a damaged
      // file has one) changes nothing: the index holds one sequence per id,
      // and which one must not depend on the order of the records, which a
      // compaction changes.
      if (const auto same_id = state->index.by_mutation_id.find(mutation.mutation_id());
          same_id != state->index.by_mutation_id.end() && same_id->second != mutation.sequence()) {
        break;
      }
      InsertPending(mutation, state);
      state->next_sequence = std::max(state->next_sequence, mutation.sequence() + 1);
      break;
    }
    case JournalRecord::kMutationAcknowledged: {
      const auto& ack = record.mutation_acknowledged();
      PendingMutation* mutation = FindMutation(ack.mutation_id(), state);
      if (mutation == nullptr) break;
      const std::string profile_id = mutation->profile_id();
      const int64_t acknowledged_base = mutation->base_version();
      const bool rebased = mutation->rebased();
      std::vector<std::string> changed_elsewhere(mutation->changed_elsewhere().begin(),
                                                 mutation->changed_elsewhere().end());
      ErasePending(mutation->sequence(), state);
      CacheProfile(ack.server_profile(), state);
      // The next edits of this profile that were made on the same base
      // apply to the version this write produced. Not so when the
      // acknowledged one had been rebased over changes made elsewhere: the
      // later edits never saw those, so they keep their base and the server
      // sends them through the merge rule (ABORTED) like any stale edit.
      for (uint64_t sequence : state->SequencesOf(profile_id)) {
        PendingMutation& later = state->pending.at(sequence);
        if (later.state() != PendingMutation::STATE_QUEUED) continue;
        if (later.base_version() != acknowledged_base && !later.creates()) continue;
        later.set_base_version(ack.server_profile().version());
        later.set_creates(false);
      }
      Reindex(profile_id, state);
      if (rebased) state->merge_notes[profile_id] = std::move(changed_elsewhere);
      break;
    }
    case JournalRecord::kMutationRebased: {
      const auto& rebase = record.mutation_rebased();
      PendingMutation* mutation = FindMutation(rebase.mutation_id(), state);
      if (mutation == nullptr) break;
      // Nor may a rebase give it another pending mutation's id (see above).
      if (rebase.new_mutation_id() != rebase.mutation_id() &&
          state->index.by_mutation_id.contains(rebase.new_mutation_id())) {
        break;
      }
      if (rebase.new_mutation_id() != rebase.mutation_id()) {
        state->index.by_mutation_id.erase(rebase.mutation_id());
        state->index.by_mutation_id.emplace(rebase.new_mutation_id(), mutation->sequence());
      }
      mutation->set_mutation_id(rebase.new_mutation_id());
      mutation->set_base_version(rebase.server_profile().version());
      *mutation->mutable_mask() = rebase.mask();
      // What the rebased edit is based on now: the copy it was merged onto.
      *mutation->mutable_base_fields() = IdentitiesOf(rebase.server_profile());
      mutation->set_rebased(true);
      for (const std::string& field : rebase.changed_elsewhere()) {
        if (std::find(mutation->changed_elsewhere().begin(), mutation->changed_elsewhere().end(),
                      field) == mutation->changed_elsewhere().end()) {
          mutation->add_changed_elsewhere(field);
        }
      }
      CacheProfile(rebase.server_profile(), state);
      break;
    }
    case JournalRecord::kMutationRetried: {
      PendingMutation* mutation = FindMutation(record.mutation_retried().mutation_id(), state);
      if (mutation == nullptr || mutation->state() != PendingMutation::STATE_PARKED) break;
      mutation->set_state(PendingMutation::STATE_QUEUED);
      mutation->clear_error_message();
      mutation->clear_field_errors();
      mutation->clear_error_code();
      Reindex(mutation->profile_id(), state);
      break;
    }
    case JournalRecord::kMergeNoted: {
      const auto& note = record.merge_noted();
      state->merge_notes[note.profile_id()] = {note.fields().begin(), note.fields().end()};
      break;
    }
    case JournalRecord::kMergeNoteDismissed:
      state->merge_notes.erase(record.merge_note_dismissed().profile_id());
      break;
    case JournalRecord::kMutationRejected: {
      const auto& rejected = record.mutation_rejected();
      PendingMutation* mutation = FindMutation(rejected.mutation_id(), state);
      if (mutation == nullptr) break;
      mutation->set_state(PendingMutation::STATE_PARKED);
      mutation->set_error_message(rejected.message());
      *mutation->mutable_field_errors() = rejected.field_errors();
      mutation->set_error_code(rejected.code());
      Reindex(mutation->profile_id(), state);
      break;
    }
    case JournalRecord::kMutationConflicted: {
      const auto& conflicted = record.mutation_conflicted();
      PendingMutation* mutation = FindMutation(conflicted.mutation_id(), state);
      if (mutation == nullptr) break;
      if (conflicted.server_profile().deleted() && !mutation->deletes()) {
        KeepEveryFieldOf(mutation, *state);
      }
      mutation->set_state(PendingMutation::STATE_CONFLICTED);
      *mutation->mutable_server_profile() = conflicted.server_profile();
      Reindex(mutation->profile_id(), state);
      CacheProfile(conflicted.server_profile(), state);
      break;
    }
    case JournalRecord::kConflictResolved: {
      const auto& resolved = record.conflict_resolved();
      bool behind_conflict = false;
      // A copy: erasing changes the profile's set.
      const std::set<uint64_t> sequences = state->SequencesOf(resolved.profile_id());
      for (uint64_t sequence : sequences) {
        const PendingMutation::State mutation_state = state->pending.at(sequence).state();
        behind_conflict |= mutation_state == PendingMutation::STATE_CONFLICTED;
        if (behind_conflict && mutation_state != PendingMutation::STATE_PARKED) {
          ErasePending(sequence, state);
        }
      }
      Reindex(resolved.profile_id(), state);
      if (resolved.choice() == profile::client::v1::ConflictResolved::CHOICE_APPLY_MINE) {
        JournalRecord enqueue;
        *enqueue.mutable_mutation_enqueued() = resolved.replacement();
        ApplyRecord(enqueue, state);
      }
      break;
    }
    case JournalRecord::kMutationDismissed: {
      PendingMutation* mutation = FindMutation(record.mutation_dismissed().mutation_id(), state);
      if (mutation != nullptr && mutation->state() == PendingMutation::STATE_PARKED) {
        const std::string profile_id = mutation->profile_id();
        ErasePending(mutation->sequence(), state);
        Reindex(profile_id, state);
      }
      break;
    }
    case JournalRecord::kCursorUpdated:
      state->cursor = record.cursor_updated().cursor();
      break;
    case JournalRecord::kServerBound:
      state->database_id = record.server_bound().database_id();
      break;
    case JournalRecord::KIND_NOT_SET:
      break;
  }
}

}  // namespace profiles::client
