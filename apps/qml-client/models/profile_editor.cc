#include "apps/qml-client/models/profile_editor.h"

#include <atomic>
#include <cstdlib>

#include "apps/qml-client/core/merge.h"
#include "apps/qml-client/models/avatar_image.h"
#include "libs/profile_contract/validation.h"

namespace profiles::client {
namespace {

// The domain's messages are sentence fragments ("must not be empty"); beside
// a field they read as sentences.
QString Sentence(const std::string& message) {
  QString text = QString::fromStdString(message);
  if (!text.isEmpty()) text[0] = text[0].toUpper();
  return text;
}

QByteArray Bytes(const std::string& bytes) {
  return QByteArray(bytes.data(), static_cast<qsizetype>(bytes.size()));
}

std::string StdString(const QString& text) { return text.toStdString(); }
std::string StdString(const QByteArray& bytes) { return bytes.toStdString(); }

QString NextDraftSlot() {
  static std::atomic<quint64> next{0};
  return QStringLiteral("draft-%1").arg(++next);
}

const ProfileView* Find(const ClientSnapshot& snapshot, const QString& id) {
  const std::string wanted = id.toStdString();
  for (const ProfileView& view : snapshot.profiles) {
    if (view.profile->id() == wanted) return &view;
  }
  return nullptr;
}

QString PathOf(const ProfileField& field) {
  return QString::fromUtf8(field.path().data(), static_cast<qsizetype>(field.path().size()));
}

// How the merge note names a field.
QString FieldLabel(const std::string& path) {
  const ProfileField* field = FindWritableField(path);
  switch (field ? field->id() : ProfileFieldId::kAvatar) {
    case ProfileFieldId::kName:
      return ProfileEditor::tr("name");
    case ProfileFieldId::kEmail:
      return ProfileEditor::tr("email");
    case ProfileFieldId::kAvatar:
      break;
  }
  return ProfileEditor::tr("picture");
}

// The label of a field's row on the conflict card.
QString ConflictLabel(ProfileFieldId field) {
  switch (field) {
    case ProfileFieldId::kName:
      return ProfileEditor::tr("Name");
    case ProfileFieldId::kEmail:
      return ProfileEditor::tr("Email");
    case ProfileFieldId::kAvatar:
      break;
  }
  return ProfileEditor::tr("Avatar");
}

}  // namespace

template <typename Self, typename Fn>
decltype(auto) ProfileEditor::WithField(Self& self, ProfileFieldId id, Fn&& fn) {
  switch (id) {
    case ProfileFieldId::kName:
      return fn(self.name_);
    case ProfileFieldId::kEmail:
      return fn(self.email_);
    case ProfileFieldId::kAvatar:
      return fn(self.avatar_);
  }
  std::abort();  // not a ProfileFieldId
}

ProfileEditor::ProfileEditor(QObject* parent) : QObject(parent), draft_slot_(NextDraftSlot()) {
  validate();
}

ProfileEditor::~ProfileEditor() {
  if (app_) app_->avatars().remove(draft_slot_);
}

template <typename T>
QString ProfileEditor::ErrorOf(const Field<T>& field) {
  if (!field.server_error.isEmpty()) return field.server_error;
  if (field.shown && field.problem) return Sentence(*field.problem);
  return {};
}

QString ProfileEditor::nameError() const { return ErrorOf(name_); }
QString ProfileEditor::emailError() const { return ErrorOf(email_); }
QString ProfileEditor::avatarError() const { return ErrorOf(avatar_); }

void ProfileEditor::setApp(AppController* app) {
  if (app == app_) return;
  if (app_) disconnect(app_, nullptr, this, nullptr);
  app_ = app;
  if (app_) {
    connect(app_, &AppController::snapshotChanged, this,
            [this] { applySnapshot(*app_->snapshot(), app_->avatars()); });
    applySnapshot(*app_->snapshot(), app_->avatars());
  }
  emit appChanged();
}

void ProfileEditor::setProfileId(const QString& id) {
  if (id == profile_id_) return;
  profile_id_ = id;
  emit profileIdChanged();
  if (app_) applySnapshot(*app_->snapshot(), app_->avatars());
}

void ProfileEditor::setName(const QString& name) {
  if (name == name_.value) return;
  name_.value = name;
  name_.shown = true;
  name_.server_error.clear();
  validate();
  emit fieldsChanged();
}

void ProfileEditor::setEmail(const QString& email) {
  if (email == email_.value) return;
  email_.value = email;
  email_.shown = true;
  email_.server_error.clear();
  validate();
  emit fieldsChanged();
}

bool ProfileEditor::modified() const {
  for (const ProfileField& field : WritableFields()) {
    if (WithField(*this, field.id(), [](const auto& f) { return f.touched(); })) return true;
  }
  return false;
}

bool ProfileEditor::canSave() const {
  if (!isNew() && (!found_ || !modified())) return false;
  if (state_ == SyncState::kConflict) return false;
  for (const ProfileField& field : WritableFields()) {
    if (WithField(*this, field.id(), [](const auto& f) { return f.problem.has_value(); })) {
      return false;
    }
  }
  return true;
}

void ProfileEditor::validate() {
  name_.problem = NameProblem(StdString(name_.value));
  email_.problem = EmailProblem(StdString(email_.value));
  avatar_.problem = AvatarProblem(StdString(avatar_.value));
}

bool ProfileEditor::save() {
  name_.shown = email_.shown = avatar_.shown = true;
  if (!app_ || !canSave()) {
    emit fieldsChanged();
    return false;
  }
  const QString name = QString::fromStdString(TrimWhitespace(StdString(name_.value)));
  const QString email = QString::fromStdString(TrimWhitespace(StdString(email_.value)));
  if (isNew()) {
    // An empty id: the store refused the write; operationFailed says why.
    const QString id = app_->createProfile(name, email, avatar_.value);
    if (id.isEmpty()) return false;
    profile_id_ = id;
    emit profileIdChanged();
  } else {
    QStringList mask;
    for (const ProfileField& field : WritableFields()) {
      if (WithField(*this, field.id(), [](const auto& f) { return f.touched(); })) {
        mask << PathOf(field);
      }
    }
    // This edit replaces the one the server rejected.
    if (state_ == SyncState::kRejected) app_->dismissRejected(profile_id_);
    // What the user saw, not what the cache holds now: a change that arrived
    // while the form was open must meet the merge rule, not be overwritten.
    const EditBase base{
        .version = base_version_,
        .name = name_.merge_base(),
        .email = email_.merge_base(),
        .avatar_sha256 = avatar_.touched() ? avatar_origin_sha_ : avatar_sha_at_base_version_};
    app_->editProfile(profile_id_, name, email, avatar_.value, mask, base);
  }
  name_.base = name_.origin = name_.value = name;
  email_.base = email_.origin = email_.value = email;
  avatar_.base = avatar_.origin = avatar_.value;
  avatar_origin_sha_ = QString::fromStdString(AvatarSha256(StdString(avatar_.value)));
  name_.at_base_version = name_.value;
  email_.at_base_version = email_.value;
  avatar_.at_base_version = avatar_.value;
  avatar_sha_at_base_version_ = avatar_origin_sha_;
  name_.shown = email_.shown = avatar_.shown = false;
  validate();
  emit fieldsChanged();
  emit saved();
  return true;
}

bool ProfileEditor::pickAvatar(const QUrl& file) {
  avatar_.shown = true;
  avatar_.server_error.clear();
  absl::StatusOr<QByteArray> bytes =
      file.isLocalFile() ? LoadAvatar(file.toLocalFile())
                         : absl::InvalidArgumentError("choose a picture on this device");
  if (!bytes.ok()) {
    validate();
    avatar_.problem = std::string(bytes.status().message());
    emit fieldsChanged();
    return false;
  }
  avatar_.value = *bytes;
  validate();
  publishAvatar();
  emit fieldsChanged();
  return true;
}

void ProfileEditor::removeAvatar() {
  avatar_.value.clear();
  avatar_.shown = true;
  avatar_.server_error.clear();
  validate();
  publishAvatar();
  emit fieldsChanged();
}

void ProfileEditor::keepServer() {
  if (!app_ || state_ != SyncState::kConflict) return;
  app_->resolveKeepServer(profile_id_);
  // Discarding the edit of a profile deleted elsewhere lets it go.
  if (conflict_kind_ == ConflictKind::kDeletedElsewhere) emit deleted();
}

void ProfileEditor::applyMine() {
  if (!app_ || state_ != SyncState::kConflict) return;
  app_->resolveApplyMine(profile_id_);
  // "Delete anyway": gone from the list at once, as a first delete.
  if (conflict_kind_ == ConflictKind::kDeleteChanged) emit deleted();
}

void ProfileEditor::deleteProfile() {
  if (!app_ || !canDelete()) return;
  app_->deleteProfile(profile_id_);
  emit deleted();
}

void ProfileEditor::dismissRejected() {
  if (app_ && state_ == SyncState::kRejected) app_->dismissRejected(profile_id_);
}

void ProfileEditor::retry() {
  if (app_ && state_ == SyncState::kRejected) app_->retryParked(profile_id_);
}

void ProfileEditor::dismissMergeNote() {
  if (app_ && !merge_note_.isEmpty()) app_->dismissMergeNote(profile_id_);
}

void ProfileEditor::publishAvatar() {
  if (app_) avatar_source_ = app_->avatars().sourceFor(draft_slot_, StdString(avatar_.value));
}

void ProfileEditor::applySnapshot(const ClientSnapshot& snapshot, AvatarCache& avatars) {
  if (isNew()) return;
  avatars.showFrom(snapshot.pictures);
  const ProfileView* view = Find(snapshot, profile_id_);
  found_ = view != nullptr;
  if (!view) {
    emit profileStateChanged();
    return;
  }
  const profile::v1::Profile& profile = *view->profile;
  // Untouched fields show outside changes live; a field the user is changing
  // keeps its value and its origin (the merge base).
  auto follow = [](auto& field, const auto& base) {
    if (!field.touched()) field.value = field.origin = base;
    field.base = base;
  };
  follow(name_, QString::fromStdString(profile.name()));
  follow(email_, QString::fromStdString(profile.email()));
  if (!avatar_.touched()) avatar_origin_sha_ = QString::fromStdString(AvatarShaOf(profile));
  // The form holds the picture's bytes (to show, compare and send); the
  // store keeps them on disk. Read again until they are there (a picture
  // still being fetched has a sha before it has bytes).
  const std::string sha = AvatarShaOf(profile);
  if (sha != stored_avatar_sha_ || (stored_avatar_.isEmpty() && !sha.empty())) {
    stored_avatar_sha_ = sha;
    stored_avatar_.clear();
    if (!profile.avatar().empty()) {
      stored_avatar_ = Bytes(profile.avatar());
    } else if (!sha.empty() && snapshot.pictures != nullptr) {
      if (absl::StatusOr<std::string> bytes = snapshot.pictures->Read(sha); bytes.ok()) {
        stored_avatar_ = Bytes(*bytes);
      }
    }
  }
  follow(avatar_, stored_avatar_);
  if (!modified()) {
    base_version_ = profile.version();
    name_.at_base_version = name_.value;
    email_.at_base_version = email_.value;
    avatar_.at_base_version = avatar_.value;
    avatar_sha_at_base_version_ = avatar_origin_sha_;
  }
  avatar_source_ = avatars.sourceFor(draft_slot_, StdString(avatar_.value));

  const bool newly_rejected =
      view->state == SyncState::kRejected &&
      (state_ != SyncState::kRejected || server_error_ != QString::fromStdString(view->error));
  state_ = view->state;
  conflict_kind_ = state_ == SyncState::kConflict ? view->conflict : ConflictKind::kNone;
  server_error_ = state_ == SyncState::kRejected ? QString::fromStdString(view->error) : QString();
  can_retry_ = state_ == SyncState::kRejected && view->retryable;
  merge_note_.clear();
  if (view->merged_with) {
    QStringList fields;
    for (const std::string& field : *view->merged_with) fields << FieldLabel(field);
    merge_note_ = fields.isEmpty()
                      ? tr("Your change was merged with a change made on another device.")
                      : tr("Your change was merged with a change made on another device (%1).")
                            .arg(fields.join(QStringLiteral(", ")));
  }
  for (const ProfileField& field : WritableFields()) {
    QString* field_error = WithField(*this, field.id(), [](auto& f) { return &f.server_error; });
    const auto it = view->field_errors.find(std::string(field.path()));
    if (state_ != SyncState::kRejected) {
      field_error->clear();
    } else if (newly_rejected && it != view->field_errors.end()) {
      *field_error = Sentence(it->second);
    }
  }
  validate();

  std::vector<ConflictFieldRow> conflict;
  // Deleted elsewhere: nothing to compare (the tombstone has no fields; the
  // form shows the user's values).
  if (state_ == SyncState::kConflict && view->server_profile &&
      conflict_kind_ != ConflictKind::kDeletedElsewhere) {
    const profile::v1::Profile& server = *view->server_profile;
    // A delete of a changed profile: what the user deleted beside what the
    // profile is now.
    const profile::v1::Profile& mine =
        conflict_kind_ == ConflictKind::kDeleteChanged && view->deleted_from ? *view->deleted_from
                                                                             : profile;
    for (const ProfileField& field : WritableFields()) {
      ConflictFieldRow row;
      row.field = PathOf(field);
      row.label = ConflictLabel(field.id());
      row.is_image = field.is_avatar();
      if (field.is_avatar()) {
        // By sha: both sides name their pictures, read from the store when
        // shown; the server's copy in a conflict may come without its bytes
        // (fetched separately), which is not a removed picture.
        row.mine = avatars.sourceFor(AvatarShaOf(mine));
        row.server = avatars.sourceFor(server.avatar_sha256());
        row.differs = AvatarShaOf(mine) != AvatarShaOf(server);
      } else {
        const std::string_view ours = field.Get(mine);
        const std::string_view theirs = field.Get(server);
        row.mine = QString::fromUtf8(ours.data(), static_cast<qsizetype>(ours.size()));
        row.server = QString::fromUtf8(theirs.data(), static_cast<qsizetype>(theirs.size()));
        row.differs = ours != theirs;
      }
      conflict.push_back(std::move(row));
    }
  }
  conflict_fields_.SetRows(std::move(conflict));
  emit fieldsChanged();
  emit profileStateChanged();
}

}  // namespace profiles::client
