#ifndef PROFILES_APPS_QML_CLIENT_CORE_MUTATION_QUEUE_H_
#define PROFILES_APPS_QML_CLIENT_CORE_MUTATION_QUEUE_H_

// MutationQueue: the outbox of profile creates, edits and deletes made on this
// device, and the optimistic view of profiles the UI shows.
//
// Every create, edit or delete becomes a PendingMutation with a client-generated UUID
// (`mutation_id`, reused on every retry so the server applies it at most
// once) and the version it is based on. The sync manager drives it:
//
//   while (auto m = queue.NextToSend()) {
//     Send(MutationQueue::ToRequest(*m)) and then, by the answer:
//       OK                -> queue.Acknowledge(m->mutation_id(), profile)
//                            (a delete's answer is the tombstone)
//       ABORTED           -> queue.Conflict(m->mutation_id(), server_profile)
//       NOT_FOUND         -> queue.Gone(m->mutation_id(), tombstone, message)
//       UNAVAILABLE, DEADLINE_EXCEEDED (may not have reached the server)
//                         -> queue.SendFailed(m->mutation_id()); back off, retry
//       any other answer  -> queue.Reject(m->mutation_id(), message, field_errors,
//                                         code): parked until RetryParked/DismissRejected
//   }
//
// Merging: an edit records the version and the field values the user saw
// (EnqueueEdit's `base`). When the server answers ABORTED, Conflict() applies
// the three-way rule of merge.h to base, the edit and the server's copy:
// fields changed only here are rebased onto the server's version (sent again
// under a new, derived mutation id; see MutationRebased in local_store.proto),
// fields changed on both sides make it a conflict for the user. The rule runs
// only on the server's ABORTED, never on a newer cached copy alone: ABORTED
// is the proof that the mutation was not applied, while a cached copy may
// already contain this very mutation from an attempt whose answer was lost.
//
// Ordering: mutations are sent in creation order, strictly one at a time per
// profile: a profile's next mutation waits while an earlier one is in flight
// or conflicted, and is sent with the version the earlier one produced
// (rebased on acknowledgement). Mutations of other profiles keep flowing.
// A parked (rejected) mutation blocks nothing.
//
// Durability: every state change is appended to the LocalStore before it is
// visible here (write-ahead), so a new MutationQueue over a reopened store
// restores the exact queue. "In flight" is deliberately not persisted: after
// a restart the mutation that was in flight is simply sent again, with the
// same mutation_id.
//
// Cost: through the store's PendingIndex, a lookup of one mutation is
// O(log n) in the pending mutations, a profile's view (EffectiveProfile,
// StateOf, MutationsOf) O(its mutations · log n), NextToSend
// O((mutations in flight + 1) · log n) and PendingCount O(1).
//
// Thread safety: not thread-safe. The queue and its store are owned and used
// by one thread (the client's sync thread); the UI gets copies.

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/local_store.h"
#include "google/protobuf/field_mask.pb.h"
#include "profile/client/v1/local_store.pb.h"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

// What the UI shows beside a profile, from most to least urgent.
enum class SyncState {
  kSynced,    // nothing pending
  kPending,   // edits waiting to be sent
  kSyncing,   // an edit is in flight
  kRejected,  // the server rejected an edit as invalid (see MutationsOf)
  kConflict,  // changed elsewhere; the user must choose (see MutationsOf)
};

class MutationQueue {
 public:
  // `store` must outlive the queue; nothing else may append to it meanwhile.
  explicit MutationQueue(LocalStore* store);

  MutationQueue(const MutationQueue&) = delete;
  MutationQueue& operator=(const MutationQueue&) = delete;

  // Queues the creation of a new profile with a new UUID as its id, from the
  // fields of `fields` named by `mask` (paths "name", "email", "avatar").
  // Returns the mutation; its profile_id() is the new profile's id.
  // INVALID_ARGUMENT for an empty mask or an unknown path.
  absl::StatusOr<profile::client::v1::PendingMutation> EnqueueCreate(
      const profile::v1::Profile& fields, const google::protobuf::FieldMask& mask);

