#include "apps/qml-client/sync/sync_manager.h"

#include <QElapsedTimer>
#include <QMetaObject>
#include <QNetworkInformation>
#include <QTimer>
#include <QtDebug>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/sync/grpc_transport.h"
#include "apps/qml-client/sync/server_directory.h"
#include "apps/qml-client/sync/sync_engine.h"
#include "google/protobuf/field_mask.pb.h"
#include "libs/profile_contract/profile_fields.h"

namespace profiles::client {
namespace {

// Longest a change received from the server waits before it is shown while
// others keep arriving (see Worker::Publish()).
constexpr std::chrono::milliseconds kServerPublishInterval{250};

using profile::client::v1::PendingMutation;
using profile::v1::Profile;

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

std::optional<SyncEngine::Base> ToBase(const std::optional<EditBase>& base) {
  if (!base) return std::nullopt;
  SyncEngine::Base converted{.version = base->version, .fields = {}};
  converted.fields.set_name(base->name.toStdString());
  converted.fields.set_email(base->email.toStdString());
  converted.fields.set_avatar_sha256(base->avatar_sha256.toStdString());
  return converted;
}

bool NetworkReachable() {
  const QNetworkInformation* info = QNetworkInformation::instance();
  return info == nullptr || info->reachability() != QNetworkInformation::Reachability::Disconnected;
}

}  // namespace

// The sync thread's host of the SyncEngine (sync_engine.h): it gives the
// engine its gRPC transport, QTimers and the store folders, and turns the
// engine's state into the snapshots the UI shows. Lives on
// SyncManager::thread_; every method runs on that thread unless noted.
class SyncManager::Worker : public QObject, public SyncEngine::Host {
 public:
  Worker(SyncManager* manager, const Options& options, ServerDirectory directory,
         std::unique_ptr<LocalStore> store, bool network_reachable)
      : manager_(manager),
        directory_(std::move(directory)),
        transport_(
            GrpcTransport::Options{
                .address = options.server_address.toStdString(),
                .token = options.token.toStdString(),
                .tls = options.tls,
                .tls_ca_pem = options.tls_ca_pem.toStdString(),
                .call_timeout = options.call_timeout,
                .connect_timeout = options.connect_timeout,
            },
            this),
        engine_(
            SyncEngine::Options{
                .backoff = options.backoff,
                .random = {},
                .max_sends_in_flight = options.max_sends_in_flight,
                .poll_interval = options.poll_interval,
                .work_offline = options.work_offline,
                .network_reachable = network_reachable,
            },
            std::move(store), &transport_, this),
        retry_timer_(new QTimer(this)),
        poll_timer_(new QTimer(this)),
        publish_timer_(new QTimer(this)) {
    for (QTimer* timer : {retry_timer_, poll_timer_, publish_timer_}) timer->setSingleShot(true);
    connect(retry_timer_, &QTimer::timeout, this,
            [this] { engine_.OnTimer(SyncEngine::Timer::kRetry); });
    connect(poll_timer_, &QTimer::timeout, this,
            [this] { engine_.OnTimer(SyncEngine::Timer::kPoll); });
    connect(publish_timer_, &QTimer::timeout, this, [this] { PublishNow(); });
  }

  ~Worker() override = default;

  SyncEngine& engine() { return engine_; }

  // Safe before the thread starts (nothing else touches the engine yet).
  // Rebuilds only the views of the profiles the store changed since the
  // last snapshot; the others are shared with it. Rebuilding every view
  // (pictures copied) at every publish made a first sync quadratic.
  std::shared_ptr<const ClientSnapshot> BuildSnapshot() {
    auto snapshot = std::make_shared<ClientSnapshot>();
    snapshot->sequence = ++published_;
    snapshot->rebuilt = snapshot->sequence == 1;
    if (engine_.store_epoch() != views_epoch_) {
      // Another store: it reports all its profiles as touched.
      shown_.clear();
      order_.clear();
      views_epoch_ = engine_.store_epoch();
      snapshot->rebuilt = true;
    }
    for (const std::string& id : engine_.TakeTouchedProfiles()) {
      std::shared_ptr<const ProfileView> view = UpdateView(id);
      if (!snapshot->rebuilt) snapshot->changes.push_back({id, std::move(view)});
    }
    std::vector<ProfileViews::Shared> rows;
    rows.reserve(order_.size());
    for (const auto& [key, view] : order_) rows.push_back(view);
    snapshot->profiles = ProfileViews(std::move(rows));
    snapshot->pictures = engine_.store().state().pictures;
    snapshot->pending_count = engine_.queue().PendingCount();
    snapshot->connection = engine_.connection();
    snapshot->last_error = engine_.last_error();
    return snapshot;
  }

