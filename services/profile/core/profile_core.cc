#include "services/profile/core/profile_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/profile_contract/status_details.h"
#include "libs/profile_contract/validation.h"
#include "services/profile/core/bounded_executor.h"
#include "services/profile/core/profile_cache.h"
#include "services/profile/core/watch_hub.h"
#include "services/profile/logging/log.h"
#include "services/profile/metrics/service_metrics.h"
#include "services/profile/pictures/safe_picture.h"

namespace profiles {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) {
    FieldViolations violations;
    violations.Add("page_size", "must not be negative");
    return violations.ToStatus();
  }
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

// Unexpected failures are logged once, where an adapter maps them for the
// caller; naming the operation in the message puts it in that log line.
absl::Status Annotated(std::string_view operation, absl::Status status) {
  if (status.code() != absl::StatusCode::kInternal && status.code() != absl::StatusCode::kUnknown) {
    return status;
  }
  absl::Status annotated(status.code(),
                         absl::StrCat(std::string(operation), ": ", status.message()));
  status.ForEachPayload([&annotated](absl::string_view type_url, const absl::Cord& payload) {
    annotated.SetPayload(type_url, payload);
  });
  return annotated;
}

// Replaces a new avatar with the bytes that may be served (decoded in full,
// without metadata), or refuses it as a bad "avatar" field.
absl::Status MakeAvatarSafe(ProfileWrite& write) {
  if (!write.avatar.has_value() || write.avatar->empty()) return absl::OkStatus();
  absl::StatusOr<SafePicture> safe = MakePictureSafe(*write.avatar);
  if (!safe.ok()) {
    if (safe.status().code() != absl::StatusCode::kInvalidArgument) return safe.status();
    FieldViolations violations;
    violations.Add("avatar", std::string(safe.status().message()));
    return violations.ToStatus();
  }
  *write.avatar = std::move(safe->bytes);
  return absl::OkStatus();
}

std::string_view OutcomeName(WriteOutcomeKind kind) {
  switch (kind) {
    case WriteOutcomeKind::kCreated:
      return "created";
    case WriteOutcomeKind::kUpdated:
      return "updated";
    case WriteOutcomeKind::kReplayed:
      return "replayed";
    case WriteOutcomeKind::kDeleted:
      return "deleted";
  }
  return "updated";
}

// A read of a deleted profile: NOT_FOUND, with its tombstone.
absl::StatusOr<std::shared_ptr<const ProfileSnapshot>> UnlessDeleted(
    std::shared_ptr<const ProfileSnapshot> snapshot) {
  if (!snapshot->profile().deleted()) return snapshot;
  return ProfileDeleted(snapshot->id(),
                        absl::StrCat("profile ", snapshot->id(), " was deleted (at version ",
                                     snapshot->version(), ")"),
                        snapshot->profile());
}

}  // namespace

ProfileCore::ProfileCore(Options options, ProfileRepository* repository, ChangeFeed* feed)
    : options_(options),
      repository_(repository),
      reads_(std::make_unique<RateLimiter>(options.read_rate)),
      writes_(std::make_unique<RateLimiter>(options.write_rate)),
      cache_(
          std::make_unique<ProfileCache>(ProfileCache::Options{.max_bytes = options.cache_bytes})),
      executor_(std::make_unique<BoundedExecutor>(std::max(1, options.storage_workers),
                                                  std::max(1, options.max_queued_calls))),
      hub_(std::make_unique<WatchHub>(
          WatchHub::Options{.max_watches = options.max_watches,
                            .watch_queue_bytes = options.watch_queue_bytes,
                            .metrics = options.metrics},
          feed, repository, executor_.get(), cache_.get())) {
  if (options_.metrics != nullptr) ExportMetrics(*options_.metrics);
}

