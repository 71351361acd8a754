pragma Singleton

import QtQuick

// The app's look in one place: colours, spacing, sizes, typography, icons.
QtObject {
    // Colours (Material indigo primary, teal accent).
    readonly property color primary: "#3949AB"
    readonly property color primaryDark: "#283593"
    readonly property color accent: "#00897B"
    readonly property color background: "#F5F6FA"
    readonly property color surface: "#FFFFFF"
    readonly property color textPrimary: "#1F2330"
    readonly property color textSecondary: "#5F6472"
    readonly property color textOnPrimary: "#FFFFFF"
    readonly property color divider: "#E3E5EC"
    readonly property color error: "#C62828"
    readonly property color errorSurface: "#FDECEA"
    readonly property color warningSurface: "#FFF4E5"
    readonly property color warning: "#B26A00"

    // Sync states and connection.
    readonly property color synced: "#2E7D32"
    readonly property color pending: "#EF6C00"
    readonly property color syncing: "#1E88E5"
    readonly property color conflict: "#C62828"
    readonly property color rejected: "#AD1457"
    readonly property color offline: "#546E7A"

    // Spacing on a 4 px grid.
    readonly property int spacingXs: 4
    readonly property int spacingS: 8
    readonly property int spacingM: 16
    readonly property int spacingL: 24
    readonly property int spacingXl: 32
    readonly property int radius: 8

    // Sizes: touch targets are at least 48 px.
    readonly property int touchTarget: 48
    readonly property int rowHeight: 72
    readonly property int avatarSmall: 44
    readonly property int avatarLarge: 112
    readonly property int iconSize: 24
    readonly property int fabSize: 56
    readonly property int pullToRefreshDistance: 72

    // Typography (Roboto, Material's typeface).
    readonly property string fontFamily: "Roboto"
    readonly property string iconFontFamily: "Material Icons"
    readonly property int fontTitle: 20
    readonly property int fontSubtitle: 16
    readonly property int fontBody: 14
    readonly property int fontCaption: 12

    // Material Icons code points.
    readonly property var icons: ({
        add: "\ue145",
        addPhoto: "\ue439",
        back: "\ue5c4",
        close: "\ue5cd",
        cloudDone: "\ue2bf",
        cloudOff: "\ue2c1",
        delete: "\ue872",
        error: "\ue000",
        info: "\ue88e",
        lock: "\ue897",
        merge: "\ue252",
        people: "\ue7fb",
        refresh: "\ue5d5",
        schedule: "\ue8b5",
        search: "\ue8b6",
        settings: "\ue8b8",
        sync: "\ue627",
        syncProblem: "\ue629",
        warning: "\ue002"
    })

    // Background colours for avatars without a picture.
    readonly property var avatarColors: ["#5C6BC0", "#26A69A", "#EF5350", "#AB47BC",
        "#FFA726", "#42A5F5", "#8D6E63", "#66BB6A"]
}
