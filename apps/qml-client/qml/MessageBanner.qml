import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// An inline error or warning card: icon, title, message and one action.
Rectangle {
    id: root

    required property string glyph
    required property string title
    property string message
    property string actionText
    property color accentColor: Theme.error

    signal actionTriggered()

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

            Button {
                visible: root.actionText.length > 0
                flat: true
                text: root.actionText
                Layout.leftMargin: -Theme.spacingS
                Layout.minimumHeight: Theme.touchTarget
                onClicked: root.actionTriggered()

                Accessible.name: root.actionText
            }
        }
    }
}