  void Stop() {
    stopping_ = true;
    engine_.Stop();
    for (QTimer* timer : {retry_timer_, poll_timer_, publish_timer_}) timer->stop();
  }

  // SyncEngine::Host.
  void StartTimer(SyncEngine::Timer timer, std::chrono::milliseconds delay) override {
    TimerOf(timer)->start(delay);
  }
  void StopTimer(SyncEngine::Timer timer) override { TimerOf(timer)->stop(); }
  void Defer(std::function<void()> work) override {
    QMetaObject::invokeMethod(this, std::move(work), Qt::QueuedConnection);
  }

  // kNow: at once. kSoon: at once if nothing was published for
  // kServerPublishInterval, else when that much time has passed, so a
  // first sync's pages are shown as they come without a publish per page.
  void Publish(SyncEngine::PublishWhen when) override {
    if (stopping_) return;
    if (when == SyncEngine::PublishWhen::kNow || !since_publish_.isValid()) return PublishNow();
    if (publish_timer_->isActive()) return;
    const auto elapsed = std::chrono::milliseconds(since_publish_.elapsed());
    if (elapsed >= kServerPublishInterval) return PublishNow();
    publish_timer_->start(kServerPublishInterval - elapsed);
  }

  void ReportLocalError(const absl::Status& status) override {
    qWarning() << "profiles sync:" << status.ToString().c_str();
    SyncManager* manager = manager_;
    const QString message = QString::fromStdString(std::string(status.message()));
    QMetaObject::invokeMethod(
        manager, [manager, message] { emit manager->operationFailed(message); },
        Qt::QueuedConnection);
  }

  absl::StatusOr<std::unique_ptr<LocalStore>> OpenStoreOf(const std::string& database_id,
                                                          const QString& current) override {
    absl::Status failure = absl::NotFoundError("no folder");
    for (const QString& folder : {directory_.FolderForDatabase(database_id),
                                  directory_.SecondaryFolderForDatabase(database_id)}) {
      if (folder == current) continue;
      absl::StatusOr<std::unique_ptr<LocalStore>> store = LocalStore::Open(folder, {});
      if (store.ok()) return store;
      failure = store.status();
    }
    return absl::InternalError("cannot open the store of database " + database_id + ": " +
                               std::string(failure.message()));
  }

  void RememberServer(const std::string& address, const std::string& database_id) override {
    if (!directory_.Remember(address, database_id)) return;
    if (absl::Status saved = directory_.Save(); !saved.ok()) {
      // Only costs the next offline start the right store; syncing is safe.
      qWarning() << "profiles sync:" << saved.ToString().c_str();
    }
  }

 private:
  QTimer* TimerOf(SyncEngine::Timer timer) const {
    switch (timer) {
      case SyncEngine::Timer::kRetry:
        return retry_timer_;
      case SyncEngine::Timer::kPoll:
        return poll_timer_;
    }
    return retry_timer_;
  }

  void PublishNow() {
    publish_timer_->stop();
    since_publish_.start();
    manager_->Publish(BuildSnapshot());
  }

