// Unit tests of the app's backends: avatar scaling, the profiles list model
// and the profile editor's validation, server errors and conflict view.

#include <QBuffer>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QPainter>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <cctype>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "apps/qml-client/core/local_store.h"
#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/models/app_controller.h"
#include "apps/qml-client/models/avatar_cache.h"
#include "apps/qml-client/models/avatar_image.h"
#include "apps/qml-client/models/conflict_fields_model.h"
#include "apps/qml-client/models/profile_editor.h"
#include "apps/qml-client/models/profile_list_model.h"
#include "apps/qml-client/models/settings_editor.h"
#include "apps/qml-client/models/sync_status.h"
#include "libs/profile_contract/validation.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_images.h"

namespace profiles::client {
namespace {

std::string_view View(const QByteArray& bytes) {
  return std::string_view(bytes.constData(), static_cast<size_t>(bytes.size()));
}

// A photo-like picture that compresses badly: gradients plus noise.
QImage NoisyPicture(int width, int height, QImage::Format format) {
  QImage image(width, height, format);
  QRandomGenerator random(42);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int noise = static_cast<int>(random.bounded(64));
      image.setPixel(x, y,
                     qRgba((x * 255 / width + noise) % 256, (y * 255 / height + noise) % 256,
                           (x + y + noise) % 256, 255));
    }
  }
  return image;
}

ProfileView View(const std::string& id, const std::string& name, const std::string& email,
                 SyncState state = SyncState::kSynced, const std::string& avatar = {}) {
  auto profile = std::make_shared<profile::v1::Profile>();
  profile->set_id(id);
  profile->set_name(name);
  profile->set_email(email);
  profile->set_avatar(avatar);
  profile->set_version(1);
  ProfileView view;
  view.profile = std::move(profile);
  view.state = state;
  return view;
}

// Keeps the pictures of `view` as the store does: its profiles name them by
// sha, and the bytes are on `shelf`.
void Shelve(ProfileView* view, PictureShelf* shelf) {
  auto shelve = [shelf](profile::v1::Profile* profile) {
    if (profile->avatar().empty()) return;
    const std::string sha = AvatarSha256(profile->avatar());
    shelf->Add(sha, StoredPicture::InMemory(profile->avatar()));
    profile->set_avatar_sha256(sha);
    profile->clear_avatar();
  };
  auto profile = std::make_shared<profile::v1::Profile>(*view->profile);
  shelve(profile.get());
  view->profile = std::move(profile);
  if (view->server_profile) shelve(&*view->server_profile);
  if (view->deleted_from) shelve(&*view->deleted_from);
}

std::shared_ptr<const ClientSnapshot> Snapshot(std::vector<ProfileView> views) {
  auto snapshot = std::make_shared<ClientSnapshot>();
  auto shelf = std::make_shared<PictureShelf>();
  std::vector<ProfileViews::Shared> shared;
  for (ProfileView& view : views) {
    Shelve(&view, shelf.get());
    shared.push_back(std::make_shared<ProfileView>(std::move(view)));
  }
  snapshot->profiles = ProfileViews(std::move(shared));
  snapshot->pictures = std::move(shelf);
  return snapshot;
}

// Publishes snapshots as SyncManager's worker does: numbered, each with the
// rows that changed since the one before.
class Publisher {
 public:
  void Put(ProfileView view) {
    Shelve(&view, shelf_.get());
    Remove(view.profile->id(), /*gone=*/false);
    auto shared = std::make_shared<const ProfileView>(std::move(view));
    names_[shared->profile->id()] = shared->profile->name();
    rows_[{shared->profile->name(), shared->profile->id()}] = shared;
    changes_.push_back({shared->profile->id(), shared});
  }
  void Remove(const std::string& id, bool gone = true) {
    if (auto name = names_.find(id); name != names_.end()) {
      rows_.erase({name->second, id});
      names_.erase(name);
    }
    if (gone) changes_.push_back({id, nullptr});
  }
  std::shared_ptr<const ClientSnapshot> Publish() {
    auto snapshot = std::make_shared<ClientSnapshot>();
    std::vector<ProfileViews::Shared> shared;
    for (const auto& [key, view] : rows_) shared.push_back(view);
    snapshot->profiles = ProfileViews(std::move(shared));
    snapshot->pictures = shelf_;
    snapshot->sequence = ++sequence_;
    snapshot->rebuilt = sequence_ == 1;
    if (!snapshot->rebuilt) snapshot->changes = std::move(changes_);
    changes_.clear();
    return snapshot;
  }
  const std::map<std::string, std::string>& names() const { return names_; }

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const ProfileView>> rows_;
  std::map<std::string, std::string> names_;
  std::vector<ViewChange> changes_;
  uint64_t sequence_ = 0;
  const std::shared_ptr<PictureShelf> shelf_ = std::make_shared<PictureShelf>();
};

QStringList Ids(const ProfileListModel& model) {
  QStringList ids;
  for (int row = 0; row < model.rowCount(); ++row) {
    ids << model.data(model.index(row), ProfileListModel::ProfileIdRole).toString();
  }
  return ids;
}

}  // namespace

class ModelsTest : public QObject {
  Q_OBJECT

