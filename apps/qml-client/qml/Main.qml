import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import ProfilesApp

// The window: a stack of pages over the connection banner.
ApplicationWindow {
    id: window

    width: 400
    height: 800
    visible: true
    title: qsTr("Profiles")
    font.family: Theme.fontFamily
    font.pixelSize: Theme.fontBody

    Material.theme: Material.Light
    Material.primary: Theme.primary
    Material.accent: Theme.primary
    Material.background: Theme.background

    footer: ConnectionBanner {
        onSignInRequested: {
            if (!(stack.currentItem instanceof SettingsPage))
                stack.push(settingsPage);
        }
    }

    StackView {
        id: stack

        objectName: "stack"
        anchors.fill: parent
        initialItem: ProfileListPage {
            onOpenProfile: profileId => stack.push(editPage, { profileId: profileId })
            onNewProfile: stack.push(editPage, { profileId: "" })
            onOpenSettings: stack.push(settingsPage)
        }
    }

    Component {
        id: editPage

        ProfileEditPage {
            onDone: StackView.view.pop()
        }
    }

    Component {
        id: settingsPage

        SettingsPage {
            onDone: StackView.view.pop()
        }
    }

    Connections {
        target: AppController

        function onOperationFailed(message) {
            toast.show(message);
        }
    }

    ToolTip {
        id: toast

        objectName: "toast"
        timeout: 5000
        x: (window.width - width) / 2
        y: window.height - height - Theme.spacingXl * 3
    }
}
