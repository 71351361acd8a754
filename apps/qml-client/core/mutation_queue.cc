#include "apps/qml-client/core/mutation_queue.h"

#include <QtCore/QDateTime>
#include <QtCore/QUuid>
#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "apps/qml-client/core/merge.h"
#include "libs/profile_contract/profile_fields.h"

namespace profiles::client {
namespace {

using profile::client::v1::ConflictResolved;
using profile::client::v1::JournalRecord;
using profile::client::v1::PendingMutation;
using profile::v1::Profile;

std::string NewUuid() { return QUuid::createUuid().toString(QUuid::WithoutBraces).toStdString(); }

bool Contains(const google::protobuf::FieldMask& mask, std::string_view path) {
  for (const std::string& p : mask.paths()) {
    if (p == path) return true;
  }
  return false;
}

// `mask` with its paths in the canonical order, or INVALID_ARGUMENT.
absl::StatusOr<google::protobuf::FieldMask> CanonicalMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths().empty()) return absl::InvalidArgumentError("an edit must name its fields");
  for (const std::string& path : mask.paths()) {
    if (!IsWritableField(path)) return absl::InvalidArgumentError("not a writable field: " + path);
  }
  return WritableFieldsIn(mask);
}

void AddPaths(const google::protobuf::FieldMask& from, google::protobuf::FieldMask* to) {
  for (const std::string& path : from.paths()) {
    if (!Contains(*to, path)) to->add_paths(path);
  }
}

void StampNow(google::protobuf::Timestamp* timestamp) {
  const qint64 now_ms = QDateTime::currentMSecsSinceEpoch();
  timestamp->set_seconds(now_ms / 1000);
  timestamp->set_nanos(static_cast<int32_t>(now_ms % 1000) * 1000000);
}

bool IsLive(const PendingMutation& mutation) {
  return mutation.state() != PendingMutation::STATE_PARKED;
}

// The merge base of an edit: what the form showed, without avatar bytes.
Profile BaseFieldsOf(const Profile& shown) {
  Profile base = IdentitiesOf(shown);
  // An avatar still pending here has no sha from the server yet.
  if (base.avatar_sha256().empty()) base.set_avatar_sha256(AvatarSha256(shown.avatar()));
  return base;
}

// The id of `mutation_id` rebased onto `version`: a UUIDv5, so the same
// rebase always yields the same request (see MutationRebased).
std::string RebasedId(const std::string& mutation_id, int64_t version) {
  QUuid ns = QUuid::fromString(QString::fromStdString(mutation_id));
  if (ns.isNull()) ns = QUuid::createUuidV5(QUuid(), QByteArray::fromStdString(mutation_id));
  return QUuid::createUuidV5(ns, "rebased onto version " + QByteArray::number(version))
      .toString(QUuid::WithoutBraces)
      .toStdString();
}

// A tombstone for a profile the server no longer has, when the server did
// not send its own: one version after what this device knows (the real one
// is at least that; a newer copy, e.g. a recreated profile, replaces it).
Profile MadeUpTombstone(const std::string& profile_id, int64_t known_version) {
  Profile tombstone;
  tombstone.set_id(profile_id);
  tombstone.set_version(known_version + 1);
  tombstone.set_deleted(true);
  return tombstone;
}

}  // namespace

MutationQueue::MutationQueue(LocalStore* store) : store_(store) {}

absl::StatusOr<PendingMutation> MutationQueue::EnqueueCreate(
    const Profile& fields, const google::protobuf::FieldMask& mask) {
  PendingMutation mutation;
  mutation.set_profile_id(NewUuid());
  mutation.set_creates(true);
  return Enqueue(std::move(mutation), fields, mask);
}

absl::StatusOr<PendingMutation> MutationQueue::EnqueueEdit(
    const std::string& profile_id, int64_t base_version, const Profile& fields,
    const google::protobuf::FieldMask& mask) {
  return EnqueueEdit(profile_id, base_version, EffectiveProfile(profile_id).value_or(Profile()),
                     fields, mask);
}