  // Queues an edit of profile `profile_id`, made by a user whose form showed
  // version `base_version` (EffectiveProfile(id)->version() then) with the
  // name, email and avatar_sha256 of `base` (the merge base; avatar bytes in
  // `base` are hashed when its avatar_sha256 is empty, e.g. for an avatar
  // still pending here). If earlier mutations of the profile are still
  // queued, it is rebased when they are acknowledged.
  // INVALID_ARGUMENT as for EnqueueCreate; NOT_FOUND if the profile is
  // neither cached nor being created, or deleted; FAILED_PRECONDITION while
  // the user's delete of it is pending (queued, or asked again).
  absl::StatusOr<profile::client::v1::PendingMutation> EnqueueEdit(
      const std::string& profile_id, int64_t base_version, const profile::v1::Profile& base,
      const profile::v1::Profile& fields, const google::protobuf::FieldMask& mask);
  // As above, with the profile as shown now (EffectiveProfile) as the base.
  absl::StatusOr<profile::client::v1::PendingMutation> EnqueueEdit(
      const std::string& profile_id, int64_t base_version, const profile::v1::Profile& fields,
      const google::protobuf::FieldMask& mask);

  // Queues the deletion of profile `profile_id`, based on the version shown
  // (rebased like an edit when earlier mutations of the profile are
  // acknowledged first: they are sent before it). The profile is hidden at
  // once (EffectiveProfile is nullopt) while the delete is queued.
  // A profile never acknowledged by the server whose create is queued gets
  // the delete queued behind the create, not the create dropped: the app
  // cannot prove that an earlier attempt of the create did not reach the
  // server (an attempt whose answer was lost stays queued), and a dropped
  // create that had been applied would bring the profile back on the next
  // pull.
  // NOT_FOUND if the profile is not shown (unknown, deleted, or its delete
  // already queued); FAILED_PRECONDITION while the profile has a conflict
  // (the user resolves it first).
  absl::Status EnqueueDelete(const std::string& profile_id);

  // The oldest mutation that may be sent now, marked in flight, or nullopt.
  // Calling it again returns the next one that may be sent concurrently (of
  // another profile).
  std::optional<profile::client::v1::PendingMutation> NextToSend();

  // The outcome of sending an in-flight (or at least queued) mutation.
  // NOT_FOUND if no queued mutation has this id (e.g. already acknowledged);
  // INVALID_ARGUMENT if `server_profile` is of another profile.
  // Acknowledge: the server applied it; the cache takes `server_profile`.
  absl::Status Acknowledge(const std::string& mutation_id,
                           const profile::v1::Profile& server_profile);
  // The acknowledgements of many mutations, (mutation id, server_profile) in
  // the order the answers arrived, recorded with one durable write (one
  // fsync) instead of one each. Each is applied as Acknowledge() would, in
  // order: a profile's next mutation is rebased on the version its
  // acknowledged predecessor produced, also when both are in `acks`.
  // An acknowledgement Acknowledge() would refuse (no queued mutation has the
  // id, e.g. already acknowledged or earlier in `acks`; a server_profile of
  // another profile) is skipped and the others are still recorded: the call
  // then returns NOT_FOUND or INVALID_ARGUMENT (the first skipped one's code)
  // naming every skipped id. Any other error is the write's: then nothing is
  // recorded and the queue is unchanged (all or nothing).
  absl::Status AcknowledgeAll(
      const std::vector<std::pair<std::string, profile::v1::Profile>>& acks);
  // Reject: an answer that is neither success, conflict nor a transport
  // failure (`code`, e.g. INVALID_ARGUMENT with per-field messages, INTERNAL,
  // RESOURCE_EXHAUSTED); parked with the server's messages (field -> message).
  absl::Status Reject(const std::string& mutation_id, const std::string& message,
                      const std::map<std::string, std::string>& field_errors,
                      absl::StatusCode code = absl::StatusCode::kInvalidArgument);
  // Conflict: ABORTED, based on a stale version; `server_profile` is the
  // current copy (its avatar bytes may be left out; avatar_sha256 counts).
  // Applies the merge rule (see the file comment) and says what it did.
  // When the user has queued a delete of the profile after the mutation, a
  // conflict is the delete's (STATE_CONFLICTED, the user deletes anyway or
  // keeps the profile), and the mutations before it are superseded by it.
  enum class Merged {
    kConflict,     // STATE_CONFLICTED: the user chooses
    kRebased,      // queued again on top of server_profile, under a new id
    kNothingLeft,  // the server already holds every value of the edit: done
  };
  absl::StatusOr<Merged> Conflict(const std::string& mutation_id,
                                  const profile::v1::Profile& server_profile);
  // Gone: the server answered NOT_FOUND (the profile was deleted; with its
  // tombstone when the server still keeps it). A delete is then done (as if
  // acknowledged by the tombstone); an edit becomes the "deleted elsewhere"
  // conflict (STATE_CONFLICTED with the tombstone as server_profile, keeping
  // every field so that the user can recreate the profile); a create, which
  // the server never answers so, is parked with `message`. Later mutations
  // of the profile are handled as for a tombstone from a pull (see
  // ApplyServerProfiles). Without a tombstone (purged after the retention
  // window) one is made up, one version after what this device knows.
  absl::Status Gone(const std::string& mutation_id,
                    const std::optional<profile::v1::Profile>& tombstone,
                    const std::string& message);
  // SendFailed: not known to have reached the server; sent again later with
  // the same mutation_id. Nothing is persisted.
  absl::Status SendFailed(const std::string& mutation_id);

