"""Workers that run the engine (pipeline + renderer) off the UI thread, one QThread each.

Each worker is a ``QObject`` moved into its own ``QThread`` (superqt's pattern: the work happens in
slots, results leave through signals, errors through an ``error(title, message)`` signal). The
window talks to a worker only through queued signals, plus :meth:`ImageWorker.cancel`, which sets
a thread-safe flag.

* :class:`FrameWorker` — the live view: reads a video file (paced to its frame rate) or a webcam,
  runs the pipeline in video mode (tracking, optional smoothing), renders the overlay and emits a
  :class:`LiveFrame` per frame; play / pause / step; records the rendered frames to a video.
* :class:`ImageWorker` — still images: reconstructs every face of each dropped image
  (image mode) and emits gallery entries with progress; exports selected entries. Both jobs are
  cancellable between images.

Each worker builds its own :class:`~frnet.engine.Engine` (pipeline *and renderer*) in its thread,
the first time it needs it: an OpenGL context belongs to the thread that made it, so the GL renderer
renders headlessly (EGL) where it was created, and the view only shows the finished RGB picture.
Frames go through :meth:`Engine.run <frnet.engine.Engine.run>`, the step the command line uses too.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QObject, Qt, QThread, QTimer, pyqtSignal, pyqtSlot

from ..animation import AnimationRecorder, write_animation
from ..engine import Engine
from ..errors import FrnetError
from ..pipeline import FrameResult, Pipeline, PipelineOptions
from ..render import OverlayOptions, Renderer, create_renderer
from ..smoothing import DEFAULT_SMOOTHING
from ..sources import GUI_CAMERA_HINT, CameraSource, SourceInfo, VideoFileSource, probe_cameras
from ..texture import DEFAULT_TEXTURE_SIZE
from ..video import VideoWriter
from . import core

log = logging.getLogger(__name__)

MAX_FRAMES_IN_FLIGHT = 3  # frames emitted but not yet shown before the live view skips frames


@dataclass(frozen=True, eq=False)
class LiveFrame:
    """One rendered frame of the live view."""

    image_rgb: np.ndarray
    result: FrameResult
    hud: core.HudData
    source_name: str


@dataclass(frozen=True)
class BatchSummary:
    """The end of an image batch: how many were asked, done, failed, and whether it was cancelled."""

    total: int
    done: int
    failures: list[tuple[Path, str]]
    cancelled: bool
    faces: int


def _reporting(title: str):
    """Run a worker slot so that nothing escapes it: a user-facing error (``FrnetError``,
    ``OSError``, ``ValueError``) becomes ``error(title, message)``, anything else is logged with
    its traceback and reported too (an exception leaving a PyQt slot would abort the app)."""

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args):
            try:
                return method(self, *args)
            except Exception as exc:  # noqa: BLE001 - must not leave a Qt slot
                report_error(self, title, exc)
            return None

        return wrapper

    return decorate


def report_error(worker: QObject, title: str, exc: Exception) -> None:
    """``worker.error(title, message)`` for ``exc``: the message alone for a user-facing error
    (``FrnetError``, ``OSError``, ``ValueError``), a pointer to the logged traceback otherwise."""
    if isinstance(exc, (FrnetError, OSError, ValueError)):
        log.warning("%s: %s", title, exc)
        worker.error.emit(title, str(exc))
    else:
        log.exception("%s: unexpected error", title, exc_info=exc)
        worker.error.emit(title, f"Unexpected error: {exc!r} (details in the log)")


def start_in_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` into a new started ``QThread``; its ``release()`` runs in that thread when
    the thread stops (``QThread.finished`` is emitted from the thread itself)."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.finished.connect(worker.release, Qt.ConnectionType.DirectConnection)
    thread.start()
    return thread


def stop_thread(thread: QThread, timeout_ms: int = 15000) -> bool:
    """Ask ``thread``'s event loop to quit and wait for it (the worker's current frame or image
    finishes first); ``False`` when it did not stop in time."""
    thread.quit()
    return thread.wait(timeout_ms)


# --------------------------------------------------------------------------------------- live view


class FrameWorker(QObject):
    """Video file / webcam → pipeline (video mode) → renderer → :class:`LiveFrame`.

    Args:
        pipeline_factory: builds the pipeline (default :func:`frnet.gui.core.make_pipeline`).
        renderer_factory: builds the renderer (default ``create_renderer("auto")``).
        open_capture: passed to :class:`~frnet.sources.CameraSource` (tests inject a fake camera).
    """

    frame_ready = pyqtSignal(object)  # LiveFrame
    source_opened = pyqtSignal(object)  # SourceInfo
    source_closed = pyqtSignal()
    playing_changed = pyqtSignal(bool)
    ended = pyqtSignal()
    recording_changed = pyqtSignal(bool, str)  # recording, path
    recording_saved = pyqtSignal(str, object)  # video path, list of face animation files (.glb)
    cameras_found = pyqtSignal(object)  # list[int]
    renderer_ready = pyqtSignal(str)  # the renderer's name ("gl" or "cpu")
    status = pyqtSignal(str)
    error = pyqtSignal(str, str)  # title, message

    def __init__(self, pipeline_factory: core.PipelineFactory = core.make_pipeline,
                 renderer_factory: Callable[[], Renderer] = lambda: create_renderer("auto"),
                 open_capture: Callable[[int], object] | None = None) -> None:
        super().__init__()
        self._pipeline_factory = pipeline_factory
        self._renderer_factory = renderer_factory
        self._open_capture = open_capture
        self._pipeline: Pipeline | None = None
        self._engine: Engine | None = None
        self._source: VideoFileSource | CameraSource | None = None
        self._info: SourceInfo | None = None
        self._overlay = OverlayOptions()
        self._smoothing = DEFAULT_SMOOTHING
        self._playing = False
        self._next_due_s = 0.0
        self._fps = core.FpsMeter()
        self._last_frame: np.ndarray | None = None
        self._last_result: FrameResult | None = None
        self._writer: VideoWriter | None = None
        self._animation: AnimationRecorder | None = None  # the faces of the recording in progress
        self._frames_in_flight = 0  # emitted, not yet shown by the window
        self._in_flight_lock = threading.Lock()
        self._timer = QTimer(self)  # moves with the worker into its thread
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    # -- stages, built in the worker's thread ------------------------------------------------------
    def _options(self) -> PipelineOptions:
        return PipelineOptions(mode="video", smoothing=self._smoothing)

    def _stages(self) -> Engine:
        if self._engine is None:
            if self._pipeline is None:
                self.status.emit("Loading the face model and network…")
                self._pipeline = self._pipeline_factory(self._options())
            renderer = self._renderer_factory()
            log.info("live view renderer: %s", renderer.name)
            self._engine = Engine(self._pipeline, renderer, self._overlay)
            self.renderer_ready.emit(renderer.name)
        return self._engine

    # -- sources ---------------------------------------------------------------------------------
    @pyqtSlot(str)
    @_reporting("Cannot open the video")
    def open_video(self, path: str) -> None:
        self._open(lambda: VideoFileSource(path))

    @pyqtSlot(int)
    @_reporting("Cannot open the camera")
    def open_camera(self, index: int) -> None:
        self._open(lambda: CameraSource(index, self._open_capture, hint=GUI_CAMERA_HINT,
                                        check_device_node=self._open_capture is None, newest_frame=True))

    def _open(self, make_source: Callable[[], VideoFileSource | CameraSource]) -> None:
        source = make_source()
        try:
            self._stages()
        except BaseException:
            source.close()
            raise
        self._close_source(emit=False)
        self._source, self._info = source, source.info
        self._engine.pipeline.reset()
        self._fps.reset()
        self.source_opened.emit(source.info)
        self.status.emit(f"Opened {source.info.name} ({source.info.size[0]}×{source.info.size[1]}, "
                         f"{source.info.fps:.1f} fps)")
        self._set_playing(True)

    def _close_source(self, emit: bool = True) -> None:
        self._set_playing(False)
        self._finish_recording()
        if self._source is not None:
            self._source.close()
            self._source = None
            if emit:
                self.source_closed.emit()

    @pyqtSlot()
    @_reporting("Cannot close the source")
    def close_source(self) -> None:
        self._close_source()
        self._info = None
        self.status.emit("Stopped")

    @pyqtSlot()
    @_reporting("Cannot look for cameras")
    def probe_cameras(self) -> None:
        found = probe_cameras(core.CAMERA_INDICES, self._open_capture)
        self.cameras_found.emit(found)
        self.status.emit("Cameras found: " + (", ".join(map(str, found)) if found else "none"))

    # -- playback --------------------------------------------------------------------------------
    def _set_playing(self, playing: bool) -> None:
        playing = playing and self._source is not None
        if playing == self._playing:
            return
        self._playing = playing
        if playing:
            self._next_due_s = time.perf_counter()
            self._fps.reset()
            self._timer.start(0)
        else:
            self._timer.stop()
        self.playing_changed.emit(playing)

    @pyqtSlot()
    @_reporting("Cannot play")
    def play(self) -> None:
        if self._source is None and self._info is not None and self._info.kind == "video":
            self._open(lambda: VideoFileSource(self._info.path))  # replay from the start
            return
        if self._source is None:
            self.status.emit("Nothing to play: open a video or a camera first")
            return
        self._set_playing(True)

    @pyqtSlot()
    @_reporting("Cannot pause")
    def pause(self) -> None:
        self._set_playing(False)

    @pyqtSlot()
    @_reporting("Cannot play")
    def toggle_play(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    @pyqtSlot()
    @_reporting("Cannot step")
    def step(self) -> None:
        self._set_playing(False)
        if self._source is None:
            self.status.emit("Nothing to step: open a video first")
            return
        self._advance()

    @pyqtSlot()  # a real slot, so the timer calls it in this worker's thread
    @_reporting("Playback stopped")
    def _tick(self) -> None:
        if not self._playing or self._source is None:
            return
        try:
            self._advance()
        except BaseException:
            self._set_playing(False)  # report once, do not fail again on every frame
            raise
        if not self._playing:
            return
        interval = 0.0 if self._info.kind == "camera" else core.frame_interval_s(self._info.fps)
        now = time.perf_counter()
        self._next_due_s = max(self._next_due_s + interval, now)  # late: carry on, no catching up
        self._timer.start(int(round((self._next_due_s - now) * 1000)))

    def _advance(self) -> None:
        """Read, process, render and emit one frame; at the end of a file stop and say so."""
        try:
            frame = self._source.read()
        except FrnetError:
            self._close_source()
            raise
        if frame is None:
            self._set_playing(False)
            self._finish_recording()
            self._source = None
            self.ended.emit()
            self.status.emit(f"End of {self._info.name}")
            return
        result, image = self._stages().run(frame.image_rgb, frame.timestamp_ms)
        self._last_frame, self._last_result = frame.image_rgb, result
        if self._animation is not None:
            self._animation.add(result, frame.image_rgb)
        fps = self._fps.tick() if self._playing else 0.0
        self._emit(image, result.timings_ms["render"], fps)

    def _rerender(self) -> None:
        """Draw the frame in view again (paused, after an overlay change)."""
        image, render_ms = self._stages().render(self._last_frame, self._last_result)
        self._emit(image, render_ms, 0.0)

    def _emit(self, image: np.ndarray, render_ms: float, fps: float) -> None:
        hud = core.hud_data(self._last_result, render_ms, fps, self._info.frame_count if self._info else 0)
        if self._writer is not None:
            self._write_recording(image)
        with self._in_flight_lock:
            if self._playing and self._frames_in_flight >= MAX_FRAMES_IN_FLIGHT:
                return  # the window is behind: skip showing this frame rather than queue it
            self._frames_in_flight += 1
        self.frame_ready.emit(LiveFrame(image, self._last_result, hud, self._info.name if self._info else ""))

    def frame_shown(self) -> None:
        """The window has shown a frame (call from the UI thread; thread-safe)."""
        with self._in_flight_lock:
            self._frames_in_flight = max(0, self._frames_in_flight - 1)

    # -- options ---------------------------------------------------------------------------------
    @pyqtSlot(object)
    @_reporting("Cannot change the overlay")
    def set_overlay(self, overlay: OverlayOptions) -> None:
        self._overlay = overlay
        if self._engine is not None:
            self._engine.overlay = overlay
        if not self._playing and self._last_frame is not None:
            self._rerender()  # paused: show the change on the frame in view

    @pyqtSlot(str)
    @_reporting("Cannot change smoothing")
    def set_smoothing(self, level: str) -> None:
        """Switch to a level of :data:`frnet.smoothing.SMOOTHING_LEVELS` (``none`` is off)."""
        self._smoothing = PipelineOptions(smoothing=level).smoothing  # checks the name
        if self._pipeline is not None and self._pipeline.options.smoothing != self._smoothing:
            old = self._pipeline  # same stages, new options (tracking starts afresh)
            self._pipeline = Pipeline(dataclasses.replace(old.options, smoothing=self._smoothing),
                                      face_model=old.face_model, regressor=old.regressor, detector=old.detector)
            if self._engine is not None:
                self._engine.pipeline = self._pipeline

    # -- recording -------------------------------------------------------------------------------
    @pyqtSlot(str)
    @_reporting("Cannot record")
    def start_recording(self, path: str) -> None:
        if self._info is None or self._source is None:
            raise ValueError("open a video or a camera first, then start recording")
        self._finish_recording()
        width, height = self._info.size
        self._writer = VideoWriter(path, self._info.fps, (width, height))
        self._animation = AnimationRecorder(start_at_zero=True)  # keys on the recording's own clock
        self.recording_changed.emit(True, str(path))
        self.status.emit(f"Recording to {path}")

    @pyqtSlot()
    @_reporting("Cannot save the recording")
    def stop_recording(self) -> None:
        self._finish_recording()

    def _write_recording(self, image: np.ndarray) -> None:
        try:
            self._writer.write(image)
        except (FrnetError, ValueError):
            path, self._writer = self._writer.path, None
            self.recording_changed.emit(False, str(path))
            raise

    def _finish_recording(self) -> None:
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        animation, self._animation = self._animation, None
        try:
            writer.close()
        finally:
            self.recording_changed.emit(False, str(writer.path))
        saved = f"Saved {writer.path} ({writer.frames_written} frames)"
        # The recording's face animation goes next to it: <name>.glb (more faces: <name>_track<N>.glb).
        written = []
        if animation is not None and self._pipeline is not None:
            try:
                written = write_animation(Path(writer.path).with_suffix(".glb"), animation, self._pipeline.face_model)
            except (FrnetError, OSError, ValueError) as exc:
                report_error(self, "Cannot save the face animation", exc)
        if written:
            saved += " and its face animation " + ", ".join(p.name for p in written)
        self.recording_saved.emit(str(writer.path), [str(p) for p in written])
        self.status.emit(saved)

    # -- end -------------------------------------------------------------------------------------
    def release(self) -> None:
        """Close the source, finish a recording and free the stages (runs in the worker's thread)."""
        self._timer.stop()
        self._playing = False
        for action in (self._finish_recording, lambda: self._source and self._source.close(),
                       lambda: self._engine and self._engine.renderer.close(),
                       lambda: self._pipeline and self._pipeline.close()):
            try:
                action()
            except Exception:  # noqa: BLE001 - shutting down: log and go on
                log.exception("while closing the frame worker")
        self._source = self._engine = self._pipeline = None


# ------------------------------------------------------------------------------------ still images


class ImageWorker(QObject):
    """Dropped images → gallery entries (image mode); selected entries → mesh + landmark files."""

    batch_started = pyqtSignal(int)  # total
    progress = pyqtSignal(int, int, str)  # done, total, current file name
    entry_ready = pyqtSignal(object)  # ImageEntry
    batch_finished = pyqtSignal(object)  # BatchSummary
    export_started = pyqtSignal(int)  # total
    export_progress = pyqtSignal(int, int)  # done, total
    export_finished = pyqtSignal(object)  # ExportSummary
    error = pyqtSignal(str, str)  # title, message

    def __init__(self, pipeline_factory: core.PipelineFactory = core.make_pipeline,
                 renderer_factory: Callable[[], Renderer] = lambda: create_renderer("auto")) -> None:
        super().__init__()
        self._pipeline_factory = pipeline_factory
        self._renderer_factory = renderer_factory
        self._pipeline: Pipeline | None = None
        self._engine: Engine | None = None
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop the running batch or export after the current image (call from any thread)."""
        self._cancel.set()

    def _stages(self) -> Engine:
        if self._engine is None:
            if self._pipeline is None:
                self._pipeline = self._pipeline_factory(PipelineOptions(mode="image"))
            self._engine = Engine(self._pipeline, self._renderer_factory())
        return self._engine

    @pyqtSlot(object, object)
    @_reporting("Cannot process the images")
    def process_images(self, paths: list[Path], overlay: OverlayOptions) -> None:
        self._cancel.clear()
        total = len(paths)
        self.batch_started.emit(total)
        failures: list[tuple[Path, str]] = []
        done = faces = 0
        try:
            engine = self._stages()
            for path in paths:
                if self._cancel.is_set():
                    break
                self.progress.emit(done, total, Path(path).name)
                try:
                    entry = core.process_image(Path(path), engine, overlay)
                except (FrnetError, OSError, ValueError) as exc:
                    log.warning("cannot process %s: %s", path, exc)
                    failures.append((Path(path), str(exc)))
                else:
                    faces += entry.face_count
                    self.entry_ready.emit(entry)
                done += 1
            self.progress.emit(done, total, "")
        except Exception as exc:  # noqa: BLE001 - reported here so the error arrives before batch_finished
            report_error(self, "Cannot process the images", exc)
        finally:
            # Last, after any error: a listener that waits for the batch's end sees its whole outcome.
            self.batch_finished.emit(BatchSummary(total, done, failures, self._cancel.is_set(), faces))

    @pyqtSlot(object, str, str, bool)
    @_reporting("Export failed")
    def export_entries(self, entries: list[core.ImageEntry], folder: str, fmt: str, textured: bool = False) -> None:
        self._cancel.clear()
        self.export_started.emit(len(entries))
        summary = core.ExportSummary(folder=Path(folder))
        try:
            face_model = self._pipeline.face_model if self._pipeline is not None else core.shared_face_model()
            summary = core.export_entries(entries, folder, fmt, face_model,
                                          progress=self.export_progress.emit, cancelled=self._cancel.is_set,
                                          texture_size=DEFAULT_TEXTURE_SIZE if textured else None)
        except Exception as exc:  # noqa: BLE001 - reported here so the error arrives before export_finished
            report_error(self, "Export failed", exc)
        finally:
            self.export_finished.emit(summary)

    def release(self) -> None:
        """Free the stages (runs in the worker's thread)."""
        for stage in (self._engine and self._engine.renderer, self._pipeline):
            try:
                if stage is not None:
                    stage.close()
            except Exception:  # noqa: BLE001 - shutting down
                log.exception("while closing the image worker")
        self._engine = self._pipeline = None
