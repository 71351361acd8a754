import QtQuick
import QtQuick.Controls
import QtQuick.Controls.Material
import ProfilesApp

// A touch-sized icon-only button. `glyph` is a Theme.icons code point and
// `label` says what it does: it is the accessible name and the tooltip.
ToolButton {
    id: root

    required property string glyph
    required property string label
    property color iconColor: Material.foreground

    implicitWidth: Theme.touchTarget
    implicitHeight: Theme.touchTarget
    contentItem: Label {
        text: root.glyph
        color: root.enabled ? root.iconColor : Theme.textSecondary
        font.family: Theme.iconFontFamily
        font.pixelSize: Theme.iconSize
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
    }

    Accessible.name: label
    ToolTip.visible: hovered
    ToolTip.text: label
    ToolTip.delay: 500
}
