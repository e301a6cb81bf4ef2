"""The Qt-free core of the desktop app: what the windows and workers do with paths and results.

Everything here is plain Python and numpy, so it is tested without a display: sorting dropped
paths into videos and images, overlay toggles → :class:`~frnet.render.OverlayOptions`, the HUD's
numbers and text, processing one still image into a gallery entry (through the shared
:class:`~frnet.engine.Engine`), and exporting the selected entries (meshes + landmarks JSON, named
by :func:`frnet.files.output_names`). The Qt classes in :mod:`frnet.gui.workers` and
:mod:`frnet.gui.main_window` only move these values between threads and widgets.

Lists with one source of truth elsewhere are read from there: the suffixes from
:mod:`frnet.files`, the export formats from the exporter registry (:data:`frnet.export.MESH_FORMATS`),
the overlay toggles' names from :class:`OverlayToggles`' fields.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import files
from ..engine import STAGES, Engine
from ..errors import FrnetError, OutputError
from ..export import MESH_FORMATS, check_mesh_format
from ..facemodel import FaceModel, load_face_model
from ..pipeline import FrameResult, Pipeline, PipelineOptions
from ..render import OverlayOptions

log = logging.getLogger(__name__)

# The lists the command line uses, as sets for lookups.
VIDEO_SUFFIXES = frozenset(files.VIDEO_SUFFIXES)
IMAGE_SUFFIXES = frozenset(files.IMAGE_SUFFIXES)
EXPORT_FORMATS = MESH_FORMATS  # the exporter registry's formats
THUMBNAIL_SIDE_PX = 200
PREVIEW_MAX_SIDE_PX = 1600
CAMERA_INDICES = tuple(range(5))


# ------------------------------------------------------------------------------------------ drops


@dataclass(frozen=True)
class DropPlan:
    """What a drop (or an open dialog) asked for, sorted by kind.

    Attributes:
        videos: video files, in the order given.
        images: image files, folders expanded (sorted, recursive), duplicates removed.
        ignored: paths that are neither (unknown suffix, missing, or a folder without images).
    """

    videos: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.videos or self.images)


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def plan_drop(paths: Iterable[str | os.PathLike]) -> DropPlan:
    """Sort dropped files and folders into videos and images.

    Folders are searched recursively for images (hidden files skipped, sorted by path); a file's
    kind is its suffix (case-insensitive). Nothing is opened here: a bad file with an image suffix
    is an image until the worker fails to read it.
    """
    plan = DropPlan()
    seen: set[Path] = set()

    def add_image(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            plan.images.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _is_hidden(p))
            if not found:
                plan.ignored.append(path)
            for image in found:
                add_image(image)
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            plan.videos.append(path)
        elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            add_image(path)
        else:
            plan.ignored.append(path)
    return plan


# --------------------------------------------------------------------------------------- overlays


@dataclass(frozen=True)
class OverlayToggles:
    """The overlay check boxes of the window (and their saved state)."""

    landmarks: bool = True
    mesh: bool = True
    wireframe: bool = False
    axes: bool = True
    depth: bool = False

    def to_options(self) -> OverlayOptions:
        """The renderer's options: ``depth`` switches the mesh colouring from shaded to depth."""
        return OverlayOptions(
            landmarks=self.landmarks,
            mesh=self.mesh,
            wireframe=self.wireframe,
            axes=self.axes,
            colouring="depth" if self.depth else "shaded",
            mesh_opacity=0.85 if self.depth else 0.6,
        )


OVERLAY_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OverlayToggles))


# -------------------------------------------------------------------------------------------- HUD


class FpsMeter:
    """Frames per second from the times frames were shown: an exponential moving average of the
    interval, reset after a pause (a gap longer than ``max_gap_s``)."""

    def __init__(self, smoothing: float = 0.15, max_gap_s: float = 1.0) -> None:
        self.smoothing = smoothing
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> None:
        self._last_s: float | None = None
        self._interval_s: float | None = None

    def tick(self, now_s: float | None = None) -> float:
        """Record a frame shown at ``now_s`` (default: now); return the current fps (0 until two frames)."""
        now_s = time.perf_counter() if now_s is None else now_s
        if self._last_s is not None:
            interval = now_s - self._last_s
            if 0 < interval <= self.max_gap_s:
                self._interval_s = interval if self._interval_s is None else \
                    self._interval_s + self.smoothing * (interval - self._interval_s)
            elif interval > self.max_gap_s:
                self._interval_s = None
        self._last_s = now_s
        return self.fps

    @property
    def fps(self) -> float:
        return 1.0 / self._interval_s if self._interval_s else 0.0


