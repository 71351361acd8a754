#include "apps/qml-client/sync/sync_engine.h"

#include <QtDebug>
#include <algorithm>
#include <random>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::client {
namespace {

using profile::client::v1::PendingMutation;
using profile::v1::Profile;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

void Log(QtMsgType type, const std::string& message) {
  const QString text = QStringLiteral("profiles sync: ") + QString::fromStdString(message);
  if (type == QtWarningMsg) {
    qWarning().noquote() << text;
  } else {
    qInfo().noquote() << text;
  }
}

Backoff::RandomSource RandomOrDevice(Backoff::RandomSource random) {
  if (random) return random;
  return [engine = std::make_shared<std::mt19937_64>(std::random_device{}())] {
    return std::uniform_real_distribution<double>(0.0, 1.0)(*engine);
  };
}

}  // namespace

SyncEngine::SyncEngine(Options options, std::unique_ptr<LocalStore> store,
                       ProfileTransport* transport, Host* host)
    : options_(std::move(options)),
      transport_(transport),
      host_(host),
      store_(std::move(store)),
      queue_(std::make_unique<MutationQueue>(store_.get())),
      backoff_(options_.backoff, RandomOrDevice(options_.random)),
      work_offline_(options_.work_offline),
      network_reachable_(options_.network_reachable) {}

void SyncEngine::Start() { RunPass(); }

void SyncEngine::Stop() {
  stopping_ = true;
  Abandon();
  RecordAnswers();
}

ConnectionState SyncEngine::connection() const {
  if (signed_out_ && !work_offline_) return ConnectionState::kSignedOut;
  if (!CanTry()) return ConnectionState::kOffline;
  if (phase_ == Phase::kSending || phase_ == Phase::kPulling) return ConnectionState::kSyncing;
  return server_ok_ ? ConnectionState::kOnline : ConnectionState::kOffline;
}

std::string SyncEngine::Create(const Profile& fields, const google::protobuf::FieldMask& mask) {
  absl::StatusOr<PendingMutation> mutation = queue_->EnqueueCreate(fields, mask);
  if (!mutation.ok()) {
    host_->ReportLocalError(mutation.status());
    return "";
  }
  Changed();
  return mutation->profile_id();
}

void SyncEngine::Edit(const std::string& id, const Profile& fields,
                      const google::protobuf::FieldMask& mask, const std::optional<Base>& base) {
  absl::StatusOr<PendingMutation> mutation;
  if (base) {
    mutation = queue_->EnqueueEdit(id, base->version, base->fields, fields, mask);
  } else {
    const std::optional<Profile> seen = queue_->EffectiveProfile(id);
    mutation = queue_->EnqueueEdit(id, seen ? seen->version() : 0, fields, mask);
  }
  if (!mutation.ok()) return host_->ReportLocalError(mutation.status());
  Changed();
}

void SyncEngine::Delete(const std::string& id) {
  if (absl::Status status = queue_->EnqueueDelete(id); !status.ok()) {
    return host_->ReportLocalError(status);
  }
  Changed();
}

void SyncEngine::RetryParked(const std::string& id) {
  ForEachParked(id, &MutationQueue::RetryParked);
}

void SyncEngine::DismissRejected(const std::string& id) {
  ForEachParked(id, &MutationQueue::DismissRejected);
}

void SyncEngine::ForEachParked(const std::string& id,
                               absl::Status (MutationQueue::*action)(const std::string&)) {
  for (const PendingMutation& mutation : queue_->MutationsOf(id)) {
    if (mutation.state() != PendingMutation::STATE_PARKED) continue;
    if (absl::Status status = (queue_.get()->*action)(mutation.mutation_id()); !status.ok()) {
      return host_->ReportLocalError(status);
    }
  }
  Changed();
}

void SyncEngine::DismissMergeNote(const std::string& id) {
  if (absl::Status status = queue_->DismissMergeNote(id); !status.ok()) {
    return host_->ReportLocalError(status);
  }
  host_->Publish(PublishWhen::kNow);
}

