#include "apps/qml-client/sync/sync_manager.h"

#include <grpcpp/client_context.h>

#include <QElapsedTimer>
#include <QMetaObject>
#include <QNetworkInformation>
#include <QTimer>
#include <QtDebug>
#include <algorithm>
#include <condition_variable>
#include <set>
#include <thread>
#include <utility>
#include <variant>

#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/sync/profile_client.h"
#include "apps/qml-client/sync/server_directory.h"
#include "google/protobuf/field_mask.pb.h"
#include "libs/profile_contract/status_details.h"

namespace profiles::client {
namespace {

// Longest a change received from the server waits before it is shown while
// others keep arriving (see PublishSoon()).
constexpr std::chrono::milliseconds kServerPublishInterval{250};

using profile::client::v1::PendingMutation;
using profile::v1::Profile;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

google::protobuf::FieldMask ToMask(const QStringList& paths) {
  google::protobuf::FieldMask mask;
  for (const QString& path : paths) mask.add_paths(path.toStdString());
  return mask;
}

Profile ToFields(const QString& name, const QString& email, const QByteArray& avatar) {
  Profile fields;
  fields.set_name(name.toStdString());
  fields.set_email(email.toStdString());
  fields.set_avatar(avatar.toStdString());
  return fields;
}

bool NetworkReachable() {
  const QNetworkInformation* info = QNetworkInformation::instance();
  return info == nullptr || info->reachability() != QNetworkInformation::Reachability::Disconnected;
}

}  // namespace

// The sync thread's state machine. Lives on SyncManager::thread_ and owns
// the store and the queue; every method runs on that thread unless noted.
// Sends are asynchronous calls whose answers are posted back here; the other
// calls (health, pull, picture fetch) run one at a time on the transport
// thread, so edits never wait for the network; the watch stream has a thread
// of its own.
//
// A pass: health check if the server was not known to be reachable, then
// drain the queue, then pull since the cursor, then (re)open the watch.
// The drain is pipelined: up to Options::max_sends_in_flight mutations are
// in flight at once (asynchronous calls on the one channel), each of a
// different profile, because NextToSend() hands out only the oldest pending
// mutation of each profile; a profile's next mutation goes once its
// predecessor is answered, rebased on the result. One round trip per
// mutation made a drain as slow as the network's latency times its length.
class SyncManager::Worker : public QObject {
 public:
  Worker(SyncManager* manager, Options options, ServerDirectory directory, QString store_folder,
         std::unique_ptr<LocalStore> store, bool network_reachable)
      : manager_(manager),
        options_(std::move(options)),
        directory_(std::move(directory)),
        store_folder_(std::move(store_folder)),
        store_(std::move(store)),
        queue_(std::make_unique<MutationQueue>(store_.get())),
        client_(NewClient(options_.server_address.toStdString())),
        backoff_(options_.backoff),
        retry_timer_(new QTimer(this)),
        poll_timer_(new QTimer(this)),
        publish_timer_(new QTimer(this)),
        work_offline_(options_.work_offline),
        network_reachable_(network_reachable) {
    retry_timer_->setSingleShot(true);
    connect(retry_timer_, &QTimer::timeout, this, [this] { RunPass(); });
    publish_timer_->setSingleShot(true);
    connect(publish_timer_, &QTimer::timeout, this, [this] { Publish(); });
    poll_timer_->setInterval(options_.poll_interval);
    connect(poll_timer_, &QTimer::timeout, this, [this] { RunPass(); });
  }

  ~Worker() override = default;

