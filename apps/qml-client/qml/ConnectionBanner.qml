import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Layouts
import ProfilesApp

// A bar at the bottom of the window while the app is offline or the server
// refused its sign-in token: why, how many changes wait, and the way back
// (online when "Work offline" is on; to Settings to sign in).
Rectangle {
    id: root

    readonly property bool signedOut: AppController.connection === AppController.SignedOut
    readonly property bool offline: AppController.connection === AppController.Offline

    signal signInRequested()

    objectName: "connectionBanner"
    visible: offline || signedOut
    implicitHeight: visible ? layout.implicitHeight + 2 * Theme.spacingS : 0
    color: Theme.offline

    Accessible.role: Accessible.StaticText
    Accessible.name: message.text

    RowLayout {
        id: layout

        anchors.fill: parent
        anchors.leftMargin: Theme.spacingM
        anchors.rightMargin: Theme.spacingS
        spacing: Theme.spacingM

        Label {
            text: root.signedOut ? Theme.icons.lock : Theme.icons.cloudOff
            color: Theme.textOnPrimary
            font.family: Theme.iconFontFamily
            font.pixelSize: Theme.iconSize
        }

        Label {
            id: message

            Layout.fillWidth: true
            text: {
                const reason = root.signedOut ? qsTr("Sign in needed")
                    : AppController.workOffline ? qsTr("Working offline")
                    : qsTr("No connection to the server");
                if (AppController.pendingCount === 0)
                    return reason;
                return AppController.pendingCount === 1
                    ? qsTr("%1 · 1 change waits to sync").arg(reason)
                    : qsTr("%1 · %2 changes wait to sync").arg(reason).arg(AppController.pendingCount);
            }
            color: Theme.textOnPrimary
            font.pixelSize: Theme.fontBody
            wrapMode: Text.Wrap
        }

        Button {
            visible: AppController.workOffline
            flat: true
            text: qsTr("Go online")
            Material.foreground: Theme.textOnPrimary
            Layout.minimumHeight: Theme.touchTarget
            onClicked: AppController.workOffline = false

            Accessible.name: qsTr("Go online")
        }

        Button {
            objectName: "signInButton"
            visible: root.signedOut
            flat: true
            text: qsTr("Sign in")
            Material.foreground: Theme.textOnPrimary
            Layout.minimumHeight: Theme.touchTarget
            onClicked: root.signInRequested()

            Accessible.name: qsTr("Sign in")
        }
    }
}