absl::StatusOr<PendingMutation> MutationQueue::EnqueueEdit(
    const std::string& profile_id, int64_t base_version, const Profile& base, const Profile& fields,
    const google::protobuf::FieldMask& mask) {
  PendingMutation mutation;
  mutation.set_profile_id(profile_id);
  mutation.set_base_version(base_version);
  *mutation.mutable_base_fields() = BaseFieldsOf(base);
  const StoreState& state = store_->state();
  for (uint64_t sequence : state.SequencesOf(profile_id)) {
    const PendingMutation& earlier = state.pending.at(sequence);
    // Asked again whether to delete it (the app blocks editing in a
    // conflict): an edit behind the delete would come back as a
    // recreation once the delete goes.
    if (earlier.deletes() && IsLive(earlier)) {
      return absl::FailedPreconditionError("profile " + profile_id + " is being deleted");
    }
  }
  if (state.profiles.count(profile_id) != 0) {
    // Deleted (here, or elsewhere with nothing of the user's pending): an
    // edit would bring it back without the user asking to recreate it.
    if (!SharedEffectiveProfile(profile_id)) {
      return absl::NotFoundError("profile " + profile_id + " was deleted");
    }
    return Enqueue(std::move(mutation), fields, mask);
  }

  const std::vector<PendingMutation> earlier = MutationsOf(profile_id);
  if (earlier.empty()) return absl::NotFoundError("no profile " + profile_id);
  if (std::any_of(earlier.begin(), earlier.end(), IsLive)) {
    // Chained behind the create; rebased when it is acknowledged.
    return Enqueue(std::move(mutation), fields, mask);
  }
  // Every earlier mutation was rejected, the create among them: this edit is
  // the user's fix, so it becomes the create, with their earlier fields.
  absl::StatusOr<google::protobuf::FieldMask> canonical = CanonicalMask(mask);
  if (!canonical.ok()) return canonical.status();
  Profile merged;
  google::protobuf::FieldMask merged_mask;
  for (const PendingMutation& parked : earlier) {
    CopyEditedFields(parked.fields(), parked.mask(), &merged);
    AddPaths(parked.mask(), &merged_mask);
  }
  CopyEditedFields(fields, *canonical, &merged);
  AddPaths(*canonical, &merged_mask);
  mutation.set_base_version(0);
  mutation.set_creates(true);
  mutation.clear_base_fields();
  return Enqueue(std::move(mutation), merged, merged_mask);
}

absl::StatusOr<PendingMutation> MutationQueue::Enqueue(PendingMutation mutation,
                                                       const Profile& fields,
                                                       const google::protobuf::FieldMask& mask) {
  absl::StatusOr<google::protobuf::FieldMask> canonical = CanonicalMask(mask);
  if (!canonical.ok()) return canonical.status();
  mutation.set_mutation_id(NewUuid());
  mutation.set_sequence(store_->state().next_sequence);
  mutation.set_state(PendingMutation::STATE_QUEUED);
  mutation.mutable_fields()->set_id(mutation.profile_id());
  CopyEditedFields(fields, *canonical, mutation.mutable_fields());
  *mutation.mutable_mask() = *std::move(canonical);
  StampNow(mutation.mutable_created_at());

  JournalRecord record;
  *record.mutable_mutation_enqueued() = mutation;
  if (absl::Status status = store_->Append(record); !status.ok()) return status;
  return mutation;
}

