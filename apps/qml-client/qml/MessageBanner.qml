import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// An inline error, warning or note card: icon, title, message and up to two
// actions.
Rectangle {
    id: root

    required property string glyph
    required property string title
    property string message
    property string actionText
    property string secondaryActionText
    property color accentColor: Theme.error

    signal actionTriggered()
    signal secondaryActionTriggered()

    implicitHeight: layout.implicitHeight + 2 * Theme.spacingM
    radius: Theme.radius
    color: Qt.rgba(accentColor.r, accentColor.g, accentColor.b, 0.08)
    border.color: Qt.rgba(accentColor.r, accentColor.g, accentColor.b, 0.35)

    Accessible.role: Accessible.AlertMessage
    Accessible.name: title
    Accessible.description: message

    RowLayout {
        id: layout

        anchors.fill: parent
        anchors.margins: Theme.spacingM
        spacing: Theme.spacingM

        Label {
            Layout.alignment: Qt.AlignTop
            text: root.glyph
            color: root.accentColor
            font.family: Theme.iconFontFamily
            font.pixelSize: Theme.iconSize
        }

        ColumnLayout {
            Layout.fillWidth: true
            spacing: Theme.spacingXs

            Label {
                Layout.fillWidth: true
                text: root.title
                color: Theme.textPrimary
                font.pixelSize: Theme.fontBody
                font.weight: Font.Medium
                wrapMode: Text.Wrap
            }

            Label {
                Layout.fillWidth: true
                visible: root.message.length > 0
                text: root.message
                color: Theme.textSecondary
                font.pixelSize: Theme.fontBody
                wrapMode: Text.Wrap
            }

            RowLayout {
                Layout.leftMargin: -Theme.spacingS
                spacing: Theme.spacingXs
                visible: root.actionText.length > 0 || root.secondaryActionText.length > 0

                Button {
                    objectName: root.objectName + "Action"
                    visible: root.actionText.length > 0
                    flat: true
                    text: root.actionText
                    Layout.minimumHeight: Theme.touchTarget
                    onClicked: root.actionTriggered()

                    Accessible.name: root.actionText
                }

                Button {
                    objectName: root.objectName + "SecondaryAction"
                    visible: root.secondaryActionText.length > 0
                    flat: true
                    text: root.secondaryActionText
                    Layout.minimumHeight: Theme.touchTarget
                    onClicked: root.secondaryActionTriggered()

                    Accessible.name: root.secondaryActionText
                }
            }
        }
    }
}
