#ifndef PROFILES_APPS_QML_CLIENT_MODELS_CONFLICT_FIELDS_MODEL_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_CONFLICT_FIELDS_MODEL_H_

// ConflictFieldsModel: the rows of the conflict card, one per field of the
// profile (name, email, picture): the user's value beside the server's, and
// whether they differ. ProfileEditor owns one and fills it; QML only binds.
//
// Roles: field ("name"), label ("Name"), mine and server (text, or an image
// URL when isImage), differs, isImage, accessibleText (what a screen reader
// says for the row).
//
// Thread safety: GUI thread only.

#include <QtQml/qqmlregistration.h>

#include <QAbstractListModel>
#include <QString>
#include <QVariant>
#include <vector>

namespace profiles::client {

struct ConflictFieldRow {
  QString field;
  QString label;
  QVariant mine;
  QVariant server;
  bool differs = false;
  bool is_image = false;
};

class ConflictFieldsModel : public QAbstractListModel {
  Q_OBJECT
  QML_ELEMENT
  QML_UNCREATABLE("Read ProfileEditor.conflictFields")

 public:
  enum Role {
    kFieldRole = Qt::UserRole + 1,
    kLabelRole,
    kMineRole,
    kServerRole,
    kDiffersRole,
    kIsImageRole,
    kAccessibleTextRole,
  };

  explicit ConflictFieldsModel(QObject* parent = nullptr);

  int rowCount(const QModelIndex& parent = QModelIndex()) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QHash<int, QByteArray> roleNames() const override;

  // Replaces the rows. Rows for the same fields as before are updated in
  // place (dataChanged), so the card's delegates stay; other changes reset.
  void SetRows(std::vector<ConflictFieldRow> rows);
  const std::vector<ConflictFieldRow>& rows() const { return rows_; }

 private:
  std::vector<ConflictFieldRow> rows_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_CONFLICT_FIELDS_MODEL_H_
