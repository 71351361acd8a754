#ifndef PROFILES_APPS_QML_CLIENT_SYNC_SYNC_MANAGER_H_
#define PROFILES_APPS_QML_CLIENT_SYNC_SYNC_MANAGER_H_

// SyncManager is the app's one door to profile data: on a worker thread it
// runs the SyncEngine (sync_engine.h: the sync rules, over the device's
// LocalStore and MutationQueue) with the gRPC transport (grpc_transport.h)
// and real timers, and publishes immutable snapshots of what the UI shows.
// What follows is the behaviour the engine implements.
//
//   * Edits apply at once: createProfile()/editProfile() append the mutation
//     to the local store (durably) on the worker thread, then publish a new
//     snapshot in which the profile shows the edit and state kPending. The UI
//     shows an edit as saved only once a snapshot contains it, so a crash
//     never loses an edit the UI showed as saved.
//   * When the server is reachable (QNetworkInformation where available, the
//     gRPC channel state and the health service) and work-offline is off, the
//     queue is drained, several mutations of different profiles at once and
//     each profile's in order, exactly once (mutation_id), with exponential
//     backoff and jitter while it is not; draining resumes by itself when the
//     server comes back, not only at the next local edit.
//   * After draining, changes since the stored cursor are pulled
//     (ListProfiles) and merged: server data replaces cached data, except
//     that a profile with pending edits keeps showing the user's version.
//     Live changes arrive through WatchProfiles; periodic polling takes over
//     while the stream cannot be held.
//   * Every edit carries the version and the field values the user saw
//     (editProfile's `base`). ABORTED goes through the three-way merge rule
//     (core/merge.h): fields changed only here are rebased onto the server's
//     version and sent again (the profile then carries a merge note);
//     fields changed here and elsewhere mark the mutation conflicted with the
//     server's profile beside it (state kConflict); nothing is overwritten
//     until the user calls resolveKeepServer() or resolveApplyMine().
//   * Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED) are retried with
//     backoff and the same mutation id. Any other answer parks that one
//     mutation with the server's message (state kRejected; with per-field
//     messages for INVALID_ARGUMENT) until retryParked() or
//     dismissRejected(); the rest of the queue keeps flowing.
//   * One store per server database (ServiceInfo.database_id; the folders
//     are ServerDirectory's): each health check learns which database the
//     server at the current address keeps, and the worker syncs that
//     database's store, switching stores when it differs. So another server
//     never sees this one's profiles, cursor or edits, and switching back
//     finds them again; an edit is only ever sent to the database it was
//     made against. A cursor the server refuses (FAILED_PRECONDITION,
//     CURSOR_FROM_OTHER_DATABASE or _AHEAD_OF_DATABASE: the database was
//     restored from a backup) is forgotten and every profile listed again;
//     pending edits stay.
//   * The server's copy in a conflict carries no avatar bytes, only
//     avatar_sha256: an unknown picture is fetched with GetProfile, never
//     taken as "avatar removed".
//
// Thread safety: the SyncManager object itself lives on (and must be used
// from) the thread that created it, normally the UI thread; snapshot() is
// cheap and never blocks on the network or the disk. All network and disk
// work happens on the internal worker thread.

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "apps/qml-client/core/mutation_queue.h"
#include "apps/qml-client/sync/backoff.h"
#include "apps/qml-client/sync/sync_engine.h"
#include "boost/iterator/indirect_iterator.hpp"
#include "profile/v1/profile.pb.h"

