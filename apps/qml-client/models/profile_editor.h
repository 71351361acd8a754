#ifndef PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_EDITOR_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_EDITOR_H_

// ProfileEditor: the backend of one profile page (view, edit, or create when
// `profileId` is empty). The page binds to a property per field and a
// per-field error string, and forwards the user's intent to the invokables.
//
//   ProfileEditor { id: editor; app: AppController; profileId: page.profileId }
//   TextField { text: editor.name; onTextEdited: editor.name = text }
//   Label { text: editor.nameError }
//   Button { enabled: editor.canSave; onClicked: editor.save() }
//
// Validation as you type uses the server's own rules (profile_domain). A
// field's error shows once the user has changed it (or tried to save); when
// the server rejected the last edit, its per-field messages replace the
// local ones until the user changes that field again. Fields the user has
// not changed follow the profile's snapshots; changed ones are kept.
//
// An edit carries what the form was based on: the profile's version when the
// user began changing it, and for each changed field the value it had then
// (not the value a later snapshot brought). The sync layer merges the edit
// with whatever changed since, field by field (core/merge.h), so a rename
// made elsewhere while the form was open is never silently overwritten.
//
// Thread safety: UI thread only.

#include <QtQml/qqmlregistration.h>

#include <QObject>
#include <QPointer>
#include <QString>
#include <QUrl>
#include <map>
#include <optional>
#include <string>

#include "apps/qml-client/models/app_controller.h"
#include "apps/qml-client/models/conflict_fields_model.h"
#include "libs/profile_contract/profile_fields.h"

namespace profiles::client {

class ProfileEditor : public QObject {
  Q_OBJECT
  QML_ELEMENT

  Q_PROPERTY(profiles::client::AppController* app READ app WRITE setApp NOTIFY appChanged)
  Q_PROPERTY(QString profileId READ profileId WRITE setProfileId NOTIFY profileIdChanged)
  Q_PROPERTY(bool isNew READ isNew NOTIFY profileIdChanged)
  // False when `profileId` names no profile this device knows.
  Q_PROPERTY(bool found READ found NOTIFY profileStateChanged)

  Q_PROPERTY(QString name READ name WRITE setName NOTIFY fieldsChanged)
  Q_PROPERTY(QString email READ email WRITE setEmail NOTIFY fieldsChanged)
  Q_PROPERTY(QUrl avatarSource READ avatarSource NOTIFY fieldsChanged)
  Q_PROPERTY(bool hasAvatar READ hasAvatar NOTIFY fieldsChanged)
  Q_PROPERTY(QString nameError READ nameError NOTIFY fieldsChanged)
  Q_PROPERTY(QString emailError READ emailError NOTIFY fieldsChanged)
  Q_PROPERTY(QString avatarError READ avatarError NOTIFY fieldsChanged)
  Q_PROPERTY(bool modified READ modified NOTIFY fieldsChanged)
  Q_PROPERTY(bool canSave READ canSave NOTIFY fieldsChanged)

  // A SyncStatus value.
  Q_PROPERTY(int syncState READ syncState NOTIFY profileStateChanged)
  // Rejected: the server's message about the edit it did not accept.
  Q_PROPERTY(QString serverError READ serverError NOTIFY profileStateChanged)
  // Conflict: a ConflictStatus value (my edit of a changed profile, my edit
  // of a profile deleted elsewhere, my delete of a changed profile).
  Q_PROPERTY(int conflictKind READ conflictKind NOTIFY profileStateChanged)
  // The profile can be deleted: it exists, and has no conflict to resolve
  // first.
  Q_PROPERTY(bool canDelete READ canDelete NOTIFY profileStateChanged)
  // Conflict: one row per field, mine beside the server's (image fields hold
  // image URLs, empty for no avatar); no rows otherwise.
  Q_PROPERTY(profiles::client::ConflictFieldsModel* conflictFields READ conflictFields CONSTANT)
  // Rejected: the server's answer was not a validation error (e.g. an
  // internal error, or an answer too large to read), so sending the edit
  // again may succeed.
  Q_PROPERTY(bool canRetry READ canRetry NOTIFY profileStateChanged)
  // Not empty when the profile's last edit was merged with a change made
  // elsewhere: a sentence for the user ("… the name was changed elsewhere").
  Q_PROPERTY(QString mergeNote READ mergeNote NOTIFY profileStateChanged)

 public:
  explicit ProfileEditor(QObject* parent = nullptr);
  ~ProfileEditor() override;

  AppController* app() const { return app_; }
  void setApp(AppController* app);
  QString profileId() const { return profile_id_; }
  void setProfileId(const QString& id);
  bool isNew() const { return profile_id_.isEmpty(); }
  bool found() const { return found_; }