void SyncEngine::ResolveKeepServer(const std::string& id) {
  if (absl::Status status = queue_->ResolveKeepServer(id); !status.ok()) {
    return host_->ReportLocalError(status);
  }
  Changed();
}

void SyncEngine::ResolveApplyMine(const std::string& id) {
  if (absl::StatusOr<PendingMutation> mutation = queue_->ResolveApplyMine(id); !mutation.ok()) {
    return host_->ReportLocalError(mutation.status());
  }
  Changed();
}

void SyncEngine::SetWorkOffline(bool offline) {
  if (offline == work_offline_) return;
  work_offline_ = offline;
  ReachabilityChanged();
}

void SyncEngine::SetNetworkReachable(bool reachable) {
  if (reachable == network_reachable_) return;
  network_reachable_ = reachable;
  ReachabilityChanged();
}

void SyncEngine::SetServerAddress(const std::string& address) {
  if (address == transport_->address()) return;
  Abandon();
  transport_->SetAddress(address);
  backoff_.Reset();
  RunPass();
}

void SyncEngine::SetToken(const std::string& token) {
  Abandon();
  transport_->SetToken(token);
  signed_out_ = false;
  backoff_.Reset();
  RunPass();
}

void SyncEngine::SetTls(bool tls, const std::string& ca_pem) {
  Abandon();
  transport_->SetTls(tls, ca_pem);
  backoff_.Reset();
  RunPass();
}

void SyncEngine::Refresh() {
  retry_pending_ = false;
  host_->StopTimer(Timer::kRetry);
  RunPass();
}

void SyncEngine::OnTimer(Timer timer) {
  switch (timer) {
    case Timer::kRetry:
      retry_pending_ = false;
      break;
    case Timer::kPoll:
      poll_pending_ = false;
      break;
  }
  RunPass();
}

// A local edit or resolution was stored: show it, then send it.
void SyncEngine::Changed() {
  host_->Publish(PublishWhen::kNow);
  RunPass();
}

void SyncEngine::ReachabilityChanged() {
  if (CanTry()) {
    backoff_.Reset();
    retry_pending_ = false;
    host_->StopTimer(Timer::kRetry);
    RunPass();
  } else {
    // Stop every network activity now, not at the next deadline.
    Abandon();
  }
  host_->Publish(PublishWhen::kNow);
}

// Abandons every call in progress: their answers never come, so the
// mutations in flight go back to the queue (sent again later, same ids).
void SyncEngine::Abandon() {
  transport_->Reset();
  watching_ = false;
  for (const std::string& mutation_id : in_flight_) {
    if (absl::Status status = queue_->SendFailed(mutation_id); !status.ok()) {
      Log(QtWarningMsg, status.ToString());
    }
  }
  in_flight_.clear();
  server_ok_ = false;
  phase_ = Phase::kIdle;
  retry_pending_ = false;
  poll_pending_ = false;
  host_->StopTimer(Timer::kRetry);
  host_->StopTimer(Timer::kPoll);
}

// Starts a pass unless one is running (it then runs again when this one
// ends) or a retry is scheduled.
void SyncEngine::RunPass() {
  if (stopping_) return;
  if (phase_ != Phase::kIdle) {
    pass_wanted_ = true;
    return;
  }
  pass_wanted_ = false;
  if (!CanTry() || retry_pending_) return;
  if (!server_ok_) return CheckHealth();
  Step();
}

void SyncEngine::CheckHealth() {
  phase_ = Phase::kChecking;
  transport_->CheckHealth(
      [this](const absl::StatusOr<std::string>& database_id) { OnHealth(database_id); });
}

void SyncEngine::OnHealth(const absl::StatusOr<std::string>& database_id) {
  phase_ = Phase::kIdle;
  if (!database_id.ok()) return OnFailure(database_id.status());
  if (absl::Status status = UseDatabase(*database_id); !status.ok()) {
    host_->ReportLocalError(status);
    return OnFailure(status);
  }
  server_ok_ = true;
  Step();
}