absl::Status MutationQueue::EnqueueDelete(const std::string& profile_id) {
  const std::shared_ptr<const Profile> shown = SharedEffectiveProfile(profile_id);
  if (!shown) return absl::NotFoundError("no profile " + profile_id + " to delete");
  if (ConflictOf(profile_id) != nullptr) {
    return absl::FailedPreconditionError("profile " + profile_id +
                                         " has a conflict; resolve it before deleting");
  }
  const StoreState& state = store_->state();
  const auto cached = state.profiles.find(profile_id);
  const bool on_server = cached != state.profiles.end() && !cached->second->deleted();
  PendingMutation mutation;
  mutation.set_mutation_id(NewUuid());
  mutation.set_profile_id(profile_id);
  mutation.set_deletes(true);
  // Behind a queued create (never acknowledged) the base is 0, as for an
  // edit chained behind it: the create's acknowledgement rebases it.
  mutation.set_base_version(on_server ? cached->second->version() : 0);
  mutation.set_sequence(state.next_sequence);
  mutation.set_state(PendingMutation::STATE_QUEUED);
  mutation.mutable_fields()->set_id(profile_id);
  // What the user saw when deleting: shown beside the change if the server
  // answers that the profile changed since.
  *mutation.mutable_base_fields() = BaseFieldsOf(*shown);
  StampNow(mutation.mutable_created_at());
  JournalRecord record;
  *record.mutable_mutation_enqueued() = std::move(mutation);
  return store_->Append(record);
}

std::optional<PendingMutation> MutationQueue::NextToSend() {
  const StoreState& state = store_->state();
  // Skips only the mutations in flight, which stay sendable until answered.
  for (uint64_t sequence : state.index.sendable) {
    const PendingMutation& mutation = state.pending.at(sequence);
    if (in_flight_.count(mutation.mutation_id()) != 0) continue;
    in_flight_.insert(mutation.mutation_id());
    return mutation;
  }
  return std::nullopt;
}

absl::StatusOr<const PendingMutation*> MutationQueue::Queued(const std::string& mutation_id) const {
  const PendingMutation* mutation = store_->state().FindPending(mutation_id);
  if (mutation == nullptr || mutation->state() != PendingMutation::STATE_QUEUED) {
    return absl::NotFoundError("no queued mutation " + mutation_id);
  }
  return mutation;
}

absl::Status MutationQueue::Acknowledge(const std::string& mutation_id,
                                        const Profile& server_profile) {
  absl::StatusOr<const PendingMutation*> mutation = Queued(mutation_id);
  if (!mutation.ok()) return mutation.status();
  if ((*mutation)->profile_id() != server_profile.id()) {
    return absl::InvalidArgumentError("the acknowledgement is of another profile");
  }
  JournalRecord record;
  record.mutable_mutation_acknowledged()->set_mutation_id(mutation_id);
  *record.mutable_mutation_acknowledged()->mutable_server_profile() = server_profile;
  if (absl::Status status = store_->Append(record); !status.ok()) return status;
  in_flight_.erase(mutation_id);
  return absl::OkStatus();
}

absl::Status MutationQueue::AcknowledgeAll(
    const std::vector<std::pair<std::string, Profile>>& acks) {
  std::vector<JournalRecord> records;
  records.reserve(acks.size());
  std::set<std::string> recorded;
  absl::Status skipped;
  std::string skipped_ids;
  for (const auto& [mutation_id, server_profile] : acks) {
    // Acknowledgements remove only their own mutation and change no other's
    // id, profile or state, so checking against the state before the batch
    // is what Acknowledge() would find, except for an id repeated here.
    absl::Status refused;
    absl::StatusOr<const PendingMutation*> mutation = Queued(mutation_id);
    if (!mutation.ok() || recorded.count(mutation_id) != 0) {
      refused = absl::NotFoundError("no queued mutation");
    } else if ((*mutation)->profile_id() != server_profile.id()) {
      refused = absl::InvalidArgumentError("of another profile");
    }
    if (!refused.ok()) {
      if (skipped.ok()) skipped = refused;
      absl::StrAppend(&skipped_ids, skipped_ids.empty() ? "" : ", ", mutation_id, " (",
                      refused.message(), ")");
      continue;
    }
    recorded.insert(mutation_id);
    auto* acknowledged = records.emplace_back().mutable_mutation_acknowledged();
    acknowledged->set_mutation_id(mutation_id);
    *acknowledged->mutable_server_profile() = server_profile;
  }
  if (!records.empty()) {
    if (absl::Status status = store_->AppendAll(records); !status.ok()) return status;
  }
  for (const std::string& mutation_id : recorded) in_flight_.erase(mutation_id);
  if (skipped.ok()) return absl::OkStatus();
  return absl::Status(skipped.code(), absl::StrCat("acknowledgements skipped: ", skipped_ids, "; ",
                                                   records.size(), " others recorded"));
}

