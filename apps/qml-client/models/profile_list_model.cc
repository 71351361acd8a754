#include "apps/qml-client/models/profile_list_model.h"

#include <QSet>
#include <algorithm>
#include <cstddef>
#include <iterator>

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
  const profile::v1::Profile& profile = *row.view->profile;
  switch (role) {
    case ProfileIdRole:
      return row.id;
    case Qt::DisplayRole:
    case NameRole:
      return QString::fromStdString(profile.name());
    case EmailRole:
      return QString::fromStdString(profile.email());
    case AvatarSourceRole:
      return row.picture ? avatars_->sourceFor(profile.avatar_sha256()) : QUrl();
    case SyncStateRole:
      return static_cast<int>(row.view->state);
    default:
      return {};
  }
}

bool ProfileListModel::Row::operator==(const Row& other) const {
  const profile::v1::Profile& mine = *view->profile;
  const profile::v1::Profile& theirs = *other.view->profile;
  return id == other.id && mine.name() == theirs.name() && mine.email() == theirs.email() &&
         mine.avatar_sha256() == theirs.avatar_sha256() && picture == other.picture &&
         view->state == other.view->state;
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
  needle_ = filter.trimmed();
  rebuild();
  emit filterChanged();
}

void ProfileListModel::applySnapshot(std::shared_ptr<const ClientSnapshot> snapshot,
                                     AvatarCache& avatars) {
  // Queued signals may outnumber snapshots: the latest is read each time.
  if (snapshot == snapshot_ && &avatars == avatars_) return;
  const bool follows = snapshot_ != nullptr && snapshot != nullptr && !snapshot->rebuilt &&
                       snapshot_->sequence != 0 && snapshot->sequence == snapshot_->sequence + 1;
  snapshot_ = std::move(snapshot);
  avatars_ = &avatars;
  if (snapshot_) avatars_->showFrom(snapshot_->pictures);
  // A page of a first sync changes hundreds of rows at once: a rebuild's
  // single pass costs less than as many searches.
  if (follows && snapshot_->changes.size() <= kMostChangesApplied) {
    applyChanges(snapshot_->changes);
  } else {
    rebuild();
  }
}

ProfileListModel::Row ProfileListModel::rowOf(const QString& id,
                                              std::shared_ptr<const ProfileView> view) const {
  const std::string& sha = view->profile->avatar_sha256();
  const bool picture =
      !sha.empty() && snapshot_->pictures != nullptr && snapshot_->pictures->Contains(sha);
  return Row{id, std::move(view), picture};
}

bool ProfileListModel::matches(const Row& row) const {
  if (needle_.isEmpty()) return true;
  const profile::v1::Profile& profile = *row.view->profile;
  return QString::fromStdString(profile.name()).contains(needle_, Qt::CaseInsensitive) ||
         QString::fromStdString(profile.email()).contains(needle_, Qt::CaseInsensitive);
}

// The first row not shown before `view` in the snapshots' order (name, then
// id, as bytes).
int ProfileListModel::lowerBound(const ProfileView& view) const {
  const auto key = [](const ProfileView& v) {
    return std::pair<const std::string&, const std::string&>(v.profile->name(), v.profile->id());
  };
  const auto it =
      std::lower_bound(rows_.begin(), rows_.end(), key(view),
                       [&](const Row& row, const auto& k) { return key(*row.view) < k; });
  return static_cast<int>(it - rows_.begin());
}