// The server at the current address keeps its profiles in `database_id`:
// sync that database's store. A store that has never met a server is bound
// to it; a store of another database is closed (its pending edits wait in it
// for their own server) and this database's store is opened, or created.
absl::Status SyncEngine::UseDatabase(const std::string& database_id) {
  if (queue_->database_id().empty()) {
    if (absl::Status bound = queue_->BindToServer(database_id); !bound.ok()) return bound;
  } else if (queue_->database_id() != database_id) {
    if (absl::Status switched = SwitchStore(database_id); !switched.ok()) return switched;
  }
  host_->RememberServer(transport_->address(), database_id);
  return absl::OkStatus();
}

absl::Status SyncEngine::SwitchStore(const std::string& database_id) {
  Log(QtInfoMsg,
      absl::StrCat("the server at ", transport_->address(), " keeps database ", database_id,
                   "; this store belongs to ", queue_->database_id(), "; switching stores"));
  absl::StatusOr<std::unique_ptr<LocalStore>> store =
      host_->OpenStoreOf(database_id, store_->directory());
  if (!store.ok()) return store.status();
  const std::string bound = (*store)->state().database_id;
  if (!bound.empty() && bound != database_id) {
    return absl::InternalError("the store in " + (*store)->directory().toStdString() +
                               " belongs to database " + bound);
  }
  Abandon();
  avatars_wanted_.clear();
  unlisted_.clear();
  queue_ = std::make_unique<MutationQueue>(store->get());
  store_ = *std::move(store);
  ++store_epoch_;
  if (bound.empty()) {
    if (absl::Status status = queue_->BindToServer(database_id); !status.ok()) return status;
  }
  host_->Publish(PublishWhen::kNow);
  return absl::OkStatus();
}

// Keeps the pipeline of mutations full; once nothing is left to send and
// nothing is in flight, fetches missing pictures, then pulls.
void SyncEngine::Step() {
  if (stopping_ || !CanTry()) return;
  bool sent = false;
  while (static_cast<int>(in_flight_.size()) < options_.max_sends_in_flight && !retry_pending_) {
    std::optional<PendingMutation> mutation = queue_->NextToSend();
    if (!mutation) break;
    in_flight_.insert(mutation->mutation_id());
    sent = true;
    auto on_sent = [this, mutation_id = mutation->mutation_id()](SendOutcome outcome) {
      OnSent(mutation_id, std::move(outcome));
    };
    if (mutation->deletes()) {
      transport_->SendDelete(MutationQueue::ToDeleteRequest(*mutation), std::move(on_sent));
      continue;
    }
    absl::StatusOr<profile::v1::UpdateProfileRequest> request = queue_->ToRequest(*mutation);
    if (!request.ok()) {
      // Its picture can no longer be read here: parked, the reason shown at
      // the picture, for the user to pick it again or discard the edit.
      const std::string reason(request.status().message());
      on_sent(Rejected{.message = reason,
                       .field_errors = {{"avatar", reason}},
                       .code = request.status().code()});
      continue;
    }
    transport_->Send(*std::move(request), std::move(on_sent));
  }
  if (!in_flight_.empty()) {
    phase_ = Phase::kSending;
    if (sent) host_->Publish(PublishWhen::kSoon);
    return;
  }
  if (retry_pending_) return;
  if (!unlisted_.empty()) {
    const std::string id = *unlisted_.begin();
    unlisted_.erase(unlisted_.begin());
    phase_ = Phase::kSending;
    transport_->Fetch(
        id, [this, id](const absl::StatusOr<Profile>& profile) { OnChecked(id, profile); });
    return;
  }
  if (!avatars_wanted_.empty()) {
    const std::string id = *avatars_wanted_.begin();
    avatars_wanted_.erase(avatars_wanted_.begin());
    phase_ = Phase::kSending;
    transport_->Fetch(
        id, [this, id](const absl::StatusOr<Profile>& profile) { OnFetched(id, profile); });
    return;
  }
  phase_ = Phase::kPulling;
  listed_.clear();
  full_listing_ = false;
  if (queue_->cursor().empty()) {
    for (const auto& [id, cached] : store_->state().profiles) {
      if (!cached->deleted()) {
        full_listing_ = true;
        break;
      }
    }
  }
  host_->Publish(PublishWhen::kNow);
  transport_->Pull(
      queue_->cursor(), [this](profile::v1::ListProfilesResponse page) { OnPage(std::move(page)); },
      [this](const absl::Status& status) { OnPulled(status); });
}

