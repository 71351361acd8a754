import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import QtQuick.Layouts
import ProfilesApp

// The conflict card, by `kind` (a ConflictStatus value):
//   Edit              my edit was not applied because the profile changed
//                     elsewhere; both versions field by field; keep theirs or
//                     apply mine on top.
//   DeletedElsewhere  my edit was not applied because the profile was deleted
//                     elsewhere; discard my edit or recreate the profile with it
//                     (the form below shows what would be recreated).
//   DeleteChanged     my delete was not applied because the profile changed
//                     since I deleted it; what I deleted beside what it is now;
//                     keep it or delete it anyway.
// keepServer() and applyMine() are the first and the second way out of each.
Rectangle {
    id: root

    // ProfileEditor.conflictFields.
    required property var fields
    // ProfileEditor.conflictKind.
    property int kind: ConflictStatus.Edit
    readonly property bool deletedElsewhere: kind === ConflictStatus.DeletedElsewhere
    readonly property bool deleteChanged: kind === ConflictStatus.DeleteChanged

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
                text: root.deletedElsewhere
                    ? qsTr("Deleted elsewhere")
                    : root.deleteChanged
                        ? qsTr("Changed elsewhere after you deleted it")
                        : qsTr("This profile was changed elsewhere; your edit was not applied")
                color: Theme.textPrimary
                font.pixelSize: Theme.fontBody
                font.weight: Font.Medium
                wrapMode: Text.Wrap
            }
        }

        Label {
            objectName: "conflictExplanation"
            Layout.fillWidth: true
            visible: root.deletedElsewhere || root.deleteChanged
            text: root.deletedElsewhere
                ? qsTr("This profile was deleted on another device, so your edit was not applied. "
                       + "Discard your edit, or recreate the profile with the values below.")
                : qsTr("This profile was changed on another device since you deleted it, so it "
                       + "was not deleted. Delete it anyway, or keep it as it is now?")
            color: Theme.textSecondary
            font.pixelSize: Theme.fontBody
            wrapMode: Text.Wrap

            Accessible.name: text
        }

        RowLayout {
            Layout.fillWidth: true
            visible: !root.deletedElsewhere
            spacing: Theme.spacingM

            Item { Layout.preferredWidth: 56 }

            Label {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                text: root.deleteChanged ? qsTr("When you deleted it") : qsTr("Yours")
                color: Theme.textSecondary
                font.pixelSize: Theme.fontCaption
                font.weight: Font.Medium
            }

            Label {
                Layout.fillWidth: true
                Layout.preferredWidth: 1
                text: root.deleteChanged ? qsTr("Now") : qsTr("On the server")
                color: Theme.textSecondary
                font.pixelSize: Theme.fontCaption
                font.weight: Font.Medium
            }
        }

        Repeater {
            model: root.deletedElsewhere ? null : root.fields

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
                text: root.deletedElsewhere
                    ? qsTr("Discard my edit")
                    : root.deleteChanged ? qsTr("Keep profile") : qsTr("Keep server version")
                flat: true
                Material.foreground: Theme.conflict
                onClicked: root.keepServer()

                Accessible.name: text
            }

            Button {
                objectName: "applyMineButton"
                text: root.deletedElsewhere
                    ? qsTr("Recreate profile")
                    : root.deleteChanged ? qsTr("Delete anyway") : qsTr("Apply mine on top")
                highlighted: true
                Material.accent: Theme.conflict
                onClicked: root.applyMine()

                Accessible.name: text
            }
        }
    }
}