// Each change costs a search and one row's signal; a rename moves its row
// (a reset would send the list back to its top).
void ProfileListModel::applyChanges(const std::vector<ViewChange>& changes) {
  const int old_count = count();
  for (const ViewChange& change : changes) {
    const QString id = QString::fromStdString(change.id);
    int from = -1;
    if (auto old = built_.constFind(id); old != built_.constEnd()) {
      const int at = lowerBound(*old->view);
      if (at < count() && rows_[static_cast<size_t>(at)].id == id) from = at;
    }
    if (!change.view) {
      built_.remove(id);
      if (from >= 0) removeRow(from);
      continue;
    }
    Row row = rowOf(id, change.view);
    built_.insert(id, row);
    if (!matches(row)) {
      if (from >= 0) removeRow(from);
      continue;
    }
    const int to = lowerBound(*row.view);
    if (from < 0) {
      beginInsertRows({}, to, to);
      rows_.insert(rows_.begin() + to, std::move(row));
      endInsertRows();
      continue;
    }
    int at = from;
    if (to != from && to != from + 1) {
      // Qt's destination is the row it goes before, counted before the move.
      beginMoveRows({}, from, from, {}, to);
      if (to < from) {
        std::rotate(rows_.begin() + to, rows_.begin() + from, rows_.begin() + from + 1);
        at = to;
      } else {
        std::rotate(rows_.begin() + from, rows_.begin() + from + 1, rows_.begin() + to);
        at = to - 1;
      }
      endMoveRows();
    }
    Row& shown = rows_[static_cast<size_t>(at)];
    const bool same = shown == row;
    shown = std::move(row);
    if (!same) emit dataChanged(index(at), index(at));
  }
  const int old_total = total_count_;
  total_count_ = static_cast<int>(snapshot_->profiles.size());
  if (old_count != count() || old_total != total_count_) emit countChanged();
}

void ProfileListModel::removeRow(int row) {
  beginRemoveRows({}, row, row);
  rows_.erase(rows_.begin() + row);
  endRemoveRows();
}

void ProfileListModel::refresh() {
  if (app_) app_->refresh();
}

void ProfileListModel::rebuild() {
  if (!snapshot_) return;
  std::vector<Row> rows;
  rows.reserve(snapshot_->profiles.size());
  QHash<QString, Row> built;
  built.reserve(static_cast<qsizetype>(snapshot_->profiles.size()));
  for (size_t i = 0; i < snapshot_->profiles.size(); ++i) {
    const std::shared_ptr<const ProfileView>& view = snapshot_->profiles.shared(i);
    const QString id = QString::fromStdString(view->profile->id());
    auto previous = built_.constFind(id);
    Row row = previous != built_.constEnd() && previous->view == view ? *previous : rowOf(id, view);
    built.insert(id, row);
    if (!matches(row)) continue;
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
// profile, a narrower filter); a reorder (a renamed profile) resets. Each run
// of adjacent rows goes in one signal: a first sync's page, or a filter that
// hides thousands of rows, is a few signals, not one per row (each of which
// also moved every row after it).
void ProfileListModel::update(std::vector<Row> rows) {
  if (rows_.empty()) {
    // The first rows (the app's open): one insertion, no bookkeeping.
    if (rows.empty()) return;
    beginInsertRows({}, 0, static_cast<int>(rows.size()) - 1);
    rows_ = std::move(rows);
    endInsertRows();
    return;
  }
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

  for (int last = count() - 1; last >= 0; --last) {
    if (new_ids.contains(rows_[static_cast<size_t>(last)].id)) continue;
    int first = last;
    while (first > 0 && !new_ids.contains(rows_[static_cast<size_t>(first - 1)].id)) --first;
    beginRemoveRows({}, first, last);
    rows_.erase(rows_.begin() + first, rows_.begin() + last + 1);
    endRemoveRows();
    last = first;
  }
  // Now rows_ holds exactly the kept rows, in the order they keep in `rows`.
  for (size_t i = 0; i < rows.size();) {
    if (old_ids.contains(rows[i].id)) {
      if (!(rows_[i] == rows[i])) {
        rows_[i] = std::move(rows[i]);
        emit dataChanged(index(static_cast<int>(i)), index(static_cast<int>(i)));
      }
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < rows.size() && !old_ids.contains(rows[end].id)) ++end;
    beginInsertRows({}, static_cast<int>(i), static_cast<int>(end) - 1);
    rows_.insert(rows_.begin() + static_cast<std::ptrdiff_t>(i),
                 std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(i)),
                 std::make_move_iterator(rows.begin() + static_cast<std::ptrdiff_t>(end)));
    endInsertRows();
    i = end;
  }
}

}  // namespace profiles::client
