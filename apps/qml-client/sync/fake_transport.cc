#include "apps/qml-client/sync/fake_transport.h"

#include <utility>

#include "apps/qml-client/core/merge.h"
#include "libs/profile_contract/profile_fields.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::client::testing {
namespace {

using profile::v1::ListProfilesResponse;
using profile::v1::Profile;
using profile::v1::ProfileEvent;

int64_t SeqOf(const std::string& cursor) { return cursor.empty() ? 0 : std::stoll(cursor); }

// An empty update mask means every writable field.
google::protobuf::FieldMask AllFields() {
  google::protobuf::FieldMask mask;
  for (const ProfileField& field : WritableFields()) mask.add_paths(std::string(field.path()));
  return mask;
}

Profile WithoutAvatarBytes(Profile profile) {
  profile.clear_avatar();
  return profile;
}

}  // namespace

void Simulation::Post(std::function<void()> task) { ready_.push_back(std::move(task)); }

uint64_t Simulation::PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  const uint64_t token = next_token_++;
  timers_.emplace(std::pair{now_ + delay, token}, std::move(task));
  return token;
}

void Simulation::Cancel(uint64_t token) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->first.second == token) {
      timers_.erase(it);
      return;
    }
  }
}

bool Simulation::RunOne() {
  if (!ready_.empty()) {
    const size_t i = Below(ready_.size());
    std::function<void()> task = std::move(ready_[i]);
    ready_[i] = std::move(ready_.back());
    ready_.pop_back();
    task();
    return true;
  }
  if (timers_.empty()) return false;
  auto first = timers_.begin();
  now_ = std::max(now_, first->first.first);
  std::function<void()> task = std::move(first->second);
  timers_.erase(first);
  task();
  return true;
}

void Simulation::RunReady() {
  while (has_ready()) RunOne();
}

bool Simulation::Chance(double p) {
  return p > 0 && std::uniform_real_distribution<double>(0.0, 1.0)(random_) < p;
}

size_t Simulation::Below(size_t n) {
  return std::uniform_int_distribution<size_t>(0, n - 1)(random_);
}

SendOutcome FakeProfileServer::Update(const profile::v1::UpdateProfileRequest& request) {
  if (auto replied = replies_.find(request.mutation_id()); replied != replies_.end()) {
    return Acknowledged{replied->second};
  }
  const std::string& id = request.profile().id();
  auto current = profiles_.find(id);
  const bool deleted = current != profiles_.end() && current->second.deleted();
  if (request.expected_version() == 0 && current != profiles_.end() && !deleted) {
    return Conflicted{WithoutAvatarBytes(current->second)};
  }
  if (request.expected_version() != 0) {
    if (current == profiles_.end()) return Deleted{std::nullopt, "profile " + id + " not found"};
    if (deleted) return Deleted{current->second, "profile " + id + " was deleted"};
    if (current->second.version() != request.expected_version()) {
      return Conflicted{WithoutAvatarBytes(current->second)};
    }
  }
  // A recreated profile starts empty, its version after the tombstone's.
  Profile written = Profile();
  if (current != profiles_.end()) {
    written = deleted ? Profile() : current->second;
    written.set_version(current->second.version());
  }
  written.set_id(id);
  Write write{
      .profile_id = id, .mutation_id = request.mutation_id(), .fields = {}, .recreates = deleted};
  const google::protobuf::FieldMask mask =
      request.update_mask().paths().empty() ? AllFields() : request.update_mask();
  CopyMaskedFields(request.profile(), mask, &written);
  written.set_avatar_sha256(AvatarSha256(written.avatar()));
  for (const ProfileField& field : WritableFields()) {
    if (field.InMask(mask)) write.fields[std::string(field.path())] = field.Identity(written);
  }
  written.set_version(written.version() + 1);
  ++applications_[request.mutation_id()];
  replies_[request.mutation_id()] = written;
  Commit(written, std::move(write));
  return Acknowledged{written};
}