@dataclass(frozen=True)
class HudData:
    """The numbers the HUD shows for one frame.

    Attributes:
        fps: frames per second shown (0 when unknown, e.g. a single step).
        timings_ms: per-stage milliseconds (the pipeline's stages, then ``render``).
        face_count: faces in the frame.
        yaw_pitch_roll_deg: the first face's head pose, or ``None`` without a face.
        frame_index: index of the frame in its source.
        frame_count: frames in the source (0: unknown, e.g. a webcam).
    """

    fps: float
    timings_ms: dict[str, float]
    face_count: int
    yaw_pitch_roll_deg: tuple[float, float, float] | None
    frame_index: int = 0
    frame_count: int = 0

    @property
    def total_ms(self) -> float:
        return float(sum(self.timings_ms.values()))


def hud_data(result: FrameResult, render_ms: float, fps: float, frame_count: int = 0) -> HudData:
    """The HUD's numbers for ``result`` rendered in ``render_ms`` (the engine's stages, :data:`STAGES`)."""
    timings = {stage: float(result.timings_ms.get(stage, 0.0)) for stage in STAGES}
    timings["render"] = float(render_ms)
    pose = None
    if result.faces:
        yaw, pitch, roll = (float(v) for v in result.faces[0].yaw_pitch_roll_deg)
        pose = (yaw, pitch, roll)
    return HudData(fps=float(fps), timings_ms=timings, face_count=len(result.faces), yaw_pitch_roll_deg=pose,
                   frame_index=int(result.frame_index), frame_count=int(frame_count))


def format_pose(yaw_pitch_roll_deg: tuple[float, float, float] | None) -> str:
    """``"yaw +12.3°  pitch −4.0°  roll +0.5°"``, or ``"no face"``."""
    if yaw_pitch_roll_deg is None:
        return "no face"
    yaw, pitch, roll = yaw_pitch_roll_deg
    return f"yaw {yaw:+.1f}°  pitch {pitch:+.1f}°  roll {roll:+.1f}°"


def format_hud_lines(hud: HudData) -> list[str]:
    """Short lines for the HUD drawn over the live view."""
    frame = f"frame {hud.frame_index + 1}" + (f"/{hud.frame_count}" if hud.frame_count else "")
    faces = f"{hud.face_count} face" + ("" if hud.face_count == 1 else "s")
    stages = "  ".join(f"{name} {ms:.1f}" for name, ms in hud.timings_ms.items() if name in
                       ("detect", "infer", "reconstruct", "render"))
    return [f"{hud.fps:5.1f} fps   {faces}   {frame}", f"{stages}  ms", format_pose(hud.yaw_pitch_roll_deg)]


# ------------------------------------------------------------------------------------- processing


_FACE_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _cached_face_model() -> FaceModel:
    return load_face_model()


def shared_face_model() -> FaceModel:
    """The shipped face model, loaded once per process (it is immutable, so threads share it).

    Raises:
        ResourceMissingError, ModelFileError: the model file is missing or broken.
    """
    with _FACE_MODEL_LOCK:
        return _cached_face_model()


def make_pipeline(options: PipelineOptions) -> Pipeline:
    """The app's default pipeline factory: shared face model, own regressor and detector."""
    return Pipeline(options, face_model=shared_face_model())


PipelineFactory = Callable[[PipelineOptions], Pipeline]


def fit_within(image_rgb: np.ndarray, max_side_px: int) -> np.ndarray:
    """``image_rgb`` shrunk (area filter) so its longer side is at most ``max_side_px``."""
    height, width = image_rgb.shape[:2]
    scale = max_side_px / max(height, width)
    if scale >= 1.0:
        return image_rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True, eq=False)
class ImageEntry:
    """One processed still image, as the gallery holds it.

    The full-resolution image is not kept (it is read again for export); ``preview_rgb`` is the
    rendered overlay at most :data:`PREVIEW_MAX_SIDE_PX` wide and ``thumbnail_rgb`` the gallery's
    icon.
    """

    path: Path
    result: FrameResult
    preview_rgb: np.ndarray
    thumbnail_rgb: np.ndarray

    @property
    def face_count(self) -> int:
        return len(self.result.faces)

    @property
    def label(self) -> str:
        faces = f"{self.face_count} face" + ("" if self.face_count == 1 else "s")
        return f"{self.path.name}\n{faces}"


