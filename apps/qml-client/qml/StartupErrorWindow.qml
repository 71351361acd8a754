import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ProfilesApp

// Shown instead of the app when its data folder cannot be opened, e.g. when
// another window of the app already has it: the reason (from main()) and the
// way out. Nothing has been read or written.
ApplicationWindow {
    id: window

    required property string message

    width: 460
    height: 260
    visible: true
    title: qsTr("Profiles")

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacingL
        spacing: Theme.spacingM

        MessageBanner {
            Layout.fillWidth: true
            glyph: Theme.icons.error
            title: qsTr("Profiles cannot open its data")
            message: window.message
        }

        Item { Layout.fillHeight: true }

        Button {
            Layout.alignment: Qt.AlignRight
            text: qsTr("Quit")
            Accessible.name: text
            onClicked: Qt.exit(1)
        }
    }
}
