#include "apps/qml-client/models/app_controller.h"

#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <cstdio>

namespace profiles::client {
namespace {

constexpr char kServerAddressKey[] = "server/address";
constexpr char kWorkOfflineKey[] = "server/workOffline";
constexpr char kTlsKey[] = "server/tls";
constexpr char kTlsCaFileKey[] = "server/tlsCaFile";

// The controller QML engines get as their singleton; set by registerWith().
AppController* registered_instance = nullptr;

}  // namespace

namespace {

constexpr char kTokenFile[] = "token";

// The token as pasted: without surrounding spaces or a "Bearer " prefix.
QString NormalizedToken(const QString& pasted) {
  QString token = pasted.trimmed();
  if (token.startsWith(QLatin1String("Bearer "), Qt::CaseInsensitive)) {
    token = token.mid(7).trimmed();
  }
  return token;
}

QString ReadToken(const QString& data_dir) {
  QFile file(QDir(data_dir).filePath(QLatin1String(kTokenFile)));
  if (!file.open(QIODevice::ReadOnly)) return {};
  return NormalizedToken(QString::fromUtf8(file.readAll()));
}

// Replaces <data dir>/token whole (a new file renamed over the old one, so
// a crash leaves one or the other), readable by its owner only from before
// the secret is written; an empty token removes the file.
absl::Status SaveToken(const QString& data_dir, const QString& token) {
  const QString path = QDir(data_dir).filePath(QLatin1String(kTokenFile));
  if (token.isEmpty()) {
    if (QFile::exists(path) && !QFile::remove(path)) {
      return absl::InternalError("cannot remove " + path.toStdString());
    }
    return absl::OkStatus();
  }
  const QString temporary = path + QLatin1String(".new");
  QFile file(temporary);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
      !file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner) ||
      file.write(token.toUtf8()) < 0 || !file.flush() || ::fsync(file.handle()) != 0) {
    const std::string why = file.errorString().toStdString();
    file.close();
    QFile::remove(temporary);
    return absl::InternalError("cannot save the sign-in token in " + path.toStdString() + ": " +
                               why);
  }
  file.close();
  if (std::rename(QFile::encodeName(temporary).constData(), QFile::encodeName(path).constData()) !=
      0) {
    QFile::remove(temporary);
    return absl::InternalError("cannot save the sign-in token in " + path.toStdString());
  }
  return absl::OkStatus();
}

// The PEM CAs of `path`, checked to hold a certificate so that a wrong file
// is reported now, not as every connection failing its handshake.
absl::StatusOr<QByteArray> ReadCaFile(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    return absl::InvalidArgumentError("cannot read the TLS CA file " + path.toStdString() + ": " +
                                      file.errorString().toStdString());
  }
  QByteArray pem = file.readAll();
  if (!pem.contains("-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError("the TLS CA file " + path.toStdString() +
                                      " holds no PEM certificate");
  }
  return pem;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AppController>> AppController::Open(const Options& options) {
  if (!QDir().mkpath(options.data_dir)) {
    return absl::FailedPreconditionError("cannot create the data folder " +
                                         options.data_dir.toStdString());
  }
  auto settings = std::make_unique<QSettings>(
      QDir(options.data_dir).filePath(QStringLiteral("settings.ini")), QSettings::IniFormat);
  SyncManager::Options sync_options;
  sync_options.data_dir = options.data_dir;
  sync_options.server_address =
      !options.server_address.isEmpty()
          ? options.server_address
          : settings->value(kServerAddressKey, sync_options.server_address).toString();
  sync_options.work_offline = settings->value(kWorkOfflineKey, false).toBool();
  const QString ca_file = !options.tls_ca_file.isEmpty()
                              ? options.tls_ca_file
                              : settings->value(kTlsCaFileKey).toString();
  sync_options.tls =
      options.tls || !options.tls_ca_file.isEmpty() || settings->value(kTlsKey, false).toBool();
  if (sync_options.tls && !ca_file.isEmpty()) {
    absl::StatusOr<QByteArray> authorities = ReadCaFile(ca_file);
    if (!authorities.ok()) return authorities.status();
    sync_options.tls_ca_pem = *std::move(authorities);
  }
  if (!options.token.isEmpty()) {
    if (absl::Status saved = SaveToken(options.data_dir, NormalizedToken(options.token));
        !saved.ok()) {
      return saved;
    }
  }
  sync_options.token = ReadToken(options.data_dir);
  absl::StatusOr<std::unique_ptr<SyncManager>> sync = SyncManager::Open(sync_options);
  if (!sync.ok()) return sync.status();
  return std::unique_ptr<AppController>(new AppController(
      std::move(*sync), std::move(settings), options.data_dir, sync_options.server_address,
      sync_options.work_offline, !sync_options.token.isEmpty(), sync_options.tls, ca_file));
}

