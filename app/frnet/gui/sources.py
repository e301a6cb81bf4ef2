"""Frame sources of the live view (Qt-free): a video file or a webcam, read one frame at a time.

Both give :class:`frnet.video.VideoFrame` s from :meth:`read` (``None`` at the end) and describe
themselves with :class:`SourceInfo`. They are created, read and closed in the frame worker's
thread.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import CameraError
from ..video import VideoFrame, VideoReader

log = logging.getLogger(__name__)

DEFAULT_CAMERA_FPS = 30.0


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


def _default_capture(index: int) -> cv2.VideoCapture:
    return cv2.VideoCapture(index)


class CameraSource:
    """A webcam through OpenCV, as RGB frames stamped with the time they were read.

    Args:
        index: the camera's index (``/dev/video<index>`` on Linux).
        open_capture: makes the ``cv2.VideoCapture``-like object (tests inject a fake).

    Raises:
        CameraError: the camera does not exist, is in use, or delivers no frame.
    """

    def __init__(self, index: int, open_capture: Callable[[int], object] = _default_capture) -> None:
        self.index = int(index)
        if self.index < 0:
            raise CameraError(f"camera index must be 0 or more, not {index}")
        if open_capture is _default_capture and sys.platform.startswith("linux") \
                and not Path(f"/dev/video{self.index}").exists():
            raise CameraError(
                f"cannot open camera {self.index}: /dev/video{self.index} does not exist; connect a "
                "webcam or pick another camera in the toolbar (the refresh button lists the ones found)"
            )
        capture = open_capture(self.index)
        if capture is None or not capture.isOpened():
            if capture is not None:
                capture.release()
            raise CameraError(
                f"cannot open camera {self.index}: no such device, or another program is using it; "
                "pick another camera in the toolbar (the refresh button lists the ones found)"
            )
        self._capture = capture
        if hasattr(cv2, "CAP_PROP_BUFFERSIZE"):
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # show the newest frame, not a queue of old ones
        first = self._grab()
        if first is None:
            self.close()
            raise CameraError(f"camera {self.index} opened but delivers no frames; check it is not in use")
        self._first: np.ndarray | None = first
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.info = SourceInfo(kind="camera", name=f"Camera {self.index}",
                               fps=fps if 1.0 <= fps <= 240.0 else DEFAULT_CAMERA_FPS,
                               size=(first.shape[1], first.shape[0]), camera_index=self.index)
        self._index = 0
        self._start_s = time.monotonic()

    def _grab(self) -> np.ndarray | None:
        ok, bgr = self._capture.read()
        if not ok or bgr is None or bgr.ndim != 3:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self) -> VideoFrame | None:
        """The newest frame.

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
                raise CameraError(f"camera {self.index} stopped delivering frames (unplugged or in use?)")
        frame = VideoFrame(self._index, round((time.monotonic() - self._start_s) * 1000), image)
        self._index += 1
        return frame

    def close(self) -> None:
        if getattr(self, "_capture", None) is not None:
            self._capture.release()
            self._capture = None


def probe_cameras(indices: Iterable[int], open_capture: Callable[[int], object] = _default_capture) -> list[int]:
    """The indices among ``indices`` whose camera opens. On Linux a missing ``/dev/video<i>`` is
    skipped without asking OpenCV (which would log a warning per index). Slow for real cameras
    (each is opened): call it from a worker, not the UI thread."""
    found = []
    for index in indices:
        if sys.platform.startswith("linux") and open_capture is _default_capture \
                and not Path(f"/dev/video{index}").exists():
            continue
        capture = open_capture(index)
        try:
            if capture is not None and capture.isOpened():
                found.append(int(index))
        finally:
            if capture is not None:
                capture.release()
    return found
