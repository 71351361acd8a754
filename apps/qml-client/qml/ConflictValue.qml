import QtQuick
import QtQuick.Controls
import ProfilesApp

// One side of a conflict comparison: a text value or an avatar picture.
Item {
    id: root

    // Text, or an image URL when `isImage` (empty: no avatar).
    required property var value
    required property bool isImage
    required property bool differs

    readonly property bool showsPicture: isImage && String(value) !== ""

    implicitHeight: showsPicture ? picture.implicitHeight : text.implicitHeight

    AvatarImage {
        id: picture

        visible: root.showsPicture
        source: root.showsPicture ? root.value : ""
        size: 40
    }

    Label {
        id: text

        visible: !root.showsPicture
        width: parent.width
        text: root.isImage ? qsTr("No picture") : root.value
        color: root.isImage ? Theme.textSecondary : Theme.textPrimary
        font.pixelSize: Theme.fontBody
        font.weight: root.differs ? Font.Medium : Font.Normal
        wrapMode: Text.Wrap
        maximumLineCount: 2
        elide: Text.ElideRight
    }
}
