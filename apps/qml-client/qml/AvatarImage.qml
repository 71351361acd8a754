import QtQuick
import QtQuick.Controls
import ProfilesApp

// A round avatar: the picture (round from the image provider) or, without
// one, the first letter of the name on a colour picked from the name.
Item {
    id: root

    property url source
    property string name
    property int size: Theme.avatarSmall

    implicitWidth: size
    implicitHeight: size

    Accessible.role: Accessible.Graphic
    Accessible.name: picture.visible ? qsTr("Avatar of %1").arg(root.name) : qsTr("No avatar")

    Rectangle {
        anchors.fill: parent
        radius: width / 2
        visible: !picture.visible
        color: {
            let sum = 0;
            for (let i = 0; i < root.name.length; ++i)
                sum += root.name.charCodeAt(i);
            return Theme.avatarColors[sum % Theme.avatarColors.length];
        }

        Label {
            anchors.centerIn: parent
            text: root.name.trim().length > 0 ? root.name.trim().charAt(0).toUpperCase() : "?"
            color: Theme.textOnPrimary
            font.pixelSize: root.size * 0.42
            font.weight: Font.Medium
        }
    }

    Image {
        id: picture

        anchors.fill: parent
        source: root.source
        sourceSize.width: root.size * Screen.devicePixelRatio
        sourceSize.height: root.size * Screen.devicePixelRatio
        visible: String(root.source) !== "" && status === Image.Ready
        fillMode: Image.PreserveAspectFit
        smooth: true
    }
}
