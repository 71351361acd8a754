import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// One row of the profiles list: avatar, name, email and sync state.
ItemDelegate {
    id: root

    required property string profileId
    required property string name
    required property string email
    required property url avatarSource
    required property int syncState

    objectName: "profileRow"
    implicitHeight: Theme.rowHeight
    leftPadding: Theme.spacingM
    rightPadding: Theme.spacingS

    Accessible.name: qsTr("%1, %2, %3").arg(name).arg(email).arg(status.Accessible.name)

    contentItem: RowLayout {
        spacing: Theme.spacingM

        AvatarImage {
            source: root.avatarSource
            name: root.name
            size: Theme.avatarSmall
        }

        ColumnLayout {
            Layout.fillWidth: true
            spacing: 2

            Label {
                Layout.fillWidth: true
                text: root.name
                color: Theme.textPrimary
                font.pixelSize: Theme.fontSubtitle
                elide: Text.ElideRight
            }

            Label {
                Layout.fillWidth: true
                text: root.email
                color: Theme.textSecondary
                font.pixelSize: Theme.fontBody
                elide: Text.ElideRight
            }
        }

        SyncStatusIcon {
            id: status

            syncState: root.syncState
        }
    }

    Rectangle {
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.leftMargin: Theme.spacingM * 2 + Theme.avatarSmall
        height: 1
        color: Theme.divider
    }
}
