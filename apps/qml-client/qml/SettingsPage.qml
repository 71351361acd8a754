import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Layouts
import ProfilesApp

// Server address, sign-in token and "Work offline".
Page {
    id: page

    signal done()

    objectName: "settingsPage"
    background: Rectangle { color: Theme.background }

    SettingsEditor {
        id: settings

        app: AppController
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
                text: qsTr("Settings")
                font.pixelSize: Theme.fontTitle
                font.weight: Font.Medium
            }
        }
    }

    ColumnLayout {
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.margins: Theme.spacingM
        spacing: Theme.spacingM

        Pane {
            Layout.fillWidth: true
            padding: Theme.spacingM
            Material.elevation: 1
            Material.background: Theme.surface

            ColumnLayout {
                anchors.left: parent.left
                anchors.right: parent.right
                spacing: Theme.spacingS

                RowLayout {
                    Layout.fillWidth: true
                    spacing: Theme.spacingM

                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 2

                        Label {
                            text: qsTr("Work offline")
                            color: Theme.textPrimary
                            font.pixelSize: Theme.fontSubtitle
                        }

                        Label {
                            Layout.fillWidth: true
                            text: qsTr("Keep changes on this device and send nothing, e.g. on a metered connection.")
                            color: Theme.textSecondary
                            font.pixelSize: Theme.fontBody
                            wrapMode: Text.Wrap
                        }
                    }

                    Switch {
                        objectName: "workOfflineSwitch"
                        checked: AppController.workOffline
                        Layout.minimumHeight: Theme.touchTarget
                        onToggled: AppController.workOffline = checked

                        Accessible.name: qsTr("Work offline")
                    }
                }
            }
        }

        Pane {
            Layout.fillWidth: true
            padding: Theme.spacingM
            Material.elevation: 1
            Material.background: Theme.surface

            ColumnLayout {
                anchors.left: parent.left
                anchors.right: parent.right
                spacing: Theme.spacingS

                FieldWithError {
                    id: address

                    objectName: "serverAddressField"
                    Layout.fillWidth: true
                    label: qsTr("Server address")
                    text: settings.address
                    placeholderText: qsTr("host:port")
                    inputMethodHints: Qt.ImhUrlCharactersOnly | Qt.ImhNoAutoUppercase
                    error: settings.fieldError
                    onEdited: text => settings.address = text
                    onAccepted: settings.apply()
                }

                Button {
                    objectName: "applyServerButton"
                    Layout.alignment: Qt.AlignRight
                    Layout.minimumHeight: Theme.touchTarget
                    text: qsTr("Connect")
                    enabled: settings.canApply
                    highlighted: true
                    onClicked: settings.apply()

                    Accessible.name: qsTr("Connect to this server")
                }

                RowLayout {
                    Layout.fillWidth: true
                    spacing: Theme.spacingM

                    ColumnLayout {
                        Layout.fillWidth: true
                        spacing: 2

                        Label {
                            text: qsTr("Encrypted connection (TLS)")
                            color: Theme.textPrimary
                            font.pixelSize: Theme.fontSubtitle
                        }

                        Label {
                            Layout.fillWidth: true
                            text: qsTr("Verify the server's certificate and encrypt everything sent. Needed for any server that is not on this device.")
                            color: Theme.textSecondary
                            font.pixelSize: Theme.fontBody
                            wrapMode: Text.Wrap
                        }
                    }

                    Switch {
                        objectName: "tlsSwitch"
                        checked: settings.tls
                        Layout.minimumHeight: Theme.touchTarget
                        onToggled: settings.tls = checked

                        Accessible.name: qsTr("Encrypted connection")
                    }
                }

                FieldWithError {
                    objectName: "tlsCaFileField"
                    Layout.fillWidth: true
                    label: qsTr("CA certificate file (optional)")
                    text: settings.tlsCaFile
                    placeholderText: qsTr("PEM file of a private CA; empty: the system's")
                    inputMethodHints: Qt.ImhNoAutoUppercase | Qt.ImhNoPredictiveText
                    onEdited: text => settings.tlsCaFile = text
                    onAccepted: settings.applyTlsCaFile()
                }

                Button {
                    objectName: "applyTlsCaButton"
                    Layout.alignment: Qt.AlignRight
                    Layout.minimumHeight: Theme.touchTarget
                    text: qsTr("Use this CA")
                    enabled: settings.tlsCaFile.trim() !== AppController.tlsCaFile
                             || !AppController.tls
                    onClicked: settings.applyTlsCaFile()

                    Accessible.name: qsTr("Use this CA certificate")
                }
            }
        }

        Pane {
            Layout.fillWidth: true
            padding: Theme.spacingM
            Material.elevation: 1
            Material.background: Theme.surface

            ColumnLayout {
                anchors.left: parent.left
                anchors.right: parent.right
                spacing: Theme.spacingS

                FieldWithError {
                    objectName: "tokenField"
                    Layout.fillWidth: true
                    label: qsTr("Sign-in token")
                    text: settings.token
                    placeholderText: qsTr("Paste the token you were given")
                    inputMethodHints: Qt.ImhSensitiveData | Qt.ImhNoPredictiveText
                    field.echoMode: TextInput.Password
                    error: AppController.connection === AppController.SignedOut
                           ? settings.tokenStatus : ""
                    onEdited: text => settings.token = text
                    onAccepted: settings.applyToken()
                }

                RowLayout {
                    Layout.fillWidth: true
                    spacing: Theme.spacingM

                    Label {
                        objectName: "tokenStatus"
                        Layout.fillWidth: true
                        // Empty while signed out (the field shows why), and kept so the
                        // button stays on the right.
                        text: AppController.connection !== AppController.SignedOut
                              ? settings.tokenStatus : ""
                        color: Theme.textSecondary
                        font.pixelSize: Theme.fontBody
                        wrapMode: Text.Wrap
                    }

                    Button {
                        objectName: "applyTokenButton"
                        Layout.alignment: Qt.AlignRight
                        Layout.minimumHeight: Theme.touchTarget
                        text: qsTr("Sign in")
                        enabled: settings.token.trim().length > 0
                        highlighted: true
                        onClicked: settings.applyToken()

                        Accessible.name: qsTr("Sign in with this token")
                    }
                }
            }
        }

        Label {
            Layout.fillWidth: true
            text: qsTr("Data folder: %1").arg(AppController.dataDir)
            color: Theme.textSecondary
            font.pixelSize: Theme.fontCaption
            wrapMode: Text.WrapAnywhere
        }
    }
}
