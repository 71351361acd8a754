#ifndef PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_
#define PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_

// SyncStatus: the per-profile sync state as QML sees it (SyncStatus.Pending,
// ...), the same values as profiles::client::SyncState.

#include <QtQml/qqmlregistration.h>

#include <QObject>

#include "apps/qml-client/core/mutation_queue.h"

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

}  // namespace profiles::client::SyncStatus

#endif  // PROFILES_APPS_QML_CLIENT_MODELS_SYNC_STATUS_H_