// An answer is recorded together with the others that arrived with it: one
// durable write for all of them rather than one fsync each, which was half
// of a drain's time.
void SyncEngine::OnSent(const std::string& mutation_id, SendOutcome outcome) {
  in_flight_.erase(mutation_id);
  if (answers_.empty()) host_->Defer([this] { RecordAnswers(); });
  answers_.emplace_back(mutation_id, std::move(outcome));
}

void SyncEngine::RecordAnswers() {
  if (answers_.empty()) return;
  std::vector<std::pair<std::string, SendOutcome>> answers;
  answers.swap(answers_);
  absl::Status failure;
  std::vector<std::pair<std::string, Profile>> acks;
  for (auto& answer : answers) {
    // Named, not a structured binding: the lambdas below capture it.
    const std::string& mutation_id = answer.first;
    SendOutcome& outcome = answer.second;
    if (!queue_->IsQueued(mutation_id)) {
      // Settled while in flight, by a tombstone from the watch or a pull
      // (MutationQueue::ApplyServerProfiles): the answer changes nothing,
      // but a failure of the connection still counts.
      queue_->AnswerIgnored(mutation_id);
      if (auto* failed = std::get_if<Failed>(&outcome)) failure = failed->status;
      continue;
    }
    if (auto* ack = std::get_if<Acknowledged>(&outcome)) {
      acks.emplace_back(mutation_id, std::move(ack->profile));
      continue;
    }
    const absl::Status recorded = std::visit(
        Overloaded{
            [&](const Acknowledged&) { return absl::OkStatus(); },
            [&](const Rejected& rejected) {
              // Not an answer about this edit but about who sent it: it
              // stays queued, like every other, for a new token.
              if (rejected.code == absl::StatusCode::kUnauthenticated) {
                failure = absl::UnauthenticatedError(rejected.message);
                return queue_->SendFailed(mutation_id);
              }
              if (rejected.code != absl::StatusCode::kInvalidArgument) {
                Log(QtWarningMsg,
                    absl::StrCat("mutation ", mutation_id, " parked after an unexpected answer: ",
                                 absl::StatusCodeToString(rejected.code), " ", rejected.message));
              }
              return queue_->Reject(mutation_id, rejected.message, rejected.field_errors,
                                    rejected.code);
            },
            [&](const Conflicted& conflict) {
              const absl::StatusOr<MutationQueue::Merged> merged =
                  queue_->Conflict(mutation_id, conflict.server_profile);
              WantAvatarIfMissing(conflict.server_profile.id());
              return merged.status();
            },
            [&](const Failed& failed) {
              failure = failed.status;
              return queue_->SendFailed(mutation_id);
            },
            [&](const Deleted& deleted) {
              return queue_->Gone(mutation_id, deleted.tombstone, deleted.message);
            },
        },
        outcome);
    if (!recorded.ok()) host_->ReportLocalError(recorded);
  }
  if (!acks.empty()) {
    if (absl::Status recorded = queue_->AcknowledgeAll(acks); !recorded.ok()) {
      host_->ReportLocalError(recorded);
    }
  }
  if (stopping_) return;
  if (!failure.ok()) OnFailure(failure);
  if (!in_flight_.empty()) {
    // Top the pipeline up, unless the connection failed.
    if (failure.ok()) Step();
    host_->Publish(PublishWhen::kSoon);
    return;
  }
  if (phase_ != Phase::kSending) return;
  phase_ = Phase::kIdle;
  host_->Publish(PublishWhen::kSoon);
  RunPass();
}