  QString name() const { return name_.value; }
  void setName(const QString& name);
  QString email() const { return email_.value; }
  void setEmail(const QString& email);
  QUrl avatarSource() const { return avatar_source_; }
  bool hasAvatar() const { return !avatar_.value.isEmpty(); }
  QString nameError() const;
  QString emailError() const;
  QString avatarError() const;
  bool modified() const;
  bool canSave() const;

  int syncState() const { return static_cast<int>(state_); }
  int conflictKind() const { return static_cast<int>(conflict_kind_); }
  bool canDelete() const { return !isNew() && found_ && state_ != SyncState::kConflict; }
  QString serverError() const { return server_error_; }
  ConflictFieldsModel* conflictFields() { return &conflict_fields_; }
  bool canRetry() const { return can_retry_; }
  QString mergeNote() const { return merge_note_; }

  // Queues the create or the edit of the changed fields; false (and every
  // error shown) if it cannot be saved. A new profile gets its id here.
  Q_INVOKABLE bool save();
  // Loads, scales and encodes the picture at `file` (a local file URL) as
  // the new avatar; false with avatarError set if it cannot be used.
  Q_INVOKABLE bool pickAvatar(const QUrl& file);
  Q_INVOKABLE void removeAvatar();
  // Deletes the profile (after the page's confirmation): queued like an
  // edit, and gone from the list at once; emits deleted().
  Q_INVOKABLE void deleteProfile();
  // Conflict resolutions: drop my edit, or re-queue my fields on top of the
  // server's version. Deleted elsewhere: discard my edit, or recreate the
  // profile with it. My delete of a changed profile: keep the profile, or
  // delete it anyway.
  Q_INVOKABLE void keepServer();
  Q_INVOKABLE void applyMine();
  // Forgets the edit the server rejected.
  Q_INVOKABLE void dismissRejected();
  // Sends the parked edit again (same mutation id).
  Q_INVOKABLE void retry();
  // The user has read the merge note.
  Q_INVOKABLE void dismissMergeNote();

  // Shows `snapshot`; `app` follows the controller's snapshots by itself.
  void applySnapshot(const ClientSnapshot& snapshot, AvatarCache& avatars);

 signals:
  void appChanged();
  void profileIdChanged();
  void fieldsChanged();
  void profileStateChanged();
  // An edit or a create was queued.
  void saved();
  // The profile is going away: its delete was queued (deleteProfile(), or
  // "delete anyway"), or the edit of a profile deleted elsewhere was
  // discarded.
  void deleted();

 private:
  // One form field: what the profile holds, what the user typed, what it
  // held when the user began changing it, and the messages about it.
  template <typename T>
  struct Field {
    T base;    // the profile's current value (follows snapshots)
    T value;   // what the form shows
    T origin;  // the merge base: `base` when the user began changing it
    // `base` when the user began changing the form (any field): the base of
    // an untouched field, so a change made elsewhere to it can be named.
    T at_base_version;
    bool touched() const { return value != origin; }
    const T& merge_base() const { return touched() ? origin : at_base_version; }
    bool shown = false;  // the user changed it, or tried to save
    std::optional<std::string> problem;
    QString server_error;
  };
  template <typename T>
  static QString ErrorOf(const Field<T>& field);
  // Calls `fn` with the form field of the writable field `id` of `self`
  // (*this, const or not): a Field<QString> or the avatar's
  // Field<QByteArray>; `fn` returns the same type for both.
  template <typename Self, typename Fn>
  static decltype(auto) WithField(Self& self, ProfileFieldId id, Fn&& fn);
  void validate();
  void publishAvatar();

  QPointer<AppController> app_;
  QString profile_id_;
  bool found_ = false;
  Field<QString> name_;
  Field<QString> email_;
  Field<QByteArray> avatar_;
  // The SHA-256 of avatar_.origin (the server's, so it is right even while
  // the picture's bytes are still being fetched).
  QString avatar_origin_sha_;
  QString avatar_sha_at_base_version_;
  // The bytes of the profile's picture, read back from the store once per
  // picture (by sha) rather than at every snapshot.
  std::string stored_avatar_sha_;
  QByteArray stored_avatar_;
  // The profile's version when the user began changing the form.
  int64_t base_version_ = 0;
  QUrl avatar_source_;
  const QString draft_slot_;
  SyncState state_ = SyncState::kSynced;
  ConflictKind conflict_kind_ = ConflictKind::kNone;
  QString server_error_;
  // Filled while the profile is in conflict, empty otherwise.
  ConflictFieldsModel conflict_fields_{this};
  bool can_retry_ = false;
  QString merge_note_;
};

}  // namespace profiles::client

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_PROFILE_EDITOR_H_