absl::Status MutationQueue::Reject(const std::string& mutation_id, const std::string& message,
                                   const std::map<std::string, std::string>& field_errors,
                                   absl::StatusCode code) {
  if (absl::StatusOr<const PendingMutation*> mutation = Queued(mutation_id); !mutation.ok()) {
    return mutation.status();
  }
  JournalRecord record;
  auto* rejected = record.mutable_mutation_rejected();
  rejected->set_mutation_id(mutation_id);
  rejected->set_message(message);
  rejected->mutable_field_errors()->insert(field_errors.begin(), field_errors.end());
  rejected->set_code(static_cast<int32_t>(code));
  if (absl::Status status = store_->Append(record); !status.ok()) return status;
  in_flight_.erase(mutation_id);
  return absl::OkStatus();
}

absl::StatusOr<MutationQueue::Merged> MutationQueue::Conflict(const std::string& mutation_id,
                                                              const Profile& server_profile) {
  absl::StatusOr<const PendingMutation*> queued = Queued(mutation_id);
  if (!queued.ok()) return queued.status();
  const PendingMutation& mutation = **queued;
  if (mutation.profile_id() != server_profile.id()) {
    return absl::InvalidArgumentError("the conflicting copy is of another profile");
  }
  JournalRecord record;
  Merged merged = Merged::kConflict;
  // A create that finds the id taken, an edit from before merge bases were
  // recorded, or a delete (the user must see what changed before it goes)
  // cannot be merged: the user decides, as always.
  if (!mutation.creates() && !mutation.deletes() && mutation.has_base_fields()) {
    const MergeOutcome outcome =
        MergeEdit(mutation.base_fields(), mutation.mask(), mutation.fields(), server_profile);
    if (!outcome.conflicted() && outcome.mask.paths().empty()) {
      merged = Merged::kNothingLeft;
      record.mutable_mutation_acknowledged()->set_mutation_id(mutation_id);
      *record.mutable_mutation_acknowledged()->mutable_server_profile() = server_profile;
    } else if (!outcome.conflicted()) {
      merged = Merged::kRebased;
      auto* rebase = record.mutable_mutation_rebased();
      rebase->set_mutation_id(mutation_id);
      rebase->set_new_mutation_id(RebasedId(mutation_id, server_profile.version()));
      *rebase->mutable_server_profile() = server_profile;
      *rebase->mutable_mask() = outcome.mask;
      rebase->mutable_changed_elsewhere()->Assign(outcome.changed_elsewhere.begin(),
                                                  outcome.changed_elsewhere.end());
    }
  }
  if (merged == Merged::kConflict && !mutation.deletes()) {
    // The user deleted the profile after this edit: their last word is the
    // delete, so the question is the delete's ("changed elsewhere after you
    // deleted it"), asked with the change; the edits before it are
    // superseded by it. A conflict of the edit would hide behind the queued
    // delete (the profile is not shown), and resolving it would drop the
    // delete with the edits behind the conflict.
    const StoreState& state = store_->state();
    const std::set<uint64_t>& sequences = state.SequencesOf(mutation.profile_id());
    std::vector<const PendingMutation*> superseded;
    const PendingMutation* later_delete = nullptr;
    for (auto it = sequences.find(mutation.sequence()); it != sequences.end(); ++it) {
      const PendingMutation& later = state.pending.at(*it);
      if (!IsLive(later)) continue;
      if (later.deletes()) {
        later_delete = &later;
        break;
      }
      superseded.push_back(&later);
    }
    if (later_delete != nullptr) {
      std::vector<JournalRecord> records;
      for (const PendingMutation* edit : superseded) {
        auto* acknowledged = records.emplace_back().mutable_mutation_acknowledged();
        acknowledged->set_mutation_id(edit->mutation_id());
        *acknowledged->mutable_server_profile() = server_profile;
      }
      auto* conflicted = records.emplace_back().mutable_mutation_conflicted();
      conflicted->set_mutation_id(later_delete->mutation_id());
      *conflicted->mutable_server_profile() = server_profile;
      if (absl::Status status = store_->AppendAll(records); !status.ok()) return status;
      in_flight_.erase(mutation_id);
      return merged;
    }
  }
  if (merged == Merged::kConflict) {
    record.mutable_mutation_conflicted()->set_mutation_id(mutation_id);
    *record.mutable_mutation_conflicted()->mutable_server_profile() = server_profile;
  }
  if (absl::Status status = store_->Append(record); !status.ok()) return status;
  in_flight_.erase(mutation_id);
  return merged;
}