AppController::AppController(std::unique_ptr<SyncManager> sync, std::unique_ptr<QSettings> settings,
                             QString data_dir, QString server_address, bool work_offline,
                             bool has_token, bool tls, QString tls_ca_file)
    : sync_(std::move(sync)),
      settings_(std::move(settings)),
      data_dir_(std::move(data_dir)),
      server_address_(std::move(server_address)),
      work_offline_(work_offline),
      has_token_(has_token),
      tls_(tls),
      tls_ca_file_(std::move(tls_ca_file)),
      repair_note_(sync_->openRepairNote()),
      snapshot_(sync_->snapshot()) {
  connect(sync_.get(), &SyncManager::snapshotChanged, this, &AppController::onSnapshotChanged);
  connect(sync_.get(), &SyncManager::operationFailed, this, &AppController::operationFailed);
}

AppController::~AppController() {
  if (registered_instance == this) registered_instance = nullptr;
}

AppController* AppController::create(QQmlEngine*, QJSEngine*) {
  Q_ASSERT_X(registered_instance, "AppController::create",
             "call AppController::registerWith(engine) before loading QML");
  QJSEngine::setObjectOwnership(registered_instance, QJSEngine::CppOwnership);
  return registered_instance;
}

void AppController::registerWith(QQmlEngine& engine) {
  registered_instance = this;
  engine.addImageProvider(QLatin1String(AvatarCache::kProviderName),
                          new AvatarImageProvider(avatars_));
}

AppController::Connection AppController::connection() const {
  switch (snapshot_->connection) {
    case ConnectionState::kOffline:
      return Connection::Offline;
    case ConnectionState::kOnline:
      return Connection::Online;
    case ConnectionState::kSyncing:
      return Connection::Syncing;
    case ConnectionState::kSignedOut:
      return Connection::SignedOut;
  }
  return Connection::Offline;
}

int AppController::pendingCount() const { return static_cast<int>(snapshot_->pending_count); }

void AppController::dismissRepairNote() {
  if (repair_note_.isEmpty()) return;
  repair_note_.clear();
  emit repairNoteChanged();
}

QString AppController::lastError() const { return QString::fromStdString(snapshot_->last_error); }

bool AppController::setToken(const QString& pasted) {
  const QString token = NormalizedToken(pasted);
  if (token.contains(QRegularExpression(QStringLiteral("\\s")))) {
    emit operationFailed(tr("A token has no spaces inside; paste it again, whole."));
    return false;
  }
  if (absl::Status saved = SaveToken(data_dir_, token); !saved.ok()) {
    emit operationFailed(QString::fromStdString(std::string(saved.message())));
    return false;
  }
  sync_->setToken(token);
  if (has_token_ != !token.isEmpty()) {
    has_token_ = !token.isEmpty();
    emit tokenChanged();
  }
  return true;
}

void AppController::setWorkOffline(bool offline) {
  if (offline == work_offline_) return;
  work_offline_ = offline;
  settings_->setValue(kWorkOfflineKey, offline);
  sync_->setWorkOffline(offline);
  emit workOfflineChanged();
}

void AppController::setServerAddress(const QString& address) {
  const QString trimmed = address.trimmed();
  if (trimmed.isEmpty() || trimmed == server_address_) return;
  server_address_ = trimmed;
  settings_->setValue(kServerAddressKey, trimmed);
  sync_->setServerAddress(trimmed);
  emit serverAddressChanged();
}

bool AppController::setTls(bool tls, const QString& ca_file) {
  const QString file = ca_file.trimmed();
  QByteArray authorities;
  if (tls && !file.isEmpty()) {
    absl::StatusOr<QByteArray> read = ReadCaFile(file);
    if (!read.ok()) {
      emit operationFailed(QString::fromUtf8(read.status().message().data(),
                                             static_cast<int>(read.status().message().size())));
      return false;
    }
    authorities = *std::move(read);
  }
  tls_ = tls;
  tls_ca_file_ = file;
  settings_->setValue(kTlsKey, tls);
  settings_->setValue(kTlsCaFileKey, file);
  sync_->setTls(tls, authorities);
  emit tlsChanged();
  return true;
}

void AppController::refresh() { sync_->refresh(); }

void AppController::onSnapshotChanged() {
  snapshot_ = sync_->snapshot();
  emit snapshotChanged();
  emit statusChanged();
}

}  // namespace profiles::client