  // Safe before the thread starts (nothing else touches the queue yet).
  // Rebuilds only the views of the profiles the store changed since the
  // last snapshot; the others are shared with it. Rebuilding every view
  // (pictures copied) at every publish made a first sync quadratic.
  std::shared_ptr<const ClientSnapshot> BuildSnapshot() {
    for (const std::string& id : store_->TakeTouchedProfiles()) UpdateView(id);
    auto snapshot = std::make_shared<ClientSnapshot>();
    std::vector<ProfileViews::Shared> rows;
    rows.reserve(order_.size());
    for (const auto& [name, id] : order_) rows.push_back(views_.at(id));
    snapshot->profiles = ProfileViews(std::move(rows));
    snapshot->pending_count = queue_->PendingCount();
    if (!CanTry()) {
      snapshot->connection = ConnectionState::kOffline;
    } else if (phase_ == Phase::kSending || phase_ == Phase::kPulling) {
      snapshot->connection = ConnectionState::kSyncing;
    } else {
      snapshot->connection = server_ok_ ? ConnectionState::kOnline : ConnectionState::kOffline;
    }
    snapshot->last_error = last_error_;
    return snapshot;
  }

  void Start() {
    transport_context_ = std::make_unique<QObject>();
    transport_context_->moveToThread(&transport_thread_);
    transport_thread_.setObjectName(QStringLiteral("profiles-transport"));
    transport_thread_.start();
    RunPass();
  }

  // Ends all network activity; the thread may then be stopped.
  void Stop() {
    stopping_ = true;
    transport_thread_.quit();
    client_->Shutdown();
    {
      // Cancelled above; their callbacks post to this object, so they must
      // have run before it goes.
      std::unique_lock<std::mutex> lock(sends_mu_);
      sends_done_.wait(lock, [this] { return sends_outstanding_ == 0; });
    }
    StopWatch();
    retry_timer_->stop();
    poll_timer_->stop();
    transport_thread_.wait();
    transport_context_.reset();
  }

  void Create(const Profile& fields, const google::protobuf::FieldMask& mask, QString* id) {
    absl::StatusOr<PendingMutation> mutation = queue_->EnqueueCreate(fields, mask);
    if (!mutation.ok()) return ReportLocalError(mutation.status());
    *id = QString::fromStdString(mutation->profile_id());
    Changed();
  }

  void Edit(const std::string& id, const Profile& fields, const google::protobuf::FieldMask& mask,
            const std::optional<EditBase>& base) {
    absl::StatusOr<PendingMutation> mutation;
    if (base) {
      Profile base_fields;
      base_fields.set_name(base->name.toStdString());
      base_fields.set_email(base->email.toStdString());
      base_fields.set_avatar_sha256(base->avatar_sha256.toStdString());
      mutation = queue_->EnqueueEdit(id, base->version, base_fields, fields, mask);
    } else {
      const std::optional<Profile> seen = queue_->EffectiveProfile(id);
      mutation = queue_->EnqueueEdit(id, seen ? seen->version() : 0, fields, mask);
    }
    if (!mutation.ok()) return ReportLocalError(mutation.status());
    Changed();
  }

  void RetryParked(const std::string& id) {
    for (const PendingMutation& mutation : queue_->MutationsOf(id)) {
      if (mutation.state() != PendingMutation::STATE_PARKED) continue;
      if (absl::Status status = queue_->RetryParked(mutation.mutation_id()); !status.ok()) {
        return ReportLocalError(status);
      }
    }
    Changed();
  }

  void DismissMergeNote(const std::string& id) {
    if (absl::Status status = queue_->DismissMergeNote(id); !status.ok()) {
      return ReportLocalError(status);
    }
    Publish();
  }

  void KeepServer(const std::string& id) {
    if (absl::Status status = queue_->ResolveKeepServer(id); !status.ok()) {
      return ReportLocalError(status);
    }
    Changed();
  }

  void ApplyMine(const std::string& id) {
    if (absl::StatusOr<PendingMutation> mutation = queue_->ResolveApplyMine(id); !mutation.ok()) {
      return ReportLocalError(mutation.status());
    }
    Changed();
  }

  void DismissRejected(const std::string& id) {
    for (const PendingMutation& mutation : queue_->MutationsOf(id)) {
      if (mutation.state() != PendingMutation::STATE_PARKED) continue;
      if (absl::Status status = queue_->DismissRejected(mutation.mutation_id()); !status.ok()) {
        return ReportLocalError(status);
      }
    }
    Changed();
  }