absl::Status MutationQueue::Gone(const std::string& mutation_id,
                                 const std::optional<Profile>& tombstone,
                                 const std::string& message) {
  absl::StatusOr<const PendingMutation*> queued = Queued(mutation_id);
  if (!queued.ok()) return queued.status();
  const PendingMutation& mutation = **queued;
  if (mutation.creates()) {
    return Reject(mutation_id, message, {}, absl::StatusCode::kNotFound);
  }
  const StoreState& state = store_->state();
  Profile deleted;
  if (tombstone && tombstone->deleted() && tombstone->id() == mutation.profile_id() &&
      tombstone->version() > mutation.base_version()) {
    deleted = *tombstone;
  } else {
    int64_t known = mutation.base_version();
    if (const auto cached = state.profiles.find(mutation.profile_id());
        cached != state.profiles.end()) {
      known = std::max(known, cached->second->version() - (cached->second->deleted() ? 1 : 0));
    }
    deleted = MadeUpTombstone(mutation.profile_id(), known);
  }
  std::vector<JournalRecord> records;
  SettleByTombstone(deleted, &records);
  if (absl::Status status = store_->AppendAll(records); !status.ok()) return status;
  in_flight_.erase(mutation_id);
  return absl::OkStatus();
}

void MutationQueue::SettleByTombstone(const Profile& tombstone,
                                      std::vector<JournalRecord>* records) const {
  const StoreState& state = store_->state();
  const std::string& id = tombstone.id();
  // The user's mutations made before the delete, and not settled already:
  // parked ones are not, nor edits already shown as deleted elsewhere. A
  // create among them was applied (the tombstone is of its id) and its
  // answer lost; it is settled like an edit.
  std::vector<const PendingMutation*> settled;
  for (uint64_t sequence : state.SequencesOf(id)) {
    const PendingMutation& mutation = state.pending.at(sequence);
    if (!IsLive(mutation) || mutation.base_version() >= tombstone.version()) continue;
    if (mutation.state() == PendingMutation::STATE_CONFLICTED &&
        mutation.server_profile().deleted() && !mutation.deletes()) {
      continue;
    }
    settled.push_back(&mutation);
  }
  const auto last_delete =
      std::find_if(settled.rbegin(), settled.rend(),
                   [](const PendingMutation* mutation) { return mutation->deletes(); });
  if (last_delete != settled.rend()) {
    // The user deleted it too: done, edits before their delete included
    // (their own delete superseded them).
    for (auto it = settled.begin(); it != last_delete.base(); ++it) {
      auto* acknowledged = records->emplace_back().mutable_mutation_acknowledged();
      acknowledged->set_mutation_id((*it)->mutation_id());
      *acknowledged->mutable_server_profile() = tombstone;
    }
  } else if (!settled.empty()) {
    // Never sent again (the server would answer NOT_FOUND): the user
    // discards it or recreates the profile with it.
    auto* conflicted = records->emplace_back().mutable_mutation_conflicted();
    conflicted->set_mutation_id(settled.front()->mutation_id());
    *conflicted->mutable_server_profile() = tombstone;
  }
  // A tombstone of a profile this device never had is of no use.
  if (state.profiles.count(id) != 0 || !state.SequencesOf(id).empty()) {
    *records->emplace_back().mutable_profile_cached()->mutable_profile() = tombstone;
  }
}

