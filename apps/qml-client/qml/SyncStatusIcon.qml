import QtQuick
import QtQuick.Controls
import ProfilesApp

// The sync state of one profile as a coloured Material icon with a tooltip
// and an accessible name.
Label {
    id: root

    required property int syncState

    readonly property var stateInfo: {
        switch (root.syncState) {
        case SyncStatus.Pending:
            return { icon: Theme.icons.schedule, color: Theme.pending, text: qsTr("Waiting to sync") };
        case SyncStatus.Syncing:
            return { icon: Theme.icons.sync, color: Theme.syncing, text: qsTr("Syncing") };
        case SyncStatus.Conflict:
            return { icon: Theme.icons.syncProblem, color: Theme.conflict, text: qsTr("Changed elsewhere") };
        case SyncStatus.Rejected:
            return { icon: Theme.icons.error, color: Theme.rejected, text: qsTr("Not accepted") };
        default:
            return { icon: Theme.icons.cloudDone, color: Theme.synced, text: qsTr("Synced") };
        }
    }

    objectName: "syncStatus"
    text: stateInfo.icon
    color: stateInfo.color
    font.family: Theme.iconFontFamily
    font.pixelSize: Theme.iconSize
    horizontalAlignment: Text.AlignHCenter
    verticalAlignment: Text.AlignVCenter
    width: Theme.touchTarget
    height: Theme.touchTarget

    Accessible.role: Accessible.StaticText
    Accessible.name: stateInfo.text

    HoverHandler { id: hover }
    ToolTip.visible: hover.hovered
    ToolTip.text: stateInfo.text
}