  // Replaces the view of profile `id` (and its place in the order).
  void UpdateView(const std::string& id) {
    if (auto old = views_.find(id); old != views_.end()) {
      order_.erase({old->second->profile.name(), id});
      views_.erase(old);
    }
    std::optional<Profile> effective = queue_->EffectiveProfile(id);
    if (!effective) return;
    auto view = std::make_shared<ProfileView>();
    view->profile = *std::move(effective);
    view->state = queue_->StateOf(id);
    if (view->state == SyncState::kConflict || view->state == SyncState::kRejected) {
      for (const PendingMutation& mutation : queue_->MutationsOf(id)) {
        if (mutation.state() == PendingMutation::STATE_CONFLICTED) {
          view->server_profile = mutation.server_profile();
        } else if (mutation.state() == PendingMutation::STATE_PARKED && view->error.empty()) {
          view->error = mutation.error_message();
          view->field_errors.insert(mutation.field_errors().begin(), mutation.field_errors().end());
          view->error_code = static_cast<absl::StatusCode>(mutation.error_code());
          view->retryable = mutation.error_code() != 0 &&
                            view->error_code != absl::StatusCode::kInvalidArgument &&
                            view->field_errors.empty();
        }
      }
    }
    // The conflict's copy has no avatar bytes; the cache has them once
    // fetched (same picture, same sha).
    if (view->server_profile && view->server_profile->avatar().empty() &&
        !view->server_profile->avatar_sha256().empty()) {
      const auto& cached = store_->state().profiles;
      if (auto it = cached.find(id);
          it != cached.end() &&
          it->second.avatar_sha256() == view->server_profile->avatar_sha256()) {
        view->server_profile->set_avatar(it->second.avatar());
      }
    }
    view->merged_with = queue_->MergeNoteOf(id);
    order_.emplace(view->profile.name(), id);
    views_.emplace(id, std::move(view));
  }

  void SetWorkOffline(bool offline) {
    if (offline == work_offline_) return;
    work_offline_ = offline;
    ReachabilityChanged();
  }

  void SetNetworkReachable(bool reachable) {
    if (reachable == network_reachable_) return;
    network_reachable_ = reachable;
    ReachabilityChanged();
  }

  void SetServerAddress(const std::string& address) {
    if (address == client_->address()) return;
    ReplaceClient(address);
    backoff_.Reset();
    RunPass();
  }

  void Refresh() {
    retry_timer_->stop();
    RunPass();
  }

 private:
  enum class Phase { kIdle, kChecking, kSending, kPulling };

  std::shared_ptr<ProfileClient> NewClient(const std::string& address) const {
    return std::make_shared<ProfileClient>(ProfileClient::Options{
        .address = address,
        .call_timeout = options_.call_timeout,
        .connect_timeout = options_.connect_timeout,
    });
  }

  bool CanTry() const { return !work_offline_ && network_reachable_; }

  // Shows the current state at once: after the user's own actions, and
  // whenever the state of the connection or of the queue changes.
  void Publish() {
    if (stopping_) return;
    publish_timer_->stop();
    since_publish_.start();
    manager_->Publish(BuildSnapshot());
  }

  // Shows what the server sent: at once if nothing was published for
  // kServerPublishInterval, else when that much time has passed. A snapshot
  // holds every profile, so publishing each page of a first sync (and the
  // list model comparing every row each time) made it quadratic.
  void PublishSoon() {
    if (stopping_ || publish_timer_->isActive()) return;
    if (!since_publish_.isValid()) return Publish();
    const auto elapsed = std::chrono::milliseconds(since_publish_.elapsed());
    if (elapsed >= kServerPublishInterval) return Publish();
    publish_timer_->start(kServerPublishInterval - elapsed);
  }

  // A local edit or resolution was stored: show it, then send it.
  void Changed() {
    Publish();
    RunPass();
  }

