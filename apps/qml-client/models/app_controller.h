#ifndef PROFILES_APPS_QML_CLIENT_MODELS_APP_CONTROLLER_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_APP_CONTROLLER_H_

// AppController is the app-wide backend, the QML singleton `AppController`:
// it owns the SyncManager and the avatar cache, shows the connection state
// (online / offline / syncing and the count of pending changes), and keeps
// the settings (server address, work offline) in <data dir>/settings.ini, so
// two instances with two data folders are two independent devices. The
// sign-in token, a secret, is kept apart in <data dir>/token, readable by
// its owner only, and never handed to QML (hasToken says whether there is
// one).
//
//   auto controller = AppController::Open({.data_dir = dir});
//   QQmlApplicationEngine engine;
//   (*controller)->registerWith(engine);   // before loading any QML
//   engine.load(QUrl(QStringLiteral("qrc:/ProfilesApp/Main.qml")));
//
// The per-screen backends (ProfileListModel, ProfileEditor) take it as their
// `app` property and follow snapshotChanged().
//
// Thread safety: lives on and must be used from the UI thread.

#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QQmlEngine>
#include <QSettings>
#include <QString>
#include <memory>

#include "absl/status/statusor.h"
#include "apps/qml-client/models/avatar_cache.h"
#include "apps/qml-client/sync/sync_manager.h"

namespace profiles::client {

class AppController : public QObject {
  Q_OBJECT
  QML_ELEMENT
  QML_SINGLETON

  Q_PROPERTY(Connection connection READ connection NOTIFY statusChanged)
  Q_PROPERTY(int pendingCount READ pendingCount NOTIFY statusChanged)
  Q_PROPERTY(QString lastError READ lastError NOTIFY statusChanged)
  Q_PROPERTY(bool workOffline READ workOffline WRITE setWorkOffline NOTIFY workOfflineChanged)
  Q_PROPERTY(
      QString serverAddress READ serverAddress WRITE setServerAddress NOTIFY serverAddressChanged)
  Q_PROPERTY(QString dataDir READ dataDir CONSTANT)
  Q_PROPERTY(bool hasToken READ hasToken NOTIFY tokenChanged)
  // TLS to the server, and the CA file that signs its certificate (empty:
  // the system's CAs); changed with setTls().
  Q_PROPERTY(bool tls READ tls NOTIFY tlsChanged)
  Q_PROPERTY(QString tlsCaFile READ tlsCaFile NOTIFY tlsChanged)
  // What opening the data folder repaired, in plain words; empty when there
  // is nothing to tell or once the user has dismissed it.
  Q_PROPERTY(QString repairNote READ repairNote NOTIFY repairNoteChanged)

 public:
  // SignedOut: the server refused the token; edits wait for a new one.
  enum class Connection { Offline, Online, Syncing, SignedOut };
  Q_ENUM(Connection)

  struct Options {
    // Folder of the local store and settings.ini.
    QString data_dir;
    // Overrides the saved server address for this run when not empty
    // (--server, PROFILES_SERVER).
    QString server_address;
    // Replaces the saved sign-in token when not empty (--token-file).
    QString token{};
    // TLS to the server for this run, whatever settings.ini says (--tls);
    // with `tls_ca_file` (--tls-ca, implies TLS) the PEM file of the CAs
    // that may sign the server's certificate instead of the system's. The
    // saved settings are server/tls and server/tlsCaFile.
    bool tls = false;
    QString tls_ca_file{};
  };

  // Reads the settings and opens the SyncManager; its errors as they are,
  // and INVALID_ARGUMENT for a TLS CA file that cannot be read or holds no
  // PEM certificate.
  static absl::StatusOr<std::unique_ptr<AppController>> Open(const Options& options);
  ~AppController() override;

  // The instance registerWith() installed. For the QML engine only.
  static AppController* create(QQmlEngine* qml_engine, QJSEngine* js_engine);

  // Makes this the AppController singleton of QML engines created from now
  // on and adds the avatar image provider to `engine`. Must outlive `engine`.
  void registerWith(QQmlEngine& engine);

  // The screens' profile operations, SyncManager's (sync_manager.h says
  // what each does): the screens go through this one door and never hold
  // the SyncManager.
  QString createProfile(const QString& name, const QString& email, const QByteArray& avatar) {
    return sync_->createProfile(name, email, avatar);
  }
  void editProfile(const QString& id, const QString& name, const QString& email,
                   const QByteArray& avatar, const QStringList& mask,
                   const std::optional<EditBase>& base = std::nullopt) {
    sync_->editProfile(id, name, email, avatar, mask, base);
  }
  void deleteProfile(const QString& id) { sync_->deleteProfile(id); }
  void resolveKeepServer(const QString& id) { sync_->resolveKeepServer(id); }
  void resolveApplyMine(const QString& id) { sync_->resolveApplyMine(id); }
  void dismissRejected(const QString& id) { sync_->dismissRejected(id); }
  void retryParked(const QString& id) { sync_->retryParked(id); }
  void dismissMergeNote(const QString& id) { sync_->dismissMergeNote(id); }

  // The pictures the screens show (image://avatars/...).
  AvatarCache& avatars() { return *avatars_; }
  std::shared_ptr<const ClientSnapshot> snapshot() const { return snapshot_; }

  Connection connection() const;
  int pendingCount() const;
  QString lastError() const;
  bool workOffline() const { return work_offline_; }
  void setWorkOffline(bool offline);
  QString serverAddress() const { return server_address_; }
  void setServerAddress(const QString& address);
  QString dataDir() const { return data_dir_; }
  bool hasToken() const { return has_token_; }
  // Saves `token` (pasted as given: surrounding spaces and a "Bearer "
  // prefix are dropped; empty forgets it) and syncs with it from now on.
  // False, with operationFailed(), if it cannot be saved or has spaces
  // inside.
  Q_INVOKABLE bool setToken(const QString& token);

  bool tls() const { return tls_; }
  QString tlsCaFile() const { return tls_ca_file_; }
  // Speaks TLS (or plain text) to the server from now on, trusting the CAs
  // of the PEM file `ca_file` (empty: the system's), and saves the choice.
  // False, with operationFailed(), when `tls` and the file cannot be read
  // or holds no certificate: nothing changes then.
  Q_INVOKABLE bool setTls(bool tls, const QString& ca_file);

  // Pull now (pull-to-refresh) and retry at once if backing off.
  Q_INVOKABLE void refresh();
  QString repairNote() const { return repair_note_; }
  Q_INVOKABLE void dismissRepairNote();

 signals:
  // snapshot() changed.
  void snapshotChanged();
  void statusChanged();
  void workOfflineChanged();
  void serverAddressChanged();
  void tokenChanged();
  void tlsChanged();
  void repairNoteChanged();
  // A local operation failed; the message is for the user.
  void operationFailed(const QString& message);

 private:
  AppController(std::unique_ptr<SyncManager> sync, std::unique_ptr<QSettings> settings,
                QString data_dir, QString server_address, bool work_offline, bool has_token,
                bool tls, QString tls_ca_file);
  void onSnapshotChanged();

  const std::unique_ptr<SyncManager> sync_;
  const std::unique_ptr<QSettings> settings_;
  const std::shared_ptr<AvatarCache> avatars_ = std::make_shared<AvatarCache>();
  const QString data_dir_;
  QString server_address_;
  bool work_offline_;
  bool has_token_;
  bool tls_;
  QString tls_ca_file_;
  QString repair_note_;
  std::shared_ptr<const ClientSnapshot> snapshot_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_APP_CONTROLLER_H_
