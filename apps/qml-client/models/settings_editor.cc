#include "apps/qml-client/models/settings_editor.h"

#include <QCoreApplication>

#include "libs/profile_contract/host_port.h"

namespace profiles::client {

QString ServerAddressProblem(const QString& address) {
  switch (CheckHostPort(address.toStdString(), /*port_zero_allowed=*/false, nullptr)) {
    case AddressProblem::kNone:
      return {};
    case AddressProblem::kEmpty:
      return QCoreApplication::translate("SettingsEditor",
                                         "Enter the server's address as host:port");
    case AddressProblem::kHasSpace:
      return QCoreApplication::translate("SettingsEditor", "An address has no spaces");
    case AddressProblem::kNoPort:
      return QCoreApplication::translate(
          "SettingsEditor", "Add the port after a colon, e.g. profiles.example.com:50051");
    case AddressProblem::kNoHost:
      return QCoreApplication::translate("SettingsEditor", "The host before the colon is missing");
    case AddressProblem::kBadPort:
      break;
  }
  return QCoreApplication::translate("SettingsEditor", "The port must be a number from 1 to 65535");
}

SettingsEditor::SettingsEditor(QObject* parent) : QObject(parent) {
  connect(this, &SettingsEditor::addressChanged, this, &SettingsEditor::fieldErrorChanged);
  connect(this, &SettingsEditor::connectionProblemChanged, this,
          &SettingsEditor::fieldErrorChanged);
}

void SettingsEditor::setApp(AppController* app) {
  if (app == app_) return;
  if (app_ != nullptr) disconnect(app_, nullptr, this, nullptr);
  app_ = app;
  if (app_ != nullptr) {
    connect(app_, &AppController::serverAddressChanged, this, [this] {
      // Applied: the draft is the app's address again, until edited anew.
      edited_ = false;
      address_ = app_->serverAddress();
      emit addressChanged();
    });
    connect(app_, &AppController::statusChanged, this, &SettingsEditor::connectionProblemChanged);
    connect(app_, &AppController::statusChanged, this, &SettingsEditor::tokenStatusChanged);
    connect(app_, &AppController::tokenChanged, this, &SettingsEditor::tokenStatusChanged);
    connect(app_, &AppController::workOfflineChanged, this,
            &SettingsEditor::connectionProblemChanged);
    connect(app_, &AppController::tlsChanged, this, [this] {
      tls_ca_file_edited_ = false;
      tls_ca_file_ = app_->tlsCaFile();
      emit tlsChanged();
      emit tlsCaFileChanged();
    });
    if (!edited_) address_ = app_->serverAddress();
    if (!tls_ca_file_edited_) tls_ca_file_ = app_->tlsCaFile();
  }
  emit appChanged();
  emit addressChanged();
  emit connectionProblemChanged();
  emit tokenStatusChanged();
  emit tlsChanged();
  emit tlsCaFileChanged();
}

void SettingsEditor::setAddress(const QString& address) {
  if (address == address_) return;
  address_ = address;
  edited_ = true;
  emit addressChanged();
}

QString SettingsEditor::addressError() const { return ServerAddressProblem(address_); }

bool SettingsEditor::canApply() const {
  return app_ != nullptr && addressError().isEmpty() && address_.trimmed() != app_->serverAddress();
}

QString SettingsEditor::connectionProblem() const {
  if (app_ == nullptr || app_->workOffline() ||
      app_->connection() != AppController::Connection::Offline) {
    return {};
  }
  return app_->lastError();
}

QString SettingsEditor::fieldError() const {
  if (QString problem = addressError(); !problem.isEmpty()) return problem;
  // The connection's problem belongs to the address in use, not to another
  // one being typed.
  if (app_ != nullptr && address_.trimmed() == app_->serverAddress()) return connectionProblem();
  return {};
}

bool SettingsEditor::apply() {
  if (!canApply()) return false;
  app_->setServerAddress(address_);
  return true;
}

void SettingsEditor::setToken(const QString& token) {
  if (token == token_) return;
  token_ = token;
  emit tokenChanged();
}

QString SettingsEditor::tokenStatus() const {
  if (app_ == nullptr) return {};
  if (app_->connection() == AppController::Connection::SignedOut) return app_->lastError();
  return app_->hasToken() ? tr("Signed in with a saved token.")
                          : tr("No token: a server that requires sign-in refuses every change.");
}

bool SettingsEditor::applyToken() {
  if (app_ == nullptr || token_.trimmed().isEmpty() || !app_->setToken(token_)) return false;
  setToken(QString());
  return true;
}

bool SettingsEditor::tls() const { return app_ != nullptr && app_->tls(); }

void SettingsEditor::setTls(bool tls) {
  if (app_ == nullptr || tls == app_->tls()) return;
  // Refused (an unreadable CA file): the switch springs back.
  if (!app_->setTls(tls, app_->tlsCaFile())) emit tlsChanged();
}

void SettingsEditor::setTlsCaFile(const QString& file) {
  if (file == tls_ca_file_) return;
  tls_ca_file_ = file;
  tls_ca_file_edited_ = true;
  emit tlsCaFileChanged();
}

bool SettingsEditor::applyTlsCaFile() {
  return app_ != nullptr && app_->setTls(true, tls_ca_file_);
}

}  // namespace profiles::client
