#include "services/profile/core/watch_hub.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"

namespace profiles {
namespace {

// A catch-up reads storage in pages this long (and at most kDefaultPageBytes),
// so a watcher catching up on large avatars holds a few MiB at a time.
constexpr int kCatchUpPageSize = 500;
// How often the hub's thread looks up from waiting for the feed, to notice
// Shutdown() when nothing is published (the feed wakes it for changes and
// for changes of health). Short, because shutting down waits for it.
constexpr absl::Duration kWakeInterval = absl::Milliseconds(50);

struct QueuedEvent {
  std::shared_ptr<const profile::v1::ProfileEvent> event;
  ChangeCursor cursor;
  size_t bytes = 0;
};

std::shared_ptr<const profile::v1::ProfileEvent> MakeEvent(const ProfileChange& change,
                                                           std::string_view database_id,
                                                           bool include_avatar) {
  auto event = std::make_shared<profile::v1::ProfileEvent>();
  *event->mutable_profile() = change.profile;
  if (!include_avatar) event->mutable_profile()->clear_avatar();
  event->set_cursor(FormatCursor(database_id, change.cursor));
  return event;
}

}  // namespace

struct WatchHub::Watcher {
  explicit Watcher(IssuedCursor since, bool include_avatars)
      : include_avatars(include_avatars),
        since_database_id(std::move(since.database_id)),
        cursor(since.position) {}

  const bool include_avatars;
  // The database that issued the watch's starting cursor (empty: the start),
  // checked at every catch-up.
  const std::string since_database_id;

  absl::Mutex mu;
  // The last change delivered; nothing at or before it is delivered again.
  ChangeCursor cursor ABSL_GUARDED_BY(mu);
  std::deque<QueuedEvent> queue ABSL_GUARDED_BY(mu);
  size_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  // Storage holds changes this watcher has not seen and the queue may not.
  bool catch_up_needed ABSL_GUARDED_BY(mu) = true;
  bool catching_up ABSL_GUARDED_BY(mu) = false;
  Done<WatchEvents> pending ABSL_GUARDED_BY(mu);
  absl::Status ended ABSL_GUARDED_BY(mu);  // OK while open

  // Queued events after `cursor`, which then moves past them.
  WatchEvents TakeQueued() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    WatchEvents events;
    for (QueuedEvent& queued : queue) {
      if (queued.cursor <= cursor) continue;
      cursor = queued.cursor;
      events.push_back(std::move(queued.event));
    }
    queue.clear();
    queued_bytes = 0;
    return events;
  }
};

// What a transport holds: closing it unregisters the watcher.
class WatchHub::Handle final : public ProfileWatch {
 public:
  Handle(WatchHub* hub, std::shared_ptr<Watcher> watcher)
      : hub_(hub), watcher_(std::move(watcher)) {}
  ~Handle() override {
    Cancel();
    hub_->Close(watcher_);
  }

  void Next(Done<WatchEvents> done) override { hub_->Next(watcher_, std::move(done)); }

  void Cancel() override {
    Done<WatchEvents> pending;
    {
      absl::MutexLock lock(&watcher_->mu);
      if (watcher_->ended.ok()) watcher_->ended = absl::CancelledError("the watch was cancelled");
      pending = std::move(watcher_->pending);
    }
    if (pending) std::move(pending)(absl::CancelledError("the watch was cancelled"));
  }

 private:
  WatchHub* const hub_;
  const std::shared_ptr<Watcher> watcher_;
};

WatchHub::WatchHub(Options options, ChangeFeed* feed, ProfileRepository* repository,
                   BoundedExecutor* executor, ProfileCache* cache)
    : options_(options),
      feed_(feed),
      repository_(repository),
      executor_(executor),
      cache_(cache),
      subscription_(feed->Subscribe()) {
  // Until the feed says it is live, nothing vouches for cached entries.
  cache_->SetEnabled(false);
  ApplyFeedHealth();
  thread_ = std::thread([this] { Run(); });
}

WatchHub::~WatchHub() { Shutdown(); }

void WatchHub::Shutdown() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<ProfileWatch>> WatchHub::Open(IssuedCursor since,
                                                             bool include_avatars) {
  auto watcher = std::make_shared<Watcher>(std::move(since), include_avatars);
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_.ok()) return stopped_;
    if (static_cast<int>(watchers_.size()) >= options_.max_watches) {
      return absl::ResourceExhaustedError(
          absl::StrCat("this server already holds ", options_.max_watches,
                       " open watch streams (its limit); retry later or on another replica"));
    }
    watchers_.insert(watcher);
  }
  return std::make_unique<Handle>(this, std::move(watcher));
}