  void ReportLocalError(const absl::Status& status) {
    qWarning() << "profiles sync:" << status.ToString().c_str();
    SyncManager* manager = manager_;
    const QString message = QString::fromStdString(std::string(status.message()));
    QMetaObject::invokeMethod(
        manager, [manager, message] { emit manager->operationFailed(message); },
        Qt::QueuedConnection);
  }

  // Discards the current client: its calls in progress end with CANCELLED
  // and their answers are then ignored (a new generation has begun).
  void ReplaceClient(const std::string& address) {
    client_->Shutdown();
    StopWatch();
    client_ = NewClient(address);
    ++generation_;
    server_ok_ = false;
    retry_timer_->stop();
  }

  void ReachabilityChanged() {
    if (CanTry()) {
      backoff_.Reset();
      retry_timer_->stop();
      RunPass();
    } else {
      // Stop every network activity now, not at the next deadline.
      ReplaceClient(client_->address());
      poll_timer_->stop();
    }
    Publish();
  }

  // Runs `work` on the transport thread.
  template <typename Work>
  void OnTransport(Work work) {
    QMetaObject::invokeMethod(transport_context_.get(), std::move(work), Qt::QueuedConnection);
  }

  // Runs `done` on this thread; callable from any thread.
  template <typename Done>
  void Post(Done done) {
    QMetaObject::invokeMethod(this, std::move(done), Qt::QueuedConnection);
  }

  // Starts a pass unless one is running (it then runs again when this one
  // ends) or a retry is scheduled.
  void RunPass() {
    if (stopping_) return;
    if (phase_ != Phase::kIdle) {
      pass_wanted_ = true;
      return;
    }
    pass_wanted_ = false;
    if (!CanTry() || retry_timer_->isActive()) return;
    if (!server_ok_) return CheckHealth();
    Step();
  }

  void CheckHealth() {
    phase_ = Phase::kChecking;
    OnTransport([this, client = client_, generation = generation_] {
      absl::StatusOr<std::string> database_id = client->CheckHealth();
      Post([this, database_id, generation] { OnHealth(database_id, generation); });
    });
  }

  void OnHealth(const absl::StatusOr<std::string>& database_id, uint64_t generation) {
    phase_ = Phase::kIdle;
    if (!database_id.ok()) return OnFailure(database_id.status(), generation);
    if (generation != generation_) return RunPass();
    if (absl::Status status = UseDatabase(*database_id); !status.ok()) {
      ReportLocalError(status);
      return OnFailure(status, generation);
    }
    server_ok_ = true;
    Step();
  }

  // The server at the current address keeps its profiles in `database_id`:
  // sync that database's store. A store that has never met a server is
  // bound to it; a store of another database is closed (its pending edits
  // wait in it for their own server) and this database's store is opened,
  // or created.
  absl::Status UseDatabase(const std::string& database_id) {
    if (queue_->database_id().empty()) {
      if (absl::Status bound = queue_->BindToServer(database_id); !bound.ok()) return bound;
    } else if (queue_->database_id() != database_id) {
      if (absl::Status switched = SwitchStore(database_id); !switched.ok()) return switched;
    }
    directory_.Remember(client_->address(), database_id);
    if (absl::Status saved = directory_.Save(); !saved.ok()) {
      // Only costs the next offline start the right store; syncing is safe.
      qWarning() << "profiles sync:" << saved.ToString().c_str();
    }
    return absl::OkStatus();
  }