Profile FakeProfileServer::WriteElsewhere(const std::string& id, const std::string& field,
                                          const std::string& value) {
  Profile written = profiles_.at(id);
  const ProfileField* written_field = FindWritableField(field);
  written_field->Set(&written, value);
  written.set_avatar_sha256(AvatarSha256(written.avatar()));
  Write write{.profile_id = id,
              .mutation_id = "",
              .fields = {{field, std::string(written_field->Identity(written))}}};
  written.set_version(written.version() + 1);
  Commit(written, std::move(write));
  return written;
}

SendOutcome FakeProfileServer::Delete(const profile::v1::DeleteProfileRequest& request) {
  if (auto replied = replies_.find(request.mutation_id()); replied != replies_.end()) {
    return Acknowledged{replied->second};
  }
  const std::string& id = request.id();
  auto current = profiles_.find(id);
  if (current == profiles_.end()) return Deleted{std::nullopt, "profile " + id + " not found"};
  if (current->second.deleted()) return Deleted{current->second, "profile " + id + " was deleted"};
  if (request.expected_version() < 1) {
    return Rejected{"expected_version is required", {}, absl::StatusCode::kInvalidArgument};
  }
  if (current->second.version() != request.expected_version()) {
    return Conflicted{WithoutAvatarBytes(current->second)};
  }
  Profile tombstone;
  tombstone.set_id(id);
  tombstone.set_version(current->second.version() + 1);
  tombstone.set_deleted(true);
  ++applications_[request.mutation_id()];
  replies_[request.mutation_id()] = tombstone;
  Commit(
      tombstone,
      Write{.profile_id = id, .mutation_id = request.mutation_id(), .fields = {}, .deletes = true});
  return Acknowledged{tombstone};
}

Profile FakeProfileServer::DeleteElsewhere(const std::string& id) {
  Profile tombstone;
  tombstone.set_id(id);
  tombstone.set_version(profiles_.at(id).version() + 1);
  tombstone.set_deleted(true);
  Commit(tombstone, Write{.profile_id = id, .mutation_id = "", .fields = {}, .deletes = true});
  return tombstone;
}

void FakeProfileServer::PurgeTombstones() {
  for (auto it = profiles_.begin(); it != profiles_.end();) {
    if (!it->second.deleted()) {
      ++it;
      continue;
    }
    changes_.erase(last_change_.at(it->first));
    last_change_.erase(it->first);
    it = profiles_.erase(it);
  }
  expired_through_ = next_seq_ - 1;
  // A position of its own, so that a listing after the purge ends with a
  // cursor no earlier one had (see List).
  ++next_seq_;
}

absl::Status FakeProfileServer::CheckCursor(const std::string& cursor) const {
  if (cursor.empty() || SeqOf(cursor) > expired_through_) return absl::OkStatus();
  return CursorExpired("since_cursor", "the cursor is older than the tombstone retention window");
}

ProfileEvent FakeProfileServer::Commit(Profile profile, Write write) {
  const int64_t seq = next_seq_++;
  const std::string id = profile.id();
  if (auto last = last_change_.find(id); last != last_change_.end()) changes_.erase(last->second);
  changes_[seq] = id;
  last_change_[id] = seq;
  profiles_[id] = profile;
  history_.push_back(std::move(write));
  ProfileEvent event;
  *event.mutable_profile() = WithoutAvatarBytes(std::move(profile));
  event.set_cursor(std::to_string(seq));
  for (const auto& listener : listeners_) listener(event);
  return event;
}

absl::StatusOr<Profile> FakeProfileServer::Get(const std::string& id) const {
  auto it = profiles_.find(id);
  if (it == profiles_.end() || it->second.deleted()) {
    return absl::NotFoundError("profile " + id + " not found");
  }
  return it->second;
}

ListProfilesResponse FakeProfileServer::List(const std::string& cursor, int page_size) const {
  ListProfilesResponse page;
  page.set_cursor(cursor);
  for (auto it = changes_.upper_bound(SeqOf(cursor)); it != changes_.end(); ++it) {
    if (page.profiles_size() == page_size) {
      page.set_next_page_token(page.cursor());
      break;
    }
    page.set_cursor(std::to_string(it->first));
    // A listing from an empty cursor has no tombstones (as the service's
    // first page); its later pages, from a cursor, do.
    if (cursor.empty() && profiles_.at(it->second).deleted()) continue;
    *page.add_profiles() = profiles_.at(it->second);
  }
  // The last page of a listing after a purge ends past it, as the service's
  // cursors are of its position now, not of the last change listed.
  if (page.next_page_token().empty() && expired_through_ > 0 &&
      SeqOf(page.cursor()) <= expired_through_) {
    page.set_cursor(std::to_string(expired_through_ + 1));
  }
  return page;
}