absl::Status MutationQueue::SendFailed(const std::string& mutation_id) {
  if (absl::StatusOr<const PendingMutation*> mutation = Queued(mutation_id); !mutation.ok()) {
    return mutation.status();
  }
  in_flight_.erase(mutation_id);
  return absl::OkStatus();
}

const PendingMutation* MutationQueue::ConflictOf(const std::string& profile_id) const {
  const StoreState& state = store_->state();
  for (uint64_t sequence : state.SequencesOf(profile_id)) {
    const PendingMutation& mutation = state.pending.at(sequence);
    if (mutation.state() == PendingMutation::STATE_CONFLICTED) return &mutation;
  }
  return nullptr;
}

absl::Status MutationQueue::ResolveKeepServer(const std::string& profile_id) {
  if (ConflictOf(profile_id) == nullptr) {
    return absl::FailedPreconditionError("no conflict on profile " + profile_id);
  }
  JournalRecord record;
  record.mutable_conflict_resolved()->set_profile_id(profile_id);
  record.mutable_conflict_resolved()->set_choice(ConflictResolved::CHOICE_KEEP_SERVER);
  return store_->Append(record);
}

absl::StatusOr<PendingMutation> MutationQueue::ResolveApplyMine(const std::string& profile_id) {
  const PendingMutation* conflict = ConflictOf(profile_id);
  if (conflict == nullptr) {
    return absl::FailedPreconditionError("no conflict on profile " + profile_id);
  }
  const StoreState& state = store_->state();
  PendingMutation replacement;
  replacement.set_mutation_id(NewUuid());
  replacement.set_profile_id(profile_id);
  replacement.mutable_fields()->set_id(profile_id);
  // The cache holds the conflict's server copy, or a newer one pulled since.
  const auto cached = state.profiles.find(profile_id);
  const Profile& theirs =
      cached != state.profiles.end() ? *cached->second : conflict->server_profile();
  if (conflict->deletes()) {
    // Delete anyway: the user has now seen the change.
    replacement.set_deletes(true);
    replacement.set_base_version(theirs.version());
  } else {
    const std::set<uint64_t>& sequences = state.SequencesOf(profile_id);
    for (auto it = sequences.find(conflict->sequence()); it != sequences.end(); ++it) {
      const PendingMutation& mine = state.pending.at(*it);
      if (!IsLive(mine) || mine.deletes()) continue;
      CopyEditedFields(mine.fields(), mine.mask(), replacement.mutable_fields());
      AddPaths(mine.mask(), replacement.mutable_mask());
    }
    absl::StatusOr<google::protobuf::FieldMask> mask = CanonicalMask(replacement.mask());
    if (!mask.ok()) return mask.status();
    *replacement.mutable_mask() = *std::move(mask);
    if (theirs.deleted()) {
      // Recreate: a new profile of the same id with every field the
      // conflicted edit kept (see KeepEveryFieldOf in store_state.cc); the
      // server continues its versions after the tombstone's.
      replacement.set_creates(true);
      replacement.set_base_version(0);
    } else {
      replacement.set_base_version(theirs.version());
      // The user chose knowing the server's copy: that is the new merge base.
      *replacement.mutable_base_fields() = BaseFieldsOf(theirs);
    }
  }
  replacement.set_sequence(state.next_sequence);
  replacement.set_state(PendingMutation::STATE_QUEUED);
  StampNow(replacement.mutable_created_at());

  JournalRecord record;
  auto* resolved = record.mutable_conflict_resolved();
  resolved->set_profile_id(profile_id);
  resolved->set_choice(ConflictResolved::CHOICE_APPLY_MINE);
  *resolved->mutable_replacement() = replacement;
  if (absl::Status status = store_->Append(record); !status.ok()) return status;
  return replacement;
}

absl::Status MutationQueue::DismissRejected(const std::string& mutation_id) {
  const PendingMutation* mutation = store_->state().FindPending(mutation_id);
  if (mutation == nullptr || mutation->state() != PendingMutation::STATE_PARKED) {
    return absl::NotFoundError("no parked mutation " + mutation_id);
  }
  JournalRecord record;
  record.mutable_mutation_dismissed()->set_mutation_id(mutation_id);
  return store_->Append(record);
}

