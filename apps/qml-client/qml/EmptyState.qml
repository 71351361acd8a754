import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// A centred icon, title and explanation for a screen with nothing to show.
ColumnLayout {
    id: root

    required property string glyph
    required property string title
    property string message

    spacing: Theme.spacingS

    Accessible.role: Accessible.StaticText
    Accessible.name: title

    Rectangle {
        Layout.alignment: Qt.AlignHCenter
        Layout.bottomMargin: Theme.spacingS
        width: 96
        height: 96
        radius: 48
        color: Qt.rgba(Theme.primary.r, Theme.primary.g, Theme.primary.b, 0.08)

        Label {
            anchors.centerIn: parent
            text: root.glyph
            color: Theme.primary
            font.family: Theme.iconFontFamily
            font.pixelSize: 48
        }
    }

    Label {
        Layout.alignment: Qt.AlignHCenter
        text: root.title
        color: Theme.textPrimary
        font.pixelSize: Theme.fontTitle
        font.weight: Font.Medium
    }

    Label {
        Layout.alignment: Qt.AlignHCenter
        Layout.maximumWidth: 280
        visible: root.message.length > 0
        text: root.message
        color: Theme.textSecondary
        font.pixelSize: Theme.fontBody
        horizontalAlignment: Text.AlignHCenter
        wrapMode: Text.Wrap
    }
}
