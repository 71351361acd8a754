#include "apps/qml-client/models/profile_list_model.h"

#include <QSet>
#include <algorithm>

namespace profiles::client {

ProfileListModel::ProfileListModel(QObject* parent) : QAbstractListModel(parent) {}

int ProfileListModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : count();
}

QVariant ProfileListModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const Row& row = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case ProfileIdRole:
      return row.id;
    case Qt::DisplayRole:
    case NameRole:
      return row.name;
    case EmailRole:
      return row.email;
    case AvatarSourceRole:
      return row.avatar_source;
    case SyncStateRole:
      return row.sync_state;
    default:
      return {};
  }
}

QHash<int, QByteArray> ProfileListModel::roleNames() const {
  return {{ProfileIdRole, "profileId"},
          {NameRole, "name"},
          {EmailRole, "email"},
          {AvatarSourceRole, "avatarSource"},
          {SyncStateRole, "syncState"}};
}

void ProfileListModel::setApp(AppController* app) {
  if (app == app_) return;
  if (app_) disconnect(app_, nullptr, this, nullptr);
  app_ = app;
  if (app_) {
    connect(app_, &AppController::snapshotChanged, this,
            [this] { applySnapshot(app_->snapshot(), app_->avatars()); });
    applySnapshot(app_->snapshot(), app_->avatars());
  }
  emit appChanged();
}

void ProfileListModel::setFilter(const QString& filter) {
  if (filter == filter_) return;
  filter_ = filter;
  rebuild();
  emit filterChanged();
}

void ProfileListModel::applySnapshot(std::shared_ptr<const ClientSnapshot> snapshot,
                                     AvatarCache& avatars) {
  snapshot_ = std::move(snapshot);
  avatars_ = &avatars;
  rebuild();
}

void ProfileListModel::refresh() {
  if (app_) app_->refresh();
}

void ProfileListModel::rebuild() {
  if (!snapshot_) return;
  const QString needle = filter_.trimmed();
  std::vector<Row> rows;
  rows.reserve(snapshot_->profiles.size());
  QHash<QString, Row> built;
  built.reserve(static_cast<qsizetype>(snapshot_->profiles.size()));
  for (size_t i = 0; i < snapshot_->profiles.size(); ++i) {
    const std::shared_ptr<const ProfileView>& view = snapshot_->profiles.shared(i);
    const QString id = QString::fromStdString(view->profile.id());
    auto previous = built_.constFind(id);
    Row row = previous != built_.constEnd() && previous->view == view
                  ? *previous
                  : Row{id,
                        QString::fromStdString(view->profile.name()),
                        QString::fromStdString(view->profile.email()),
                        avatars_->sourceFor(QStringLiteral("p-") + id, view->profile.avatar(),
                                            view->profile.avatar_sha256()),
                        static_cast<int>(view->state),
                        view};
    built.insert(id, row);
    if (!needle.isEmpty() && !row.name.contains(needle, Qt::CaseInsensitive) &&
        !row.email.contains(needle, Qt::CaseInsensitive)) {
      continue;
    }
    rows.push_back(std::move(row));
  }
  built_ = std::move(built);
  const int old_total = total_count_;
  total_count_ = static_cast<int>(snapshot_->profiles.size());
  const int old_count = count();
  update(std::move(rows));
  if (old_count != count() || old_total != total_count_) emit countChanged();
}

// Removes the rows that went away and inserts the new ones where they belong
// when the rows that stay keep their order (the usual case: an edit, a new
// profile, a narrower filter); a reorder (a renamed profile) resets.
void ProfileListModel::update(std::vector<Row> rows) {
  QSet<QString> new_ids;
  for (const Row& row : rows) new_ids.insert(row.id);
  QSet<QString> old_ids;
  for (const Row& row : rows_) old_ids.insert(row.id);

  std::vector<QString> kept_old;
  for (const Row& row : rows_) {
    if (new_ids.contains(row.id)) kept_old.push_back(row.id);
  }
  std::vector<QString> kept_new;
  for (const Row& row : rows) {
    if (old_ids.contains(row.id)) kept_new.push_back(row.id);
  }
  if (kept_old != kept_new) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
    return;
  }

  for (int i = count() - 1; i >= 0; --i) {
    if (new_ids.contains(rows_[static_cast<size_t>(i)].id)) continue;
    beginRemoveRows({}, i, i);
    rows_.erase(rows_.begin() + i);
    endRemoveRows();
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const int row = static_cast<int>(i);
    if (i < rows_.size() && rows_[i].id == rows[i].id) {
      if (!(rows_[i] == rows[i])) {
        rows_[i] = rows[i];
        emit dataChanged(index(row), index(row));
      }
      continue;
    }
    beginInsertRows({}, row, row);
    rows_.insert(rows_.begin() + row, rows[i]);
    endInsertRows();
  }
}

}  // namespace profiles::client
