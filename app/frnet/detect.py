"""Face detectors: one ABC, chosen by name from :data:`DETECTORS`.

A detector takes an RGB frame and returns every face it finds as a :class:`Detection`, best first;
no face gives ``[]``. Boxes and keypoints are in pixels of the frame it was given.

``"blazeface"`` is MediaPipe's short-range BlazeFace model (``models/face_detection_short_range.tflite``,
Apache-2.0, see ``models/NOTICE-mediapipe.md``) run through the MediaPipe Tasks API. It looks at the
frame through a 128×128 input and is tuned for faces within about 2 m of the camera, so it finds a
face once the face is roughly 8 % of the frame's long side or larger (in a 1920×1080 frame: a
150-pixel face, not a 120-pixel one). Two measures extend that:

1. Frames whose long side exceeds :data:`MAX_INPUT_SIDE` are first shrunk with area averaging (less
   aliasing than the Tasks API's own resize, and cheaper for 4K frames).
2. Only when that finds nothing, the frame is searched again in overlapping square tiles about half
   the frame's long side wide (so faces down to about 4 % of the long side are found: 80 pixels in
   1920×1080), and the tile detections are merged by non-maximum suppression. This costs a handful
   of extra inferences (about 7 ms on a 640×480 frame) on frames with no large face; pass
   ``tile_fallback=False`` to skip it. A small face next to a large one is not searched for.
"""

from __future__ import annotations

import hashlib
import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .crop import box_iou
from .errors import ModelFileError
from .files import check_rgb_image
from .resources import resource_path

logger = logging.getLogger(__name__)

BLAZEFACE_MODEL = "face_detection_short_range.tflite"
# BlazeFace keypoint order (the subject's right eye is on the image's left for a frontal face).
BLAZEFACE_KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")
MAX_INPUT_SIDE = 640
# Tiles are shrunk further: twice the network's 128-pixel input keeps the detail it can use.
MAX_TILE_SIDE = 256
# Tiling is pointless once a tile would be no larger than the network's 128×128 input.
MIN_TILING_SIDE = 256
NMS_IOU = 0.3

RunningMode = Literal["image", "video"]


@dataclass(frozen=True, eq=False)
class Detection:
    """One face: a box ``(x0, y0, x1, y1)`` in image pixels, a score in [0, 1] and optional keypoints.

    ``keypoints`` is ``(K, 2)`` image pixels (``K = 6`` for BlazeFace, in the order of
    :data:`BLAZEFACE_KEYPOINTS`) or ``None`` for detectors without them. Keypoints are not clipped:
    an ear of a face at the border may lie outside the frame. The arrays are read-only.
    """

    box_xyxy: np.ndarray
    score: float
    keypoints: np.ndarray | None = None

    def __post_init__(self) -> None:
        box = np.array(self.box_xyxy, dtype=np.float64).reshape(4)
        box.setflags(write=False)
        object.__setattr__(self, "box_xyxy", box)
        object.__setattr__(self, "score", float(self.score))
        if self.keypoints is not None:
            keypoints = np.array(self.keypoints, dtype=np.float64).reshape(-1, 2)
            keypoints.setflags(write=False)
            object.__setattr__(self, "keypoints", keypoints)

    @property
    def width(self) -> float:
        return float(self.box_xyxy[2] - self.box_xyxy[0])

    @property
    def height(self) -> float:
        return float(self.box_xyxy[3] - self.box_xyxy[1])