// A fetched whole profile (GetProfile) for a picture we lacked.
void SyncEngine::OnFetched(const std::string& id, const absl::StatusOr<Profile>& profile) {
  phase_ = Phase::kIdle;
  if (!profile.ok()) {
    if (IsTransportFailure(profile.status().code())) {
      avatars_wanted_.insert(id);
      return OnFailure(profile.status());
    }
    // An answer (e.g. NOT_FOUND): nothing to fetch; the next change of the
    // profile brings its picture or its removal.
    Log(QtWarningMsg, absl::StrCat("cannot fetch profile ", id, ": ", profile.status().ToString()));
  } else if (absl::Status status = queue_->ApplyServerProfiles({*profile}, ""); !status.ok()) {
    host_->ReportLocalError(status);
  }
  host_->Publish(PublishWhen::kSoon);
  Step();
}

void SyncEngine::OnChecked(const std::string& id, const absl::StatusOr<Profile>& profile) {
  phase_ = Phase::kIdle;
  absl::Status recorded;
  if (profile.ok()) {
    recorded = queue_->ApplyServerProfiles({*profile}, "");
  } else if (absl::IsNotFound(profile.status())) {
    std::optional<Profile> tombstone = ConflictingProfile(profile.status());
    if (tombstone && !tombstone->deleted()) tombstone.reset();
    recorded = queue_->ConfirmDeleted(id, tombstone);
  } else if (IsTransportFailure(profile.status().code()) ||
             absl::IsUnauthenticated(profile.status())) {
    unlisted_.insert(id);
    return OnFailure(profile.status());
  } else {
    // Kept as it is: removing a profile needs the server's word.
    Log(QtWarningMsg, absl::StrCat("cannot check profile ", id, ": ", profile.status().ToString()));
  }
  if (!recorded.ok()) host_->ReportLocalError(recorded);
  host_->Publish(PublishWhen::kSoon);
  Step();
}

// Queues a GetProfile when the cached copy of `id` names a picture
// (avatar_sha256) whose bytes the store does not hold: conflict details, and
// listings or events that leave avatars out, carry only the sha.
void SyncEngine::WantAvatarIfMissing(const std::string& id) {
  const auto& cached = store_->state().profiles;
  const auto it = cached.find(id);
  if (it != cached.end() && !store_->state().HasPicture(it->second->avatar_sha256())) {
    avatars_wanted_.insert(id);
  }
}

void SyncEngine::OnPage(profile::v1::ListProfilesResponse page) {
  // Moved out of the page, not copied: a page holds up to 3 MiB of pictures.
  std::vector<Profile> profiles;
  profiles.reserve(page.profiles_size());
  for (Profile& profile : *page.mutable_profiles()) profiles.push_back(std::move(profile));
  std::vector<std::string> ids;
  ids.reserve(profiles.size());
  for (const Profile& profile : profiles) ids.push_back(profile.id());
  const bool last_page = page.next_page_token().empty();
  std::string cursor = page.cursor();
  if (full_listing_) {
    listed_.insert(ids.begin(), ids.end());
    if (!last_page) cursor.clear();
  }
  if (absl::Status status = queue_->ApplyServerProfiles(std::move(profiles), cursor);
      !status.ok()) {
    host_->ReportLocalError(status);
  }
  if (full_listing_ && last_page) {
    for (const auto& [id, cached] : store_->state().profiles) {
      if (!cached->deleted() && listed_.count(id) == 0) unlisted_.insert(id);
    }
  }
  for (const std::string& id : ids) WantAvatarIfMissing(id);
  host_->Publish(PublishWhen::kSoon);
}

void SyncEngine::OnPulled(const absl::Status& status) {
  phase_ = Phase::kIdle;
  full_listing_ = false;
  listed_.clear();
  if (IsCursorRefused(status)) return ForgetCursor(status);
  if (!status.ok()) return OnFailure(status);
  backoff_.Reset();
  last_error_.clear();
  EnsureWatch();
  host_->Publish(PublishWhen::kNow);
  if (pass_wanted_ || !avatars_wanted_.empty() || !unlisted_.empty()) RunPass();
}