void WatchHub::Close(const std::shared_ptr<Watcher>& watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

int WatchHub::open_watches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watchers_.size());
}

std::vector<std::shared_ptr<WatchHub::Watcher>> WatchHub::Watchers() const {
  absl::MutexLock lock(&mu_);
  return {watchers_.begin(), watchers_.end()};
}

void WatchHub::Next(const std::shared_ptr<Watcher>& watcher, Done<WatchEvents> done) {
  absl::Status ended;
  WatchEvents events;
  bool start_catch_up = false;
  {
    absl::MutexLock lock(&watcher->mu);
    ended = watcher->ended;
    if (ended.ok()) {
      if (watcher->catch_up_needed) {
        start_catch_up = !watcher->catching_up;
        watcher->catching_up = true;
      } else {
        events = watcher->TakeQueued();
      }
      if (events.empty()) watcher->pending = std::move(done);
    }
  }
  if (!ended.ok()) return std::move(done)(ended);
  if (!events.empty()) {
    CountSent(events);
    return std::move(done)(std::move(events));
  }
  if (start_catch_up) CatchUp(watcher);
}

void WatchHub::CountSent(const WatchEvents& events) const {
  if (options_.metrics != nullptr) {
    options_.metrics->RecordWatchEventsSent(static_cast<int64_t>(events.size()));
  }
}

void WatchHub::CatchUp(const std::shared_ptr<Watcher>& watcher) {
  absl::Status scheduled = executor_->Schedule([this, watcher] {
    ChangeCursor from;
    {
      absl::MutexLock lock(&watcher->mu);
      from = watcher->cursor;
    }
    absl::StatusOr<std::string> database_id = repository_->DatabaseId();
    if (!database_id.ok()) return FinishCatchUp(watcher, "", database_id.status());
    if (absl::Status issued = IssuedCursor{watcher->since_database_id, from}.CheckIssuedBy(
            *database_id, "since_cursor");
        !issued.ok()) {
      return FinishCatchUp(watcher, "", issued);
    }
    // From the empty cursor, as a listing: deletes before the watch are no
    // news to a watcher that has no profiles yet, until it has been sent
    // one (profile.proto, WatchProfilesRequest).
    const bool holds_nothing = watcher->since_database_id.empty() && from.is_start();
    absl::StatusOr<ChangePage> page =
        repository_->ChangesAfter(from, kCatchUpPageSize, watcher->include_avatars,
                                  kDefaultPageBytes, /*include_tombstones=*/!holds_nothing);
    FinishCatchUp(watcher, *database_id, std::move(page));
  });
  if (!scheduled.ok()) {
    FinishCatchUp(watcher, "",
                  absl::UnavailableError(absl::StrCat("cannot catch up now: ", scheduled.message(),
                                                      "; resume from the last cursor received")));
  }
}

void WatchHub::FinishCatchUp(const std::shared_ptr<Watcher>& watcher, std::string_view database_id,
                             absl::StatusOr<ChangePage> page) {
  Done<WatchEvents> done;
  absl::StatusOr<WatchEvents> answer;
  bool again = false;
  {
    absl::MutexLock lock(&watcher->mu);
    watcher->catching_up = false;
    if (!watcher->ended.ok()) {
      answer = watcher->ended;
    } else if (!page.ok()) {
      watcher->ended = page.status();
      answer = page.status();
    } else {
      WatchEvents events;
      for (const ProfileChange& change : page->changes) {
        if (change.cursor <= watcher->cursor) continue;
        watcher->cursor = change.cursor;
        events.push_back(MakeEvent(change, database_id, watcher->include_avatars));
      }
      watcher->cursor = std::max(watcher->cursor, page->end);
      watcher->catch_up_needed = page->more;
      if (events.empty() && !page->more) events = watcher->TakeQueued();
      // With nothing to send yet, the next page or the feed will answer.
      again = events.empty() && page->more;
      watcher->catching_up = again;
      answer = std::move(events);
    }
    if (!answer.ok() || !answer->empty()) done = std::move(watcher->pending);
  }
  if (again) return CatchUp(watcher);
  if (done) {
    if (answer.ok()) CountSent(*answer);
    std::move(done)(std::move(answer));
  }
}