  absl::Status SwitchStore(const std::string& database_id) {
    qInfo() << "profiles sync: the server at" << client_->address().c_str() << "keeps database"
            << database_id.c_str() << "; this store belongs to" << queue_->database_id().c_str()
            << "; switching stores";
    absl::Status failure;
    for (const QString& folder : {directory_.FolderForDatabase(database_id),
                                  directory_.SecondaryFolderForDatabase(database_id)}) {
      if (folder == store_folder_) continue;
      absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(folder, {});
      if (!store.ok()) {
        failure = store.status();
        continue;
      }
      const std::string& bound = (*store)->state().database_id;
      if (!bound.empty() && bound != database_id) {
        failure = absl::InternalError("the store in " + folder.toStdString() +
                                      " belongs to database " + bound);
        continue;
      }
      StopWatch();
      avatars_wanted_.clear();
      {
        std::lock_guard<std::mutex> lock(events_mu_);
        events_.clear();
      }
      queue_ = std::make_unique<MutationQueue>(store->get());
      store_ = *std::move(store);
      store_folder_ = folder;
      // The new store reports all its profiles as touched.
      views_.clear();
      order_.clear();
      if (bound.empty()) {
        if (absl::Status status = queue_->BindToServer(database_id); !status.ok()) return status;
      }
      Publish();
      return absl::OkStatus();
    }
    return absl::InternalError("cannot open the store of database " + database_id + ": " +
                               std::string(failure.message()));
  }

  // Keeps the pipeline of mutations full; once nothing is left to send and
  // nothing is in flight, fetches missing pictures, then pulls.
  void Step() {
    if (stopping_ || !CanTry()) return;
    bool sent = false;
    while (sends_in_flight_ < options_.max_sends_in_flight && !retry_timer_->isActive()) {
      std::optional<PendingMutation> mutation = queue_->NextToSend();
      if (!mutation) break;
      ++sends_in_flight_;
      sent = true;
      SendAsync(*mutation);
    }
    if (sends_in_flight_ > 0) {
      phase_ = Phase::kSending;
      if (sent) PublishSoon();
      return;
    }
    if (retry_timer_->isActive()) return;
    if (!avatars_wanted_.empty()) {
      const std::string id = *avatars_wanted_.begin();
      avatars_wanted_.erase(avatars_wanted_.begin());
      phase_ = Phase::kSending;
      OnTransport([this, client = client_, generation = generation_, id] {
        absl::StatusOr<Profile> profile = client->Fetch(id);
        Post([this, id, profile, generation] { OnFetched(id, profile, generation); });
      });
      return;
    }
    phase_ = Phase::kPulling;
    Publish();
    OnTransport([this, client = client_, generation = generation_, cursor = queue_->cursor()] {
      absl::Status status = client->Pull(cursor, [this](profile::v1::ListProfilesResponse page) {
        Post([this, page = std::move(page)] { OnPage(page); });
      });
      Post([this, status, generation] { OnPulled(status, generation); });
    });
  }

  void SendAsync(const PendingMutation& mutation) {
    {
      std::lock_guard<std::mutex> lock(sends_mu_);
      ++sends_outstanding_;
    }
    client_->SendAsync(
        MutationQueue::ToRequest(mutation),
        [this, client = client_, generation = generation_,
         mutation_id = mutation.mutation_id()](SendOutcome outcome) mutable {
          // The client goes with the answer: its last reference, if this
          // is it, is then dropped on the worker thread, not on gRPC's.
          Post([this, client = std::move(client), mutation_id, outcome = std::move(outcome),
                generation] { OnSent(mutation_id, outcome, generation); });
          std::lock_guard<std::mutex> lock(sends_mu_);
          --sends_outstanding_;
          sends_done_.notify_all();
        });
  }