// The server cannot continue from our cursor (another database's, one from
// a history the database lost in a restore, or one older than the tombstone
// retention window): list everything again. Pending edits stay; the listing
// brings the server's copies, and cached profiles it leaves out were deleted
// (see full_listing_).
void SyncEngine::ForgetCursor(const absl::Status& refusal) {
  Log(QtInfoMsg, "the server refused the cursor, listing again: " + refusal.ToString());
  StopWatch();
  if (absl::Status reset = queue_->ResetCursor(); !reset.ok()) {
    host_->ReportLocalError(reset);
    return OnFailure(reset);
  }
  RunPass();
}

// A call failed: retry after a backoff delay. The calls still in progress
// are left to finish (their answers are recorded as they come); abandoning
// them here shut the gRPC client down at every failure, under sends still
// completing, and crashed the server-killed-while-draining test 2 times in 12.
void SyncEngine::OnFailure(const absl::Status& status) {
  if (stopping_) return;
  server_ok_ = false;
  last_error_ = std::string(status.message());
  if (absl::IsUnauthenticated(status)) {
    // Retrying with the same token cannot help: wait for SetToken().
    Log(QtWarningMsg, "the server refused the token: " + status.ToString());
    signed_out_ = true;
    last_error_ = absl::StrCat("The server did not accept the sign-in token (", status.message(),
                               "). Paste a new token in Settings.");
    retry_pending_ = false;
    host_->StopTimer(Timer::kRetry);
    StopWatch();
    host_->Publish(PublishWhen::kNow);
    return;
  }
  // A rate limit says when to come back: never sooner, even if a shorter
  // retry is already pending.
  const std::optional<absl::Duration> asked = RetryDelayOf(status);
  if (!retry_pending_ || asked.has_value()) StartRetryTimer(asked);
  host_->Publish(PublishWhen::kNow);
}

void SyncEngine::StartRetryTimer(std::optional<absl::Duration> at_least) {
  retry_pending_ = true;
  std::chrono::milliseconds delay = backoff_.NextDelay();
  if (at_least.has_value()) {
    delay = std::max(delay, std::chrono::milliseconds(absl::ToInt64Milliseconds(
                                absl::Ceil(*at_least, absl::Milliseconds(1)))));
  }
  host_->StartTimer(Timer::kRetry, delay);
}

void SyncEngine::EnsureWatch() {
  if (stopping_ || watching_) return;
  poll_pending_ = false;
  host_->StopTimer(Timer::kPoll);
  watching_ = true;
  transport_->Watch(
      queue_->cursor(),
      [this](std::vector<profile::v1::ProfileEvent> events) { OnEvents(std::move(events)); },
      [this](const absl::Status& status) { OnWatchEnded(status); });
}

void SyncEngine::OnEvents(std::vector<profile::v1::ProfileEvent> events) {
  if (events.empty()) return;
  std::vector<Profile> profiles;
  std::vector<std::string> ids;
  profiles.reserve(events.size());
  ids.reserve(events.size());
  for (profile::v1::ProfileEvent& event : events) {
    ids.push_back(event.profile().id());
    profiles.push_back(std::move(*event.mutable_profile()));
  }
  if (absl::Status status =
          queue_->ApplyServerProfiles(std::move(profiles), events.back().cursor());
      !status.ok()) {
    host_->ReportLocalError(status);
  }
  const size_t wanted_before = avatars_wanted_.size();
  for (const std::string& id : ids) WantAvatarIfMissing(id);
  host_->Publish(PublishWhen::kSoon);
  if (avatars_wanted_.size() != wanted_before) RunPass();
}

void SyncEngine::OnWatchEnded(const absl::Status& status) {
  watching_ = false;
  if (stopping_ || !CanTry()) return;
  if (absl::IsUnauthenticated(status)) return OnFailure(status);
  // The next pass's pull meets the same refusal and lists again.
  if (IsCursorRefused(status)) return RunPass();
  // Poll until a pass can open the stream again.
  Log(QtInfoMsg, "watch ended: " + status.ToString());
  poll_pending_ = true;
  host_->StartTimer(Timer::kPoll, options_.poll_interval);
}

void SyncEngine::StopWatch() {
  poll_pending_ = false;
  host_->StopTimer(Timer::kPoll);
  if (!watching_) return;
  watching_ = false;
  transport_->StopWatch();
}

}  // namespace profiles::client
