#include "apps/qml-client/models/conflict_fields_model.h"

#include <algorithm>
#include <utility>

namespace profiles::client {

ConflictFieldsModel::ConflictFieldsModel(QObject* parent) : QAbstractListModel(parent) {}

int ConflictFieldsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant ConflictFieldsModel::data(const QModelIndex& index, int role) const {
  if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) {
    return {};
  }
  const ConflictFieldRow& row = rows_[static_cast<size_t>(index.row())];
  switch (role) {
    case kFieldRole:
      return row.field;
    case kLabelRole:
      return row.label;
    case kMineRole:
      return row.mine;
    case kServerRole:
      return row.server;
    case kDiffersRole:
      return row.differs;
    case kIsImageRole:
      return row.is_image;
    case kAccessibleTextRole:
      if (!row.differs) return tr("%1: the same").arg(row.label);
      return tr("%1: yours %2, on the server %3")
          .arg(row.label, row.is_image ? tr("picture") : row.mine.toString(),
               row.is_image ? tr("another picture") : row.server.toString());
    default:
      return {};
  }
}

QHash<int, QByteArray> ConflictFieldsModel::roleNames() const {
  return {{kFieldRole, "field"},
          {kLabelRole, "label"},
          {kMineRole, "mine"},
          {kServerRole, "server"},
          {kDiffersRole, "differs"},
          {kIsImageRole, "isImage"},
          {kAccessibleTextRole, "accessibleText"}};
}

void ConflictFieldsModel::SetRows(std::vector<ConflictFieldRow> rows) {
  const bool same_fields = rows.size() == rows_.size() &&
                           std::equal(rows.begin(), rows.end(), rows_.begin(),
                                      [](const ConflictFieldRow& a, const ConflictFieldRow& b) {
                                        return a.field == b.field;
                                      });
  if (!same_fields) {
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
    return;
  }
  rows_ = std::move(rows);
  if (!rows_.empty()) emit dataChanged(index(0), index(static_cast<int>(rows_.size()) - 1));
}

}  // namespace profiles::client