  void OnSent(const std::string& mutation_id, const SendOutcome& outcome, uint64_t generation) {
    --sends_in_flight_;
    absl::Status failure;
    const absl::Status recorded = std::visit(
        Overloaded{
            [&](const Acknowledged& ack) { return queue_->Acknowledge(mutation_id, ack.profile); },
            [&](const Rejected& rejected) {
              if (rejected.code != absl::StatusCode::kInvalidArgument) {
                qWarning() << "profiles sync: mutation" << mutation_id.c_str()
                           << "parked after an unexpected answer:"
                           << absl::StatusCodeToString(rejected.code).c_str()
                           << rejected.message.c_str();
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
        },
        outcome);
    if (!recorded.ok()) ReportLocalError(recorded);
    if (!failure.ok()) OnFailure(failure, generation);
    if (sends_in_flight_ > 0) {
      // Top the pipeline up, unless the connection failed or was replaced.
      if (failure.ok() && generation == generation_) Step();
      return;
    }
    phase_ = Phase::kIdle;
    RunPass();
  }

  // A fetched whole profile (GetProfile) for a picture we lacked.
  void OnFetched(const std::string& id, const absl::StatusOr<Profile>& profile,
                 uint64_t generation) {
    phase_ = Phase::kIdle;
    if (!profile.ok()) {
      if (IsTransportFailure(profile.status().code())) {
        avatars_wanted_.insert(id);
        return OnFailure(profile.status(), generation);
      }
      // An answer (e.g. NOT_FOUND): nothing to fetch; the next change of the
      // profile brings its picture or its removal.
      qWarning() << "profiles sync: cannot fetch profile" << id.c_str() << ":"
                 << profile.status().ToString().c_str();
    } else if (absl::Status status = queue_->ApplyServerProfiles({*profile}, ""); !status.ok()) {
      ReportLocalError(status);
    }
    PublishSoon();
    if (generation != generation_) return RunPass();
    Step();
  }

  // Queues a GetProfile when the cached copy of `id` names a picture
  // (avatar_sha256) whose bytes it does not hold: conflict details, and
  // listings or events that leave avatars out, carry only the sha.
  void WantAvatarIfMissing(const std::string& id) {
    const auto& cached = store_->state().profiles;
    const auto it = cached.find(id);
    if (it != cached.end() && it->second.avatar().empty() && !it->second.avatar_sha256().empty()) {
      avatars_wanted_.insert(id);
    }
  }

  void OnPage(const profile::v1::ListProfilesResponse& page) {
    const std::vector<Profile> profiles(page.profiles().begin(), page.profiles().end());
    if (absl::Status status = queue_->ApplyServerProfiles(profiles, page.cursor()); !status.ok()) {
      ReportLocalError(status);
    }
    for (const Profile& profile : profiles) WantAvatarIfMissing(profile.id());
    PublishSoon();
  }

  void OnPulled(const absl::Status& status, uint64_t generation) {
    phase_ = Phase::kIdle;
    if (IsCursorRefused(status) && generation == generation_) return ForgetCursor(status);
    if (!status.ok()) return OnFailure(status, generation);
    if (generation != generation_) return RunPass();
    backoff_.Reset();
    last_error_.clear();
    EnsureWatch();
    Publish();
    if (pass_wanted_ || !avatars_wanted_.empty()) RunPass();
  }

  // The server cannot continue from our cursor (another database's, or one
  // from a history the database lost in a restore): list everything again.
  // Cached profiles and pending edits stay; the listing brings the server's
  // copies.
  void ForgetCursor(const absl::Status& refusal) {
    qInfo() << "profiles sync: the server refused the cursor, listing again:"
            << refusal.ToString().c_str();
    if (absl::Status reset = queue_->ResetCursor(); !reset.ok()) {
      ReportLocalError(reset);
      return OnFailure(reset, generation_);
    }
    RunPass();
  }

  // A call failed: retry after a backoff delay, unless it was cancelled by
  // us (offline, new address, shutting down).
  void OnFailure(const absl::Status& status, uint64_t generation) {
    if (stopping_) return;
    if (generation != generation_) return RunPass();
    server_ok_ = false;
    last_error_ = std::string(status.message());
    // Several sends in flight fail together: one backoff step, not one each.
    if (!retry_timer_->isActive()) retry_timer_->start(backoff_.NextDelay());
    Publish();
  }

  void EnsureWatch() {
    if (stopping_ || watch_thread_.joinable()) return;
    poll_timer_->stop();
    watch_context_ = std::make_unique<grpc::ClientContext>();
    const uint64_t watch = ++watch_generation_;
    watch_thread_ = std::thread([this, client = client_, context = watch_context_.get(),
                                 cursor = queue_->cursor(), watch] {
      absl::Status status = client->Watch(cursor, context, [this](profile::v1::ProfileEvent event) {
        std::lock_guard<std::mutex> lock(events_mu_);
        if (events_.empty()) Post([this] { ApplyEvents(); });
        events_.push_back(std::move(event));
      });
      Post([this, status, watch] { OnWatchEnded(status, watch); });
    });
  }

  void ApplyEvents() {
    std::vector<profile::v1::ProfileEvent> events;
    {
      std::lock_guard<std::mutex> lock(events_mu_);
      events.swap(events_);
    }
    if (events.empty()) return;
    std::vector<Profile> profiles;
    profiles.reserve(events.size());
    for (profile::v1::ProfileEvent& event : events) {
      profiles.push_back(std::move(*event.mutable_profile()));
    }
    if (absl::Status status = queue_->ApplyServerProfiles(profiles, events.back().cursor());
        !status.ok()) {
      ReportLocalError(status);
    }
    bool wanted = false;
    for (const Profile& profile : profiles) {
      const size_t before = avatars_wanted_.size();
      WantAvatarIfMissing(profile.id());
      wanted |= avatars_wanted_.size() != before;
    }
    PublishSoon();
    if (wanted) RunPass();
  }

  void OnWatchEnded(const absl::Status& status, uint64_t watch) {
    if (watch != watch_generation_) return;
    watch_thread_.join();
    watch_context_.reset();
    if (stopping_ || !CanTry()) return;
    // The next pass's pull meets the same refusal and lists again.
    if (IsCursorRefused(status)) return RunPass();
    // Poll until a pass can open the stream again.
    qInfo() << "profiles sync: watch ended:" << status.ToString().c_str();
    poll_timer_->start();
  }

  void StopWatch() {
    poll_timer_->stop();
    if (!watch_thread_.joinable()) return;
    ++watch_generation_;
    watch_context_->TryCancel();
    watch_thread_.join();
    watch_context_.reset();
  }

  SyncManager* const manager_;
  const Options options_;
  ServerDirectory directory_;
  // The store of the server database being synced, and its folder; replaced
  // by SwitchStore().
  QString store_folder_;
  std::unique_ptr<LocalStore> store_;
  std::unique_ptr<MutationQueue> queue_;
  // The current view of every profile shown, and their order (name, id).
  std::map<std::string, std::shared_ptr<const ProfileView>> views_;
  std::set<std::pair<std::string, std::string>> order_;
  std::shared_ptr<ProfileClient> client_;
  Backoff backoff_;
  QTimer* const retry_timer_;
  QTimer* const poll_timer_;
  // Pending PublishSoon(); since_publish_ runs from the last Publish().
  QTimer* const publish_timer_;
  QElapsedTimer since_publish_;
  QThread transport_thread_;
  std::unique_ptr<QObject> transport_context_;

  bool work_offline_;
  bool network_reachable_;
  // The last call reached the server; otherwise a pass starts with a health check.
  bool server_ok_ = false;
  bool stopping_ = false;
  Phase phase_ = Phase::kIdle;
  // Something happened during a pass that needs another one.
  bool pass_wanted_ = false;
  // Bumped whenever the client is replaced; answers of older ones are stale.
  uint64_t generation_ = 0;
  // Mutations sent and not yet answered (OnSent not run yet).
  int sends_in_flight_ = 0;
  // SendAsync() callbacks that have not finished, of any generation.
  std::mutex sends_mu_;
  std::condition_variable sends_done_;
  int sends_outstanding_ ABSL_GUARDED_BY(sends_mu_) = 0;
  std::string last_error_;
  // Profiles whose cached copy lacks the bytes of its avatar_sha256.
  std::set<std::string> avatars_wanted_;

  std::thread watch_thread_;
  std::unique_ptr<grpc::ClientContext> watch_context_;
  uint64_t watch_generation_ = 0;
  std::mutex events_mu_;
  std::vector<profile::v1::ProfileEvent> events_ ABSL_GUARDED_BY(events_mu_);
};

SyncManager::SyncManager(QObject* parent) : QObject(parent) {}

absl::StatusOr<std::unique_ptr<SyncManager>> SyncManager::Open(Options options) {
  absl::StatusOr<ServerDirectory> directory = ServerDirectory::Load(options.data_dir);
  if (!directory.ok()) return directory.status();
  QString folder = directory->FolderForAddress(options.server_address.toStdString());
  absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(folder, {});
  if (!store.ok()) return store.status();

  if (QNetworkInformation::instance() == nullptr) {
    QNetworkInformation::loadBackendByFeatures(QNetworkInformation::Feature::Reachability);
  }
  std::unique_ptr<SyncManager> manager(new SyncManager());
  manager->open_repair_note_ = QString::fromStdString(DescribeRepair((*store)->open_report()));
  manager->worker_ =
      std::make_unique<Worker>(manager.get(), std::move(options), *std::move(directory),
                               std::move(folder), *std::move(store), NetworkReachable());
  Worker* worker = manager->worker_.get();
  manager->snapshot_ = worker->BuildSnapshot();
  if (const QNetworkInformation* info = QNetworkInformation::instance()) {
    connect(info, &QNetworkInformation::reachabilityChanged, worker,
            [worker](QNetworkInformation::Reachability reachability) {
              worker->SetNetworkReachable(reachability !=
                                          QNetworkInformation::Reachability::Disconnected);
            });
  }
  worker->moveToThread(&manager->thread_);
  manager->thread_.setObjectName(QStringLiteral("profiles-sync"));
  manager->thread_.start();
  QMetaObject::invokeMethod(
      worker, [worker] { worker->Start(); }, Qt::QueuedConnection);
  return manager;
}

SyncManager::~SyncManager() {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker] { worker->Stop(); }, Qt::BlockingQueuedConnection);
  thread_.quit();
  thread_.wait();
}

std::shared_ptr<const ClientSnapshot> SyncManager::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void SyncManager::Publish(std::shared_ptr<const ClientSnapshot> snapshot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(snapshot);
  }
  QMetaObject::invokeMethod(this, &SyncManager::snapshotChanged, Qt::QueuedConnection);
}