void ProfileCore::ExportMetrics(ServiceMetrics& metrics) {
  // Read at each scrape from their owners, which count them anyway.
  metrics.AddCounter(
      "profiles_cache_hits_total", "Reads answered from the read cache.",
      [this] { return static_cast<double>(cache_->stats().hits); }, this);
  metrics.AddCounter(
      "profiles_cache_misses_total",
      "Reads the read cache could not answer (also while it is disabled).",
      [this] { return static_cast<double>(cache_->stats().misses); }, this);
  metrics.AddGauge(
      "profiles_cache_bytes", "Bytes of profiles in the read cache (--cache-bytes bounds it).",
      [this] { return static_cast<double>(cache_->stats().bytes); }, this);
  metrics.AddGauge(
      "profiles_watch_streams_open", "Open WatchProfiles streams (--max-watch-streams bounds it).",
      [this] { return static_cast<double>(hub_->open_watches()); }, this);
  metrics.AddGauge(
      "profiles_storage_queued_calls",
      "Calls waiting for a storage worker, i.e. for a database connection "
      "(--max-queued-requests bounds it).",
      [this] { return static_cast<double>(executor_->queued()); }, this);
}

ProfileCore::~ProfileCore() {
  if (options_.metrics != nullptr) options_.metrics->RemoveCallbacks(this);
  // The hub schedules catch-ups on the executor, and the executor's last
  // tasks report back to the hub: stop the hub's thread, drain the
  // executor, then free the hub.
  hub_->Shutdown();
  executor_.reset();
  hub_.reset();
}

void ProfileCore::OnStorage(const CallContext& context, std::string_view what,
                            absl::AnyInvocable<void() &&> work,
                            absl::AnyInvocable<void(absl::Status) &&> fail) {
  if (absl::Now() >= context.deadline) {
    return std::move(fail)(absl::DeadlineExceededError(absl::StrCat(
        std::string(what), ": the caller's deadline passed before the request was started")));
  }
  // The task owns `work` and `fail`; if the executor refuses the task, it
  // is destroyed unrun, so the refusal is reported through a second handle
  // to `fail` that only one of the two paths uses.
  auto shared_fail = std::make_shared<absl::AnyInvocable<void(absl::Status) &&>>(std::move(fail));
  const absl::Time deadline = context.deadline;
  const absl::Time queued_at = absl::Now();
  absl::Status scheduled = executor_->Schedule([work = std::move(work), shared_fail, deadline,
                                                queued_at, what = std::string(what)]() mutable {
    if (absl::Now() >= deadline) {
      return std::move(*shared_fail)(absl::DeadlineExceededError(absl::StrCat(
          what, ": the caller's deadline passed after waiting ",
          absl::FormatDuration(absl::Now() - queued_at), " for a database connection")));
    }
    std::move(work)();
  });
  if (!scheduled.ok()) std::move (*shared_fail)(scheduled);
}

absl::StatusOr<Caller> ProfileCore::Authenticate(const CallContext& context) const {
  if (!options_.tokens.has_value()) return Caller{.admin = true};
  return options_.tokens->Verify(context.authorization, absl::Now());
}

absl::Status ProfileCore::Limit(const absl::StatusOr<Caller>& caller, const CallContext& context,
                                RateLimiter& limiter, std::string_view what) {
  if (!limiter.limited()) return absl::OkStatus();
  // A verified user counts against their own budget wherever they call from;
  // anyone else (no or a refused token, or authentication off) against
  // their address's, so guessing tokens is limited too.
  const std::string key = caller.ok() && !caller->subject.empty()
                              ? absl::StrCat("user ", caller->subject)
                              : absl::StrCat("peer ", context.peer);
  const absl::Duration wait = limiter.Take(key, absl::Now());
  if (wait <= absl::ZeroDuration()) return absl::OkStatus();
  return RateLimited(absl::StrCat("too many ", std::string(what), " calls; retry in ",
                                  absl::FormatDuration(absl::Ceil(wait, absl::Milliseconds(1)))),
                     wait);
}

