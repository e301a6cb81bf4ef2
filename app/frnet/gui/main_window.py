"""The main window: a shell of widgets over the Qt-free core and the two workers.

Layout: toolbar (sources, playback, snapshot/record, export) on top; the live view in the centre;
a "Controls" dock on the right (:class:`~frnet.gui.panels.ControlsPanel`: overlay toggles,
smoothing, HUD numbers, head pose); a "Gallery" dock at the bottom
(:class:`~frnet.gui.panels.GalleryPanel`: processed photos, export). Everything slow — decoding, inference, rendering,
export — happens in :class:`~frnet.gui.workers.FrameWorker` and
:class:`~frnet.gui.workers.ImageWorker`; this class only sends them requests through queued
signals and shows what they send back, so the UI never blocks.

Every way of opening files (drop, dialogs, command line) goes through
:meth:`MainWindow.handle_dropped_paths` or :meth:`MainWindow.open_video`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QAction, QIcon, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QSizePolicy,
    QStyle,
)

from .. import __version__
from ..errors import FrnetError
from ..files import write_image_atomic
from ..limits import check_camera_index
from ..render import Renderer
from ..sources import SourceInfo
from . import core
from .actions import TOGGLES, build_actions, build_menus, build_toolbar
from .panels import ControlsPanel, GalleryPanel
from .settings import SMOOTHING_ON_LEVELS, AppSettings
from .view import create_frame_view
from .workers import BatchSummary, FrameWorker, ImageWorker, LiveFrame, start_in_thread, stop_thread

log = logging.getLogger(__name__)

WINDOW_TITLE = "frnet — face alignment & 3D reconstruction"
STATUS_TIMEOUT_MS = 6000
VIDEO_FILTER = "Videos (" + " ".join(f"*{s}" for s in sorted(core.VIDEO_SUFFIXES)) + ");;All files (*)"
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(core.IMAGE_SUFFIXES)) + ");;All files (*)"

class MainWindow(QMainWindow):
    """The frnet desktop app's window.

    Args:
        settings: saved settings (default: the native store; tests pass an INI file).
        pipeline_factory: builds the workers' pipelines (default :func:`frnet.gui.core.make_pipeline`).
        renderer_factory: builds the workers' renderers (default ``create_renderer("auto")``).
        view_backend: ``"auto"``, ``"gl"`` or ``"image"`` (see :func:`frnet.gui.view.create_frame_view`).
        open_capture: camera factory for :class:`~frnet.sources.CameraSource` (tests).
    """

    # Requests to the workers; queued, so they run in the workers' threads.
    open_video_requested = pyqtSignal(str)
    open_camera_requested = pyqtSignal(int)
    toggle_play_requested = pyqtSignal()
    pause_requested = pyqtSignal()
    step_requested = pyqtSignal()
    close_source_requested = pyqtSignal()
    probe_cameras_requested = pyqtSignal()
    overlay_changed = pyqtSignal(object)  # OverlayOptions
    smoothing_changed = pyqtSignal(str)  # a level of frnet.smoothing.SMOOTHING_LEVELS
    record_start_requested = pyqtSignal(str)
    record_stop_requested = pyqtSignal()
    images_requested = pyqtSignal(object, object)  # list[Path], OverlayOptions
    export_requested = pyqtSignal(object, str, str, bool)  # list[ImageEntry], folder, format, textured

    def __init__(self, settings: AppSettings | None = None,
                 pipeline_factory: core.PipelineFactory = core.make_pipeline,
                 renderer_factory: Callable[[], Renderer] | None = None,
                 view_backend: str = "auto",
                 open_capture: Callable[[int], object] | None = None) -> None:
        super().__init__()
        self.settings = settings if settings is not None else AppSettings()
        self.frames_shown = 0
        self.errors_shown = 0
        self.batches_finished = 0
        self.exports_finished = 0
        self.last_batch: BatchSummary | None = None
        self.last_export: core.ExportSummary | None = None
        self.batch_running = False
        self.export_running = False
        self.recording = False
        self.playing = False
        self.source_info: SourceInfo | None = None
        self.last_live: LiveFrame | None = None
        self._pending_batches = 0
        self._progress: QProgressDialog | None = None
        self._closed = False
        self._restoring = True

        self.setWindowTitle(WINDOW_TITLE)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowNestedDocks)
        self.view = create_frame_view(self, view_backend)
        self.setCentralWidget(self.view)
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_controls_dock()
        self._build_gallery_dock()
        self._build_status_bar()
        self._restore_settings()
        self._restoring = False

        worker_kwargs = {"pipeline_factory": pipeline_factory}
        if renderer_factory is not None:
            worker_kwargs["renderer_factory"] = renderer_factory
        self.frame_worker = FrameWorker(open_capture=open_capture, **worker_kwargs)
        self.image_worker = ImageWorker(**worker_kwargs)
        self._connect_workers()
        self._frame_thread = start_in_thread(self.frame_worker, "frnet-frames")
        self._image_thread = start_in_thread(self.image_worker, "frnet-images")
        self.overlay_changed.emit(self.overlay_toggles().to_options())
        self.smoothing_changed.emit(self.settings.effective_smoothing)
        self.status("Ready — drop a video, photos or a folder onto the window", 0)

    # ------------------------------------------------------------------------------------ building
    def _icon(self, pixmap: QStyle.StandardPixmap) -> QIcon:
        return self.style().standardIcon(pixmap)

    def action(self, name: str) -> QAction:
        """The named action (``open_video``, ``play``, ``landmarks`` …), for tests and scripting."""
        return self._actions[name]

    def _build_actions(self) -> None:
        self._actions = build_actions(self)

    def _build_menus(self) -> None:
        build_menus(self, self._actions)

    def _build_toolbar(self) -> None:
        self.camera_combo = build_toolbar(self, self._actions)

    def _build_controls_dock(self) -> None:
        self.controls = ControlsPanel(self._actions, [*TOGGLES, "smoothing", "hud"], SMOOTHING_ON_LEVELS)
        self.overlay_boxes = self.controls.overlay_boxes
        self.hud_labels = self.controls.hud_labels
        self.smoothing_combo = self.controls.smoothing_combo
        self.smoothing_combo.currentIndexChanged.connect(self._on_smoothing_level_picked)
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls_dock")
        dock.setWidget(self.controls)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setMinimumWidth(250)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.controls_dock = dock

    def _build_gallery_dock(self) -> None:
        panel = self.gallery_panel = GalleryPanel(self._actions["export"])
        self.gallery, self.gallery_info = panel.gallery, panel.gallery_info
        self.format_combo, self.export_button = panel.format_combo, panel.export_button
        self.texture_check = panel.texture_check
        self.gallery.entry_activated.connect(self.show_entry)
        self.gallery.itemSelectionChanged.connect(self._update_export_enabled)
        panel.clear_button.clicked.connect(self.clear_gallery)
        self.format_combo.currentIndexChanged.connect(self._on_format_picked)
        dock = QDockWidget("Gallery", self)
        dock.setObjectName("gallery_dock")
        dock.setWidget(panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [215], Qt.Orientation.Vertical)
        self.gallery_dock = dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.record_label = QLabel("")
        self.record_label.setStyleSheet("color: #e0443e; font-weight: bold;")
        self.backend_label = QLabel(f"view: {self.view.backend}")
        self.backend_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        bar.addPermanentWidget(self.record_label)
        bar.addPermanentWidget(self.backend_label)

    def _restore_settings(self) -> None:
        toggles = self.settings.overlay
        for name in TOGGLES:
            self._actions[name].setChecked(getattr(toggles, name))
        self._actions["smoothing"].setChecked(self.settings.smoothing)
        self.smoothing_combo.setCurrentIndex(SMOOTHING_ON_LEVELS.index(self.settings.smoothing_level))
        self._actions["hud"].setChecked(self.settings.hud_visible)
        self.view.set_hud_visible(self.settings.hud_visible)
        self.camera_combo.setCurrentIndex(self.settings.camera_index)
        self.format_combo.setCurrentIndex(core.EXPORT_FORMATS.index(self.settings.export_format))
        if self.settings.window_geometry is not None:
            self.restoreGeometry(self.settings.window_geometry)
        else:
            self.resize(1280, 800)
        if self.settings.window_state is not None:
            self.restoreState(self.settings.window_state)
        self._update_export_enabled()

    def _connect_workers(self) -> None:
        frames, images = self.frame_worker, self.image_worker
        self.open_video_requested.connect(frames.open_video)
        self.open_camera_requested.connect(frames.open_camera)
        self.toggle_play_requested.connect(frames.toggle_play)
        self.pause_requested.connect(frames.pause)
        self.step_requested.connect(frames.step)
        self.close_source_requested.connect(frames.close_source)
        self.probe_cameras_requested.connect(frames.probe_cameras)
        self.overlay_changed.connect(frames.set_overlay)
        self.smoothing_changed.connect(frames.set_smoothing)
        self.record_start_requested.connect(frames.start_recording)
        self.record_stop_requested.connect(frames.stop_recording)
        frames.frame_ready.connect(self._on_frame)
        frames.source_opened.connect(self._on_source_opened)
        frames.source_closed.connect(self._on_source_closed)
        frames.playing_changed.connect(self._on_playing_changed)
        frames.ended.connect(self._on_ended)
        frames.recording_changed.connect(self._on_recording_changed)
        frames.cameras_found.connect(self._on_cameras_found)
        frames.renderer_ready.connect(lambda name: self.backend_label.setText(
            f"view: {self.view.backend} · renderer: {name}"))
        frames.status.connect(self.status)
        frames.error.connect(self.show_error)

        self.images_requested.connect(images.process_images)
        self.export_requested.connect(images.export_entries)
        images.batch_started.connect(self._on_batch_started)
        images.progress.connect(self._on_batch_progress)
        images.entry_ready.connect(self._on_entry_ready)
        images.batch_finished.connect(self._on_batch_finished)
        images.export_started.connect(self._on_export_started)
        images.export_progress.connect(self._on_export_progress)
        images.export_finished.connect(self._on_export_finished)
        images.error.connect(self.show_error)

    # ------------------------------------------------------------------------------------ messages
    def status(self, message: str, timeout_ms: int = STATUS_TIMEOUT_MS) -> None:
        """Show ``message`` in the status bar (and the log)."""
        log.info("%s", message)
        self.statusBar().showMessage(message, timeout_ms)

    def show_error(self, title: str, message: str) -> None:
        """A modal error dialog; the app keeps running afterwards."""
        self.errors_shown += 1
        self.status(f"{title}: {message.splitlines()[0] if message else ''}")
        QMessageBox.critical(self, title, message)

    def show_shortcuts(self) -> None:
        rows = []
        for name, action in self._actions.items():
            keys = " or ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
            if keys:
                rows.append(f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{action.text().replace('&', '')}</td></tr>")
        QMessageBox.information(self, "Keyboard shortcuts", "<table>" + "".join(rows) + "</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About frnet",
                          f"<b>frnet {__version__}</b><br>Real-time face alignment and dense 3D face "
                          "reconstruction with Mobile-FRNet.<br><br>Settings: " + self.settings.location)

    # --------------------------------------------------------------------------------- open things
    def open_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self.settings.last_dir("video"), VIDEO_FILTER)
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path) -> None:
        """Play a video file in the live view (errors come back as a dialog)."""
        self.settings.set_last_dir("video", path)
        self.status(f"Opening {Path(path).name}…")
        self.open_video_requested.emit(str(path))

    def open_images_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.settings.last_dir("images"), IMAGE_FILTER)
        if paths:
            self.handle_dropped_paths(paths)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.last_dir("images"))
        if folder:
            self.handle_dropped_paths([folder])

    def open_camera(self, index: int | None = None) -> None:
        """Show webcam ``index`` (default: the one picked in the toolbar)."""
        if isinstance(index, bool) or index is None:  # QAction.triggered passes `checked`
            index = self.camera_combo.currentIndex()
        try:
            index = check_camera_index(int(index))
        except FrnetError as exc:
            self.show_error("Cannot open the camera", str(exc))
            return
        if 0 <= index < self.camera_combo.count():
            self.camera_combo.setCurrentIndex(index)
        self.status(f"Opening camera {index}…")
        self.open_camera_requested.emit(int(index))

    def probe_cameras(self) -> None:
        self.status("Looking for cameras…")
        self.probe_cameras_requested.emit()

    def handle_dropped_paths(self, paths: Iterable[str | Path]) -> core.DropPlan:
        """Open what was dropped (or picked in a dialog): the first video plays in the live view,
        images and folders of images are reconstructed into the gallery. Anything else is
        reported. Returns the plan (what was recognised)."""
        paths = [Path(p) for p in paths]
        plan = core.plan_drop(paths)
        if plan.empty:
            names = ", ".join(p.name for p in paths) or "nothing"
            self.show_error("Cannot open the dropped files",
                            f"{names}: not a video ({', '.join(sorted(core.VIDEO_SUFFIXES))}), an image "
                            f"({', '.join(sorted(core.IMAGE_SUFFIXES))}) or a folder with images.")
            return plan
        if plan.videos:
            self.open_video(plan.videos[0])
            if len(plan.videos) > 1:
                self.status(f"Playing {plan.videos[0].name}; the other {len(plan.videos) - 1} video(s) were ignored")
        if plan.images:
            self.settings.set_last_dir("images", plan.images[0])
            self.process_images(plan.images)
        if plan.ignored:
            self.status("Ignored (not a video or image): " + ", ".join(p.name for p in plan.ignored[:5]))
        return plan

    def process_images(self, paths: list[Path]) -> None:
        self._pending_batches += 1
        self.batch_running = True
        self.status(f"Reconstructing the faces in {len(paths)} image(s)…", 0)
        self.images_requested.emit(list(paths), self.overlay_toggles().to_options())

    # --------------------------------------------------------------------------------- drag & drop
    @staticmethod
    def _local_paths(mime) -> list[str]:
        if mime is None or not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        paths = self._local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        # Leave the drop handler first (the source application waits for it), then open.
        QTimer.singleShot(0, lambda: self.handle_dropped_paths(paths))

    # ------------------------------------------------------------------------------------ playback
    def toggle_play(self) -> None:
        self.toggle_play_requested.emit()

    def step(self) -> None:
        self.step_requested.emit()

    def stop_source(self) -> None:
        self.close_source_requested.emit()

    def _on_source_opened(self, info: SourceInfo) -> None:
        self.source_info = info
        self.setWindowTitle(f"{info.name} — {WINDOW_TITLE}")
        self.controls.set_source(info.name)
        if info.camera_index is not None:
            self.settings.camera_index = info.camera_index

    def _on_source_closed(self) -> None:
        self.setWindowTitle(WINDOW_TITLE)

    def _on_playing_changed(self, playing: bool) -> None:
        self.playing = playing
        play = self._actions["play"]
        play.setText("&Pause" if playing else "&Play")
        play.setIcon(self._icon(QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))

    def _on_ended(self) -> None:
        self.status("End of the video — press Space to play it again")

    def _on_frame(self, live: LiveFrame) -> None:
        self.frame_worker.frame_shown()
        self.frames_shown += 1
        self.last_live = live
        self.view.set_frame(live.image_rgb)
        self.view.set_hud(core.format_hud_lines(live.hud))
        self._show_hud(live.hud)

    def _show_hud(self, hud: core.HudData) -> None:
        self.controls.show_hud(hud)

    def _on_cameras_found(self, found: list[int]) -> None:
        for index in core.CAMERA_INDICES:
            self.camera_combo.setItemText(index, f"Camera {index}" + ("" if index in found else " (not found)"))
        if found and self.camera_combo.currentIndex() not in found:
            self.camera_combo.setCurrentIndex(found[0])

    def _on_camera_picked(self, index: int) -> None:
        if index >= 0:
            self.settings.camera_index = index

    # ------------------------------------------------------------------------------------ overlays
    def overlay_toggles(self) -> core.OverlayToggles:
        return core.OverlayToggles(**{name: self._actions[name].isChecked() for name in TOGGLES})

    def _on_overlay_toggled(self, _checked: bool = False) -> None:
        if self._restoring:
            return
        toggles = self.overlay_toggles()
        self.settings.overlay = toggles
        self.overlay_changed.emit(toggles.to_options())
        on = [name for name in TOGGLES if getattr(toggles, name)]
        self.status("Overlay: " + (", ".join(on) if on else "none"), 2500)

    def _on_smoothing_toggled(self, on: bool) -> None:
        if self._restoring:
            return
        self.settings.smoothing = on
        self.smoothing_changed.emit(self.settings.effective_smoothing)
        self.status(f"Smoothing {self.settings.smoothing_level if on else 'off'}", 2500)

    def _on_smoothing_level_picked(self, index: int) -> None:
        if self._restoring or index < 0:
            return
        self.settings.smoothing_level = self.smoothing_combo.itemData(index)
        self.smoothing_changed.emit(self.settings.effective_smoothing)
        self.status(f"Smoothing {self.settings.effective_smoothing}", 2500)

    def _on_hud_toggled(self, on: bool) -> None:
        if self._restoring:
            return
        self.settings.hud_visible = on
        self.view.set_hud_visible(on)

    # -------------------------------------------------------------------------- snapshot / record
    def snapshot(self) -> Path | None:
        """Save the picture on show (with its overlay) as a PNG chosen in a dialog."""
        frame = self.view.current_frame()
        if frame is None:
            self.status("Nothing to save yet: open a video, a camera or images first")
            return None
        default = Path(self.settings.last_dir("snapshot")) / time.strftime("frnet_%Y%m%d_%H%M%S.png")
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", str(default), "PNG image (*.png)")
        if not path:
            return None
        path = Path(path) if Path(path).suffix else Path(path).with_suffix(".png")
        try:
            write_image_atomic(path, frame)
        except (FrnetError, OSError, ValueError) as exc:
            self.show_error("Cannot save the snapshot", str(exc))
            return None
        self.settings.set_last_dir("snapshot", path)
        self.status(f"Saved snapshot {path}")
        return path

    def toggle_record(self) -> None:
        """Start recording the live view to an MP4 chosen in a dialog, or stop and save it."""
        if self.recording:
            self.record_stop_requested.emit()
            return
        if self.source_info is None:
            self.status("Nothing to record: open a video or a camera first")
            return
        default = Path(self.settings.last_dir("record")) / time.strftime("frnet_%Y%m%d_%H%M%S.mp4")
        path, _ = QFileDialog.getSaveFileName(self, "Record to", str(default), "MP4 video (*.mp4)")
        if not path:
            return
        path = Path(path) if Path(path).suffix else Path(path).with_suffix(".mp4")
        self.settings.set_last_dir("record", path)
        self.record_start_requested.emit(str(path))

    def _on_recording_changed(self, recording: bool, path: str) -> None:
        self.recording = recording
        record = self._actions["record"]
        record.setText("Stop &recording" if recording else "&Record…")
        self.record_label.setText(f"● REC {Path(path).name}" if recording else "")

    # ------------------------------------------------------------------------------------- gallery
    def show_entry(self, entry: core.ImageEntry) -> None:
        """Show a gallery image's overlay in the view (pausing the live view)."""
        self.pause_requested.emit()
        self.view.set_frame(entry.preview_rgb)
        hud = core.hud_data(entry.result, 0.0, 0.0)
        self.view.set_hud([f"{entry.path.name}   {entry.face_count} face(s)",
                           core.format_pose(hud.yaw_pitch_roll_deg)])
        self._show_hud(hud)
        self.controls.set_source(entry.path.name)
        self.status(f"Showing {entry.path.name} ({entry.face_count} face(s))")

    def clear_gallery(self) -> None:
        self.gallery.clear()
        self._update_export_enabled()

    def _update_export_enabled(self) -> None:
        self.gallery_panel.update_export(self.export_running)

    def _on_format_picked(self, index: int) -> None:
        fmt = self.format_combo.itemData(index)
        if fmt:
            self.settings.export_format = fmt

    def _on_batch_started(self, total: int) -> None:
        self._open_progress("Reconstructing faces…", total)

    def _on_batch_progress(self, done: int, total: int, name: str) -> None:
        # A modal dialog's setValue() runs the event loop, where the batch may end and close the
        # dialog (self._progress becomes None): keep this call's own reference.
        dialog = self._progress
        if dialog is not None:
            dialog.setMaximum(total)
            dialog.setValue(done)
            if name and self._progress is dialog:
                dialog.setLabelText(f"Reconstructing faces… {done + 1} of {total}: {name}")
        if name:
            self.status(f"Image {done + 1} of {total}: {name}", 0)

    def _on_entry_ready(self, entry: core.ImageEntry) -> None:
        self.gallery.add_entry(entry)
        if self.source_info is None or not self.playing:
            self.view.set_frame(entry.preview_rgb)
            self.view.set_hud([f"{entry.path.name}   {entry.face_count} face(s)"])
        self._update_export_enabled()

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        self._close_progress()
        self.batches_finished += 1
        self.last_batch = summary
        self._pending_batches = max(0, self._pending_batches - 1)
        self.batch_running = self._pending_batches > 0
        ok = summary.done - len(summary.failures)
        message = f"Reconstructed {summary.faces} face(s) in {ok} of {summary.total} image(s)"
        self.status(message + (" — cancelled" if summary.cancelled else ""))
        if summary.failures:
            self.show_error("Some images could not be read", core.describe_failures(summary.failures, summary.total))

    def export_selected(self) -> None:
        """Export the selected gallery images to a folder chosen in a dialog."""
        entries = self.gallery.selected_entries()
        if not entries:
            self.status("Select one or more images in the gallery first (or press “Select all”)")
            return
        folder = QFileDialog.getExistingDirectory(self, "Export meshes and landmarks to",
                                                  self.settings.last_dir("export"))
        if not folder:
            return
        self.settings.set_last_dir("export", folder)
        fmt = self.format_combo.currentData()
        self.export_running = True
        self._update_export_enabled()
        self.status(f"Exporting {len(entries)} image(s) as {fmt.upper()} to {folder}…", 0)
        self.export_requested.emit(entries, str(folder), fmt, self.texture_check.isChecked())

    def _on_export_started(self, total: int) -> None:
        self._open_progress("Exporting meshes…", total)

    def _on_export_progress(self, done: int, total: int) -> None:
        dialog = self._progress  # see _on_batch_progress
        if dialog is not None:
            dialog.setMaximum(total)
            dialog.setValue(done)

    def _on_export_finished(self, summary: core.ExportSummary) -> None:
        self._close_progress()
        self.exports_finished += 1
        self.last_export = summary
        self.export_running = False
        self._update_export_enabled()
        json_count = len(summary.written) - summary.mesh_count
        self.status(f"Exported {summary.mesh_count} mesh(es) and {json_count} landmark file(s) to {summary.folder}"
                    + (" — cancelled" if summary.cancelled else ""))
        if summary.failures:
            self.show_error("Export failed",
                            core.describe_failures(summary.failures, len(summary.failures) + json_count, "exported"))

    def _open_progress(self, label: str, total: int) -> None:
        self._close_progress()
        if total <= 1:
            return
        dialog = QProgressDialog(label, "Cancel", 0, total, self)
        dialog.setWindowTitle("frnet")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(400)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(self.cancel_batch)
        dialog.setValue(0)
        self._progress = dialog

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.canceled.disconnect(self.cancel_batch)
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None

    def cancel_batch(self) -> None:
        """Stop the running image batch or export after the current image."""
        self.image_worker.cancel()
        self.status("Cancelling…", 0)

    # ----------------------------------------------------------------------------------- closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Save the settings and stop the workers (a recording in progress is saved). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.settings.window_geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.image_worker.cancel()
        self._close_progress()
        for thread in (self._frame_thread, self._image_thread):
            if not stop_thread(thread):
                log.warning("worker thread %s did not stop in time", thread.objectName())