  // Resolutions of the conflict of `profile_id` (FAILED_PRECONDITION if it
  // has none). KeepServer drops the conflicted mutation and the later ones of
  // the profile. ApplyMine replaces them with one new mutation (new id) of
  // all their fields, based on the server's current version, and returns it.
  // For a profile deleted elsewhere, KeepServer discards the edits (the
  // profile goes) and ApplyMine recreates it: a create (expected_version 0)
  // of every field. For a delete of a profile changed elsewhere, KeepServer
  // keeps the profile (as changed) and ApplyMine deletes it anyway, based on
  // the changed version.
  absl::Status ResolveKeepServer(const std::string& profile_id);
  absl::StatusOr<profile::client::v1::PendingMutation> ResolveApplyMine(
      const std::string& profile_id);

  // Forgets a parked mutation (the user gave up on it). NOT_FOUND if no
  // parked mutation has this id.
  absl::Status DismissRejected(const std::string& mutation_id);
  // Queues a parked mutation again, with the same id and base (the server may
  // have applied it though its answer was unreadable; the id keeps that
  // exactly-once). NOT_FOUND if no parked mutation has this id.
  absl::Status RetryParked(const std::string& mutation_id);

  // The note "merged with a change from elsewhere" of a profile: the fields
  // changed elsewhere (maybe none named), or nullopt. Shown while a rebased
  // edit is pending and after it was acknowledged, until dismissed.
  std::optional<std::vector<std::string>> MergeNoteOf(const std::string& profile_id) const;
  // OK if there is none.
  absl::Status DismissMergeNote(const std::string& profile_id);

