import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// A labelled text field with its error message below it. The owner binds
// `text` and `error` to the backend and writes edits back in `edited`.
ColumnLayout {
    id: root

    required property string label
    property alias text: field.text
    property string error
    property alias placeholderText: field.placeholderText
    property alias inputMethodHints: field.inputMethodHints
    property alias readOnly: field.readOnly
    readonly property alias field: field

    signal edited(string text)
    signal accepted()

    spacing: Theme.spacingXs

    Label {
        text: root.label
        color: root.error.length > 0 ? Theme.error : Theme.textSecondary
        font.pixelSize: Theme.fontCaption
        font.weight: Font.Medium
    }

    TextField {
        id: field

        Layout.fillWidth: true
        Layout.minimumHeight: Theme.touchTarget
        font.pixelSize: Theme.fontSubtitle
        selectByMouse: true
        onTextEdited: root.edited(text)
        onAccepted: root.accepted()

        Accessible.name: root.label
        Accessible.description: root.error
    }

    Label {
        Layout.fillWidth: true
        visible: root.error.length > 0
        text: root.error
        color: Theme.error
        font.pixelSize: Theme.fontCaption
        wrapMode: Text.Wrap

        Accessible.role: Accessible.AlertMessage
        Accessible.name: root.error
    }
}