class FaceDetector(ABC):
    """Finds faces in RGB frames. Use as a context manager or call :meth:`close`."""

    @abstractmethod
    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Detection]:
        """Faces in ``frame_rgb`` (``H×W×3`` uint8 RGB), sorted by score, best first.

        ``timestamp_ms`` is used in video mode only (see the subclass).

        Raises:
            ValueError: ``frame_rgb`` is not an ``H×W×3`` uint8 array.
        """

    def reset(self) -> None:
        """Forget any state carried between video frames (e.g. after a seek)."""

    @abstractmethod
    def close(self) -> None:
        """Release the model. Calling it twice is harmless."""

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class MediaPipeFaceDetector(FaceDetector):
    """BlazeFace short range through ``mediapipe.tasks.python.vision.FaceDetector``.

    Args:
        min_confidence: detections scoring below this are dropped.
        running_mode: ``"image"`` (independent images) or ``"video"`` (frames of one stream, given
            with increasing ``timestamp_ms``).
        tile_fallback: search overlapping tiles when the whole frame gives nothing (module docs).
        model_path: a different ``.tflite``; default the shipped one.

    Raises:
        ValueError: bad option values.
        ResourceMissingError: the shipped model is missing.
        ModelFileError: the model file is corrupt or cannot be loaded.
    """

    def __init__(
        self,
        min_confidence: float = 0.5,
        running_mode: RunningMode = "image",
        tile_fallback: bool = True,
        model_path: str | Path | None = None,
    ) -> None:
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if running_mode not in ("image", "video"):
            raise ValueError(f"running_mode must be 'image' or 'video', got {running_mode!r}")
        self.min_confidence = float(min_confidence)
        self.running_mode = running_mode
        self.tile_fallback = tile_fallback
        self.model_path = Path(model_path) if model_path else resource_path("models", BLAZEFACE_MODEL)
        self._model_bytes = _read_model(self.model_path)
        self._task = self._create_task(running_mode)
        self._tile_task = None  # IMAGE-mode twin for tiles, created on first use
        self._last_timestamp_ms = -1
        self._closed = False

    def _create_task(self, mode: RunningMode):
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import FaceDetector as TasksFaceDetector
        from mediapipe.tasks.python.vision import FaceDetectorOptions
        from mediapipe.tasks.python.vision.core.vision_task_running_mode import VisionTaskRunningMode

        options = FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=self._model_bytes),
            running_mode=VisionTaskRunningMode.VIDEO if mode == "video" else VisionTaskRunningMode.IMAGE,
            min_detection_confidence=self.min_confidence,
        )
        try:
            return TasksFaceDetector.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise ModelFileError(
                f"cannot load face detector model {self.model_path}: {exc}; "
                f"restore it with scripts/vendor_detector.py"
            ) from exc

    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Detection]:
        """Faces in ``frame_rgb``, best first.

        In video mode, ``timestamp_ms`` must increase from frame to frame; ``None`` means "the next
        one". A timestamp not above the previous one is moved just past it (this detector keeps no
        state between frames, so nothing is lost); call :meth:`reset` when a new stream starts.

        Raises:
            ValueError: ``frame_rgb`` is not an ``H×W×3`` uint8 array.
            RuntimeError: the detector is closed.
        """
        frame_rgb = check_rgb_image(frame_rgb)
        if self._closed:
            raise RuntimeError("this face detector is closed")
        if self.running_mode == "video":
            timestamp_ms = self._next_timestamp(timestamp_ms)
            run_whole = lambda image: self._task.detect_for_video(image, timestamp_ms)  # noqa: E731
        else:
            run_whole = self._task.detect
        small, scale = _shrink(frame_rgb, MAX_INPUT_SIDE)
        detections = _detect_in(run_whole, small, (0, 0), scale)
        height, width = frame_rgb.shape[:2]
        if not detections and self.tile_fallback and max(height, width) >= MIN_TILING_SIDE:
            detections = self._detect_tiles(frame_rgb)
        detections = [_clip(d, width, height) for d in detections]
        detections = [d for d in detections if d is not None]
        return sorted(detections, key=lambda d: d.score, reverse=True)

    def _next_timestamp(self, timestamp_ms: int | None) -> int:
        wanted = self._last_timestamp_ms + 1 if timestamp_ms is None else int(timestamp_ms)
        if wanted <= self._last_timestamp_ms:
            logger.debug("timestamp %d ms not increasing; using %d", wanted, self._last_timestamp_ms + 1)
            wanted = self._last_timestamp_ms + 1
        self._last_timestamp_ms = wanted
        return wanted

    def _detect_tiles(self, frame_rgb: np.ndarray) -> list[Detection]:
        if self._tile_task is None:
            self._tile_task = self._task if self.running_mode == "image" else self._create_task("image")
        # Shrink once so that each tile (half the long side) is at most MAX_TILE_SIDE.
        small, scale = _shrink(frame_rgb, 2 * MAX_TILE_SIDE)
        height, width = small.shape[:2]
        side = min(height, width, math.ceil(max(height, width) / 2))
        found: list[Detection] = []
        for y0 in _tile_starts(height, side):
            for x0 in _tile_starts(width, side):
                tile = small[y0 : y0 + side, x0 : x0 + side]
                found.extend(_detect_in(self._tile_task.detect, tile, (x0, y0), scale))
        return _nms(found, NMS_IOU)

    def reset(self) -> None:
        """Start a new video stream: timestamps may begin again from any value."""
        if self._closed or self.running_mode != "video":
            return
        self._task.close()
        self._task = self._create_task("video")
        self._last_timestamp_ms = -1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in {id(t): t for t in (self._task, self._tile_task) if t is not None}.values():
            task.close()
        self._task = self._tile_task = None

    def __repr__(self) -> str:
        return (
            f"MediaPipeFaceDetector(min_confidence={self.min_confidence}, "
            f"running_mode={self.running_mode!r}, tile_fallback={self.tile_fallback})"
        )