  // Merges the server's copy of profiles (a pull or watch events); `cursor`,
  // if not empty, is recorded after them, so a crash never advances the
  // cursor past profiles not stored. Older versions than cached are ignored.
  // A tombstone (Profile.deleted) of a profile this device knows removes it
  // (it is cached as the tombstone, so no older copy brings it back); one of
  // an unknown id is ignored, and one no newer than the cached copy (sent
  // again, or older than a recreation) settles nothing. The profile's
  // pending mutations based on a version before the delete: if the user
  // queued a delete too, the mutations up to it are done (acknowledged by
  // the tombstone: the user had deleted the profile anyway); otherwise its
  // first one (an edit, or a create whose answer was lost) becomes the
  // "deleted elsewhere" conflict (see Gone). Parked ones stay parked.
  absl::Status ApplyServerProfiles(std::vector<profile::v1::Profile> profiles,
                                   const std::string& cursor);
  // The server says profile `profile_id` is not there (GetProfile answered
  // NOT_FOUND, with its tombstone while the server keeps it): applied as that
  // tombstone, or as one made up one version after the cached copy. For a
  // profile a listing from an empty cursor left out (which has no tombstones
  // of what was deleted before it).
  absl::Status ConfirmDeleted(const std::string& profile_id,
                              const std::optional<profile::v1::Profile>& tombstone);
  // Whether `mutation_id` is a queued mutation (an answer to it is awaited).
  bool IsQueued(const std::string& mutation_id) const { return Queued(mutation_id).ok(); }
  // The answer to in-flight `mutation_id` came after the mutation was settled
  // otherwise (a tombstone from a pull or watch settled it): ignored.
  void AnswerIgnored(const std::string& mutation_id) { in_flight_.erase(mutation_id); }

  // The profile as the UI shows it: the server's copy with the queued and
  // conflicted mutations applied in order (parked ones are not), or nullopt
  // if there is neither. version() stays the server's.
  std::optional<profile::v1::Profile> EffectiveProfile(const std::string& profile_id) const;
  // The same, shared: the cached copy itself when no mutation applies (most
  // profiles: their pictures are then held once), else a new one; null if
  // there is neither.
  std::shared_ptr<const profile::v1::Profile> SharedEffectiveProfile(
      const std::string& profile_id) const;
  SyncState StateOf(const std::string& profile_id) const;
  // The profile's mutations in order, e.g. for the conflict's server copy or
  // a rejection's messages.
  std::vector<profile::client::v1::PendingMutation> MutationsOf(
      const std::string& profile_id) const;
  // Every profile cached or with mutations, sorted by id.
  std::vector<std::string> ProfileIds() const;
  // Mutations not yet acknowledged, parked ones excluded.
  size_t PendingCount() const;
  const std::string& cursor() const { return store_->state().cursor; }
  // Forgets the cursor (the server refused it): the next pull lists every
  // profile again. Cached profiles and pending mutations stay.
  absl::Status ResetCursor();
  // The server database this store belongs to (ServerBound); empty before
  // the first contact.
  const std::string& database_id() const { return store_->state().database_id; }
  // Binds the store to `database_id`. REQUIRES: database_id() is empty.
  absl::Status BindToServer(const std::string& database_id);

  // The request that sends `mutation`, its picture read back from the store.
  // DATA_LOSS if that picture can no longer be read (the disk failed, or
  // the files were changed under the app). REQUIRES: !mutation.deletes().
  absl::StatusOr<profile::v1::UpdateProfileRequest> ToRequest(
      const profile::client::v1::PendingMutation& mutation) const;
  // The request that sends a delete. REQUIRES: mutation.deletes().
  static profile::v1::DeleteProfileRequest ToDeleteRequest(
      const profile::client::v1::PendingMutation& mutation);

 private:
  absl::StatusOr<profile::client::v1::PendingMutation> Enqueue(
      profile::client::v1::PendingMutation mutation, const profile::v1::Profile& fields,
      const google::protobuf::FieldMask& mask);
  // The queued mutation `mutation_id`, or NOT_FOUND.
  absl::StatusOr<const profile::client::v1::PendingMutation*> Queued(
      const std::string& mutation_id) const;
  const profile::client::v1::PendingMutation* ConflictOf(const std::string& profile_id) const;
  // The records that settle the pending mutations of the tombstone's profile
  // (see ApplyServerProfiles), the tombstone's ProfileCached last.
  void SettleByTombstone(const profile::v1::Profile& tombstone,
                         std::vector<profile::client::v1::JournalRecord>* records) const;

  LocalStore* const store_;
  // Ids of mutations handed out by NextToSend() and not yet answered.
  std::set<std::string> in_flight_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_CORE_MUTATION_QUEUE_H_
