// Drives the real QML (Main.qml, Material) against a real profile_server on
// PostgreSQL, the way a user would: finds controls by accessible name, clicks
// and types with QTest, and waits for what the user would see.
//
// screenshots() also renders the main screens to PNG files in
// $PROFILES_SCREENSHOT_DIR (default: the build folder). ctest runs offscreen;
// docs/screenshots are rendered with
//   PROFILES_SCREENSHOT_DIR=docs/screenshots QT_QPA_PLATFORM=xcb
//   xvfb-run -a -s "-screen 0 1280x1024x24" ./profiles_app_ui_test screenshots

#include <QtQml/qqmlextensionplugin.h>
#include <grpcpp/grpcpp.h>

#include <QAccessible>
#include <QBuffer>
#include <QDir>
#include <QPainter>
#include <QQmlApplicationEngine>
#include <QQuickItem>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QRadialGradient>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <functional>

#include "apps/qml-client/models/app_controller.h"
#include "libs/profile_contract/validation.h"
#include "tests/e2e/server_process.h"
#include "tests/support/test_database.h"

Q_IMPORT_QML_PLUGIN(ProfilesAppPlugin)

namespace profiles::client {
namespace {

using profiles::testing::RandomUuid;
using profiles::testing::ServerProcess;
using profiles::testing::TestDatabase;

constexpr int kTimeoutMs = 30000;

QString AccessibleName(QQuickItem* item) {
  QAccessibleInterface* accessible = QAccessible::queryAccessibleInterface(item);
  return accessible ? accessible->text(QAccessible::Name) : QString();
}

// The first visible item under `root` (depth first) that `matches`.
QQuickItem* Find(QQuickItem* root, const std::function<bool(QQuickItem*)>& matches) {
  if (!root || !root->isVisible()) return nullptr;
  if (matches(root)) return root;
  for (QQuickItem* child : root->childItems()) {
    if (QQuickItem* found = Find(child, matches)) return found;
  }
  return nullptr;
}

QQuickItem* Button(QQuickWindow* window, const QString& name) {
  return Find(window->contentItem(), [&](QQuickItem* item) {
    return item->inherits("QQuickAbstractButton") && AccessibleName(item) == name;
  });
}

QQuickItem* TextInput(QQuickWindow* window, const QString& name) {
  return Find(window->contentItem(), [&](QQuickItem* item) {
    return item->inherits("QQuickTextInput") && AccessibleName(item) == name;
  });
}

QQuickItem* ByObjectName(QQuickItem* root, const QString& name) {
  return Find(root, [&](QQuickItem* item) { return item->objectName() == name; });
}

QQuickItem* Row(QQuickWindow* window, const std::string& profile_id) {
  return Find(window->contentItem(), [&](QQuickItem* item) {
    return item->objectName() == QLatin1String("profileRow") &&
           item->property("profileId").toString() == QString::fromStdString(profile_id);
  });
}

// What the row's sync-status icon tells a screen reader, or "" without a row.
QString RowStatus(QQuickWindow* window, const std::string& profile_id) {
  QQuickItem* row = Row(window, profile_id);
  QQuickItem* icon = row ? ByObjectName(row, QStringLiteral("syncStatus")) : nullptr;
  return icon ? AccessibleName(icon) : QString();
}

// Types ASCII `text` into the focused item, key by key.
void Type(QQuickWindow* window, const QString& text) {
  for (QChar c : text) QTest::keyClick(window, c.toLatin1());
}

void Click(QQuickWindow* window, QQuickItem* item) {
  QVERIFY(item);
  const QPointF centre = item->mapToScene(QPointF(item->width() / 2, item->height() / 2));
  QTest::mouseClick(window, Qt::LeftButton, {}, centre.toPoint());
}

// Waits for the StackView to finish its transition.
void WaitForStack(QQuickWindow* window) {
  QQuickItem* stack = ByObjectName(window->contentItem(), QStringLiteral("stack"));
  QVERIFY(stack);
  QTRY_VERIFY_WITH_TIMEOUT(!stack->property("busy").toBool(), kTimeoutMs);
}

profile::v1::Profile Get(const ServerProcess& server, const std::string& id) {
  grpc::ClientContext context;
  profile::v1::GetProfileRequest request;
  request.set_id(id);
  profile::v1::Profile profile;
  const grpc::Status status = server.NewStub()->GetProfile(&context, request, &profile);
  if (!status.ok()) qWarning("GetProfile: %s", status.error_message().c_str());
  return profile;
}

// Writes a profile's name and email (and avatar, if given) on the server, as
// another device would.
profile::v1::Profile Put(const ServerProcess& server, const std::string& id,
                         int64_t expected_version, const std::string& name,
                         const std::string& email, const QByteArray& avatar = {}) {
  grpc::ClientContext context;
  profile::v1::UpdateProfileRequest request;
  request.mutable_profile()->set_id(id);
  request.mutable_profile()->set_name(name);
  request.mutable_profile()->set_email(email);
  request.mutable_profile()->set_avatar(avatar.toStdString());
  request.mutable_update_mask()->add_paths("name");
  request.mutable_update_mask()->add_paths("email");
  if (!avatar.isEmpty()) request.mutable_update_mask()->add_paths("avatar");
  request.set_expected_version(expected_version);
  request.set_mutation_id(RandomUuid());
  profile::v1::Profile profile;
  const grpc::Status status = server.NewStub()->UpdateProfile(&context, request, &profile);
  if (!status.ok()) qWarning("UpdateProfile: %s", status.error_message().c_str());
  return profile;
}

// A generated portrait-like picture: a soft gradient with a head and
// shoulders, so screenshots show real avatars.
QByteArray Portrait(QColor background) {
  QImage image(256, 256, QImage::Format_RGB32);
  QPainter painter(&image);
  painter.setRenderHint(QPainter::Antialiasing);
  QRadialGradient gradient(QPointF(90, 60), 260);
  gradient.setColorAt(0, background.lighter(150));
  gradient.setColorAt(1, background.darker(130));
  painter.fillRect(image.rect(), gradient);
  painter.setPen(Qt::NoPen);
  painter.setBrush(QColor(255, 255, 255, 220));
  painter.drawEllipse(QPointF(128, 104), 48, 52);
  painter.drawEllipse(QRectF(44, 170, 168, 160));
  painter.end();
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  image.save(&buffer, "JPEG", 85);
  return bytes;
}

// A real photo-sized JPEG of 100-256 KiB: a gradient under per-pixel noise,
// so it does not compress below 100 KiB. Different seeds, different pictures.
QByteArray RealisticJpeg(quint32 seed) {
  QImage image(480, 480, QImage::Format_RGB32);
  quint32 x = 2654435761u * (seed + 1);
  for (int row = 0; row < image.height(); ++row) {
    auto* line = reinterpret_cast<QRgb*>(image.scanLine(row));
    for (int col = 0; col < image.width(); ++col) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      const int noise = static_cast<int>(x % 64) - 32;
      line[col] = qRgb(std::clamp(row / 2 + noise, 0, 255), std::clamp(col / 2 + noise, 0, 255),
                       std::clamp(static_cast<int>(seed * 40 % 256) + noise, 0, 255));
    }
  }
  for (int quality = 90; quality > 10; quality -= 10) {
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "JPEG", quality);
    if (bytes.size() <= 250 * 1024) return bytes;
  }
  return {};
}