namespace profiles::client {

// What a kConflict profile's conflict is about.
enum class ConflictKind {
  kNone,
  // An edit of a profile changed elsewhere: keep theirs or apply mine.
  kEdit,
  // An edit of a profile deleted elsewhere ("Deleted elsewhere"):
  // resolveKeepServer discards the edit, resolveApplyMine recreates the
  // profile with it (server_profile is the tombstone).
  kDeletedElsewhere,
  // A delete of a profile changed elsewhere (server_profile is the change):
  // resolveApplyMine deletes it anyway, resolveKeepServer keeps it.
  kDeleteChanged,
};

// What the UI knows about one profile.
struct ProfileView {
  // The user's view: server data with pending edits on top. Never null in a
  // published snapshot; the store's own copy when no edit applies, so a
  // picture is held once (MutationQueue::SharedEffectiveProfile).
  std::shared_ptr<const profile::v1::Profile> profile;
  SyncState state = SyncState::kSynced;
  // kConflict: the server's current profile, to compare field by field (its
  // picture by sha, read from ClientSnapshot::pictures once fetched).
  std::optional<profile::v1::Profile> server_profile;
  ConflictKind conflict = ConflictKind::kNone;
  // kDeleteChanged: the profile as the user saw it when they deleted it
  // (name, email, avatar_sha256), beside the changed server_profile.
  std::optional<profile::v1::Profile> deleted_from;
  // kRejected: the server's message and per-field messages ("name", "email",
  // "avatar") of the rejected edit.
  std::string error;
  std::map<std::string, std::string> field_errors;
  // kRejected: the canonical code of the server's answer; `retryable` when
  // it was not a validation error (sending it again may succeed).
  absl::StatusCode error_code = absl::StatusCode::kOk;
  bool retryable = false;
  // The profile's edit was merged with changes made elsewhere (fields named
  // when known, e.g. {"name"}), until dismissMergeNote().
  std::optional<std::vector<std::string>> merged_with;
};

// What the user's form showed when they edited a profile: the merge base.
struct EditBase {
  int64_t version = 0;
  QString name;
  QString email;
  // Lowercase hex SHA-256 of the avatar shown; empty for none.
  QString avatar_sha256;
};

// The rows of a snapshot: immutable views shared between snapshots, so that
// publishing copies pointers rather than profiles (pictures included), and a
// consumer tells a row that did not change by its address (shared(i)).
// Iterates and indexes as ProfileView values.
class ProfileViews {
 public:
  using Shared = std::shared_ptr<const ProfileView>;
  using const_iterator = boost::indirect_iterator<std::vector<Shared>::const_iterator>;

  ProfileViews() = default;
  explicit ProfileViews(std::vector<Shared> views) : views_(std::move(views)) {}

  const_iterator begin() const { return const_iterator(views_.begin()); }
  const_iterator end() const { return const_iterator(views_.end()); }
  size_t size() const { return views_.size(); }
  bool empty() const { return views_.empty(); }
  const ProfileView& operator[](size_t i) const { return *views_[i]; }
  const Shared& shared(size_t i) const { return views_[i]; }

 private:
  std::vector<Shared> views_;
};

// One row's change between two consecutive snapshots: `view` is the row
// now, or nullptr when profile `id` is no longer shown.
struct ViewChange {
  std::string id;
  std::shared_ptr<const ProfileView> view;
};

// An immutable picture of the client, published after every change.
struct ClientSnapshot {
  ProfileViews profiles;     // sorted by name, then id
  size_t pending_count = 0;  // mutations not yet acknowledged
  ConnectionState connection = ConnectionState::kOffline;
  std::string last_error;  // why the last sync attempt failed, if it did
  // Numbers one manager's snapshots: 1, 2, 3, ... in publishing order.
  uint64_t sequence = 0;
  // The rows that changed since snapshot `sequence - 1` (inserted, replaced
  // or gone), so that a consumer that shows that one updates only these;
  // one that missed it (or sees `rebuilt`) starts over from `profiles`.
  std::vector<ViewChange> changes;
  // The rows were built anew (the first snapshot, another store).
  bool rebuilt = false;
  // The store's pictures, which the rows name by avatar_sha256: read from
  // disk when shown (stored_picture.h). Null before a store is open.
  std::shared_ptr<const PictureShelf> pictures;
};

class SyncManager : public QObject {
  Q_OBJECT