absl::Status MutationQueue::RetryParked(const std::string& mutation_id) {
  const PendingMutation* mutation = store_->state().FindPending(mutation_id);
  if (mutation == nullptr || mutation->state() != PendingMutation::STATE_PARKED) {
    return absl::NotFoundError("no parked mutation " + mutation_id);
  }
  JournalRecord record;
  record.mutable_mutation_retried()->set_mutation_id(mutation_id);
  return store_->Append(record);
}

std::optional<std::vector<std::string>> MutationQueue::MergeNoteOf(
    const std::string& profile_id) const {
  const StoreState& state = store_->state();
  std::optional<std::vector<std::string>> note;
  if (auto it = state.merge_notes.find(profile_id); it != state.merge_notes.end()) {
    note = it->second;
  }
  for (uint64_t sequence : state.SequencesOf(profile_id)) {
    const PendingMutation& mutation = state.pending.at(sequence);
    if (!mutation.rebased()) continue;
    if (!note) note.emplace();
    for (const std::string& field : mutation.changed_elsewhere()) {
      if (std::find(note->begin(), note->end(), field) == note->end()) note->push_back(field);
    }
  }
  return note;
}

absl::Status MutationQueue::DismissMergeNote(const std::string& profile_id) {
  if (store_->state().merge_notes.count(profile_id) == 0) return absl::OkStatus();
  JournalRecord record;
  record.mutable_merge_note_dismissed()->set_profile_id(profile_id);
  return store_->Append(record);
}

absl::Status MutationQueue::ApplyServerProfiles(std::vector<Profile> profiles,
                                                const std::string& cursor) {
  const StoreState& state = store_->state();
  std::vector<JournalRecord> records;
  records.reserve(profiles.size() + 1);
  std::set<std::string> tombstoned;
  for (Profile& profile : profiles) {
    if (profile.id().empty()) return absl::InvalidArgumentError("a server profile without id");
    if (profile.deleted()) {
      // A tombstone known already (sent again), or older than a recreated
      // profile, settles nothing: a recreation pending since is not about
      // it.
      const auto cached = state.profiles.find(profile.id());
      if (cached != state.profiles.end() && cached->second->version() >= profile.version()) {
        continue;
      }
      // Settled against the state before this batch, which is what the
      // records of the batch's other profiles (only ProfileCached) leave
      // of the pending mutations.
      if (tombstoned.insert(profile.id()).second) SettleByTombstone(profile, &records);
      continue;
    }
    *records.emplace_back().mutable_profile_cached()->mutable_profile() = std::move(profile);
  }
  if (!cursor.empty()) records.emplace_back().mutable_cursor_updated()->set_cursor(cursor);
  if (records.empty()) return absl::OkStatus();
  return store_->AppendAll(std::move(records));
}

absl::Status MutationQueue::ConfirmDeleted(const std::string& profile_id,
                                           const std::optional<Profile>& tombstone) {
  if (tombstone && tombstone->deleted() && tombstone->id() == profile_id) {
    return ApplyServerProfiles({*tombstone}, "");
  }
  const StoreState& state = store_->state();
  const auto cached = state.profiles.find(profile_id);
  if (cached == state.profiles.end() || cached->second->deleted()) return absl::OkStatus();
  return ApplyServerProfiles({MadeUpTombstone(profile_id, cached->second->version())}, "");
}

absl::Status MutationQueue::ResetCursor() {
  JournalRecord record;
  record.mutable_cursor_updated()->set_cursor("");
  return store_->Append(record);
}

absl::Status MutationQueue::BindToServer(const std::string& database_id) {
  JournalRecord record;
  record.mutable_server_bound()->set_database_id(database_id);
  return store_->Append(record);
}

std::optional<Profile> MutationQueue::EffectiveProfile(const std::string& profile_id) const {
  std::shared_ptr<const Profile> shared = SharedEffectiveProfile(profile_id);
  if (!shared) return std::nullopt;
  return *shared;
}

