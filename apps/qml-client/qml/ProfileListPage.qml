import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Layouts
import ProfilesApp

// The profiles on this device: filter, pull to refresh, open one, add one.
Page {
    id: page

    signal openProfile(string profileId)
    signal newProfile()
    signal openSettings()

    objectName: "profileListPage"
    background: Rectangle { color: Theme.background }

    header: ToolBar {
        Material.background: Theme.primary
        Material.foreground: Theme.textOnPrimary

        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: Theme.spacingM
            spacing: Theme.spacingS

            Label {
                Layout.fillWidth: true
                text: qsTr("Profiles")
                font.pixelSize: Theme.fontTitle
                font.weight: Font.Medium
                elide: Text.ElideRight
            }

            ConnectionChip {}

            IconButton {
                objectName: "settingsButton"
                glyph: Theme.icons.settings
                label: qsTr("Settings")
                onClicked: page.openSettings()
            }
        }
    }

    ProfileListModel {
        id: profiles

        app: AppController
        filter: filterField.text
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        MessageBanner {
            objectName: "repairBanner"
            Layout.fillWidth: true
            Layout.margins: Theme.spacingS
            visible: AppController.repairNote !== ""
            glyph: Theme.icons.error
            title: qsTr("Local data was repaired")
            message: AppController.repairNote
            actionText: qsTr("OK")
            onActionTriggered: AppController.dismissRepairNote()
        }

        Pane {
            Layout.fillWidth: true
            padding: Theme.spacingM
            topPadding: Theme.spacingS
            bottomPadding: Theme.spacingS
            background: Rectangle { color: Theme.surface }

            TextField {
                id: filterField

                objectName: "filterField"
                anchors.left: parent.left
                anchors.right: parent.right
                leftPadding: Theme.spacingXl + Theme.spacingS
                placeholderText: qsTr("Search by name or email")
                inputMethodHints: Qt.ImhNoPredictiveText
                selectByMouse: true

                Accessible.name: qsTr("Filter profiles")

                Label {
                    anchors.left: parent.left
                    anchors.leftMargin: Theme.spacingXs
                    anchors.verticalCenter: parent.verticalCenter
                    text: Theme.icons.search
                    color: Theme.textSecondary
                    font.family: Theme.iconFontFamily
                    font.pixelSize: Theme.iconSize
                }

                IconButton {
                    anchors.right: parent.right
                    anchors.verticalCenter: parent.verticalCenter
                    visible: filterField.text.length > 0
                    glyph: Theme.icons.close
                    label: qsTr("Clear filter")
                    iconColor: Theme.textSecondary
                    onClicked: filterField.clear()
                }
            }
        }

        ListView {
            id: list

            readonly property bool pulledFarEnough: verticalOvershoot < -Theme.pullToRefreshDistance

            objectName: "profileList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: profiles
            boundsBehavior: Flickable.DragOverBounds
            delegate: ProfileRow {
                width: ListView.view.width
                onClicked: page.openProfile(profileId)
            }
            // Room to scroll the last row clear of the floating button.
            footer: Item {
                height: Theme.fabSize + 2 * Theme.spacingM
            }

            onDragEnded: {
                if (pulledFarEnough)
                    profiles.refresh();
            }

            Accessible.role: Accessible.List
            Accessible.name: qsTr("Profiles")

            // Pull-to-refresh hint above the first row.
            Label {
                anchors.horizontalCenter: parent.horizontalCenter
                y: -list.verticalOvershoot / 2 - height / 2
                visible: list.verticalOvershoot < -Theme.spacingM
                text: list.pulledFarEnough ? qsTr("Release to refresh") : qsTr("Pull to refresh")
                color: Theme.textSecondary
                font.pixelSize: Theme.fontCaption
            }

            ScrollIndicator.vertical: ScrollIndicator {}
        }
    }

    EmptyState {
        objectName: "emptyState"
        // Centred in the list's area (a banner above the list moves it).
        x: (parent.width - width) / 2
        y: list.y + Math.max(0, (list.height - height) / 2)
        width: parent.width - 2 * Theme.spacingXl
        visible: list.count === 0
        glyph: profiles.totalCount === 0 ? Theme.icons.people : Theme.icons.search
        title: profiles.totalCount === 0 ? qsTr("No profiles yet") : qsTr("No matches")
        message: profiles.totalCount === 0
            ? qsTr("Profiles you create or open appear here, and stay available offline.")
            : qsTr("No profile's name or email contains “%1”.").arg(filterField.text)
    }

    RoundButton {
        objectName: "newProfileButton"
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.margins: Theme.spacingM
        width: Theme.fabSize
        height: Theme.fabSize
        highlighted: true
        Material.accent: Theme.accent
        contentItem: Label {
            text: Theme.icons.add
            color: Theme.textOnPrimary
            font.family: Theme.iconFontFamily
            font.pixelSize: Theme.iconSize
            horizontalAlignment: Text.AlignHCenter
            verticalAlignment: Text.AlignVCenter
        }
        onClicked: page.newProfile()

        Accessible.name: qsTr("New profile")
        ToolTip.visible: hovered
        ToolTip.text: qsTr("New profile")
    }
}