 public:
  struct Options {
    // Folder of the local stores (QStandardPaths::AppDataLocation by default
    // in the app; a --data-dir flag in tests and for side-by-side devices).
    QString data_dir;
    // host:port of the gRPC ProfileService.
    QString server_address = QStringLiteral("127.0.0.1:50051");
    // Bearer token sent with every call; empty: none.
    QString token;
    // TLS to the server, verifying its certificate against the PEM CAs in
    // `tls_ca_pem` (empty: the system's); ProfileClient::Options.
    bool tls = false;
    QByteArray tls_ca_pem{};
    bool work_offline = false;
    // Tuning (the defaults suit the app; tests shorten them).
    // Retry delays while the server cannot be reached (full jitter).
    Backoff::Policy backoff;
    // Mutations (of different profiles) sent before the first is answered.
    int max_sends_in_flight = 16;
    // How often changes are pulled while WatchProfiles cannot be held.
    std::chrono::milliseconds poll_interval{10000};
    // Deadline of each call, and how long a health check waits to connect.
    std::chrono::milliseconds call_timeout{10000};
    std::chrono::milliseconds connect_timeout{2000};
  };

  // Opens the local store (FAILED_PRECONDITION/INTERNAL/... from LocalStore)
  // and starts the worker thread. snapshot() is complete when it returns.
  // Reachability comes from QNetworkInformation when a backend with the
  // Reachability feature loads (it is loaded here, once per process).
  static absl::StatusOr<std::unique_ptr<SyncManager>> Open(Options options);

  // Stops the worker thread: waits for the write in progress, if any; every
  // acknowledged local edit is already on disk.
  ~SyncManager() override;

  // The latest snapshot. Hold it in a local before iterating: in
  // `for (auto& v : manager.snapshot()->profiles)` the temporary is gone
  // before the loop body runs, and a newer publish frees what it iterates.
  std::shared_ptr<const ClientSnapshot> snapshot() const;

  // What opening the store repaired, for the user (DescribeRepair()); empty
  // after a clean open.
  const QString& openRepairNote() const { return open_repair_note_; }

  // Queues a new profile with a fresh UUID; returns the id at once (the
  // worker generates it: this waits for the durable append, never for the
  // network). Returns an empty id, and emits operationFailed, on failure.
  QString createProfile(const QString& name, const QString& email, const QByteArray& avatar);
  // Queues an edit of the fields in `mask` ("name", "email", "avatar"),
  // based on `base`, what the user's form showed; without it, on the
  // profile as this device shows it when the edit reaches the queue.
  void editProfile(const QString& id, const QString& name, const QString& email,
                   const QByteArray& avatar, const QStringList& mask,
                   const std::optional<EditBase>& base = std::nullopt);
  // Deletes profile `id` (SyncEngine::Delete): gone from the snapshot at
  // once, sent when the server can be reached.
  void deleteProfile(const QString& id);
  // The resolutions of a kConflict profile, and forgetting the parked
  // (kRejected) edits of a profile. `id` is the profile's id.
  void resolveKeepServer(const QString& id);
  void resolveApplyMine(const QString& id);
  void dismissRejected(const QString& id);
  // Sends the parked edits of profile `id` again (same mutation ids).
  void retryParked(const QString& id);
  // The user has seen the merge note of profile `id`.
  void dismissMergeNote(const QString& id);

  // Sends `token` with every call from now on (SyncEngine::SetToken).
  void setToken(const QString& token);
  // TLS to the server from now on, trusting the PEM CAs in `ca_pem` (empty:
  // the system's), or plain text (SyncEngine::SetTls).
  void setTls(bool tls, const QByteArray& ca_pem);
  void setWorkOffline(bool offline);
  void setServerAddress(const QString& address);
  // Pull now (pull-to-refresh), and retry at once if backing off.
  void refresh();

 signals:
  // A new snapshot() is available.
  void snapshotChanged();
  // A local operation failed (e.g. the disk is full); the message is for the user.
  void operationFailed(const QString& message);

 private:
  class Worker;
  explicit SyncManager(QObject* parent = nullptr);
  // Called by the worker (on its thread): stores `snapshot` and signals it.
  void Publish(std::shared_ptr<const ClientSnapshot> snapshot);

  // std::mutex rather than absl::Mutex: ThreadSanitizer checks it (Debian's
  // Abseil is not instrumented).
  mutable std::mutex mu_;
  std::shared_ptr<const ClientSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  QString open_repair_note_;
  QThread thread_;
  // Lives on thread_; destroyed after thread_ has finished.
  std::unique_ptr<Worker> worker_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_SYNC_SYNC_MANAGER_H_
