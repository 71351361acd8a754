import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Dialogs
import QtQuick.Layouts
import ProfilesApp

// View and edit one profile, or create one when `profileId` is empty.
Page {
    id: page

    property string profileId

    signal done()

    objectName: "profileEditPage"
    background: Rectangle { color: Theme.background }

    ProfileEditor {
        id: editor

        app: AppController
        profileId: page.profileId
        onSaved: page.done()
        // Gone from the list at once; nothing left to show here.
        onDeleted: page.done()
    }

    header: ToolBar {
        Material.background: Theme.primary
        Material.foreground: Theme.textOnPrimary

        RowLayout {
            anchors.fill: parent
            spacing: 0

            IconButton {
                objectName: "backButton"
                glyph: Theme.icons.back
                label: qsTr("Back")
                onClicked: page.done()
            }

            Label {
                Layout.fillWidth: true
                Layout.leftMargin: Theme.spacingS
                text: editor.isNew ? qsTr("New profile") : qsTr("Edit profile")
                font.pixelSize: Theme.fontTitle
                font.weight: Font.Medium
                elide: Text.ElideRight
            }

            IconButton {
                objectName: "deleteButton"
                visible: !editor.isNew
                enabled: editor.canDelete
                glyph: Theme.icons.delete
                label: qsTr("Delete profile")
                iconColor: Theme.textOnPrimary
                onClicked: deleteDialog.open()
            }

            ToolButton {
                id: saveButton

                objectName: "saveButton"
                enabled: editor.canSave
                text: qsTr("Save")
                Layout.minimumHeight: Theme.touchTarget
                Layout.rightMargin: Theme.spacingXs
                contentItem: Label {
                    text: saveButton.text.toUpperCase()
                    color: Theme.textOnPrimary
                    opacity: saveButton.enabled ? 1 : 0.5
                    font.pixelSize: Theme.fontBody
                    font.weight: Font.Medium
                    horizontalAlignment: Text.AlignHCenter
                    verticalAlignment: Text.AlignVCenter
                }
                onClicked: editor.save()

                Accessible.name: qsTr("Save")
            }
        }
    }

    Flickable {
        anchors.fill: parent
        contentWidth: width
        contentHeight: form.implicitHeight + 2 * Theme.spacingM
        clip: true

        ScrollIndicator.vertical: ScrollIndicator {}

        ColumnLayout {
            id: form

            x: Theme.spacingM
            y: Theme.spacingM
            width: parent.width - 2 * Theme.spacingM
            spacing: Theme.spacingM

            ConflictBanner {
                Layout.fillWidth: true
                visible: editor.syncState === SyncStatus.Conflict
                kind: editor.conflictKind
                fields: editor.conflictFields
                onKeepServer: editor.keepServer()
                onApplyMine: editor.applyMine()
            }

            MessageBanner {
                objectName: "rejectedBanner"
                Layout.fillWidth: true
                visible: editor.syncState === SyncStatus.Rejected
                glyph: Theme.icons.error
                accentColor: Theme.rejected
                title: editor.canRetry
                    ? qsTr("The server could not take your last change")
                    : qsTr("The server did not accept your last change")
                message: editor.serverError
                actionText: editor.canRetry ? qsTr("Retry") : ""
                secondaryActionText: qsTr("Discard that change")
                onActionTriggered: editor.retry()
                onSecondaryActionTriggered: editor.dismissRejected()
            }

            MessageBanner {
                objectName: "mergedBanner"
                Layout.fillWidth: true
                visible: editor.mergeNote.length > 0
                glyph: Theme.icons.merge
                accentColor: Theme.primary
                title: qsTr("Merged with a change from elsewhere")
                message: editor.mergeNote
                actionText: qsTr("OK")
                onActionTriggered: editor.dismissMergeNote()
            }

            MessageBanner {
                Layout.fillWidth: true
                visible: !editor.isNew && !editor.found
                glyph: Theme.icons.warning
                accentColor: Theme.warning
                title: qsTr("This profile is not on this device")
            }

            Pane {
                Layout.fillWidth: true
                padding: Theme.spacingM
                Material.elevation: 1
                Material.background: Theme.surface

                ColumnLayout {
                    anchors.left: parent.left
                    anchors.right: parent.right
                    spacing: Theme.spacingM

                    ColumnLayout {
                        Layout.alignment: Qt.AlignHCenter
                        spacing: Theme.spacingS

                        AvatarImage {
                            Layout.alignment: Qt.AlignHCenter
                            source: editor.avatarSource
                            name: editor.name
                            size: Theme.avatarLarge
                        }

                        RowLayout {
                            Layout.alignment: Qt.AlignHCenter
                            spacing: Theme.spacingS

                            Button {
                                objectName: "chooseAvatarButton"
                                flat: true
                                text: editor.hasAvatar ? qsTr("Change picture") : qsTr("Add picture")
                                Layout.minimumHeight: Theme.touchTarget
                                onClicked: avatarDialog.open()

                                Accessible.name: editor.hasAvatar ? qsTr("Change avatar picture") : qsTr("Add avatar picture")
                            }

                            Button {
                                visible: editor.hasAvatar
                                flat: true
                                text: qsTr("Remove")
                                Layout.minimumHeight: Theme.touchTarget
                                onClicked: editor.removeAvatar()

                                Accessible.name: qsTr("Remove avatar picture")
                            }
                        }

                        Label {
                            Layout.alignment: Qt.AlignHCenter
                            Layout.maximumWidth: form.width - 2 * Theme.spacingL
                            visible: editor.avatarError.length > 0
                            text: editor.avatarError
                            color: Theme.error
                            font.pixelSize: Theme.fontCaption
                            horizontalAlignment: Text.AlignHCenter
                            wrapMode: Text.Wrap

                            Accessible.role: Accessible.AlertMessage
                            Accessible.name: text
                        }
                    }

                    FieldWithError {
                        objectName: "nameField"
                        Layout.fillWidth: true
                        label: qsTr("Name")
                        text: editor.name
                        error: editor.nameError
                        placeholderText: qsTr("Full name")
                        onEdited: text => editor.name = text
                    }

                    FieldWithError {
                        objectName: "emailField"
                        Layout.fillWidth: true
                        label: qsTr("Email")
                        text: editor.email
                        error: editor.emailError
                        placeholderText: qsTr("name@example.com")
                        inputMethodHints: Qt.ImhEmailCharactersOnly | Qt.ImhNoAutoUppercase
                        onEdited: text => editor.email = text
                    }
                }
            }

            RowLayout {
                Layout.fillWidth: true
                visible: !editor.isNew && editor.found
                spacing: Theme.spacingXs

                SyncStatusIcon {
                    id: status

                    syncState: editor.syncState
                }

                Label {
                    Layout.fillWidth: true
                    text: editor.syncState === SyncStatus.Synced
                        ? qsTr("Saved on the server")
                        : editor.syncState === SyncStatus.Pending
                            ? qsTr("Saved on this device; it will sync when online")
                            : editor.conflictKind === ConflictStatus.DeletedElsewhere
                                ? qsTr("Deleted elsewhere")
                                : status.Accessible.name
                    color: Theme.textSecondary
                    font.pixelSize: Theme.fontBody
                    wrapMode: Text.Wrap
                }
            }
        }
    }

    // Deleting cannot be undone from this device: ask first.
    Dialog {
        id: deleteDialog

        objectName: "deleteDialog"
        anchors.centerIn: parent
        width: Math.min(parent.width - 2 * Theme.spacingL, 400)
        modal: true
        title: qsTr("Delete this profile?")

        Accessible.role: Accessible.Dialog
        Accessible.name: title

        Label {
            width: parent.width
            text: qsTr("%1 will be deleted on every device, with its name, email and picture. "
                       + "If you are offline, it is deleted when this device syncs.")
                .arg(editor.name.length > 0 ? editor.name : qsTr("This profile"))
            color: Theme.textSecondary
            font.pixelSize: Theme.fontBody
            wrapMode: Text.Wrap
        }

        footer: DialogButtonBox {
            Button {
                objectName: "cancelDeleteButton"
                text: qsTr("Cancel")
                flat: true
                DialogButtonBox.buttonRole: DialogButtonBox.RejectRole

                Accessible.name: qsTr("Cancel, keep the profile")
            }

            Button {
                objectName: "confirmDeleteButton"
                text: qsTr("Delete")
                flat: true
                Material.foreground: Theme.error
                DialogButtonBox.buttonRole: DialogButtonBox.AcceptRole

                Accessible.name: qsTr("Delete the profile")
            }
        }

        onAccepted: editor.deleteProfile()
    }

    FileDialog {
        id: avatarDialog

        title: qsTr("Choose a picture")
        nameFilters: [qsTr("Pictures (*.png *.jpg *.jpeg *.webp *.gif)")]
        onAccepted: editor.pickAvatar(selectedFile)
    }
}
