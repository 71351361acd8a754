import QtQuick
import QtQuick.Controls
import ProfilesApp

// Online / offline / syncing and the number of pending changes, as a chip
// for a toolbar.
Rectangle {
    id: root

    readonly property var info: {
        switch (AppController.connection) {
        case AppController.Online:
            return { icon: Theme.icons.cloudDone, text: qsTr("Online") };
        case AppController.Syncing:
            return { icon: Theme.icons.sync, text: qsTr("Syncing") };
        case AppController.SignedOut:
            return { icon: Theme.icons.lock, text: qsTr("Sign in needed") };
        default:
            return { icon: Theme.icons.cloudOff, text: qsTr("Offline") };
        }
    }
    readonly property string summary: AppController.pendingCount > 0
        ? qsTr("%1 · %2 pending").arg(info.text).arg(AppController.pendingCount)
        : info.text

    objectName: "connectionChip"
    implicitWidth: row.implicitWidth + 2 * Theme.spacingM
    implicitHeight: 32
    radius: height / 2
    color: Qt.rgba(1, 1, 1, 0.18)

    Accessible.role: Accessible.StaticText
    Accessible.name: qsTr("Connection: %1").arg(summary)

    Row {
        id: row

        anchors.centerIn: parent
        spacing: Theme.spacingXs

        Label {
            text: root.info.icon
            color: Theme.textOnPrimary
            font.family: Theme.iconFontFamily
            font.pixelSize: 18
            anchors.verticalCenter: parent.verticalCenter
        }

        Label {
            text: root.summary
            color: Theme.textOnPrimary
            font.pixelSize: Theme.fontCaption
            font.weight: Font.Medium
            anchors.verticalCenter: parent.verticalCenter
        }
    }
}
