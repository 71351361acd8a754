import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Layouts
import ProfilesApp

// The conflict card: my edit was not applied because the profile changed
// elsewhere; both versions field by field, and the two ways out.
Rectangle {
    id: root

    // ProfileEditor.conflictFields.
    required property var fields

    signal keepServer()
    signal applyMine()

    objectName: "conflictBanner"
    implicitHeight: layout.implicitHeight + 2 * Theme.spacingM
    radius: Theme.radius
    color: Theme.errorSurface
    border.color: Qt.rgba(Theme.conflict.r, Theme.conflict.g, Theme.conflict.b, 0.35)

    Accessible.role: Accessible.AlertMessage
    Accessible.name: title.text

    ColumnLayout {
        id: layout

        anchors.fill: parent
        anchors.margins: Theme.spacingM
        spacing: Theme.spacingM

        RowLayout {
            spacing: Theme.spacingM

            Label {
                Layout.alignment: Qt.AlignTop
                text: Theme.icons.syncProblem
                color: Theme.conflict
                font.family: Theme.iconFontFamily
                font.pixelSize: Theme.iconSize
            }

            Label {
                id: title

                Layout.fillWidth: true
                text: qsTr("This profile was changed elsewhere; your edit was not applied")
                color: Theme.textPrimary
                font.pixelSize: Theme.fontBody
                font.weight: Font.Medium
                wrapMode: Text.Wrap
            }
        }

        RowLayout {
            Layout.fillWidth: true
            spacing: Theme.spacingM

            Item { Layout.preferredWidth: 56 }

            Label {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                text: qsTr("Yours")
                color: Theme.textSecondary
                font.pixelSize: Theme.fontCaption
                font.weight: Font.Medium
            }

            Label {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                text: qsTr("On the server")
                color: Theme.textSecondary
                font.pixelSize: Theme.fontCaption
                font.weight: Font.Medium
            }
        }

        Repeater {
            model: root.fields

            delegate: RowLayout {
                id: fieldRow

                required property string label
                required property var mine
                required property var server
                required property bool differs
                required property bool isImage
                required property string accessibleText

                Layout.fillWidth: true
                spacing: Theme.spacingM
                opacity: differs ? 1 : 0.6

                Accessible.role: Accessible.Row
                Accessible.name: accessibleText

                Label {
                    Layout.preferredWidth: 56
                    text: fieldRow.label
                    color: Theme.textSecondary
                    font.pixelSize: Theme.fontCaption
                    font.weight: Font.Medium
                }

                ConflictValue {
                    Layout.fillWidth: true
                    Layout.preferredWidth: 1
                    value: fieldRow.mine
                    isImage: fieldRow.isImage
                    differs: fieldRow.differs
                }

                ConflictValue {
                    Layout.fillWidth: true
                    Layout.preferredWidth: 1
                    value: fieldRow.server
                    isImage: fieldRow.isImage
                    differs: fieldRow.differs
                }
            }
        }

        Flow {
            Layout.fillWidth: true
            spacing: Theme.spacingS

            Button {
                objectName: "keepServerButton"
                text: qsTr("Keep server version")
                flat: true
                Material.foreground: Theme.conflict
                onClicked: root.keepServer()

                Accessible.name: text
            }

            Button {
                objectName: "applyMineButton"
                text: qsTr("Apply mine on top")
                highlighted: true
                Material.accent: Theme.conflict
                onClicked: root.applyMine()

                Accessible.name: text
            }
        }
    }
}
