#ifndef PROFILES_APPS_QML_CLIENT_MODELS_SETTINGS_EDITOR_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_SETTINGS_EDITOR_H_

// SettingsEditor: the Settings screen's backend. It holds the server address
// the user is typing (a draft: nothing changes until apply()), checks it as
// they type, and says why the app cannot reach the server it has.
//
// Usage from QML:
//   SettingsEditor { id: settings; app: AppController }
//   FieldWithError { text: settings.address; error: settings.addressError
//                    onEdited: text => settings.address = text }
//   Button { enabled: settings.canApply; onClicked: settings.apply() }
//
// Thread safety: GUI thread only, like every QObject the QML engine uses.

#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QPointer>
#include <QString>

#include "apps/qml-client/models/app_controller.h"

namespace profiles::client {

// Why `address` is not a server address the app can dial ("host:port", a
// bracketed IPv6 host, port 1 to 65535), in words for the user; empty if it
// is one. Leading and trailing spaces are ignored.
QString ServerAddressProblem(const QString& address);

class SettingsEditor : public QObject {
  Q_OBJECT
  QML_ELEMENT

  Q_PROPERTY(profiles::client::AppController* app READ app WRITE setApp NOTIFY appChanged)
  // The address being typed; starts as (and follows, until edited) the app's.
  Q_PROPERTY(QString address READ address WRITE setAddress NOTIFY addressChanged)
  Q_PROPERTY(QString addressError READ addressError NOTIFY addressChanged)
  // A valid address other than the one in use.
  Q_PROPERTY(bool canApply READ canApply NOTIFY addressChanged)
  // Why the app is offline although "Work offline" is off; empty otherwise.
  Q_PROPERTY(QString connectionProblem READ connectionProblem NOTIFY connectionProblemChanged)
  // What the address field shows under it: the draft's problem, else, while
  // the draft is the address in use, the connection's.
  Q_PROPERTY(QString fieldError READ fieldError NOTIFY fieldErrorChanged)
  // The sign-in token being pasted (a draft, cleared once applied), and
  // whether the app has one and the server refused it.
  Q_PROPERTY(QString token READ token WRITE setToken NOTIFY tokenChanged)
  Q_PROPERTY(QString tokenStatus READ tokenStatus NOTIFY tokenStatusChanged)
  // TLS to the server: a switch that applies at once (AppController::tls).
  Q_PROPERTY(bool tls READ tls WRITE setTls NOTIFY tlsChanged)
  // The CA file being typed (a draft; starts as, and follows until edited,
  // the app's); applyTlsCaFile() takes it, turning TLS on.
  Q_PROPERTY(QString tlsCaFile READ tlsCaFile WRITE setTlsCaFile NOTIFY tlsCaFileChanged)

 public:
  explicit SettingsEditor(QObject* parent = nullptr);

  AppController* app() const { return app_; }
  void setApp(AppController* app);
  QString address() const { return address_; }
  void setAddress(const QString& address);
  QString addressError() const;
  bool canApply() const;
  QString connectionProblem() const;
  QString fieldError() const;

  // Switches the app to address() if canApply(); returns whether it did.
  Q_INVOKABLE bool apply();

  QString token() const { return token_; }
  void setToken(const QString& token);
  QString tokenStatus() const;
  // Gives the app token() (AppController::setToken); clears the draft if it
  // was taken. Returns whether it was.
  Q_INVOKABLE bool applyToken();

  bool tls() const;
  // AppController::setTls with the CA file in use.
  void setTls(bool tls);
  QString tlsCaFile() const { return tls_ca_file_; }
  void setTlsCaFile(const QString& file);
  // TLS with the CA file tlsCaFile() (AppController::setTls); returns
  // whether the app took it.
  Q_INVOKABLE bool applyTlsCaFile();

 signals:
  void appChanged();
  void addressChanged();
  void connectionProblemChanged();
  void fieldErrorChanged();
  void tokenChanged();
  void tokenStatusChanged();
  void tlsChanged();
  void tlsCaFileChanged();

 private:
  QPointer<AppController> app_;
  QString address_;
  QString token_;
  QString tls_ca_file_;
  bool tls_ca_file_edited_ = false;
  // The user typed since the app's address was last taken over.
  bool edited_ = false;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_SETTINGS_EDITOR_H_