void WatchHub::Publish(const std::vector<ProfileChange>& changes) {
  if (changes.empty()) return;
  // Known once storage is ready, which it is when the feed publishes; if
  // not, storage still has every change and the watchers catch up from it.
  const absl::StatusOr<std::string> database_id = repository_->DatabaseId();
  if (!database_id.ok()) return MarkAllLagged();
  std::vector<QueuedEvent> with_avatars;
  std::vector<QueuedEvent> without_avatars;
  with_avatars.reserve(changes.size());
  without_avatars.reserve(changes.size());
  const absl::Time now = absl::Now();
  for (const ProfileChange& change : changes) {
    if (options_.metrics != nullptr && change.profile.has_updated_at()) {
      options_.metrics->RecordChangeFeedLag(
          now - (absl::FromUnixSeconds(change.profile.updated_at().seconds()) +
                 absl::Nanoseconds(change.profile.updated_at().nanos())));
    }
    cache_->Put(ProfileSnapshot::Make(change.profile));
    std::shared_ptr<const profile::v1::ProfileEvent> full = MakeEvent(change, *database_id, true);
    std::shared_ptr<const profile::v1::ProfileEvent> light = MakeEvent(change, *database_id, false);
    const size_t full_bytes = full->ByteSizeLong();
    const size_t light_bytes = light->ByteSizeLong();
    with_avatars.push_back({std::move(full), change.cursor, full_bytes});
    without_avatars.push_back({std::move(light), change.cursor, light_bytes});
  }

  for (const std::shared_ptr<Watcher>& watcher : Watchers()) {
    const std::vector<QueuedEvent>& batch =
        watcher->include_avatars ? with_avatars : without_avatars;
    Done<WatchEvents> done;
    WatchEvents events;
    bool start_catch_up = false;
    {
      absl::MutexLock lock(&watcher->mu);
      if (!watcher->ended.ok()) continue;
      for (const QueuedEvent& queued : batch) {
        if (queued.cursor <= watcher->cursor) continue;
        watcher->queue.push_back(queued);
        watcher->queued_bytes += queued.bytes;
      }
      if (watcher->queued_bytes > options_.watch_queue_bytes) {
        // Lagged: storage has every change it dropped.
        watcher->queue.clear();
        watcher->queued_bytes = 0;
        watcher->catch_up_needed = true;
      }
      if (watcher->pending && !watcher->catching_up) {
        if (watcher->catch_up_needed) {
          watcher->catching_up = true;
          start_catch_up = true;
        } else {
          events = watcher->TakeQueued();
          if (!events.empty()) done = std::move(watcher->pending);
        }
      }
    }
    if (done) {
      CountSent(events);
      std::move(done)(std::move(events));
    }
    if (start_catch_up) CatchUp(watcher);
  }
}

void WatchHub::MarkAllLagged() {
  for (const std::shared_ptr<Watcher>& watcher : Watchers()) {
    bool start_catch_up = false;
    {
      absl::MutexLock lock(&watcher->mu);
      watcher->queue.clear();
      watcher->queued_bytes = 0;
      watcher->catch_up_needed = true;
      if (watcher->pending && !watcher->catching_up && watcher->ended.ok()) {
        watcher->catching_up = true;
        start_catch_up = true;
      }
    }
    if (start_catch_up) CatchUp(watcher);
  }
}

void WatchHub::EndAll(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_.ok()) stopped_ = status;
  }
  for (const std::shared_ptr<Watcher>& watcher : Watchers()) {
    Done<WatchEvents> done;
    {
      absl::MutexLock lock(&watcher->mu);
      if (watcher->ended.ok()) watcher->ended = status;
      done = std::move(watcher->pending);
    }
    if (done) std::move(done)(status);
  }
}

void WatchHub::Stop() {
  EndAll(absl::UnavailableError("server is shutting down; resume from the last cursor received"));
}

void WatchHub::ApplyFeedHealth() {
  const ChangeFeed::Health health = feed_->health();
  if (!health.live || health.generation != feed_generation_) {
    // The feed may have missed commits while it was down: nothing cached
    // before now can be vouched for.
    if (cache_->enabled()) cache_->SetEnabled(false);
  }
  feed_generation_ = health.generation;
  if (health.live && !cache_->enabled()) cache_->SetEnabled(true);
}

void WatchHub::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (!stopped_.ok()) break;
    }
    absl::StatusOr<std::vector<ProfileChange>> batch =
        subscription_->Wait(absl::Now() + kWakeInterval);
    if (absl::IsResourceExhausted(batch.status())) {
      // The hub fell behind the feed and changes were dropped: neither the
      // cache nor any watcher's queue can be trusted to hold them.
      cache_->SetEnabled(false);
      MarkAllLagged();
    } else if (!batch.ok()) {
      cache_->SetEnabled(false);
      EndAll(
          absl::UnavailableError("the change feed stopped; resume from the last cursor received"));
      return;
    } else {
      Publish(*batch);
    }
    ApplyFeedHealth();
  }
  cache_->SetEnabled(false);
}

}  // namespace profiles
