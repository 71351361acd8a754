#ifndef PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_

// SyncStatus: the per-profile sync state as QML sees it (SyncStatus.Pending,
// ...), the same values as profiles::client::SyncState.

#include <QtQml/qqmlregistration.h>

#include <QObject>

#include "apps/qml-client/core/mutation_queue.h"
#include "apps/qml-client/sync/sync_manager.h"

namespace profiles::client::SyncStatus {
Q_NAMESPACE
QML_ELEMENT

enum Value {
  Synced = static_cast<int>(SyncState::kSynced),
  Pending = static_cast<int>(SyncState::kPending),
  Syncing = static_cast<int>(SyncState::kSyncing),
  Rejected = static_cast<int>(SyncState::kRejected),
  Conflict = static_cast<int>(SyncState::kConflict),
};
Q_ENUM_NS(Value)

// What a Conflict is about (ConflictKind): ConflictStatus.DeletedElsewhere, ...
}  // namespace profiles::client::SyncStatus

namespace profiles::client::ConflictStatus {
Q_NAMESPACE
QML_ELEMENT

enum Value {
  None = static_cast<int>(ConflictKind::kNone),
  // My edit of a profile changed elsewhere.
  Edit = static_cast<int>(ConflictKind::kEdit),
  // My edit of a profile deleted elsewhere: discard it, or recreate.
  DeletedElsewhere = static_cast<int>(ConflictKind::kDeletedElsewhere),
  // My delete of a profile changed elsewhere: delete anyway, or keep it.
  DeleteChanged = static_cast<int>(ConflictKind::kDeleteChanged),
};
Q_ENUM_NS(Value)

}  // namespace profiles::client::ConflictStatus

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_
