// profiles_app: the offline-first Profiles app. Flags and wiring only; the
// app is the ProfilesApp QML module (models/ and qml/).

#include <QtQml/qqmlextensionplugin.h>

#include <QCommandLineParser>
#include <QFile>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQuickStyle>
#include <QStandardPaths>
#include <cstdio>

#include "apps/qml-client/models/app_controller.h"
#include "apps/qml-client/models/settings_editor.h"

Q_IMPORT_QML_PLUGIN(ProfilesAppPlugin)

int main(int argc, char* argv[]) {
  QGuiApplication app(argc, argv);
  QGuiApplication::setOrganizationName(QStringLiteral("Profiles"));
  QGuiApplication::setApplicationName(QStringLiteral("Profiles"));
  QQuickStyle::setStyle(QStringLiteral("Material"));

  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral(
      "Offline-first Profiles app. Edits are kept on this device and sent to the profile "
      "service when it can be reached."));
  parser.addHelpOption();
  const QCommandLineOption server_option(
      QStringLiteral("server"),
      QStringLiteral("host:port of the gRPC profile service for this run (default: "
                     "$PROFILES_SERVER, else the address saved in Settings, else "
                     "127.0.0.1:50051)."),
      QStringLiteral("ADDRESS"));
  const QCommandLineOption data_dir_option(
      QStringLiteral("data-dir"),
      QStringLiteral("Folder of the local store and settings; two folders are two devices "
                     "(default: %1).")
          .arg(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)),
      QStringLiteral("DIR"));
  const QCommandLineOption token_file_option(
      QStringLiteral("token-file"),
      QStringLiteral("File holding a sign-in token (profilectl token) to save in the data folder "
                     "and use from now on (default: $PROFILES_TOKEN_FILE; else the token saved "
                     "in Settings). A file, not the token itself, so it stays out of ps."),
      QStringLiteral("FILE"));
  const QCommandLineOption tls_option(
      QStringLiteral("tls"),
      QStringLiteral("Connect to the server over TLS for this run, verifying its certificate "
                     "against the system's CAs (default: Settings)."));
  const QCommandLineOption tls_ca_option(
      QStringLiteral("tls-ca"),
      QStringLiteral("PEM file of the CAs that sign the server's certificate, for a private CA; "
                     "implies --tls (default: $PROFILES_TLS_CA_FILE, else Settings)."),
      QStringLiteral("FILE"));
  parser.addOption(server_option);
  parser.addOption(tls_option);
  parser.addOption(tls_ca_option);
  parser.addOption(data_dir_option);
  parser.addOption(token_file_option);
  parser.process(app);

  profiles::client::AppController::Options options;
  options.data_dir = parser.isSet(data_dir_option)
                         ? parser.value(data_dir_option)
                         : QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  options.server_address = parser.isSet(server_option) ? parser.value(server_option)
                                                       : qEnvironmentVariable("PROFILES_SERVER");
  // Typed by a person or a script: refused with the reason, as the
  // Settings field would, rather than tried and failing at every sync.
  if (!options.server_address.isEmpty()) {
    if (const QString problem = profiles::client::ServerAddressProblem(options.server_address);
        !problem.isEmpty()) {
      std::fprintf(stderr, "profiles_app: --server / PROFILES_SERVER '%s': %s\n",
                   qPrintable(options.server_address), qPrintable(problem));
      return 2;
    }
  }
  options.tls = parser.isSet(tls_option);
  options.tls_ca_file = parser.isSet(tls_ca_option) ? parser.value(tls_ca_option)
                                                    : qEnvironmentVariable("PROFILES_TLS_CA_FILE");
  const QString token_file = parser.isSet(token_file_option)
                                 ? parser.value(token_file_option)
                                 : qEnvironmentVariable("PROFILES_TOKEN_FILE");
  if (!token_file.isEmpty()) {
    QFile file(token_file);
    if (!file.open(QIODevice::ReadOnly)) {
      std::fprintf(stderr, "profiles_app: --token-file '%s': %s\n", qPrintable(token_file),
                   qPrintable(file.errorString()));
      return 2;
    }
    options.token = QString::fromUtf8(file.readAll()).trimmed();
    if (options.token.isEmpty()) {
      std::fprintf(stderr, "profiles_app: --token-file '%s' is empty\n", qPrintable(token_file));
      return 2;
    }
  }
  auto controller = profiles::client::AppController::Open(options);
  QQmlApplicationEngine engine;
  if (!controller.ok()) {
    const std::string reason(controller.status().message());
    std::fprintf(stderr, "profiles_app: cannot open %s: %s\n", qPrintable(options.data_dir),
                 reason.c_str());
    // Started from a launcher, nobody reads stderr: say it in a window too.
    engine.setInitialProperties({{QStringLiteral("message"), QString::fromStdString(reason)}});
    engine.load(QUrl(QStringLiteral("qrc:/ProfilesApp/StartupErrorWindow.qml")));
    if (engine.rootObjects().isEmpty()) return 1;
    QGuiApplication::exec();
    return 1;
  }

  (*controller)->registerWith(engine);
  QObject::connect(
      &engine, &QQmlApplicationEngine::objectCreationFailed, &app,
      [] { QCoreApplication::exit(1); }, Qt::QueuedConnection);
  engine.load(QUrl(QStringLiteral("qrc:/ProfilesApp/Main.qml")));
  return QGuiApplication::exec();
}