def _read_model(path: Path) -> bytes:
    """The model's bytes, checked against ``<model>.sha256`` when that file sits next to it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read face detector model {path}: {exc}") from exc
    checksum_file = path.with_name(path.name + ".sha256")
    if checksum_file.is_file():
        expected = checksum_file.read_text().split()[0].lower()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelFileError(
                f"face detector model {path} has SHA-256 {actual}, expected {expected}; "
                f"restore it with scripts/vendor_detector.py"
            )
    return data


def _shrink(image_rgb: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image_rgb`` area-averaged down so its long side is at most ``max_side``, and the scale used."""
    height, width = image_rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image_rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA), scale


def _detect_in(run, image_rgb: np.ndarray, offset_xy: tuple[int, int], scale: float) -> list[Detection]:
    """Run a Tasks detector call on ``image_rgb``, a part of a frame shrunk by ``scale`` whose
    top-left corner sits at ``offset_xy`` in the shrunk frame; return frame-pixel detections."""
    import mediapipe as mp

    height, width = image_rgb.shape[:2]
    offset = np.asarray(offset_xy, dtype=np.float64)
    result = run(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image_rgb)))
    detections = []
    for found in result.detections:
        bb = found.bounding_box
        corners = np.array([[bb.origin_x, bb.origin_y], [bb.origin_x + bb.width, bb.origin_y + bb.height]])
        box = ((corners + offset) / scale).reshape(4)
        keypoints = None
        if found.keypoints:
            keypoints = (np.array([[k.x * width, k.y * height] for k in found.keypoints]) + offset) / scale
        score = found.categories[0].score if found.categories else 0.0
        detections.append(Detection(box, score, keypoints))
    return detections


def _tile_starts(length: int, side: int) -> list[int]:
    """Start offsets of tiles ``side`` long covering ``length`` with at least 50 % overlap."""
    if side >= length:
        return [0]
    count = math.ceil((length - side) / (side / 2)) + 1
    return sorted({round(v) for v in np.linspace(0, length - side, count)})


def _nms(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        if all(box_iou(det.box_xyxy, k.box_xyxy) <= iou_threshold for k in kept):
            kept.append(det)
    return kept


def _clip(det: Detection, width: int, height: int) -> Detection | None:
    """The detection with its box clipped to the frame; ``None`` if nothing of it is inside."""
    box = np.clip(det.box_xyxy, 0, [width, height, width, height])
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return Detection(box, det.score, det.keypoints)


DETECTORS: dict[str, type[FaceDetector]] = {"blazeface": MediaPipeFaceDetector}


def create_detector(name: str, **options) -> FaceDetector:
    """A detector by name from :data:`DETECTORS`, e.g. ``create_detector("blazeface", running_mode="video")``.

    Raises:
        ValueError: ``name`` is not registered.
    """
    try:
        cls = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown face detector {name!r}; choose one of {sorted(DETECTORS)}") from None
    return cls(**options)
