#include "tests/fault/fault_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libs/profile_contract/grpc_status.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::testing {
namespace {

using profile::v1::DeleteProfileRequest;
using profile::v1::Profile;
using profile::v1::UpdateProfileRequest;

constexpr uint64_t kSeedMask = 0xffffffffffff;  // 48 bits: the last group of a UUID

bool IsTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

const char* KindName(SentMutation::Kind kind) {
  switch (kind) {
    case SentMutation::Kind::kEdit:
      return "edit";
    case SentMutation::Kind::kCreate:
      return "create";
    case SentMutation::Kind::kDelete:
      return "delete";
  }
  return "?";
}

// What this client knows of a profile: the version it last saw, and whether
// that version is a tombstone.
struct Known {
  int64_t version = 1;
  bool deleted = false;
};

}  // namespace

std::string ProfileId(uint64_t seed, int profile) {
  return absl::StrFormat("00000000-0000-4000-a%03x-%012x", profile, seed & kSeedMask);
}

std::string MutationId(uint64_t seed, int client, int sequence, int rebase) {
  return absl::StrFormat("%08x-%04x-4%03x-8%03x-%012x", client + 1, sequence,
                         (rebase >> 12) & 0xfff, rebase & 0xfff, seed & kSeedMask);
}

std::string WriteName(int client, int sequence) {
  return client < 0 ? absl::StrCat("Created by the test ", sequence)
                    : absl::StrCat("Client ", client, " write ", sequence);
}

std::string WriteEmail(int client, int sequence) {
  return client < 0 ? absl::StrCat("setup", sequence, "@example.com")
                    : absl::StrCat("c", client, ".w", sequence, "@example.com");
}

std::string Describe(const SentMutation& mutation) {
  if (mutation.client < 0) {
    return absl::StrCat(mutation.kind == SentMutation::Kind::kDelete
                            ? absl::StrCat("the test's final delete of profile ", mutation.profile,
                                           " on version ", mutation.expected_version)
                            : absl::StrCat("the create of profile ", mutation.profile),
                        " (mutation ", mutation.mutation_id, ")");
  }
  return absl::StrCat("client ", mutation.client, " write ", mutation.sequence,
                      mutation.rebase > 0 ? absl::StrCat(" rebase ", mutation.rebase) : "", " (",
                      KindName(mutation.kind), ") to profile ", mutation.profile, " on version ",
                      mutation.expected_version, mutation.base_deleted ? " (a tombstone)" : "",
                      " (mutation ", mutation.mutation_id, ")");
}

FaultClient::FaultClient(Options options) : options_(std::move(options)) {
  grpc::ChannelArguments arguments;
  // A connection of its own, as a separate device has.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after a cut or a restart (the default waits up to 2 min).
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Every resend is this client's own, with the same mutation id: none hidden in the channel.
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  stub_ = profile::v1::ProfileService::NewStub(
      grpc::CreateCustomChannel(options_.target, grpc::InsecureChannelCredentials(), arguments));
}

