#ifndef PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_LIST_MODEL_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_LIST_MODEL_H_

// ProfileListModel: the profiles list screen's backend. One row per profile
// the device knows (cached, so it is browsable offline), in the snapshot's
// order (by name), narrowed by `filter` (case-insensitive, name or email).
//
//   ProfileListModel { app: AppController; filter: filterField.text }
//   delegate: required property string profileId, name, email;
//             required property url avatarSource; required property int syncState
//
// Rows are updated in place, moved, inserted and removed as snapshots
// arrive, so the list keeps its scroll position and delegates while syncing.
// A snapshot that follows the one shown brings its changes
// (ClientSnapshot::changes): each costs a search and one row's signal, so an
// edit shows in the same time with 100 profiles as with 100,000, and a
// rename moves its row. Otherwise (the first snapshot, one after a gap, a
// first sync's page of hundreds of rows) the rows are diffed against the
// snapshot's: a row whose view is shared with the rows shown is kept as it
// is, so only changed profiles are converted and have their pictures
// compared.
//
// Thread safety: UI thread only.

#include <QtQml/qqmlregistration.h>

#include <QAbstractListModel>
#include <QPointer>
#include <QString>
#include <QUrl>
#include <memory>
#include <vector>

#include "apps/qml-client/models/app_controller.h"

namespace profiles::client {

class ProfileListModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT

  Q_PROPERTY(profiles::client::AppController* app READ app WRITE setApp NOTIFY appChanged)
  Q_PROPERTY(QString filter READ filter WRITE setFilter NOTIFY filterChanged)
  Q_PROPERTY(int count READ count NOTIFY countChanged)
  // Profiles before filtering: tells "no profiles yet" from "no match".
  Q_PROPERTY(int totalCount READ totalCount NOTIFY countChanged)

 public:
  enum Role {
    ProfileIdRole = Qt::UserRole + 1,
    NameRole,
    EmailRole,
    AvatarSourceRole,  // image://avatars/... or empty
    SyncStateRole,     // a SyncStatus value
  };
  Q_ENUM(Role)

  explicit ProfileListModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  AppController* app() const { return app_; }
  void setApp(AppController* app);
  QString filter() const { return filter_; }
  void setFilter(const QString& filter);
  int count() const { return static_cast<int>(rows_.size()); }
  int totalCount() const { return total_count_; }

  // Shows `snapshot`; `app` follows the controller's snapshots by itself.
  // `avatars` publishes the avatar URLs.
  void applySnapshot(std::shared_ptr<const ClientSnapshot> snapshot, AvatarCache& avatars);

  // Pull-to-refresh.
  Q_INVOKABLE void refresh();

 signals:
  void appChanged();
  void filterChanged();
  void countChanged();

 private:
  // What a row shows is read from its view when QML asks (data()): a list
  // of 10,000 profiles holds no text or URL of its own, only the views it
  // shares with the snapshot, which hold the text once.
  struct Row {
    QString id;
    // The snapshot's view the row was made from: the same view (by
    // address) in the next snapshot means the same row.
    std::shared_ptr<const ProfileView> view;
    // The store held the view's picture when the row was made.
    bool picture = false;
    // What the delegate shows (the view may be new and show the same).
    bool operator==(const Row& other) const;
  };
  // A snapshot that changes more rows than this is shown by rebuild().
  static constexpr size_t kMostChangesApplied = 64;

  Row rowOf(const QString& id, std::shared_ptr<const ProfileView> view) const;
  bool matches(const Row& row) const;  // by the filter
  int lowerBound(const ProfileView& view) const;
  // The snapshot's changes, row by row (it follows the one shown).
  void applyChanges(const std::vector<ViewChange>& changes);
  void removeRow(int row);
  // Every row again, from the snapshot's rows (the first, one after a gap,
  // a new filter, a large change).
  void rebuild();
  void update(std::vector<Row> rows);

  QPointer<AppController> app_;
  QString filter_;
  QString needle_;  // filter_, trimmed
  std::shared_ptr<const ClientSnapshot> snapshot_;
  AvatarCache* avatars_ = nullptr;
  std::vector<Row> rows_;
  // Every profile's row as last built, filter or not, by id.
  QHash<QString, Row> built_;
  int total_count_ = 0;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_LIST_MODEL_H_