  // Replaces the view of profile `id` (and its place in the order), and
  // returns the new one: nullptr when the profile is not shown.
  std::shared_ptr<const ProfileView> UpdateView(const std::string& id) {
    if (auto old = shown_.find(id); old != shown_.end()) {
      const Profile& profile = *old->second;
      // Both keys view this profile's strings: found first, then erased.
      const auto place = order_.find({profile.name(), profile.id()});
      shown_.erase(old);
      if (place != order_.end()) order_.erase(place);
    }
    const MutationQueue& queue = engine_.queue();
    std::shared_ptr<const Profile> effective = queue.SharedEffectiveProfile(id);
    if (!effective) return nullptr;
    auto view = std::make_shared<ProfileView>();
    view->profile = std::move(effective);
    view->state = queue.StateOf(id);
    if (view->state == SyncState::kConflict || view->state == SyncState::kRejected) {
      for (const PendingMutation& mutation : queue.MutationsOf(id)) {
        if (mutation.state() == PendingMutation::STATE_CONFLICTED) {
          view->server_profile = mutation.server_profile();
          view->conflict = mutation.deletes()                    ? ConflictKind::kDeleteChanged
                           : mutation.server_profile().deleted() ? ConflictKind::kDeletedElsewhere
                                                                 : ConflictKind::kEdit;
          if (mutation.deletes()) view->deleted_from = mutation.base_fields();
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
    view->merged_with = queue.MergeNoteOf(id);
    const Profile& shown = *view->profile;
    shown_.emplace(shown.id(), &shown);
    order_.emplace(OrderKey(shown.name(), shown.id()), view);
    return view;
  }

  SyncManager* const manager_;
  ServerDirectory directory_;
  // Declared before the engine, which holds a pointer to it.
  GrpcTransport transport_;
  SyncEngine engine_;
  QTimer* const retry_timer_;
  QTimer* const poll_timer_;
  // Pending Publish(kSoon); since_publish_ runs from the last publish.
  QTimer* const publish_timer_;
  QElapsedTimer since_publish_;
  bool stopping_ = false;
  // The current view of every profile shown in their order (name, id), and
  // by id the profile each shows, of the store of engine_.store_epoch() ==
  // views_epoch_. A publish walks order_ without a lookup per row: looking
  // each row up by id made an edit take 45 ms to show with 100,000 profiles.
  // The keys view the strings of the profile the entry's view holds (alive
  // as long as the entry): copies of every id and name were a fifth of what
  // opening 10,000 profiles took in memory.
  using OrderKey = std::pair<std::string_view, std::string_view>;
  std::map<OrderKey, std::shared_ptr<const ProfileView>> order_;
  absl::flat_hash_map<std::string_view, const Profile*> shown_;
  uint64_t views_epoch_ = 0;
  // Snapshots built so far (ClientSnapshot::sequence).
  uint64_t published_ = 0;
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
  manager->worker_ = std::make_unique<Worker>(manager.get(), options, *std::move(directory),
                                              *std::move(store), NetworkReachable());
  Worker* worker = manager->worker_.get();
  manager->snapshot_ = worker->BuildSnapshot();
  if (const QNetworkInformation* info = QNetworkInformation::instance()) {
    connect(info, &QNetworkInformation::reachabilityChanged, worker,
            [worker](QNetworkInformation::Reachability reachability) {
              worker->engine().SetNetworkReachable(reachability !=
                                                   QNetworkInformation::Reachability::Disconnected);
            });
  }
  worker->moveToThread(&manager->thread_);
  manager->thread_.setObjectName(QStringLiteral("profiles-sync"));
  manager->thread_.start();
  QMetaObject::invokeMethod(
      worker, [worker] { worker->engine().Start(); }, Qt::QueuedConnection);
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
  Profile fields = ToFields(name, email, avatar);
  // The fields a creation must write, and the others it was given.
  google::protobuf::FieldMask mask;
  for (const ProfileField& field : WritableFields()) {
    if (field.required_to_create() || !field.Get(fields).empty()) {
      mask.add_paths(std::string(field.path()));
    }
  }
  QString id;
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker,
      [worker, fields = std::move(fields), mask = std::move(mask), &id] {
        id = QString::fromStdString(worker->engine().Create(fields, mask));
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
       base = ToBase(base)] { worker->engine().Edit(id, fields, mask, base); },
      Qt::QueuedConnection);
}

void SyncManager::retryParked(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().RetryParked(id); },
      Qt::QueuedConnection);
}

void SyncManager::dismissMergeNote(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().DismissMergeNote(id); },
      Qt::QueuedConnection);
}

void SyncManager::deleteProfile(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().Delete(id); },
      Qt::QueuedConnection);
}

void SyncManager::resolveKeepServer(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().ResolveKeepServer(id); },
      Qt::QueuedConnection);
}

void SyncManager::resolveApplyMine(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().ResolveApplyMine(id); },
      Qt::QueuedConnection);
}

void SyncManager::dismissRejected(const QString& id) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, id = id.toStdString()] { worker->engine().DismissRejected(id); },
      Qt::QueuedConnection);
}

void SyncManager::setWorkOffline(bool offline) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, offline] { worker->engine().SetWorkOffline(offline); },
      Qt::QueuedConnection);
}

void SyncManager::setServerAddress(const QString& address) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker,
      [worker, address = address.toStdString()] { worker->engine().SetServerAddress(address); },
      Qt::QueuedConnection);
}

void SyncManager::setTls(bool tls, const QByteArray& ca_pem) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker,
      [worker, tls, ca_pem = ca_pem.toStdString()] { worker->engine().SetTls(tls, ca_pem); },
      Qt::QueuedConnection);
}

void SyncManager::setToken(const QString& token) {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker, token = token.toStdString()] { worker->engine().SetToken(token); },
      Qt::QueuedConnection);
}

void SyncManager::refresh() {
  Worker* worker = worker_.get();
  QMetaObject::invokeMethod(
      worker, [worker] { worker->engine().Refresh(); }, Qt::QueuedConnection);
}

}  // namespace profiles::client