def process_image(path: Path, engine: Engine, overlay: OverlayOptions | None = None,
                  read: Callable[[Path], np.ndarray] | None = None) -> ImageEntry:
    """Read one image, reconstruct every face, and draw the overlay (``overlay``, default the
    engine's) for the gallery.

    Raises:
        InputError: the image cannot be read.
    """
    image = (read or files.read_image)(path)
    if overlay is not None:
        engine.overlay = overlay
    result, rendered = engine.run(image)
    preview = np.ascontiguousarray(fit_within(rendered, PREVIEW_MAX_SIDE_PX))
    thumbnail = np.ascontiguousarray(fit_within(preview, THUMBNAIL_SIDE_PX))
    return ImageEntry(path=Path(path), result=result, preview_rgb=preview, thumbnail_rgb=thumbnail)


# ----------------------------------------------------------------------------------------- export


def export_names(entry_stem: str, face_count: int, fmt: str) -> tuple[list[str], str]:
    """File names for one image's export, by the naming rule ``frnet-app --image`` uses
    (:func:`frnet.files.output_names`): ``<stem>_face<k>.<fmt>`` per face and ``<stem>_landmarks.json``.

    Raises:
        ValueError: ``fmt`` is not an export format.
    """
    names = files.output_names(entry_stem, face_count, check_mesh_format(fmt))
    return names.meshes, names.landmarks_json


@dataclass
class ExportSummary:
    """What an export wrote, and what it could not."""

    folder: Path
    written: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def mesh_count(self) -> int:
        return sum(1 for p in self.written if p.suffix.lstrip(".") in EXPORT_FORMATS)


def export_entries(
    entries: Sequence[ImageEntry],
    folder: str | os.PathLike,
    fmt: str,
    face_model: FaceModel,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    read: Callable[[Path], np.ndarray] | None = None,
    texture_size: int | None = None,
) -> ExportSummary:
    """Write every face of every entry as a mesh (``fmt``: obj, ply or glb, vertex colours taken
    from the photo; with ``texture_size`` a UV texture unwrapped from it, see
    :func:`frnet.export.export_face_mesh`) plus one landmarks JSON per image, into ``folder``
    (created when missing).

    An image that cannot be read again or written is recorded in ``failures`` and the export goes
    on with the next one; ``cancelled()`` is checked between images.

    Raises:
        ValueError: unknown ``fmt``.
        OutputError: ``folder`` cannot be created.
    """
    from ..export import export_face_mesh, export_landmarks_json, mesh_files

    check_mesh_format(fmt)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the export folder {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc
    summary = ExportSummary(folder=folder)
    stems = files.unique_stems([entry.path for entry in entries])  # the CLI's duplicate policy
    for done, (entry, stem) in enumerate(zip(entries, stems)):
        if cancelled is not None and cancelled():
            summary.cancelled = True
            break
        if progress is not None:
            progress(done, len(entries))
        mesh_names, json_name = export_names(stem, entry.face_count, fmt)
        try:
            if entry.result.faces:
                image = (read or files.read_image)(entry.path)
                for face, name in zip(entry.result.faces, mesh_names):
                    path = export_face_mesh(folder / name, face, face_model.render_triangles, image,
                                            texture_size=texture_size)
                    summary.written.extend(mesh_files(path, texture_size is not None))
            summary.written.append(export_landmarks_json(folder / json_name, entry.result, image=entry.path.name))
        except (FrnetError, OSError, ValueError) as exc:
            log.warning("export of %s failed: %s", entry.path, exc)
            summary.failures.append((entry.path, str(exc)))
    else:
        if progress is not None:
            progress(len(entries), len(entries))
    return summary


# ----------------------------------------------------------------------------------------- helpers


def describe_failures(failures: Sequence[tuple[Path, str]], total: int, verb: str = "processed") -> str:
    """One message for a dialog: how many of ``total`` files failed and why (first few)."""
    lines = [f"{len(failures)} of {total} file{'s' if total != 1 else ''} could not be {verb}:"]
    for path, message in failures[:6]:
        lines.append(f"• {Path(path).name}: {message}")
    if len(failures) > 6:
        lines.append(f"… and {len(failures) - 6} more (see the log)")
    return "\n".join(lines)


def frame_interval_s(fps: float) -> float:
    """Seconds between frames at ``fps`` (30 fps when the rate is unknown or absurd)."""
    return 1.0 / files.sane_fps(fps)


__all__ = [
    "CAMERA_INDICES",
    "DropPlan",
    "EXPORT_FORMATS",
    "ExportSummary",
    "FpsMeter",
    "HudData",
    "IMAGE_SUFFIXES",
    "ImageEntry",
    "OVERLAY_NAMES",
    "OverlayToggles",
    "VIDEO_SUFFIXES",
    "describe_failures",
    "export_entries",
    "export_names",
    "fit_within",
    "format_hud_lines",
    "format_pose",
    "frame_interval_s",
    "hud_data",
    "make_pipeline",
    "plan_drop",
    "process_image",
    "shared_face_model",
]