// One running app: its own data folder, controller, engine and window.
struct App {
  QTemporaryDir data_dir;
  std::unique_ptr<AppController> controller;
  std::unique_ptr<QQmlApplicationEngine> engine;
  QQuickWindow* window = nullptr;

  ~App() {
    engine.reset();  // before the controller it uses
  }
};

std::unique_ptr<App> StartApp(const std::string& server_address) {
  auto app = std::make_unique<App>();
  absl::StatusOr<std::unique_ptr<AppController>> controller = AppController::Open(
      {.data_dir = app->data_dir.path(), .server_address = QString::fromStdString(server_address)});
  if (!controller.ok()) {
    qWarning("AppController::Open: %s", std::string(controller.status().message()).c_str());
    return nullptr;
  }
  app->controller = std::move(*controller);
  app->engine = std::make_unique<QQmlApplicationEngine>();
  app->controller->registerWith(*app->engine);
  app->engine->load(QUrl(QStringLiteral("qrc:/ProfilesApp/Main.qml")));
  if (app->engine->rootObjects().isEmpty()) return nullptr;
  app->window = qobject_cast<QQuickWindow*>(app->engine->rootObjects().first());
  if (!app->window || !QTest::qWaitForWindowExposed(app->window)) return nullptr;
  app->window->requestActivate();
  return app;
}

}  // namespace

class UiTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { QQuickStyle::setStyle(QStringLiteral("Material")); }

  // Every test gets its own database and server.
  void init() {
    absl::StatusOr<std::unique_ptr<TestDatabase>> database = TestDatabase::Create();
    QVERIFY2(database.ok(), database.status().ToString().c_str());
    database_ = std::move(*database);
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(database_->url());
    QVERIFY2(server.ok(), server.status().ToString().c_str());
    server_ = std::move(*server);
  }

  void cleanup() {
    server_.reset();
    database_.reset();
  }

  // Open a profile, edit the name, save while working offline: the row shows
  // the pending icon and the server still has the old name. Go online: the
  // row turns synced and the server has the new name.
  void editOfflineThenSync() {
    const std::string id = RandomUuid();
    Put(*server_, id, 0, "Ada Lovelace", "ada@example.com");
    std::unique_ptr<App> app = StartApp(server_->grpc_address());
    QVERIFY(app);
    QQuickWindow* window = app->window;
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, id), QStringLiteral("Synced"), kTimeoutMs);

    // Settings > Work offline > Back.
    Click(window, Button(window, QStringLiteral("Settings")));
    WaitForStack(window);
    Click(window, Button(window, QStringLiteral("Work offline")));
    QTRY_VERIFY(app->controller->workOffline());
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);
    QTRY_COMPARE(app->controller->connection(), AppController::Connection::Offline);

    // Open the profile and rename her.
    Click(window, Row(window, id));
    WaitForStack(window);
    QQuickItem* name = TextInput(window, QStringLiteral("Name"));
    QVERIFY(name);
    QCOMPARE(name->property("text").toString(), QStringLiteral("Ada Lovelace"));
    Click(window, name);
    QTRY_VERIFY(name->hasActiveFocus());
    QTest::keySequence(window, QKeySequence::SelectAll);
    Type(window, QStringLiteral("Ada King"));
    QCOMPARE(name->property("text").toString(), QStringLiteral("Ada King"));
    Click(window, Button(window, QStringLiteral("Save")));
    WaitForStack(window);

    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, id), QStringLiteral("Waiting to sync"), kTimeoutMs);
    QCOMPARE(Row(window, id)->property("name").toString(), QStringLiteral("Ada King"));
    QCOMPARE(app->controller->pendingCount(), 1);
    QVERIFY(AccessibleName(ByObjectName(window->contentItem(), QStringLiteral("connectionChip")))
                .contains(QStringLiteral("1 pending")));
    QCOMPARE(Get(*server_, id).name(), "Ada Lovelace");

    // Back online from the offline banner's button.
    Click(window, Button(window, QStringLiteral("Go online")));
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, id), QStringLiteral("Synced"), kTimeoutMs);
    QCOMPARE(app->controller->pendingCount(), 0);
    QCOMPARE(Get(*server_, id).name(), "Ada King");
    QCOMPARE(Get(*server_, id).version(), 2);
  }

  // "New profile" while working offline: the form checks the fields as they
  // are typed, Save is enabled only when both are valid, and the new row is
  // pending until the app goes online.
  void createProfileOffline() {
    std::unique_ptr<App> app = StartApp(server_->grpc_address());
    QVERIFY(app);
    QQuickWindow* window = app->window;
    app->controller->setWorkOffline(true);
    QVERIFY(Find(window->contentItem(), [](QQuickItem* item) {
      return AccessibleName(item) == QLatin1String("No profiles yet");
    }));

    Click(window, Button(window, QStringLiteral("New profile")));
    WaitForStack(window);
    QQuickItem* save = Button(window, QStringLiteral("Save"));
    QVERIFY(save);
    QVERIFY(!save->isEnabled());
    Click(window, TextInput(window, QStringLiteral("Name")));
    Type(window, QStringLiteral("Hedy Lamarr"));
    Click(window, TextInput(window, QStringLiteral("Email")));
    Type(window, QStringLiteral("hedy@"));
    const QString problem = QString::fromStdString(*EmailProblem("hedy@"));
    QTRY_VERIFY(Find(window->contentItem(), [&](QQuickItem* item) {
      return AccessibleName(item).compare(problem, Qt::CaseInsensitive) == 0;
    }));
    QVERIFY(!save->isEnabled());
    Type(window, QStringLiteral("example.com"));
    QTRY_VERIFY(save->isEnabled());
    Click(window, save);
    WaitForStack(window);

    QTRY_COMPARE_WITH_TIMEOUT(app->controller->snapshot()->profiles.size(), size_t{1}, kTimeoutMs);
    const std::string id = app->controller->snapshot()->profiles[0].profile->id();
    QTRY_COMPARE(RowStatus(window, id), QStringLiteral("Waiting to sync"));
    app->controller->setWorkOffline(false);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, id), QStringLiteral("Synced"), kTimeoutMs);
    QCOMPARE(Get(*server_, id).email(), "hedy@example.com");
  }

  // Issue 6, finding 1: the form is open while another device changes the
  // profile (real-sized pictures on both profiles). The same field: Save
  // shows the conflict card, nothing is overwritten. Another field: the
  // form shows the outside change live, Save merges, and the page says so.
  void editOnlineWhileChangedElsewhere() {
    const QByteArray picture = RealisticJpeg(3);
    QVERIFY2(picture.size() >= 100 * 1024 && picture.size() <= 256 * 1024,
             QByteArray::number(picture.size()));
    const std::string same = RandomUuid();
    const std::string other = RandomUuid();
    Put(*server_, same, 0, "Grace Hopper", "grace@example.com", picture);
    Put(*server_, other, 0, "Alan Turing", "alan@example.com", RealisticJpeg(4));
    std::unique_ptr<App> app = StartApp(server_->grpc_address());
    QVERIFY(app);
    QQuickWindow* window = app->window;
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, same), QStringLiteral("Synced"), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, other), QStringLiteral("Synced"), kTimeoutMs);
    auto version_shown = [&](const std::string& id) {
      // Held in a local: a range-for over a member of the temporary shared_ptr
      // would read a snapshot already freed.
      const std::shared_ptr<const ClientSnapshot> snapshot = app->controller->snapshot();
      for (const ProfileView& view : snapshot->profiles) {
        if (view.profile->id() == id) return view.profile->version();
      }
      return int64_t{0};
    };

    // Same field.
    Click(window, Row(window, same));
    WaitForStack(window);
    QQuickItem* name = TextInput(window, QStringLiteral("Name"));
    QVERIFY(name);
    Click(window, name);
    QTRY_VERIFY(name->hasActiveFocus());
    QTest::keySequence(window, QKeySequence::SelectAll);
    Type(window, QStringLiteral("Grace B. Hopper"));
    Put(*server_, same, 1, "Amazing Grace", "grace@example.com");
    QTRY_COMPARE_WITH_TIMEOUT(version_shown(same), int64_t{2}, kTimeoutMs);
    QCOMPARE(name->property("text").toString(), QStringLiteral("Grace B. Hopper"));
    Click(window, Button(window, QStringLiteral("Save")));
    WaitForStack(window);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, same), QStringLiteral("Changed elsewhere"),
                              kTimeoutMs);
    QCOMPARE(Get(*server_, same).name(), "Amazing Grace");
    QCOMPARE(Get(*server_, same).version(), 2);
    Click(window, Row(window, same));
    WaitForStack(window);
    QTRY_VERIFY(Button(window, QStringLiteral("Keep server version")));
    QVERIFY(Button(window, QStringLiteral("Apply mine on top")));
    QVERIFY(Button(window, QStringLiteral("Keep server version"))->isVisible());
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);

    // Different fields.
    Click(window, Row(window, other));
    WaitForStack(window);
    QQuickItem* email = TextInput(window, QStringLiteral("Email"));
    QVERIFY(email);
    Click(window, email);
    QTRY_VERIFY(email->hasActiveFocus());
    QTest::keySequence(window, QKeySequence::SelectAll);
    Type(window, QStringLiteral("turing@example.org"));
    Put(*server_, other, 1, "Alan M. Turing", "alan@example.com");
    // The untouched name follows the outside change live; the typed email stays.
    QTRY_COMPARE_WITH_TIMEOUT(TextInput(window, QStringLiteral("Name"))->property("text"),
                              QVariant(QStringLiteral("Alan M. Turing")), kTimeoutMs);
    QCOMPARE(email->property("text").toString(), QStringLiteral("turing@example.org"));
    Click(window, Button(window, QStringLiteral("Save")));
    WaitForStack(window);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, other), QStringLiteral("Synced"), kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(Get(*server_, other).version(), int64_t{3}, kTimeoutMs);
    QCOMPARE(Get(*server_, other).name(), "Alan M. Turing");
    QCOMPARE(Get(*server_, other).email(), "turing@example.org");
    QCOMPARE(QByteArray::fromStdString(Get(*server_, other).avatar()), RealisticJpeg(4));
    Click(window, Row(window, other));
    WaitForStack(window);
    QQuickItem* note = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT((note = Find(window->contentItem(),
                                          [](QQuickItem* item) {
                                            return item->objectName() ==
                                                       QLatin1String("mergedBanner") &&
                                                   item->isVisible();
                                          })) != nullptr,
                             kTimeoutMs);
    QCOMPARE(AccessibleName(note), QStringLiteral("Merged with a change from elsewhere"));
    QVERIFY(note->property("message").toString().contains(QStringLiteral("name")));
    if (!qEnvironmentVariableIsEmpty("PROFILES_SCREENSHOT_DIR")) {
      window->grabWindow().save(QDir(qEnvironmentVariable("PROFILES_SCREENSHOT_DIR"))
                                    .filePath(QStringLiteral("merged.png")));
    }
    Click(window, Button(window, QStringLiteral("OK")));
    QTRY_VERIFY(!note->isVisible());
  }

  // Both ways out of a conflict, from the banner's buttons.
  void resolveConflictsFromTheBanner() {
    const std::string keep = RandomUuid();
    const std::string mine = RandomUuid();
    Put(*server_, keep, 0, "Keep Server", "keep@example.com");
    Put(*server_, mine, 0, "Apply Mine", "mine@example.com");
    std::unique_ptr<App> app = StartApp(server_->grpc_address());
    QVERIFY(app);
    QQuickWindow* window = app->window;
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, mine), QStringLiteral("Synced"), kTimeoutMs);

    app->controller->setWorkOffline(true);
    for (const std::string& id : {keep, mine}) {
      app->controller->editProfile(QString::fromStdString(id), QStringLiteral("Edited here"), {},
                                   {}, {QStringLiteral("name")});
      Put(*server_, id, 1, "Edited elsewhere",
          id == keep ? "keep@example.com" : "mine@example.com");
    }
    app->controller->setWorkOffline(false);
    for (const std::string& id : {keep, mine}) {
      QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, id), QStringLiteral("Changed elsewhere"),
                                kTimeoutMs);
    }

    Click(window, Row(window, keep));
    WaitForStack(window);
    Click(window, Button(window, QStringLiteral("Keep server version")));
    QTRY_COMPARE_WITH_TIMEOUT(TextInput(window, QStringLiteral("Name"))->property("text"),
                              QVariant(QStringLiteral("Edited elsewhere")), kTimeoutMs);
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);
    QTRY_COMPARE(RowStatus(window, keep), QStringLiteral("Synced"));

    Click(window, Row(window, mine));
    WaitForStack(window);
    Click(window, Button(window, QStringLiteral("Apply mine on top")));
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, mine), QStringLiteral("Synced"), kTimeoutMs);
    QCOMPARE(Get(*server_, mine).name(), "Edited here");
    QCOMPARE(Get(*server_, mine).version(), 3);
    QCOMPARE(Get(*server_, keep).name(), "Edited elsewhere");
    QCOMPARE(Get(*server_, keep).version(), 2);
  }

  // The screens of docs/screenshots: the list, offline with pending
  // changes, the edit page with a validation error, a conflict, and the
  // empty state. (Rows are clicked only after the list shots: a clicked
  // row's Material ripple is still fading when the page is popped.)
  void screenshots() {
    const QString out_dir = qEnvironmentVariableIsSet("PROFILES_SCREENSHOT_DIR")
                                ? qEnvironmentVariable("PROFILES_SCREENSHOT_DIR")
                                : QStringLiteral(PROFILES_DEFAULT_SCREENSHOT_DIR);
    QVERIFY(QDir().mkpath(out_dir));
    auto save = [&](QQuickWindow* window, const char* file) {
      // Park the pointer on the background, as a finger would leave it.
      QTest::mouseMove(window, QPoint(16, window->height() - 100));
      const QImage image = window->grabWindow();
      QVERIFY(!image.isNull());
      QVERIFY(image.save(QDir(out_dir).filePath(QLatin1String(file))));
    };

    struct Person {
      const char* name;
      const char* email;
      QColor avatar;  // invalid: no avatar
      std::string id = RandomUuid();
    };
    std::vector<Person> people = {
        {"Alan Turing", "alan@bletchley.org", QColor("#5C6BC0")},
        {"Barbara Liskov", "liskov@mit.edu", QColor()},
        {"Dennis Ritchie", "dmr@bell-labs.com", QColor("#26A69A")},
        {"Edsger Dijkstra", "ewd@utexas.edu", QColor()},
        {"Grace Hopper", "grace@navy.mil", QColor("#EF5350")},
        {"Katherine Johnson", "katherine@nasa.gov", QColor("#AB47BC")},
        {"Linus Torvalds", "linus@kernel.org", QColor()},
        {"Margaret Hamilton", "margaret@mit.edu", QColor("#FFA726")},
    };
    for (const Person& person : people) {
      Put(*server_, person.id, 0, person.name, person.email,
          person.avatar.isValid() ? Portrait(person.avatar) : QByteArray());
    }
    const Person& alan = people[0];
    const Person& grace = people[4];
    const Person& linus = people[6];

    std::unique_ptr<App> app = StartApp(server_->grpc_address());
    QVERIFY(app);
    QQuickWindow* window = app->window;
    for (const Person& person : people) {
      QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, person.id), QStringLiteral("Synced"), kTimeoutMs);
    }
    save(window, "profile-list.png");

    Click(window, Button(window, QStringLiteral("Settings")));
    WaitForStack(window);
    save(window, "settings.png");
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);

    // Offline with two edits waiting.
    app->controller->setWorkOffline(true);
    app->controller->editProfile(QString::fromStdString(alan.id), QStringLiteral("Alan M. Turing"),
                                 alan.email, {}, {QStringLiteral("name")});
    app->controller->editProfile(QString::fromStdString(linus.id), linus.name,
                                 QStringLiteral("torvalds@linux-foundation.org"), {},
                                 {QStringLiteral("email")});
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, linus.id), QStringLiteral("Waiting to sync"),
                              kTimeoutMs);
    QTRY_COMPARE(app->controller->pendingCount(), 2);
    save(window, "offline-pending.png");

    // The edit page, with an address being typed.
    Click(window, Row(window, grace.id));
    WaitForStack(window);
    QQuickItem* email = TextInput(window, QStringLiteral("Email"));
    QVERIFY(email);
    Click(window, email);
    QTest::keySequence(window, QKeySequence::SelectAll);
    Type(window, QStringLiteral("grace@navy"));
    const QString problem = QString::fromStdString(*EmailProblem("grace@navy"));
    QTRY_VERIFY(Find(window->contentItem(), [&](QQuickItem* item) {
      return AccessibleName(item).compare(problem, Qt::CaseInsensitive) == 0;
    }));
    save(window, "profile-edit.png");
    Click(window, Button(window, QStringLiteral("Back")));
    WaitForStack(window);

    // Meanwhile someone else renames Alan: going online makes it a conflict.
    Put(*server_, alan.id, 1, "Alan Mathison Turing", "alan.turing@manchester.ac.uk");
    app->controller->setWorkOffline(false);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, alan.id), QStringLiteral("Changed elsewhere"),
                              kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(RowStatus(window, linus.id), QStringLiteral("Synced"), kTimeoutMs);
    Click(window, Row(window, alan.id));
    WaitForStack(window);
    QVERIFY(Button(window, QStringLiteral("Keep server version")));
    QVERIFY(Button(window, QStringLiteral("Apply mine on top")));
    save(window, "conflict.png");

    // A new device that cannot reach its server yet.
    std::unique_ptr<App> empty = StartApp("127.0.0.1:1");
    QVERIFY(empty);
    QTRY_COMPARE_WITH_TIMEOUT(empty->controller->connection(), AppController::Connection::Offline,
                              kTimeoutMs);
    save(empty->window, "empty-offline.png");
  }

 private:
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace profiles::client

#if defined(__SANITIZE_ADDRESS__)
// The options this test's AddressSanitizer starts from (ASAN_OPTIONS still
// overrides them), so that a sanitized build run by hand or by ctest alone
// behaves as under deploy/test.sh. intercept_tls_get_addr=0 works around a bug
// of Debian 12's runtime (GCC 12, google/sanitizers#1322): a dynamic TLS block
// (libmount's or libblkid's, loaded by Qt's GLib network-information plugin)
// that starts 16 bytes into a page is recorded with a garbage range, and at exit
// LeakSanitizer's tracer dies scanning it ("Tracer caught signal 11") after
// every test passed. See deploy/test.sh.
extern "C" const char* __asan_default_options() { return "intercept_tls_get_addr=0"; }
#endif

QTEST_MAIN(profiles::client::UiTest)
#include "ui_test.moc"
