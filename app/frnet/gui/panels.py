"""The window's two side panels: the Controls panel (overlay check boxes, the frame's numbers,
per-stage timings) and the Gallery panel (processed photos, format choice, export button).

Each panel owns its widgets and the code that fills them from the Qt-free core's values
(:class:`~frnet.gui.core.HudData`, gallery entries); :class:`~frnet.gui.main_window.MainWindow`
places them in docks and connects them to its actions and workers.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..engine import STAGES
from . import core
from .gallery import Gallery

FRAME_FIELDS = (("source", "Source"), ("frame", "Frame"), ("faces", "Faces"),
                ("yaw", "Yaw"), ("pitch", "Pitch"), ("roll", "Roll"))


def _value_label(form: QFormLayout, text: str) -> QLabel:
    form.setVerticalSpacing(3)
    label = QLabel("–")
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setMinimumWidth(90)
    form.addRow(text, label)
    return label


class ControlsPanel(QScrollArea):
    """Check boxes mirroring the checkable ``actions`` (named in ``toggle_names``; a box and its
    action drive each other) with the smoothing level picker under "smoothing", the frame's numbers (source, frame, faces, pose) and the HUD's
    timings (fps, total, every engine stage).

    Attributes:
        overlay_boxes: name → check box.
        smoothing_combo: the smoothing level (``smoothing_levels``) picker.
        hud_labels: field or stage name → value label.
    """

    def __init__(self, actions: dict[str, QAction], toggle_names: list[str], smoothing_levels: tuple[str, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self._overlay_box(actions, toggle_names, smoothing_levels))
        self.hud_labels: dict[str, QLabel] = {}
        faces_box = QGroupBox("Frame")
        faces_form = QFormLayout(faces_box)
        for key, text in FRAME_FIELDS:
            self.hud_labels[key] = _value_label(faces_form, text)
        layout.addWidget(faces_box)
        layout.addWidget(self._performance_box())
        layout.addStretch(1)
        self.setWidget(panel)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def _overlay_box(self, actions: dict[str, QAction], toggle_names: list[str],
                     smoothing_levels: tuple[str, ...]) -> QGroupBox:
        box_group = QGroupBox("Overlay")
        layout = QVBoxLayout(box_group)
        layout.setSpacing(2)
        self.overlay_boxes: dict[str, QCheckBox] = {}
        for name in toggle_names:
            action = actions[name]
            key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            box = QCheckBox(f"{action.text().replace('&', '')}   [{key}]")
            box.setToolTip(action.toolTip())
            box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            box.toggled.connect(action.setChecked)
            action.toggled.connect(box.setChecked)
            if name == "smoothing":
                layout.addSpacing(4)
            layout.addWidget(box)
            self.overlay_boxes[name] = box
            if name == "smoothing":
                self.smoothing_combo = QComboBox()
                for level in smoothing_levels:
                    self.smoothing_combo.addItem(f"{level} smoothing", level)
                self.smoothing_combo.setToolTip("light: jitter about halved, no lag on fast motion; "
                                                "strong: calmest, some lag on fast motion (docs/video.md)")
                self.smoothing_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                layout.addWidget(self.smoothing_combo)
        return box_group

    def _performance_box(self) -> QGroupBox:
        perf_box = QGroupBox("Performance (ms per frame)")
        grid = QGridLayout(perf_box)
        grid.setVerticalSpacing(3)
        grid.setHorizontalSpacing(8)
        names = [("fps", "FPS"), ("total", "total"), *((stage, stage) for stage in STAGES)]
        for i, (key, text) in enumerate(names):
            row, column = divmod(i, 2)
            name = QLabel(text)
            name.setStyleSheet("color: #a0a4ab;")
            value = QLabel("–")
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setMinimumWidth(44)
            grid.addWidget(name, row, 2 * column)
            grid.addWidget(value, row, 2 * column + 1)
            self.hud_labels[key] = value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return perf_box

    def set_source(self, name: str) -> None:
        self.hud_labels["source"].setText(name)

    def show_hud(self, hud: core.HudData) -> None:
        """Fill the numbers from one frame's :class:`~frnet.gui.core.HudData`."""
        labels = self.hud_labels
        labels["faces"].setText(str(hud.face_count))
        pose = hud.yaw_pitch_roll_deg
        for key, value in zip(("yaw", "pitch", "roll"), pose if pose is not None else (None,) * 3):
            labels[key].setText("–" if value is None else f"{value:+.1f}°")
        labels["fps"].setText(f"{hud.fps:.1f}" if hud.fps else "–")
        for stage, ms in hud.timings_ms.items():
            if stage in labels:
                labels[stage].setText(f"{ms:.1f}")
        labels["total"].setText(f"{hud.total_ms:.1f}")
        labels["frame"].setText(f"{hud.frame_index + 1}" + (f" / {hud.frame_count}" if hud.frame_count else ""))


class GalleryPanel(QWidget):
    """The gallery of processed photos with its row of controls: a summary line, Select all,
    Clear, the UV-texture check box, the export format (one entry per registered mesh format, :data:`frnet.gui.core.EXPORT_FORMATS`)
    and the export button (wired to ``export_action``).

    Attributes:
        gallery, gallery_info, format_combo, texture_check, export_button, clear_button: the widgets.
    """

    def __init__(self, export_action: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        self.gallery = Gallery()
        layout.addWidget(self.gallery, 1)
        row = QHBoxLayout()
        self.gallery_info = QLabel("Drop photos or a folder to reconstruct every face")
        row.addWidget(self.gallery_info, 1)
        select_all = QPushButton("Select all")
        select_all.clicked.connect(self.gallery.selectAll)
        self.clear_button = QPushButton("Clear")
        self.format_combo = QComboBox()
        for fmt in core.EXPORT_FORMATS:
            self.format_combo.addItem(f"{fmt.upper()} + landmarks JSON", fmt)
        self.format_combo.setToolTip("Mesh format of the export (vertex colours from the photo)")
        self.texture_check = QCheckBox("UV texture")
        self.texture_check.setToolTip("Unwrap each face into a UV texture (hidden parts filled from the mirrored "
                                      "side): OBJ + MTL + PNG, GLB with it embedded, PLY colours from it")
        self.export_button = QPushButton(export_action.icon(), "Export selected…")
        self.export_button.setToolTip(export_action.toolTip())
        self.export_button.clicked.connect(export_action.trigger)
        for widget in (select_all, self.clear_button, self.format_combo, self.texture_check, self.export_button):
            widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(widget)
        layout.addLayout(row)

    def update_export(self, export_running: bool) -> None:
        """Enable the export button for a selection (not while an export runs); say what is there."""
        selected = len(self.gallery.selectedItems())
        total = self.gallery.count()
        faces = sum(e.face_count for e in self.gallery.entries())
        self.export_button.setEnabled(selected > 0 and not export_running)
        self.export_button.setText(f"Export {selected} selected…" if selected else "Export selected…")
        if total:
            self.gallery_info.setText(f"{total} image(s), {faces} face(s) — {selected} selected")