std::vector<ProfileEvent> FakeProfileServer::ChangesSince(const std::string& cursor) const {
  std::vector<ProfileEvent> events;
  for (auto it = changes_.upper_bound(SeqOf(cursor)); it != changes_.end(); ++it) {
    if (cursor.empty() && profiles_.at(it->second).deleted()) continue;
    ProfileEvent& event = events.emplace_back();
    *event.mutable_profile() = WithoutAvatarBytes(profiles_.at(it->second));
    event.set_cursor(std::to_string(it->first));
  }
  return events;
}

FakeTransport::FakeTransport(Simulation* sim, FakeProfileServer* server, Faults faults)
    : sim_(sim), server_(server), faults_(faults) {
  server_->Subscribe([this](const ProfileEvent& event) {
    if (!watch_) return;
    watch_->queued.push_back(event);
    DeliverWatch(watch_->id);
  });
}

void FakeTransport::Answer(std::function<void()> answer) {
  sim_->Post([this, generation = generation_, answer = std::move(answer)] {
    if (generation == generation_) answer();
  });
}

void FakeTransport::CheckHealth(std::function<void(absl::StatusOr<std::string>)> done) {
  const bool fails = !reachable_ || sim_->Chance(faults_.fail_health);
  Answer([this, fails, done = std::move(done)] {
    if (fails) return done(absl::UnavailableError("connection refused"));
    if (Refused()) return done(absl::UnauthenticatedError("bearer token refused: expired"));
    done(server_->database_id());
  });
}

void FakeTransport::Send(profile::v1::UpdateProfileRequest request,
                         std::function<void(SendOutcome)> done) {
  Deliver([this, request = std::move(request)] { return server_->Update(request); },
          std::move(done));
}

void FakeTransport::SendDelete(profile::v1::DeleteProfileRequest request,
                               std::function<void(SendOutcome)> done) {
  Deliver([this, request = std::move(request)] { return server_->Delete(request); },
          std::move(done));
}

void FakeTransport::Deliver(std::function<SendOutcome()> apply,
                            std::function<void(SendOutcome)> done) {
  ++sends;
  max_sends_in_flight = std::max(max_sends_in_flight, ++in_flight_);
  const bool dropped = !reachable_ || sim_->Chance(faults_.drop_request);
  const bool lost = sim_->Chance(faults_.lose_answer);
  const bool twice = sim_->Chance(faults_.duplicate);
  // The request travels on its own: it reaches the server even if the
  // caller gives up on it (Reset) meanwhile, and its answer travels back.
  sim_->Post([this, apply = std::move(apply), done = std::move(done), dropped, lost, twice,
              generation = generation_]() mutable {
    SendOutcome outcome = Failed{absl::UnavailableError("connection reset")};
    if (!dropped && sim_->now() < limited_until_) {
      outcome = Failed{
          RateLimited("too many write calls", absl::FromChrono(limited_until_ - sim_->now()))};
    } else if (!dropped && Refused()) {
      outcome = Rejected{.message = "bearer token refused: expired",
                         .field_errors = {},
                         .code = absl::StatusCode::kUnauthenticated};
    } else if (!dropped) {
      outcome = apply();
      if (twice) sim_->Post([apply] { apply(); });
      if (lost) outcome = Failed{absl::DeadlineExceededError("no answer in time")};
    }
    if (generation != generation_) return;
    Answer([this, done = std::move(done), outcome = std::move(outcome)]() mutable {
      --in_flight_;
      done(std::move(outcome));
    });
  });
}