absl::StatusOr<Caller> ProfileCore::Admit(const CallContext& context, RateLimiter& limiter,
                                          std::string_view what) {
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (caller.ok() && context.verified_subject != nullptr) {
    *context.verified_subject = caller->subject;
  }
  if (absl::Status limited = Limit(caller, context, limiter, what); !limited.ok()) return limited;
  return caller;
}

absl::Status ProfileCore::AuthorizeWrite(const Caller& caller, std::string_view profile_id) const {
  if (caller.admin || caller.subject == profile_id) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "user ", caller.subject, " may write only their own profile, not ", std::string(profile_id)));
}

absl::Status ProfileCore::AuthorizeRead(const Caller& caller, std::string_view profile_id) const {
  if (caller.admin || options_.read_scope == ReadScope::kEveryProfile ||
      (!profile_id.empty() && caller.subject == profile_id)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      profile_id.empty()
          ? absl::StrCat("user ", caller.subject,
                         " may read only their own profile; listings and watches need an admin")
          : absl::StrCat("user ", caller.subject, " may read only their own profile, not ",
                         std::string(profile_id)));
}

void ProfileCore::Get(const CallContext& context, std::string_view id,
                      Done<std::shared_ptr<const ProfileSnapshot>> done) {
  absl::StatusOr<Caller> caller = Admit(context, *reads_, "read");
  if (!caller.ok()) return std::move(done)(caller.status());
  absl::StatusOr<std::string> canonical = ParseProfileId(id);
  if (!canonical.ok()) return std::move(done)(canonical.status());
  if (absl::Status allowed = AuthorizeRead(*caller, *canonical); !allowed.ok()) {
    return std::move(done)(allowed);
  }
  // Tombstones are cached like any version: a read after a delete must not
  // find an older, live version.
  if (std::shared_ptr<const ProfileSnapshot> cached = cache_->Lookup(*canonical)) {
    return std::move(done)(UnlessDeleted(std::move(cached)));
  }
  auto shared_done =
      std::make_shared<Done<std::shared_ptr<const ProfileSnapshot>>>(std::move(done));
  OnStorage(
      context, "GetProfile",
      [this, shared_done, id = *std::move(canonical)] {
        const uint64_t ticket = cache_->BeginFill(id);
        absl::StatusOr<profile::v1::Profile> profile = repository_->Get(id);
        if (!profile.ok())
          return std::move(*shared_done)(Annotated("GetProfile", profile.status()));
        std::shared_ptr<const ProfileSnapshot> snapshot =
            ProfileSnapshot::Make(*std::move(profile));
        cache_->Fill(ticket, snapshot);
        std::move (*shared_done)(UnlessDeleted(std::move(snapshot)));
      },
      [shared_done](absl::Status status) { std::move (*shared_done)(std::move(status)); });
}

void ProfileCore::Update(const CallContext& context,
                         const profile::v1::UpdateProfileRequest& request,
                         Done<WriteOutcome> done) {
  absl::StatusOr<Caller> caller = Admit(context, *writes_, "write");
  if (!caller.ok()) return std::move(done)(caller.status());
  absl::StatusOr<ProfileWrite> write = ParseUpdateRequest(request);
  if (!write.ok()) return std::move(done)(write.status());
  if (absl::Status allowed = AuthorizeWrite(*caller, write->id); !allowed.ok()) {
    return std::move(done)(allowed);
  }
  write->caller = caller->subject;
  ApplyOnStorage(context, "UpdateProfile", *std::move(write), std::move(done));
}

