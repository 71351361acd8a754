#include "apps/qml-client/models/settings_editor.h"

#include <QCoreApplication>

namespace profiles::client {

QString ServerAddressProblem(const QString& address) {
  const QString trimmed = address.trimmed();
  if (trimmed.isEmpty()) {
    return QCoreApplication::translate("SettingsEditor", "Enter the server's address as host:port");
  }
  for (const QChar c : trimmed) {
    if (c.isSpace()) {
      return QCoreApplication::translate("SettingsEditor", "An address has no spaces");
    }
  }
  // The port follows the last colon; an IPv6 host is written in brackets
  // ("[::1]:50051"), so a colon inside the host is never taken for it.
  const qsizetype colon = trimmed.lastIndexOf(QLatin1Char(':'));
  const QString host = colon < 0 ? trimmed : trimmed.left(colon);
  if (colon < 0 || (host.contains(QLatin1Char(':')) &&
                    !(host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']'))))) {
    return QCoreApplication::translate(
        "SettingsEditor", "Add the port after a colon, e.g. profiles.example.com:50051");
  }
  if (host.isEmpty() || host == QLatin1String("[]")) {
    return QCoreApplication::translate("SettingsEditor", "The host before the colon is missing");
  }
  bool numeric = false;
  const int port = trimmed.mid(colon + 1).toInt(&numeric);
  if (!numeric || port < 1 || port > 65535) {
    return QCoreApplication::translate("SettingsEditor",
                                       "The port must be a number from 1 to 65535");
  }
  return {};
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
    connect(app_, &AppController::workOfflineChanged, this,
            &SettingsEditor::connectionProblemChanged);
    if (!edited_) address_ = app_->serverAddress();
  }
  emit appChanged();
  emit addressChanged();
  emit connectionProblemChanged();
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

}  // namespace profiles::client