 private slots:
  void avatarFromLargePngFitsTheServerLimits() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("big.png"));
    QVERIFY(NoisyPicture(2000, 1500, QImage::Format_ARGB32).save(path, "PNG"));
    QVERIFY(QFileInfo(path).size() > static_cast<qint64>(kMaxAvatarBytes));

    absl::StatusOr<QByteArray> avatar = LoadAvatar(path);
    QVERIFY2(avatar.ok(), std::string(avatar.status().message()).c_str());
    QVERIFY(static_cast<size_t>(avatar->size()) < kMaxAvatarBytes);
    QVERIFY(ImageMimeType(View(*avatar)).has_value());
    QVERIFY(!AvatarProblem(View(*avatar)).has_value());
    const QImage decoded = QImage::fromData(*avatar);
    QCOMPARE(decoded.width(), kMaxAvatarSide);
    QCOMPARE(decoded.height(), kMaxAvatarSide * 1500 / 2000);
  }

  void smallTransparentAvatarStaysPng() {
    QImage image(64, 48, QImage::Format_ARGB32);
    image.fill(Qt::transparent);
    QPainter(&image).fillRect(8, 8, 32, 24, Qt::red);
    absl::StatusOr<QByteArray> avatar = EncodeAvatar(image);
    QVERIFY(avatar.ok());
    QCOMPARE(ImageMimeType(View(*avatar)), std::optional<std::string_view>("image/png"));
    QCOMPARE(QImage::fromData(*avatar).size(), QSize(64, 48));
  }

  void avatarFromNonImageIsRefused() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("notes.png"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("not a picture");
    file.close();
    ExpectInvalidArgument(LoadAvatar(path));
    ExpectInvalidArgument(EncodeAvatar(QImage()));
  }

  void avatarCarriesNoMetadataOfThePickedFile() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("IMG_0001.jpg"));
    const std::string photo =
        testing::TestJpeg(800, 600, 3,
                          {{testing::kJpegApp1, testing::GpsExif()},
                           {testing::kJpegCom, "taken at 12 Rue de l'Exemple"}});
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(photo.data(), static_cast<qint64>(photo.size()));
    file.close();
    // Qt reads the comment into the image's text, which its writers write
    // back out unless the app leaves it behind.
    QVERIFY(!QImage(path).text().isEmpty());

    absl::StatusOr<QByteArray> avatar = LoadAvatar(path);
    QVERIFY2(avatar.ok(), std::string(avatar.status().message()).c_str());
    for (const char* trace : {"Exif", "GPS", "WGS-84", "Rue de l'Exemple"}) {
      QVERIFY2(!avatar->contains(trace), trace);
    }
    QVERIFY(!avatar->contains(QByteArray::fromStdString(std::string(testing::kTestCameraModel))));
    QCOMPARE(QImage::fromData(*avatar).size(), QSize(kMaxAvatarSide, kMaxAvatarSide * 600 / 800));

    // The PNG path too (a transparent picture with text of its own).
    QImage transparent(64, 48, QImage::Format_ARGB32);
    transparent.fill(Qt::transparent);
    transparent.setText(QStringLiteral("Comment"), QStringLiteral("taken at 12 Rue de l'Exemple"));
    absl::StatusOr<QByteArray> png = EncodeAvatar(transparent);
    QVERIFY(png.ok());
    QCOMPARE(ImageMimeType(View(*png)), std::optional<std::string_view>("image/png"));
    QVERIFY(!png->contains("Rue de l'Exemple"));
  }

  void avatarCacheUrlChangesWithTheBytes() {
    AvatarCache cache;
    const QUrl first = cache.sourceFor(QStringLiteral("p-1"), "one");
    QCOMPARE(cache.sourceFor(QStringLiteral("p-1"), "one"), first);
    const QUrl second = cache.sourceFor(QStringLiteral("p-1"), "two");
    QVERIFY(second != first);
    QCOMPARE(cache.bytesFor(second.path().mid(1)), QByteArray("two"));
    QVERIFY(cache.sourceFor(QStringLiteral("p-1"), "").isEmpty());
    QVERIFY(cache.bytesFor(second.path().mid(1)).isEmpty());
  }

  // A picture travels by its hash: a stored picture and a draft of the same
  // bytes are one URL; a draft is held while a slot shows it, a stored one
  // is read from the store's shelf.
  void avatarCacheSharesAPictureByItsHash() {
    AvatarCache cache;
    const std::string picture(150 * 1024, 'p');
    const std::string sha = AvatarSha256(picture);
    const QUrl draft = cache.sourceFor(QStringLiteral("draft-1"), picture);
    QCOMPARE(draft.path().mid(1), QString::fromStdString(sha));
    QVERIFY2(cache.sourceFor(sha).isEmpty(), "no store shown yet");
    auto shelf = std::make_shared<PictureShelf>();
    shelf->Add(sha, StoredPicture::InMemory(picture));
    cache.showFrom(shelf);
    QCOMPARE(cache.sourceFor(sha), draft);
    cache.remove(QStringLiteral("draft-1"));
    // Read from the store now.
    QCOMPARE(cache.bytesFor(draft.path().mid(1)).size(), qsizetype(picture.size()));
    cache.showFrom(nullptr);
    QVERIFY(cache.bytesFor(draft.path().mid(1)).isEmpty());
  }

  // A stored picture is read when shown, through the shelf the latest
  // snapshot names; one the store does not hold yet (only its sha is known)
  // has no URL until it does.
  void avatarCacheReadsStoredPicturesWhenShown() {
    AvatarCache cache;
    const std::string picture(200 * 1024, 'q');
    const std::string sha = AvatarSha256(picture);
    auto shelf = std::make_shared<PictureShelf>();
    cache.showFrom(shelf);
    QVERIFY(cache.sourceFor(sha).isEmpty());
    QVERIFY(cache.sourceFor("").isEmpty());
    shelf->Add(sha, StoredPicture::InMemory(picture));
    const QUrl url = cache.sourceFor(sha);
    QVERIFY(!url.isEmpty());
    QCOMPARE(cache.bytesFor(url.path().mid(1)), QByteArray::fromStdString(picture));
    // A compaction replaces the shelf's entries; the URL stays and reads on.
    PictureShelf compacted;
    compacted.Add(sha, StoredPicture::InMemory(picture));
    shelf->ReplaceWith(std::move(compacted));
    QCOMPARE(cache.bytesFor(url.path().mid(1)).size(), qsizetype(picture.size()));
    // Another store (another server) does not show this one's pictures.
    cache.showFrom(std::make_shared<PictureShelf>());
    QVERIFY(cache.bytesFor(url.path().mid(1)).isEmpty());
  }

  // The server accepts PNG, JPEG, WebP and GIF avatars: the app must show
  // each of them (WebP needs Qt's image formats plugin, which the set-up
  // installs; without it a WebP avatar showed only the initial).
  void avatarProviderDecodesEveryFormatTheServerAccepts() {
    auto cache = std::make_shared<AvatarCache>();
    AvatarImageProvider provider(cache);
    QImage picture(64, 48, QImage::Format_RGB32);
    picture.fill(QColor(30, 120, 200));
    for (const char* format : {"PNG", "JPEG", "WEBP"}) {
      QByteArray bytes;
      QBuffer buffer(&bytes);
      QVERIFY(buffer.open(QIODevice::WriteOnly));
      QVERIFY2(picture.save(&buffer, format), format);
      const QUrl source = cache->sourceFor(QStringLiteral("p-") + format, bytes.toStdString());
      QSize size;
      const QImage shown = provider.requestImage(source.path().mid(1), &size, QSize(40, 40));
      QVERIFY2(!shown.isNull(), format);
      QCOMPARE(shown.width(), 40);
    }
    // Qt reads GIF but does not write it: the smallest valid GIF89a.
    const std::string gif(
        "GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
        "\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;",
        43);
    const QUrl source = cache->sourceFor(QStringLiteral("p-gif"), gif);
    QSize size;
    QVERIFY(!provider.requestImage(source.path().mid(1), &size, QSize()).isNull());
  }

  void listModelShowsRolesOfTheSnapshot() {
    AvatarCache avatars;
    ProfileListModel model;
    model.applySnapshot(Snapshot({View("a", "Ada", "ada@example.com", SyncState::kPending, "img"),
                                  View("b", "Bob", "bob@example.com", SyncState::kConflict)}),
                        avatars);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.totalCount(), 2);
    const QHash<int, QByteArray> roles = model.roleNames();
    QCOMPARE(roles.value(ProfileListModel::ProfileIdRole), QByteArray("profileId"));
    QCOMPARE(roles.value(ProfileListModel::SyncStateRole), QByteArray("syncState"));
    const QModelIndex ada = model.index(0);
    QCOMPARE(model.data(ada, ProfileListModel::NameRole).toString(), QStringLiteral("Ada"));
    QCOMPARE(model.data(ada, ProfileListModel::EmailRole).toString(),
             QStringLiteral("ada@example.com"));
    QCOMPARE(model.data(ada, ProfileListModel::SyncStateRole).toInt(),
             static_cast<int>(SyncStatus::Pending));
    const QUrl avatar = model.data(ada, ProfileListModel::AvatarSourceRole).toUrl();
    QCOMPARE(avatar.scheme(), QStringLiteral("image"));
    QCOMPARE(avatars.bytesFor(avatar.path().mid(1)), QByteArray("img"));
    QVERIFY(model.data(model.index(1), ProfileListModel::AvatarSourceRole).toUrl().isEmpty());
    QCOMPARE(model.data(model.index(1), ProfileListModel::SyncStateRole).toInt(),
             static_cast<int>(SyncStatus::Conflict));
  }

  void listModelFiltersByNameOrEmail() {
    AvatarCache avatars;
    ProfileListModel model;
    model.applySnapshot(
        Snapshot({View("a", "Ada Lovelace", "ada@example.com"), View("b", "Bob", "bob@work.org"),
                  View("c", "Carol", "carol@example.com")}),
        avatars);
    QSignalSpy count_changed(&model, &ProfileListModel::countChanged);
    model.setFilter(QStringLiteral("LOVE"));
    QCOMPARE(Ids(model), QStringList({"a"}));
    model.setFilter(QStringLiteral("example"));
    QCOMPARE(Ids(model), QStringList({"a", "c"}));
    model.setFilter(QStringLiteral("nobody"));
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.totalCount(), 3);
    model.setFilter(QString());
    QCOMPARE(Ids(model), QStringList({"a", "b", "c"}));
    QCOMPARE(count_changed.count(), 4);
  }

  // The first snapshot fills the list with one insert, and a filter that
  // matches nothing empties it with one removal: a first sync's thousands of
  // rows are not told to the view one by one. Spaces around a filter do not
  // count.
  void listModelFillsAndEmptiesWithOneSignal() {
    AvatarCache avatars;
    ProfileListModel model;
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    std::vector<ProfileView> views;
    constexpr int kProfiles = 2000;
    for (int n = 0; n < kProfiles; ++n) {
      const std::string id = absl::StrFormat("p%05d", n);
      views.push_back(View(id, "Name " + id, id + "@x.org"));
    }
    model.applySnapshot(Snapshot(std::move(views)), avatars);
    QCOMPARE(model.rowCount(), kProfiles);
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted.at(0).at(1).toInt(), 0);
    QCOMPARE(inserted.at(0).at(2).toInt(), kProfiles - 1);

    model.setFilter(QStringLiteral("  p01999@x  "));
    QCOMPARE(Ids(model), QStringList({"p01999"}));
    model.setFilter(QStringLiteral("nobody"));
    QCOMPARE(model.rowCount(), 0);
    model.setFilter(QStringLiteral(" "));
    QCOMPARE(model.rowCount(), kProfiles);
    QCOMPARE(inserted.count(), 2);
    QCOMPARE(inserted.at(1).at(2).toInt(), kProfiles - 1);
    QCOMPARE(removed.count(), 2);  // down to one row, then to none
    QCOMPARE(removed.at(1).at(1).toInt(), 0);
    QCOMPARE(removed.at(1).at(2).toInt(), 0);
    QCOMPARE(reset.count(), 0);
  }

  void listModelUpdatesRowsInPlace() {
    AvatarCache avatars;
    ProfileListModel model;
    model.applySnapshot(Snapshot({View("a", "Ada", "a@x.org"), View("c", "Carol", "c@x.org")}),
                        avatars);
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);

    // A new profile between the two, and Carol's edit becomes pending.
    model.applySnapshot(Snapshot({View("a", "Ada", "a@x.org"), View("b", "Bob", "b@x.org"),
                                  View("c", "Carol", "c@x.org", SyncState::kPending)}),
                        avatars);
    QCOMPARE(Ids(model), QStringList({"a", "b", "c"}));
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted.at(0).at(1).toInt(), 1);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).toModelIndex().row(), 2);

    // Ada goes away (e.g. filtered out elsewhere); nothing else moves.
    model.applySnapshot(
        Snapshot({View("b", "Bob", "b@x.org"), View("c", "Carol", "c@x.org", SyncState::kPending)}),
        avatars);
    QCOMPARE(Ids(model), QStringList({"b", "c"}));
    QCOMPARE(removed.count(), 1);
    QCOMPARE(removed.at(0).at(1).toInt(), 0);
    QCOMPARE(reset.count(), 0);

    // A rename that reorders resets.
    model.applySnapshot(Snapshot({View("c", "Alice", "c@x.org"), View("b", "Bob", "b@x.org")}),
                        avatars);
    QCOMPARE(Ids(model), QStringList({"c", "b"}));
    QCOMPARE(reset.count(), 1);
  }

  // A snapshot that follows the one shown is applied by its changes: an
  // edit is one dataChanged, a rename one move (a reset would send the list
  // back to its top), a new profile one insert, and nothing resets.
  void listModelAppliesASnapshotsChangesRowByRow() {
    AvatarCache avatars;
    ProfileListModel model;
    Publisher publisher;
    for (const char* name : {"Ada", "Bob", "Carol", "Dan", "Eve"}) {
      const std::string id(1, static_cast<char>(std::tolower(name[0])));
      publisher.Put(View(id, name, id + "@x.org"));
    }
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"a", "b", "c", "d", "e"}));
    QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
    QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
    QSignalSpy moved(&model, &QAbstractItemModel::rowsMoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);

    publisher.Put(View("a", "Zed", "a@x.org"));
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"b", "c", "d", "e", "a"}));
    QCOMPARE(moved.count(), 1);
    QCOMPARE(model.data(model.index(4), ProfileListModel::NameRole).toString(), "Zed");

    publisher.Put(View("e", "Ann", "e@x.org"));
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"e", "b", "c", "d", "a"}));
    QCOMPARE(moved.count(), 2);

    changed.clear();
    publisher.Put(View("c", "Carol", "carol@x.org", SyncState::kPending));
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(changed.at(0).at(0).toModelIndex().row(), 2);
    QCOMPARE(model.data(model.index(2), ProfileListModel::EmailRole).toString(), "carol@x.org");

    publisher.Put(View("f", "Bea", "f@x.org"));
    publisher.Remove("d");
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"e", "f", "b", "c", "a"}));
    QCOMPARE(inserted.count(), 1);
    QCOMPARE(inserted.at(0).at(1).toInt(), 1);
    QCOMPARE(removed.count(), 1);
    QCOMPARE(model.totalCount(), 5);

    // Renamed out of the filter and back in.
    model.setFilter(QStringLiteral("b"));
    QCOMPARE(Ids(model), QStringList({"f", "b"}));
    reset.clear();
    publisher.Put(View("b", "Ron", "ron@x.org"));
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"f"}));
    publisher.Put(View("b", "Bob", "b@x.org"));
    model.applySnapshot(publisher.Publish(), avatars);
    QCOMPARE(Ids(model), QStringList({"f", "b"}));
    QCOMPARE(reset.count(), 0);
  }

  // Random edits, renames, creations and removals, some snapshots skipped
  // (a queued signal reads the latest): after each, the model shows what a
  // model built from that snapshot alone shows.
  void listModelFollowsChangesAsARebuildWouldShow() {
    AvatarCache avatars;
    ProfileListModel model;
    Publisher publisher;
    std::mt19937 random(20261130);
    const auto name_of = [&] {
      return std::string(1, static_cast<char>('A' + random() % 6)) + std::to_string(random() % 50);
    };
    for (int i = 0; i < 200; ++i) {
      publisher.Put(View("id" + std::to_string(i), name_of(), "x@x.org"));
    }
    model.applySnapshot(publisher.Publish(), avatars);
    int skipped = 0;
    for (int step = 0; step < 400; ++step) {
      if (step % 100 == 50) model.setFilter(step % 200 == 50 ? QStringLiteral("b") : QString());
      const int changes = 1 + static_cast<int>(random() % 4);
      for (int c = 0; c < changes; ++c) {
        const std::string id = "id" + std::to_string(random() % 260);
        if (random() % 8 == 0) {
          publisher.Remove(id);
        } else {
          publisher.Put(View(id, name_of(), id + "@x.org",
                             random() % 2 ? SyncState::kSynced : SyncState::kPending));
        }
      }
      std::shared_ptr<const ClientSnapshot> snapshot = publisher.Publish();
      if (random() % 10 == 0) {
        ++skipped;
        continue;
      }
      model.applySnapshot(snapshot, avatars);
      ProfileListModel fresh;
      fresh.setFilter(model.filter());
      fresh.applySnapshot(snapshot, avatars);
      QCOMPARE(Ids(model), Ids(fresh));
      for (int row = 0; row < model.rowCount(); ++row) {
        for (int role : {int(ProfileListModel::NameRole), int(ProfileListModel::SyncStateRole),
                         int(ProfileListModel::EmailRole)}) {
          QCOMPARE(model.data(model.index(row), role), fresh.data(fresh.index(row), role));
        }
      }
      QCOMPARE(model.totalCount(), fresh.totalCount());
    }
    QVERIFY(skipped > 10);
  }

  void editorValidatesAsYouTypeWithTheServerRules() {
    ProfileEditor editor;
    QVERIFY(editor.isNew());
    // Nothing is shown before the user types, but nothing can be saved.
    QCOMPARE(editor.nameError(), QString());
    QCOMPARE(editor.emailError(), QString());
    QVERIFY(!editor.canSave());

    editor.setName(QStringLiteral("   "));
    QCOMPARE(editor.nameError(), Sentence(NameProblem("   ")));
    editor.setName(QString(101, QLatin1Char('x')));
    QVERIFY(editor.nameError().contains(QStringLiteral("100")));
    editor.setName(QStringLiteral("Ada\tLovelace"));
    QCOMPARE(editor.nameError(), Sentence(NameProblem("Ada\tLovelace")));
    editor.setName(QStringLiteral("Ada Lovelace"));
    QCOMPARE(editor.nameError(), QString());
    QVERIFY(!editor.canSave());

    editor.setEmail(QStringLiteral("ada@"));
    QCOMPARE(editor.emailError(), Sentence(EmailProblem("ada@")));
    editor.setEmail(QStringLiteral("ada@example"));
    QCOMPARE(editor.emailError(), Sentence(EmailProblem("ada@example")));
    editor.setEmail(QStringLiteral("ada@example.com"));
    QCOMPARE(editor.emailError(), QString());
    QVERIFY(editor.canSave());
  }

  void editorShowsEveryErrorWhenSavingAnEmptyForm() {
    ProfileEditor editor;
    QVERIFY(!editor.save());
    QCOMPARE(editor.nameError(), Sentence(NameProblem("")));
    QCOMPARE(editor.emailError(), Sentence(EmailProblem("")));
  }

  void editorRefusesAPictureThatIsNotOne() {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("notes.txt"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("plain text");
    file.close();
    ProfileEditor editor;
    QVERIFY(!editor.pickAvatar(QUrl::fromLocalFile(path)));
    QVERIFY(!editor.avatarError().isEmpty());
    QVERIFY(!editor.hasAvatar());
  }

  void editorFollowsTheSnapshotButKeepsWhatTheUserTyped() {
    AvatarCache avatars;
    ProfileEditor editor;
    editor.setProfileId(QStringLiteral("a"));
    editor.applySnapshot(*Snapshot({View("a", "Ada", "ada@example.com")}), avatars);
    QVERIFY(editor.found());
    QCOMPARE(editor.name(), QStringLiteral("Ada"));
    QVERIFY(!editor.modified());
    QVERIFY(!editor.canSave());

    editor.setName(QStringLiteral("Ada L."));
    QVERIFY(editor.modified());
    QVERIFY(editor.canSave());
    // Someone else changes both fields: the typed name stays, the email follows.
    editor.applySnapshot(*Snapshot({View("a", "Ada King", "ada@king.org")}), avatars);
    QCOMPARE(editor.name(), QStringLiteral("Ada L."));
    QCOMPARE(editor.email(), QStringLiteral("ada@king.org"));
  }

  void editorShowsTheServersFieldErrorsUntilTheFieldChanges() {
    AvatarCache avatars;
    ProfileEditor editor;
    editor.setProfileId(QStringLiteral("a"));
    ProfileView rejected = View("a", "Ada", "ada@example.com", SyncState::kRejected);
    rejected.error = "invalid profile";
    rejected.field_errors = {{"email", "is already used by another profile"}};
    editor.applySnapshot(*Snapshot({rejected}), avatars);
    QCOMPARE(editor.syncState(), static_cast<int>(SyncStatus::Rejected));
    QCOMPARE(editor.serverError(), QStringLiteral("invalid profile"));
    QCOMPARE(editor.emailError(), QStringLiteral("Is already used by another profile"));
    QCOMPARE(editor.nameError(), QString());

    editor.setEmail(QStringLiteral("ada@other.org"));
    QCOMPARE(editor.emailError(), QString());
    // The same rejection published again does not bring the message back.
    editor.applySnapshot(*Snapshot({rejected}), avatars);
    QCOMPARE(editor.emailError(), QString());
    // Once the rejection is gone, so is everything about it.
    editor.applySnapshot(*Snapshot({View("a", "Ada", "ada@example.com")}), avatars);
    QCOMPARE(editor.serverError(), QString());
  }

  void editorComparesMineAndTheServersFieldByField() {
    AvatarCache avatars;
    ProfileEditor editor;
    editor.setProfileId(QStringLiteral("a"));
    ProfileView conflict = View("a", "Ada Mine", "ada@example.com", SyncState::kConflict, "mine");
    conflict.server_profile = *conflict.profile;
    conflict.server_profile->set_name("Ada Theirs");
    conflict.server_profile->set_avatar("theirs");
    editor.applySnapshot(*Snapshot({conflict}), avatars);

    QCOMPARE(editor.syncState(), static_cast<int>(SyncStatus::Conflict));
    const ConflictFieldsModel& fields = *editor.conflictFields();
    QCOMPARE(fields.rowCount(), 3);
    const auto at = [&](int row, ConflictFieldsModel::Role role) {
      return fields.data(fields.index(row), role);
    };
    QCOMPARE(at(0, ConflictFieldsModel::kFieldRole).toString(), QStringLiteral("name"));
    QCOMPARE(at(0, ConflictFieldsModel::kMineRole).toString(), QStringLiteral("Ada Mine"));
    QCOMPARE(at(0, ConflictFieldsModel::kServerRole).toString(), QStringLiteral("Ada Theirs"));
    QVERIFY(at(0, ConflictFieldsModel::kDiffersRole).toBool());
    QCOMPARE(at(0, ConflictFieldsModel::kAccessibleTextRole).toString(),
             QStringLiteral("Name: yours Ada Mine, on the server Ada Theirs"));
    QVERIFY(!at(1, ConflictFieldsModel::kDiffersRole).toBool());
    QCOMPARE(at(1, ConflictFieldsModel::kAccessibleTextRole).toString(),
             QStringLiteral("Email: the same"));
    QVERIFY(at(2, ConflictFieldsModel::kIsImageRole).toBool());
    QCOMPARE(avatars.bytesFor(at(2, ConflictFieldsModel::kServerRole).toUrl().path().mid(1)),
             QByteArray("theirs"));
    QCOMPARE(avatars.bytesFor(at(2, ConflictFieldsModel::kMineRole).toUrl().path().mid(1)),
             QByteArray("mine"));
    QCOMPARE(fields.roleNames().value(ConflictFieldsModel::kIsImageRole), QByteArray("isImage"));

    // The same conflict again updates the rows in place: the card's delegates stay.
    QSignalSpy reset(editor.conflictFields(), &QAbstractItemModel::modelReset);
    QSignalSpy changed(editor.conflictFields(), &QAbstractItemModel::dataChanged);
    conflict.server_profile->set_name("Ada Theirs Again");
    editor.applySnapshot(*Snapshot({conflict}), avatars);
    QCOMPARE(reset.count(), 0);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(at(0, ConflictFieldsModel::kServerRole).toString(),
             QStringLiteral("Ada Theirs Again"));

    // Editing is blocked until the user chooses.
    editor.setName(QStringLiteral("Ada Third"));
    QVERIFY(!editor.canSave());

    // Resolved: no rows.
    editor.applySnapshot(
        *Snapshot({View("a", "Ada Mine", "ada@example.com", SyncState::kSynced, "mine")}), avatars);
    QCOMPARE(fields.rowCount(), 0);
  }

  // Deletes (issue 12): what the page offers, and the two conflicts of a
  // delete, each with its own comparison (or none).
  void editorOffersDeleteAndShowsTheConflictsOfDeletes() {
    AvatarCache avatars;
    ProfileEditor editor;
    QVERIFY2(!editor.canDelete(), "a new profile has nothing to delete");
    editor.setProfileId(QStringLiteral("a"));
    QVERIFY2(!editor.canDelete(), "not on this device");
    editor.applySnapshot(*Snapshot({View("a", "Ada", "ada@example.com")}), avatars);
    QVERIFY(editor.canDelete());
    QCOMPARE(editor.conflictKind(), static_cast<int>(ConflictStatus::None));

    // My edit of a profile deleted elsewhere: nothing to compare with.
    ProfileView deleted_elsewhere =
        View("a", "Ada Mine", "ada@example.com", SyncState::kConflict, "mine");
    deleted_elsewhere.server_profile.emplace();
    deleted_elsewhere.server_profile->set_id("a");
    deleted_elsewhere.server_profile->set_version(2);
    deleted_elsewhere.server_profile->set_deleted(true);
    deleted_elsewhere.conflict = ConflictKind::kDeletedElsewhere;
    editor.applySnapshot(*Snapshot({deleted_elsewhere}), avatars);
    QCOMPARE(editor.conflictKind(), static_cast<int>(ConflictStatus::DeletedElsewhere));
    QVERIFY2(!editor.canDelete(), "the conflict is resolved first");
    QCOMPARE(editor.conflictFields()->rowCount(), 0);
    // What a recreation would write.
    QCOMPARE(editor.name(), QStringLiteral("Ada Mine"));

    // My delete of a profile changed elsewhere: what I deleted beside what
    // it is now.
    ProfileView changed = View("a", "Ada Theirs", "ada@example.com", SyncState::kConflict, "mine");
    changed.server_profile = *changed.profile;
    changed.conflict = ConflictKind::kDeleteChanged;
    changed.deleted_from.emplace();
    changed.deleted_from->set_name("Ada");
    changed.deleted_from->set_email("ada@example.com");
    changed.deleted_from->set_avatar_sha256(AvatarSha256("mine"));
    editor.applySnapshot(*Snapshot({changed}), avatars);
    QCOMPARE(editor.conflictKind(), static_cast<int>(ConflictStatus::DeleteChanged));
    const ConflictFieldsModel& fields = *editor.conflictFields();
    QCOMPARE(fields.rowCount(), 3);
    const auto at = [&](int row, ConflictFieldsModel::Role role) {
      return fields.data(fields.index(row), role);
    };
    QCOMPARE(at(0, ConflictFieldsModel::kMineRole).toString(), QStringLiteral("Ada"));
    QCOMPARE(at(0, ConflictFieldsModel::kServerRole).toString(), QStringLiteral("Ada Theirs"));
    QVERIFY(at(0, ConflictFieldsModel::kDiffersRole).toBool());
    QVERIFY(!at(1, ConflictFieldsModel::kDiffersRole).toBool());
    QVERIFY2(!at(2, ConflictFieldsModel::kDiffersRole).toBool(), "the same picture, by its sha");
  }

  // Through the real worker (offline, nothing to connect to): snapshots
  // come numbered with their changes, so a rename in a list of 300 moves its
  // row, and an edit changes one row; the list never resets.
  void listModelFollowsTheSyncManagersChanges() {
    QTemporaryDir dir;
    auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
    QVERIFY(controller.ok());
    (*controller)->setWorkOffline(true);
    ProfileListModel model;
    model.setApp(controller->get());
    std::vector<QString> ids;
    for (int i = 0; i < 300; ++i) {
      ids.push_back((*controller)
                        ->createProfile(QStringLiteral("Person %1").arg(i, 3, 10, QChar('0')),
                                        QStringLiteral("p%1@example.com").arg(i), {}));
    }
    QTRY_COMPARE(model.count(), 300);
    QSignalSpy moved(&model, &QAbstractItemModel::rowsMoved);
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QSignalSpy reset(&model, &QAbstractItemModel::modelReset);
    const QStringList name = {QStringLiteral("name")};
    (*controller)->editProfile(ids[5], QStringLiteral("Zoe"), {}, {}, name, {});
    QTRY_COMPARE(model.data(model.index(299), ProfileListModel::ProfileIdRole).toString(), ids[5]);
    QCOMPARE(moved.count(), 1);
    (*controller)->editProfile(ids[7], QStringLiteral("Person 007 Jr"), {}, {}, name, {});
    QTRY_COMPARE(model.data(model.index(6), ProfileListModel::NameRole).toString(),
                 QStringLiteral("Person 007 Jr"));
    QCOMPARE(moved.count(), 1);
    QVERIFY(changed.count() >= 1);
    QCOMPARE(reset.count(), 0);
  }

  void controllerKeepsTheTokenApartAndForItsOwnerOnly() {
    QTemporaryDir dir;
    const QString path = QDir(dir.path()).filePath(QStringLiteral("token"));
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY(controller.ok());
      QVERIFY(!(*controller)->hasToken());
      QSignalSpy token_changed(controller->get(), &AppController::tokenChanged);
      QSignalSpy failed(controller->get(), &AppController::operationFailed);
      QVERIFY(!(*controller)->setToken(QStringLiteral("abc def")));
      QCOMPARE(failed.count(), 1);
      QVERIFY(!QFile::exists(path));
      (*controller)->setWorkOffline(true);  // writes settings.ini
      QVERIFY((*controller)->setToken(QStringLiteral("  Bearer abc.def.ghi \n")));
      QVERIFY((*controller)->hasToken());
      QCOMPARE(token_changed.count(), 1);
    }
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), QByteArray("abc.def.ghi"));
    QCOMPARE(file.permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther |
                                   QFileDevice::WriteGroup | QFileDevice::WriteOther),
             QFileDevice::Permissions());
    QFile settings(QDir(dir.path()).filePath(QStringLiteral("settings.ini")));
    QVERIFY(settings.open(QIODevice::ReadOnly));
    QVERIFY(!settings.readAll().contains("abc.def.ghi"));
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY(controller.ok());
      QVERIFY((*controller)->hasToken());
      QVERIFY((*controller)->setToken(QString()));
      QVERIFY(!(*controller)->hasToken());
      QVERIFY(!QFile::exists(path));
    }
  }

  void controllerSavesTlsAndRefusesACaFileWithoutCertificates() {
    QTemporaryDir dir;
    const QString ca = QDir(dir.path()).filePath(QStringLiteral("ca.pem"));
    const QString not_ca = QDir(dir.path()).filePath(QStringLiteral("notes.txt"));
    {
      QFile file(ca);
      QVERIFY(file.open(QIODevice::WriteOnly));
      file.write(QByteArray::fromStdString(profiles::testing::MakeTestPki().ca_pem));
      QFile notes(not_ca);
      QVERIFY(notes.open(QIODevice::WriteOnly));
      notes.write("not a certificate\n");
    }
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY(controller.ok());
      (*controller)->setWorkOffline(true);
      QVERIFY(!(*controller)->tls());
      SettingsEditor editor;
      editor.setApp(controller->get());
      QSignalSpy failed(controller->get(), &AppController::operationFailed);
      editor.setTlsCaFile(not_ca);
      QVERIFY(!editor.applyTlsCaFile());
      QCOMPARE(failed.count(), 1);
      QVERIFY(failed.at(0).at(0).toString().contains(QStringLiteral("no PEM certificate")));
      QVERIFY(!(*controller)->tls());
      editor.setTlsCaFile(QDir(dir.path()).filePath(QStringLiteral("missing.pem")));
      QVERIFY(!editor.applyTlsCaFile());
      QCOMPARE(failed.count(), 2);
      editor.setTlsCaFile(ca);
      QVERIFY(editor.applyTlsCaFile());
      QVERIFY((*controller)->tls());
      QVERIFY(editor.tls());
      QCOMPARE((*controller)->tlsCaFile(), ca);
    }
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY(controller.ok());
      QVERIFY((*controller)->tls());
      QCOMPARE((*controller)->tlsCaFile(), ca);
      SettingsEditor editor;
      editor.setApp(controller->get());
      editor.setTls(false);
      QVERIFY(!(*controller)->tls());
    }
    // A CA file that went missing is reported when the app opens.
    QVERIFY(QFile::remove(ca));
    {
      auto controller = AppController::Open({.data_dir = dir.path(),
                                             .server_address = {},
                                             .token = {},
                                             .tls = true,
                                             .tls_ca_file = ca});
      QCOMPARE(controller.status().code(), absl::StatusCode::kInvalidArgument);
      QVERIFY(std::string(controller.status().message()).find("ca.pem") != std::string::npos);
    }
  }

  void controllerKeepsItsSettingsInTheDataFolder() {
    QTemporaryDir dir;
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY2(controller.ok(), std::string(controller.status().message()).c_str());
      QCOMPARE((*controller)->serverAddress(), QStringLiteral("127.0.0.1:50051"));
      QVERIFY(!(*controller)->workOffline());
      QSignalSpy offline_changed(controller->get(), &AppController::workOfflineChanged);
      (*controller)->setWorkOffline(true);
      (*controller)->setServerAddress(QStringLiteral("  profiles.example.com:443 "));
      QCOMPARE(offline_changed.count(), 1);
      QCOMPARE((*controller)->serverAddress(), QStringLiteral("profiles.example.com:443"));
    }
    {
      auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
      QVERIFY(controller.ok());
      QVERIFY((*controller)->workOffline());
      QCOMPARE((*controller)->serverAddress(), QStringLiteral("profiles.example.com:443"));
      QCOMPARE((*controller)->connection(), AppController::Connection::Offline);
    }
    {
      // A --server flag wins for the run and is not saved.
      auto controller = AppController::Open(
          {.data_dir = dir.path(), .server_address = QStringLiteral("127.0.0.1:9")});
      QVERIFY(controller.ok());
      QCOMPARE((*controller)->serverAddress(), QStringLiteral("127.0.0.1:9"));
    }
    auto controller = AppController::Open({.data_dir = dir.path(), .server_address = {}});
    QVERIFY(controller.ok());
    QCOMPARE((*controller)->serverAddress(), QStringLiteral("profiles.example.com:443"));
  }

  // A crash cut the last save short: the app says so once, in words, with
  // where the set-aside bytes are; after "OK", and at the next (clean) open,
  // there is nothing to tell.
  void controllerTellsOnceWhatOpeningRepaired() {
    QTemporaryDir dir;
    {
      auto store = LocalStore::Open(dir.path(), {});
      QVERIFY(store.ok());
      profile::client::v1::JournalRecord record;
      record.mutable_cursor_updated()->set_cursor("c1");
      QVERIFY((*store)->Append(record).ok());
    }
    QFile journal(QDir(dir.path()).filePath(kJournalFileName));
    QVERIFY(journal.open(QIODevice::Append));
    QCOMPARE(journal.write("\x01torn"), qint64{5});
    journal.close();
    {
      auto controller = AppController::Open(
          {.data_dir = dir.path(), .server_address = QStringLiteral("127.0.0.1:9")});
      QVERIFY(controller.ok());
      const QString note = (*controller)->repairNote();
      QVERIFY2(note.startsWith(QStringLiteral("The last save on this device was cut short")),
               qPrintable(note));
      QVERIFY2(note.contains(QStringLiteral("5 bytes")), qPrintable(note));
      QVERIFY2(note.contains(QString::fromLatin1(kDroppedFileName)), qPrintable(note));
      QSignalSpy changed(controller->get(), &AppController::repairNoteChanged);
      (*controller)->dismissRepairNote();
      QCOMPARE(changed.count(), 1);
      QVERIFY((*controller)->repairNote().isEmpty());
    }
    auto reopened = AppController::Open(
        {.data_dir = dir.path(), .server_address = QStringLiteral("127.0.0.1:9")});
    QVERIFY(reopened.ok());
    QVERIFY2((*reopened)->repairNote().isEmpty(), qPrintable((*reopened)->repairNote()));
  }

  void serverAddressIsCheckedAsTyped() {
    QVERIFY(ServerAddressProblem(QStringLiteral("profiles.example.com:50051")).isEmpty());
    QVERIFY(ServerAddressProblem(QStringLiteral(" 127.0.0.1:443 ")).isEmpty());
    QVERIFY(ServerAddressProblem(QStringLiteral("[::1]:50051")).isEmpty());
    QCOMPARE(ServerAddressProblem(QStringLiteral("  ")),
             QStringLiteral("Enter the server's address as host:port"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("profiles.example.com")),
             QStringLiteral("Add the port after a colon, e.g. profiles.example.com:50051"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("::1:50051")),
             QStringLiteral("Add the port after a colon, e.g. profiles.example.com:50051"));
    QCOMPARE(ServerAddressProblem(QStringLiteral(":50051")),
             QStringLiteral("The host before the colon is missing"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("host:0")),
             QStringLiteral("The port must be a number from 1 to 65535"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("host:65536")),
             QStringLiteral("The port must be a number from 1 to 65535"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("host:http")),
             QStringLiteral("The port must be a number from 1 to 65535"));
    QCOMPARE(ServerAddressProblem(QStringLiteral("my host:50051")),
             QStringLiteral("An address has no spaces"));
  }

  // The Settings screen's logic: a draft that changes nothing until applied,
  // and is applied only when valid and different.
  void settingsEditorAppliesOnlyAValidNewAddress() {
    QTemporaryDir dir;
    auto controller = AppController::Open(
        {.data_dir = dir.path(), .server_address = QStringLiteral("127.0.0.1:9")});
    QVERIFY(controller.ok());
    SettingsEditor settings;
    settings.setApp(controller->get());
    QCOMPARE(settings.address(), QStringLiteral("127.0.0.1:9"));
    QVERIFY(!settings.canApply());

    settings.setAddress(QStringLiteral("127.0.0.1"));
    QVERIFY(!settings.addressError().isEmpty());
    QCOMPARE(settings.fieldError(), settings.addressError());
    QVERIFY(!settings.canApply());
    QVERIFY(!settings.apply());
    QCOMPARE((*controller)->serverAddress(), QStringLiteral("127.0.0.1:9"));

    settings.setAddress(QStringLiteral(" 127.0.0.1:10 "));
    QVERIFY(settings.addressError().isEmpty());
    QVERIFY2(settings.fieldError().isEmpty(), qPrintable(settings.fieldError()));
    QVERIFY(settings.canApply());
    QSignalSpy applied(controller->get(), &AppController::serverAddressChanged);
    QVERIFY(settings.apply());
    QCOMPARE(applied.count(), 1);
    QCOMPARE((*controller)->serverAddress(), QStringLiteral("127.0.0.1:10"));
    QCOMPARE(settings.address(), QStringLiteral("127.0.0.1:10"));
    QVERIFY(!settings.canApply());

    // Working offline is not a connection problem to report.
    (*controller)->setWorkOffline(true);
    QVERIFY(settings.connectionProblem().isEmpty());
  }

 private:
  static QString Sentence(std::optional<std::string> problem) {
    if (!problem) return {};
    QString text = QString::fromStdString(*problem);
    text[0] = text[0].toUpper();
    return text;
  }
  template <typename T>
  static void ExpectInvalidArgument(const absl::StatusOr<T>& result) {
    QVERIFY(!result.ok());
    QCOMPARE(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
};

}  // namespace profiles::client

QTEST_MAIN(profiles::client::ModelsTest)
#include "models_test.moc"
