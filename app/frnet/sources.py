"""Frame sources: a video file or a webcam, read one frame at a time (the one camera code of frnet).

Both give :class:`frnet.video.VideoFrame` s from :meth:`read` (``None`` at the end) and describe
themselves with :class:`SourceInfo`. ``frnet-app --webcam`` records from a :class:`CameraSource`
and the app's live view plays either; a GUI worker creates, reads and closes them in its thread.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CameraError
from .files import DEFAULT_FPS, sane_fps
from .limits import check_camera_index
from .video import VideoFrame, VideoReader

log = logging.getLogger(__name__)

DEFAULT_CAMERA_FPS = DEFAULT_FPS
# How a message about a camera ends: what the user can do about it, per shell.
CLI_CAMERA_HINT = " (on Linux, list cameras with: ls /dev/video*)"
GUI_CAMERA_HINT = "; pick another camera in the toolbar (the refresh button lists the ones found)"


@dataclass(frozen=True)
class SourceInfo:
    """What is playing: ``kind`` is ``"video"`` or ``"camera"``; ``frame_count`` 0 when unknown."""

    kind: str
    name: str
    fps: float
    size: tuple[int, int]
    frame_count: int = 0
    path: Path | None = None
    camera_index: int | None = None


class VideoFileSource:
    """A video file through :class:`frnet.video.VideoReader`.

    Raises:
        InputError: the file is missing or not a decodable video.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self._reader = VideoReader(path)
        self._frames = iter(self._reader)
        reader = self._reader
        self.info = SourceInfo(kind="video", name=Path(path).name, fps=reader.fps, size=reader.size,
                               frame_count=reader.frame_count, path=Path(path))

    def read(self) -> VideoFrame | None:
        """The next frame, or ``None`` at the end of the file."""
        if self._frames is None:
            return None
        frame = next(self._frames, None)
        if frame is None:
            self.close()
        return frame

    def close(self) -> None:
        if self._frames is not None:
            self._frames = None
            self._reader.close()


def _default_capture(index: int):
    import cv2

    return cv2.VideoCapture(index)  # looked up at call time (tests replace cv2.VideoCapture)


def _device_node_missing(index: int) -> bool:
    return sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists()


class CameraSource:
    """A webcam through OpenCV, as RGB frames stamped with the time they were read.

    Args:
        index: the camera's index (``/dev/video<index>`` on Linux).
        open_capture: makes the ``cv2.VideoCapture``-like object (tests inject a fake).
        hint: the end of every error message: what the user can do (:data:`CLI_CAMERA_HINT`,
            :data:`GUI_CAMERA_HINT`).
        check_device_node: on Linux, refuse a missing ``/dev/video<index>`` before asking OpenCV
            (which logs a warning of its own for it).
        newest_frame: ask the driver to buffer one frame, so a slow reader sees the newest frame
            rather than a queue of old ones (the live view); off for recording every frame.

    Raises:
        CameraError: the camera does not exist, is in use, or delivers no frame.
    """

    def __init__(self, index: int, open_capture: Callable[[int], object] | None = None, *,
                 hint: str = CLI_CAMERA_HINT, check_device_node: bool = False, newest_frame: bool = False) -> None:
        import cv2

        self._capture = None
        self.index = check_camera_index(int(index))
        if check_device_node and _device_node_missing(self.index):
            raise CameraError(f"cannot open camera {self.index}: /dev/video{self.index} does not exist; "
                              f"connect a webcam{hint}")
        capture = (open_capture or _default_capture)(self.index)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            raise CameraError(f"cannot open camera {self.index}: no such camera, or another program is "
                              f"using it{hint}")
        self._capture = capture
        if newest_frame and hasattr(cv2, "CAP_PROP_BUFFERSIZE"):
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._start_s = time.perf_counter()
        first = self._grab()
        if first is None:
            self.close()
            raise CameraError(f"camera {self.index} opened but gives no frames; is it in use?")
        self._first: np.ndarray | None = first
        self.info = SourceInfo(kind="camera", name=f"Camera {self.index}",
                               fps=sane_fps(capture.get(cv2.CAP_PROP_FPS), DEFAULT_CAMERA_FPS),
                               size=(first.shape[1], first.shape[0]), camera_index=self.index)
        self._index = 0

    def _grab(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._capture.read()
        if not ok or bgr is None or bgr.ndim != 3:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    @property
    def frames_read(self) -> int:
        """Frames delivered by :meth:`read` so far."""
        return self._index

    def read(self) -> VideoFrame | None:
        """The next (with ``newest_frame``: the newest) frame; ``None`` once closed.

        Raises:
            CameraError: the camera stopped delivering frames (unplugged, taken by another program).
        """
        if self._capture is None:
            return None
        if self._first is not None:
            image, self._first = self._first, None
        else:
            image = self._grab()
            if image is None:
                self.close()
                raise CameraError(f"camera {self.index} stopped delivering frames after {self._index} frames "
                                  "(unplugged or in use?)")
        frame = VideoFrame(self._index, round((time.perf_counter() - self._start_s) * 1000), image)
        self._index += 1
        return frame

    def frames(self) -> Iterator[VideoFrame]:
        """:meth:`read` until the source is closed (a camera error ends it with the error)."""
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def probe_cameras(indices: Iterable[int], open_capture: Callable[[int], object] | None = None) -> list[int]:
    """The indices among ``indices`` whose camera opens. With the default ``open_capture``, a
    missing ``/dev/video<i>`` (Linux) is skipped without asking OpenCV (which would log a warning
    per index). Slow for real cameras (each is opened): call it from a worker, not the UI thread."""
    found = []
    for index in indices:
        if open_capture is None and _device_node_missing(index):
            continue
        capture = (open_capture or _default_capture)(index)
        try:
            if capture is not None and capture.isOpened():
                found.append(int(index))
        finally:
            if capture is not None:
                capture.release()
    return found