void ProfileCore::Delete(const CallContext& context,
                         const profile::v1::DeleteProfileRequest& request,
                         Done<WriteOutcome> done) {
  absl::StatusOr<Caller> caller = Admit(context, *writes_, "write");
  if (!caller.ok()) return std::move(done)(caller.status());
  absl::StatusOr<ProfileWrite> write = ParseDeleteRequest(request);
  if (!write.ok()) return std::move(done)(write.status());
  if (absl::Status allowed = AuthorizeWrite(*caller, write->id); !allowed.ok()) {
    return std::move(done)(allowed);
  }
  write->caller = caller->subject;
  ApplyOnStorage(context, "DeleteProfile", *std::move(write), std::move(done));
}

void ProfileCore::ApplyOnStorage(const CallContext& context, std::string_view what,
                                 ProfileWrite write, Done<WriteOutcome> done) {
  auto shared_done = std::make_shared<Done<WriteOutcome>>(std::move(done));
  OnStorage(
      context, what,
      [this, shared_done, write = std::move(write), what = std::string(what),
       request_id = context.request_id]() mutable {
        // Before the write, so that the idempotency fingerprint and
        // avatar_sha256 describe the stored bytes; stripping is
        // deterministic, so a retried request matches its first attempt.
        if (absl::Status safe = MakeAvatarSafe(write); !safe.ok()) {
          return std::move(*shared_done)(std::move(safe));
        }
        absl::StatusOr<AppliedWrite> applied = repository_->ApplyWrite(write);
        if (!applied.ok()) {
          // A conflict names the current version (a tombstone, when the
          // profile was deleted): the newest there is.
          std::optional<profile::v1::Profile> current = ConflictingProfile(applied.status());
          if (current.has_value() && applied.status().code() == absl::StatusCode::kAborted) {
            if (options_.metrics != nullptr) options_.metrics->RecordVersionConflict();
            if (LogEnabled(LogLevel::kDebug)) {
              LogDebug("version conflict", {{"request_id", request_id},
                                            {"profile_id", write.id},
                                            {"expected_version", write.expected_version},
                                            {"current_version", current->version()}});
            }
          }
          if (current.has_value()) cache_->Put(ProfileSnapshot::Make(*std::move(current)));
          return std::move(*shared_done)(Annotated(what, applied.status()));
        }
        WriteOutcome outcome;
        outcome.kind = applied->replayed ? WriteOutcomeKind::kReplayed
                       : write.deletes   ? WriteOutcomeKind::kDeleted
                       : write.creates() ? WriteOutcomeKind::kCreated
                                         : WriteOutcomeKind::kUpdated;
        outcome.profile = ProfileSnapshot::Make(std::move(applied->profile));
        if (applied->replayed && options_.metrics != nullptr) {
          options_.metrics->RecordIdempotentReplay();
        }
        if (LogEnabled(LogLevel::kDebug)) {
          LogDebug("profile written", {{"request_id", request_id},
                                       {"profile_id", write.id},
                                       {"outcome", OutcomeName(outcome.kind)},
                                       {"version", outcome.profile->version()}});
        }
        if (applied->replayed) {
          // A replay answers with the write's first result, which may be
          // older than the profile is now: cache what storage holds (at
          // least as new as that result), never the old answer.
          const uint64_t ticket = cache_->BeginFill(write.id);
          if (absl::StatusOr<profile::v1::Profile> current = repository_->Get(write.id);
              current.ok()) {
            cache_->Fill(ticket, ProfileSnapshot::Make(*std::move(current)));
          }
        } else {
          // Before answering: once the caller has its acknowledgement, no
          // read here may serve an older version.
          cache_->Put(outcome.profile);
        }
        std::move (*shared_done)(std::move(outcome));
      },
      [shared_done](absl::Status status) { std::move (*shared_done)(std::move(status)); });
}