QString SyncManager::createProfile(const QString& name, const QString& email,
                                   const QByteArray& avatar) {
  QStringList mask = {QStringLiteral("name"), QStringLiteral("email")};
  if (!avatar.isEmpty()) mask.append(QStringLiteral("avatar"));
  QString id;
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker,
      [worker, fields = ToFields(name, email, avatar), mask = ToMask(mask), &id] {
        worker->Create(fields, mask, &id);
      },
      Qt::BlockingQueuedConnection);
  return id;
}

void SyncManager::editProfile(const QString& id, const QString& name, const QString& email,
                              const QByteArray& avatar, const QStringList& mask,
                              const std::optional<EditBase>& base) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker,
      [worker, id = id.toStdString(), fields = ToFields(name, email, avatar), mask = ToMask(mask),
       base] { worker->Edit(id, fields, mask, base); },
      Qt::QueuedConnection);
}

void SyncManager::retryParked(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->RetryParked(id); }, Qt::QueuedConnection);
}

void SyncManager::dismissMergeNote(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->DismissMergeNote(id); },
      Qt::QueuedConnection);
}

void SyncManager::resolveKeepServer(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->KeepServer(id); }, Qt::QueuedConnection);
}

void SyncManager::resolveApplyMine(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->ApplyMine(id); }, Qt::QueuedConnection);
}

void SyncManager::dismissRejected(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->DismissRejected(id); },
      Qt::QueuedConnection);
}

void SyncManager::setWorkOffline(bool offline) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, offline] { worker->SetWorkOffline(offline); }, Qt::QueuedConnection);
}

void SyncManager::setServerAddress(const QString& address) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, address = address.toStdString()] { worker->SetServerAddress(address); },
      Qt::QueuedConnection);
}

void SyncManager::refresh() {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker] { worker->Refresh(); }, Qt::QueuedConnection);
}

}  // namespace profiles::client