void FakeTransport::Fetch(std::string id, std::function<void(absl::StatusOr<Profile>)> done) {
  const bool fails = !reachable_ || sim_->Chance(faults_.fail_page);
  Answer([this, fails, id = std::move(id), done = std::move(done)] {
    if (fails) return done(absl::UnavailableError("connection reset"));
    if (Refused()) return done(absl::UnauthenticatedError("bearer token refused: expired"));
    done(server_->Get(id));
  });
}

void FakeTransport::Pull(std::string cursor, std::function<void(ListProfilesResponse)> on_page,
                         std::function<void(absl::Status)> done) {
  PullPage(cursor, std::make_shared<std::function<void(ListProfilesResponse)>>(std::move(on_page)),
           std::make_shared<std::function<void(absl::Status)>>(std::move(done)));
}

void FakeTransport::PullPage(
    const std::string& cursor,
    const std::shared_ptr<std::function<void(ListProfilesResponse)>>& on_page,
    const std::shared_ptr<std::function<void(absl::Status)>>& done) {
  Answer([this, cursor, on_page, done] {
    if (!reachable_ || sim_->Chance(faults_.fail_page)) {
      return (*done)(absl::UnavailableError("connection reset"));
    }
    if (Refused()) return (*done)(absl::UnauthenticatedError("bearer token refused: expired"));
    if (absl::Status refused = server_->CheckCursor(cursor); !refused.ok()) {
      return (*done)(refused);
    }
    ListProfilesResponse page = server_->List(cursor, page_size);
    const std::string next = page.next_page_token();
    (*on_page)(std::move(page));
    if (next.empty()) return Answer([done] { (*done)(absl::OkStatus()); });
    PullPage(next, on_page, done);
  });
}

void FakeTransport::Watch(std::string cursor,
                          std::function<void(std::vector<ProfileEvent>)> on_events,
                          std::function<void(absl::Status)> ended) {
  StopWatch();
  watch_ = std::make_unique<WatchState>();
  watch_->id = next_watch_++;
  watch_->on_events = std::move(on_events);
  watch_->ended = std::move(ended);
  if (!reachable_) return EndWatch(absl::UnavailableError("connection refused"));
  if (Refused()) return EndWatch(absl::UnauthenticatedError("bearer token refused: expired"));
  if (absl::Status refused = server_->CheckCursor(cursor); !refused.ok()) {
    return EndWatch(refused);
  }
  for (ProfileEvent& event : server_->ChangesSince(cursor)) {
    watch_->queued.push_back(std::move(event));
  }
  DeliverWatch(watch_->id);
}

void FakeTransport::DeliverWatch(uint64_t watch_id) {
  if (!watch_ || watch_->id != watch_id || watch_->delivery_posted || watch_->queued.empty()) {
    return;
  }
  watch_->delivery_posted = true;
  Answer([this, watch_id] {
    if (!watch_ || watch_->id != watch_id) return;
    watch_->delivery_posted = false;
    std::vector<ProfileEvent> events(std::make_move_iterator(watch_->queued.begin()),
                                     std::make_move_iterator(watch_->queued.end()));
    watch_->queued.clear();
    const bool ends = !reachable_ || sim_->Chance(faults_.end_watch);
    // The engine may stop or replace the watch from inside on_events.
    auto on_events = watch_->on_events;
    on_events(std::move(events));
    if (ends && watch_ && watch_->id == watch_id) {
      EndWatch(absl::UnavailableError("stream reset"));
    }
  });
}

void FakeTransport::EndWatch(const absl::Status& status) {
  std::unique_ptr<WatchState> watch = std::move(watch_);
  Answer([this, ended = std::move(watch->ended), status, epoch = watch_epoch_] {
    if (epoch == watch_epoch_) ended(status);
  });
}

void FakeTransport::StopWatch() {
  ++watch_epoch_;
  watch_.reset();
}

void FakeTransport::Reset() {
  ++generation_;
  in_flight_ = 0;
  StopWatch();
}

void FakeTransport::SetAddress(const std::string& address) {
  address_ = address;
  Reset();
}

void FakeTransport::SetToken(const std::string& token) {
  token_ = token;
  Reset();
}

void FakeTransport::SetTls(bool tls, const std::string& ca_pem) {
  tls_ = tls;
  tls_ca_pem_ = ca_pem;
  Reset();
}

}  // namespace profiles::client::testing
