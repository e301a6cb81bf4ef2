"""The main window's actions, menus and toolbar: what each command is called, its shortcut, its
icon and where it appears. The overlay toggles are :class:`~frnet.gui.core.OverlayToggles`' fields
(``core.OVERLAY_NAMES``); here only how each looks.

:func:`build_actions` connects every action to the window's slot of the same purpose; the window
keeps the resulting ``name → QAction`` table (``MainWindow.action(name)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPixmap
from PyQt6.QtWidgets import QComboBox, QMainWindow, QStyle, QToolButton

from . import core

# The overlay toggles are OverlayToggles' fields (core.OVERLAY_NAMES), in that order; here only how
# each looks: name → (menu text, shortcut, status tip).
TOGGLE_LOOKS = {
    "landmarks": ("&Landmarks", "L", "Draw the 68 landmarks"),
    "mesh": ("&Mesh", "M", "Draw the dense 3D mesh, translucent"),
    "wireframe": ("&Wireframe", "W", "Draw the mesh's edges"),
    "axes": ("Pose &axes", "A", "Draw the head pose as x/y/z axes"),
    "depth": ("&Depth colouring", "D", "Colour the mesh by depth (near red, far blue) instead of shading"),
}
TOGGLES = {name: TOGGLE_LOOKS.get(name, (name.capitalize(), "", f"Draw the {name}")) for name in core.OVERLAY_NAMES}


def record_icon(size: int = 32) -> QIcon:
    """A red dot: the record button's icon."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(220, 50, 47))
    margin = size // 5
    painter.drawEllipse(margin, margin, size - 2 * margin, size - 2 * margin)
    painter.end()
    return QIcon(pixmap)



def add_action(window: QMainWindow, actions: dict[str, QAction], name: str, text: str, slot: Callable | None = None,
               shortcuts: Iterable[str] = (), tip: str = "", icon: QIcon | None = None,
               checkable: bool = False) -> QAction:
    """One action of ``window`` with its shortcuts (window-wide), tooltip and slot, kept in ``actions``."""
    action = QAction(text, window)
    if icon is not None:
        action.setIcon(icon)
    shortcuts = [QKeySequence(s) for s in shortcuts]
    if shortcuts:
        action.setShortcuts(shortcuts)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in shortcuts)
    action.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({keys})" if keys else ""))
    action.setStatusTip(tip)
    action.setCheckable(checkable)
    if slot is not None:
        (action.toggled if checkable else action.triggered).connect(slot)
    window.addAction(action)  # shortcuts work even when menus and toolbars are hidden
    actions[name] = action
    return action


def build_actions(w) -> dict[str, QAction]:
    """Every action of the window ``w``, connected to its slots."""
    actions: dict[str, QAction] = {}

    def add(*args, **kwargs):
        return add_action(w, actions, *args, **kwargs)

    def icon(pixmap):
        return w.style().standardIcon(pixmap)

    sp = QStyle.StandardPixmap
    add("open_video", "Open &video…", w.open_video_dialog, ["Ctrl+O"],
        "Open a video file", icon(sp.SP_DialogOpenButton))
    add("open_images", "Open &images…", w.open_images_dialog, ["Ctrl+I"],
        "Reconstruct the faces in one or more photos", icon(sp.SP_FileDialogContentsView))
    add("open_folder", "Open &folder of images…", w.open_folder_dialog, ["Ctrl+Shift+I"],
        "Reconstruct the faces in every photo of a folder", icon(sp.SP_DirOpenIcon))
    add("webcam", "Start &webcam", w.open_camera, [],
        "Show the camera picked in the toolbar", icon(sp.SP_ComputerIcon))
    add("probe", "Find cameras", w.probe_cameras, [],
        "Look for connected cameras (0–4)", icon(sp.SP_BrowserReload))
    add("play", "&Play", w.toggle_play, ["Space"],
        "Play or pause", icon(sp.SP_MediaPlay))
    add("step", "&Step", w.step, ["Right", "."],
        "Pause and show the next frame", icon(sp.SP_MediaSkipForward))
    add("stop", "S&top", w.stop_source, [],
        "Close the video or camera", icon(sp.SP_MediaStop))
    add("snapshot", "&Snapshot…", w.snapshot, ["Ctrl+S"],
        "Save the picture on show as PNG", icon(sp.SP_DialogSaveButton))
    add("record", "&Record…", w.toggle_record, ["Ctrl+R"],
        "Record the live view with its overlay to MP4", record_icon())
    add("export", "&Export selected…", w.export_selected, ["Ctrl+E"],
        "Export the selected gallery images' meshes and landmarks", icon(sp.SP_DriveHDIcon))
    add("quit", "&Quit", w.close, ["Ctrl+Q"], "Quit frnet")
    for name, (text, key, tip) in TOGGLES.items():
        add(name, text, w._on_overlay_toggled, [key] if key else [], tip, checkable=True)
    add("smoothing", "S&moothing", w._on_smoothing_toggled, ["S"],
        "Smooth the tracked faces over time (the level is picked beside it; "
        "the same presets as frnet-app --smoothing)", checkable=True)
    add("hud", "&HUD on view", w._on_hud_toggled, ["H"],
        "Show fps, timings and pose over the live view", checkable=True)
    add("shortcuts", "&Keyboard shortcuts", w.show_shortcuts, ["F1"])
    add("about", "&About frnet", w.show_about)

    return actions


def build_menus(w, actions: dict[str, QAction]) -> None:
    """The menu bar of ``w``."""
    menus = {
        "&File": ["open_video", "open_images", "open_folder", None, "webcam", "probe", None,
                  "snapshot", "record", "export", None, "quit"],
        "&Playback": ["play", "step", "stop"],
        "&View": list(TOGGLES) + [None, "smoothing", "hud"],
        "&Help": ["shortcuts", "about"],
    }
    for title, names in menus.items():
        menu = w.menuBar().addMenu(title)
        for name in names:
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(actions[name])


def build_toolbar(w, actions: dict[str, QAction]) -> QComboBox:
    """The toolbar of ``w``; returns its camera picker."""
    bar = w.addToolBar("Main")
    bar.setObjectName("main_toolbar")
    bar.setMovable(False)
    bar.setIconSize(QSize(20, 20))
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for name in ("open_video", "open_images"):
        bar.addAction(actions[name])
    bar.addSeparator()
    camera_combo = QComboBox()
    camera_combo.setToolTip("Which webcam to open")
    camera_combo.addItems([f"Camera {i}" for i in core.CAMERA_INDICES])
    camera_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    camera_combo.currentIndexChanged.connect(w._on_camera_picked)
    bar.addWidget(camera_combo)
    for name in ("probe", "webcam"):
        bar.addAction(actions[name])
    bar.addSeparator()
    for name in ("play", "step", "stop"):
        bar.addAction(actions[name])
    bar.addSeparator()
    for name in ("snapshot", "record", "export"):
        bar.addAction(actions[name])
    for button in bar.findChildren(QToolButton):
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows stay shortcuts
    for name in ("probe", "step", "stop"):  # icons enough; the tooltips say what they do
        bar.widgetForAction(actions[name]).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return camera_combo