void ProfileCore::Info(const CallContext& context, Done<profile::v1::ServiceInfo> done) {
  if (absl::StatusOr<Caller> caller = Admit(context, *reads_, "read"); !caller.ok()) {
    return std::move(done)(caller.status());
  }
  auto shared_done = std::make_shared<Done<profile::v1::ServiceInfo>>(std::move(done));
  // On a storage worker: until storage has been reached the id is read
  // there, with a round trip.
  OnStorage(
      context, "GetServiceInfo",
      [this, shared_done] {
        absl::StatusOr<std::string> database_id = repository_->DatabaseId();
        if (!database_id.ok()) {
          return std::move(*shared_done)(Annotated("GetServiceInfo", database_id.status()));
        }
        profile::v1::ServiceInfo info;
        info.set_database_id(*std::move(database_id));
        std::move (*shared_done)(std::move(info));
      },
      [shared_done](absl::Status status) { std::move (*shared_done)(std::move(status)); });
}

void ProfileCore::List(const CallContext& context, const profile::v1::ListProfilesRequest& request,
                       Done<profile::v1::ListProfilesResponse> done) {
  absl::StatusOr<Caller> caller = Admit(context, *reads_, "read");
  if (!caller.ok()) return std::move(done)(caller.status());
  if (absl::Status allowed = AuthorizeRead(*caller, ""); !allowed.ok()) {
    return std::move(done)(allowed);
  }
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return std::move(done)(page_size.status());
  // A page token is a cursor, so it continues a listing or a delta alike.
  const bool continues = !request.page_token().empty();
  const std::string_view field = continues ? "page_token" : "since_cursor";
  absl::StatusOr<IssuedCursor> after =
      IssuedCursor::Parse(continues ? request.page_token() : request.since_cursor(), field);
  if (!after.ok()) return std::move(done)(after.status());
  auto shared_done = std::make_shared<Done<profile::v1::ListProfilesResponse>>(std::move(done));
  OnStorage(
      context, "ListProfiles",
      [this, shared_done, after = *std::move(after), field, page_size = *page_size,
       include_avatars = request.include_avatars()] {
        absl::StatusOr<std::string> database_id = repository_->DatabaseId();
        if (!database_id.ok()) {
          return std::move(*shared_done)(Annotated("ListProfiles", database_id.status()));
        }
        if (absl::Status issued = after.CheckIssuedBy(*database_id, field); !issued.ok()) {
          return std::move(*shared_done)(issued);
        }
        // A listing from the empty cursor leaves deleted profiles out of its
        // first page: its caller has none of them. Later pages (and any
        // issued cursor, even one at the start) include tombstones, since a
        // profile the caller got may have been deleted since
        // (profile.proto, ListProfilesRequest).
        absl::StatusOr<ChangePage> page = repository_->ChangesAfter(
            after.position, page_size, include_avatars, kDefaultPageBytes, !after.is_empty());
        if (!page.ok()) return std::move(*shared_done)(Annotated("ListProfiles", page.status()));
        profile::v1::ListProfilesResponse response;
        for (ProfileChange& change : page->changes) {
          *response.add_profiles() = std::move(change.profile);
        }
        const std::string end = FormatCursor(*database_id, page->end);
        if (page->more) response.set_next_page_token(end);
        response.set_cursor(end);
        std::move (*shared_done)(std::move(response));
      },
      [shared_done](absl::Status status) { std::move (*shared_done)(std::move(status)); });
}

absl::StatusOr<std::unique_ptr<ProfileWatch>> ProfileCore::Watch(
    const CallContext& context, const profile::v1::WatchProfilesRequest& request) {
  absl::StatusOr<Caller> caller = Admit(context, *reads_, "read");
  if (!caller.ok()) return caller.status();
  if (absl::Status allowed = AuthorizeRead(*caller, ""); !allowed.ok()) return allowed;
  absl::StatusOr<IssuedCursor> since = IssuedCursor::Parse(request.since_cursor(), "since_cursor");
  if (!since.ok()) return since.status();
  return hub_->Open(*std::move(since), request.include_avatars());
}

void ProfileCore::StopWatches() { hub_->Stop(); }

int ProfileCore::open_watches() const { return hub_->open_watches(); }

}  // namespace profiles