std::shared_ptr<const Profile> MutationQueue::SharedEffectiveProfile(
    const std::string& profile_id) const {
  const StoreState& state = store_->state();
  std::shared_ptr<const Profile> cached;
  if (auto it = state.profiles.find(profile_id); it != state.profiles.end()) cached = it->second;
  // Deleted on the server: only a mutation of the user's (a recreation, or
  // an edit deleted elsewhere, which keeps every field) shows it.
  const bool gone = cached && cached->deleted();
  std::shared_ptr<Profile> edited;
  for (uint64_t sequence : state.SequencesOf(profile_id)) {
    const PendingMutation& mutation = state.pending.at(sequence);
    if (!IsLive(mutation)) continue;
    if (mutation.deletes()) {
      // Deleted here and waiting to be sent: gone from the user's view at
      // once. A conflicted delete shows the profile, to ask again.
      if (mutation.state() == PendingMutation::STATE_QUEUED) return nullptr;
      continue;
    }
    if (!edited) {
      edited = cached && !gone ? std::make_shared<Profile>(*cached) : std::make_shared<Profile>();
      edited->set_id(profile_id);
    }
    CopyEditedFields(mutation.fields(), mutation.mask(), edited.get());
  }
  if (edited) return edited;
  if (gone) return nullptr;
  return cached;
}

SyncState MutationQueue::StateOf(const std::string& profile_id) const {
  const StoreState& state = store_->state();
  SyncState result = SyncState::kSynced;
  for (uint64_t sequence : state.SequencesOf(profile_id)) {
    const PendingMutation& mutation = state.pending.at(sequence);
    SyncState this_one = SyncState::kPending;
    if (mutation.state() == PendingMutation::STATE_CONFLICTED) {
      this_one = SyncState::kConflict;
    } else if (mutation.state() == PendingMutation::STATE_PARKED) {
      this_one = SyncState::kRejected;
    } else if (in_flight_.count(mutation.mutation_id()) != 0) {
      this_one = SyncState::kSyncing;
    }
    result = std::max(result, this_one);
  }
  return result;
}

std::vector<PendingMutation> MutationQueue::MutationsOf(const std::string& profile_id) const {
  const StoreState& state = store_->state();
  std::vector<PendingMutation> result;
  for (uint64_t sequence : state.SequencesOf(profile_id))
    result.push_back(state.pending.at(sequence));
  return result;
}

std::vector<std::string> MutationQueue::ProfileIds() const {
  std::set<std::string> ids;
  for (const auto& [id, profile] : store_->state().profiles) ids.insert(id);
  for (const auto& [id, sequences] : store_->state().index.by_profile) ids.insert(id);
  return {ids.begin(), ids.end()};
}

size_t MutationQueue::PendingCount() const {
  const StoreState& state = store_->state();
  return state.pending.size() - state.index.parked.size();
}

absl::StatusOr<profile::v1::UpdateProfileRequest> MutationQueue::ToRequest(
    const PendingMutation& mutation) const {
  profile::v1::UpdateProfileRequest request;
  *request.mutable_profile() = mutation.fields();
  const std::string& sha = mutation.fields().avatar_sha256();
  if (Contains(mutation.mask(), "avatar") && !sha.empty() && mutation.fields().avatar().empty()) {
    absl::StatusOr<std::string> bytes = store_->state().pictures->Read(sha);
    if (!bytes.ok()) {
      return absl::DataLossError(
          "the picture of this change can no longer be read on this device: " +
          std::string(bytes.status().message()));
    }
    request.mutable_profile()->set_avatar(*std::move(bytes));
  }
  *request.mutable_update_mask() = mutation.mask();
  request.set_expected_version(mutation.creates() ? 0 : mutation.base_version());
  request.set_mutation_id(mutation.mutation_id());
  return request;
}

profile::v1::DeleteProfileRequest MutationQueue::ToDeleteRequest(const PendingMutation& mutation) {
  profile::v1::DeleteProfileRequest request;
  request.set_id(mutation.profile_id());
  request.set_expected_version(mutation.base_version());
  request.set_mutation_id(mutation.mutation_id());
  return request;
}

}  // namespace profiles::client