bool FaultClient::Sleep(absl::Duration delay, const std::atomic<bool>& stop) {
  const absl::Time until = absl::Now() + delay;
  while (!stop.load()) {
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
  return false;
}

void FaultClient::Run(const std::atomic<bool>& stop) {
  std::mt19937_64 jitter(options_.seed ^ static_cast<uint64_t>(options_.index + 1));
  // Every profile exists at version 1 before the clients start.
  std::vector<Known> known(options_.profile_ids.size());
  const int writes = static_cast<int>(options_.queue.size());
  for (int sequence = 0; sequence < writes; ++sequence) {
    if (!Sleep(options_.start + sequence * options_.pace - absl::Now(), stop)) return;
    const QueuedWrite& write = options_.queue[static_cast<size_t>(sequence)];
    const int profile = write.profile;
    const std::string& id = options_.profile_ids[static_cast<size_t>(profile)];
    Known& knows = known[static_cast<size_t>(profile)];
    // A delete intent stays a delete. An edit of a profile this client knows is deleted is sent
    // as a create; an edit answered PROFILE_DELETED becomes a create ("recreate with my edit"),
    // a create answered ABORTED an edit of the carried version.
    bool recreate = knows.deleted;
    bool done = false;
    for (int rebase = 0; !done; ++rebase) {
      SentMutation mutation{
          .mutation_id = MutationId(options_.seed, options_.index, sequence, rebase),
          .client = options_.index,
          .sequence = sequence,
          .rebase = rebase,
          .profile = profile,
          .kind = write.kind == QueuedWrite::Kind::kDelete ? SentMutation::Kind::kDelete
                  : recreate                               ? SentMutation::Kind::kCreate
                                                           : SentMutation::Kind::kEdit,
          .expected_version =
              recreate && write.kind == QueuedWrite::Kind::kEdit ? 0 : knows.version,
          .base_deleted = write.kind == QueuedWrite::Kind::kDelete && knows.deleted,
      };
      UpdateProfileRequest update;
      DeleteProfileRequest remove;
      if (mutation.kind == SentMutation::Kind::kDelete) {
        remove.set_id(id);
        remove.set_expected_version(mutation.expected_version);
        remove.set_mutation_id(mutation.mutation_id);
      } else {
        update.mutable_profile()->set_id(id);
        update.mutable_profile()->set_name(WriteName(options_.index, sequence));
        update.mutable_profile()->set_email(WriteEmail(options_.index, sequence));
        update.set_expected_version(mutation.expected_version);
        update.set_mutation_id(mutation.mutation_id);
      }

      absl::Duration backoff = absl::Milliseconds(20);
      bool resent = false;
      for (;;) {
        if (stop.load()) {
          report_.sent.push_back(std::move(mutation));
          return;
        }
        ++report_.attempts;
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
        // Wait for a connection rather than fail at once while the channel reconnects: a call in
        // progress is what drives the reconnection (an idle sync client only polls every 5 s).
        context.set_wait_for_ready(true);
        Profile answer;
        const grpc::Status status = mutation.kind == SentMutation::Kind::kDelete
                                        ? stub_->DeleteProfile(&context, remove, &answer)
                                        : stub_->UpdateProfile(&context, update, &answer);
        if (status.ok()) {
          mutation.outcome = SentMutation::Outcome::kAcknowledged;
          knows = {.version = answer.version(), .deleted = answer.deleted()};
          mutation.answer = std::move(answer);
          ++report_.acknowledged;
          report_.acknowledged_after_resend += resent ? 1 : 0;
          report_.deletes_acknowledged += mutation.kind == SentMutation::Kind::kDelete ? 1 : 0;
          report_.recreated += mutation.kind == SentMutation::Kind::kCreate ? 1 : 0;
          done = true;
          break;
        }
        const grpc::StatusCode code = status.error_code();
        if (code == grpc::StatusCode::ABORTED) {
          mutation.outcome = SentMutation::Outcome::kAborted;
          std::optional<Profile> current = ConflictingProfile(FromGrpcStatus(status));
          mutation.carried_profile = current.has_value();
          if (current.has_value()) {
            mutation.answer = *std::move(current);
            knows = {.version = mutation.answer.version(), .deleted = mutation.answer.deleted()};
          } else {
            // Already a violation (the checks report it); go on from the next version, which a
            // later ABORTED corrects if it is not current either.
            knows = {.version = knows.version + 1, .deleted = false};
          }
          recreate = knows.deleted;
          break;  // rebase: a new mutation with the same intent
        }
        if (code == grpc::StatusCode::NOT_FOUND && IsProfileDeleted(FromGrpcStatus(status))) {
          mutation.outcome = SentMutation::Outcome::kProfileDeleted;
          std::optional<Profile> tombstone = ConflictingProfile(FromGrpcStatus(status));
          mutation.carried_profile = tombstone.has_value();
          if (tombstone.has_value()) {
            mutation.answer = *std::move(tombstone);
            knows.version = mutation.answer.version();
          }
          // Without a tombstone (a replay of an erased mutation of a profile re-created since)
          // the version stays as it was: the create it leads to is ABORTED with the current one.
          knows.deleted = true;
          if (mutation.kind == SentMutation::Kind::kDelete) {
            ++report_.deletes_already_gone;
            done = true;  // the profile is gone, as this write wanted
          } else {
            ++report_.found_deleted;
            recreate = true;  // the user chooses "recreate with my edit"
          }
          break;
        }
        if (IsTransient(code) || code == grpc::StatusCode::INTERNAL ||
            code == grpc::StatusCode::UNKNOWN) {
          if (!IsTransient(code)) {
            mutation.odd_answers.push_back(
                absl::StrCat(CodeName(code), " '", status.error_message(), "'"));
          }
          ++report_.retried[CodeName(code)];
          const absl::Duration wait =
              backoff * (0.5 + static_cast<double>(jitter() >> 11) * 0x1.0p-53);
          backoff = std::min(backoff * 2, absl::Milliseconds(500));
          if (!Sleep(wait, stop)) {
            report_.sent.push_back(std::move(mutation));
            return;
          }
          resent = true;
          continue;  // the same request again
        }
        mutation.outcome = SentMutation::Outcome::kRejected;
        mutation.rejection = absl::StrCat(CodeName(code), " '", status.error_message(), "'");
        done = true;  // given up: the checks report it
        break;
      }
      report_.sent.push_back(std::move(mutation));
    }
  }
  report_.drained = true;
}

}  // namespace profiles::testing
