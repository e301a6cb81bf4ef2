"""The ground floor of file handling: atomic writes, still images, suffix lists, the RGB-frame check
and the names of output files.

Everything that writes a file goes through :func:`atomic_write` (a temporary file next to the
destination, then one ``os.replace``), so no output is ever half-written; what a path may be and
how devices, FIFOs and links are written is :mod:`frnet.outputs`' policy. Images are ``H×W×3``
uint8 RGB numpy arrays throughout, and :func:`check_rgb_image` is the one check of that rule
(used by the pipeline, the detectors, the renderers and the writers alike).

This module imports no video library (PyAV) and loads OpenCV only when an image is read or
written, so writing a mesh or a JSON file stays cheap.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import limits
from .errors import InputError, OutputError
from .outputs import OutputTarget, discard, same_file  # noqa: F401 - same_file: part of this module's API

# Still-image files the jobs and the app pick up from folders (all readable by OpenCV).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# Video files the app recognises by suffix when they are dropped or opened (PyAV reads them).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv")
# Frame rates outside this range are taken for a broken or unknown rate.
MIN_SANE_FPS, MAX_SANE_FPS = 1.0, 240.0
DEFAULT_FPS = 30.0


# ---------------------------------------------------------------------------------------- frames


def check_rgb_image(frame_rgb: np.ndarray) -> np.ndarray:
    """Return ``frame_rgb`` as a C-contiguous array after checking it is a non-empty ``H×W×3`` uint8.

    Raises:
        ValueError: anything else (wrong type, dtype, shape, or an empty image).
    """
    if not isinstance(frame_rgb, np.ndarray):
        raise ValueError(f"expected an H×W×3 uint8 RGB numpy array, got {type(frame_rgb).__name__}")
    if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        raise ValueError(
            f"expected an H×W×3 uint8 RGB image, got shape {frame_rgb.shape} dtype {frame_rgb.dtype}"
        )
    if frame_rgb.shape[0] == 0 or frame_rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty image, got shape {frame_rgb.shape}")
    return np.ascontiguousarray(frame_rgb)


def sane_fps(fps: float | None, default: float = DEFAULT_FPS) -> float:
    """``fps`` when it is a plausible frame rate (1–240), else ``default`` (cameras and files that
    report 0, NaN or nonsense)."""
    try:
        value = float(fps or 0.0)
    except (TypeError, ValueError):
        return default
    return value if math.isfinite(value) and MIN_SANE_FPS <= value <= MAX_SANE_FPS else default


# ----------------------------------------------------------------------------------------- files


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Write a file all at once or not at all.

    Yields the path of a temporary file in the same folder with the same suffix (so libraries that
    pick a format from the suffix still work). Write it; when the block ends normally it replaces
    ``path`` in one step (``os.replace``), when the block raises it is deleted and ``path`` is left
    as it was. Missing parent folders are created. Nothing that is not ours is replaced
    (:mod:`frnet.outputs`): a symbolic link's file is written and the link kept, a character device
    or FIFO (``/dev/null``, ``/dev/stdout``) gets the bytes in place, a folder, block device or
    socket is refused.

    Example::

        with atomic_write("out/mesh.obj") as temp:
            mesh.export(temp)

    Raises:
        OutputError: the destination cannot be written.
    """
    target = OutputTarget(path)
    temp = target.temp()
    try:
        yield temp
    except BaseException:
        discard(temp)
        raise
    target.commit(temp)


# ---------------------------------------------------------------------------------------- images


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``H×W×3`` uint8 RGB, upright (EXIF orientation applied).

    Grayscale is replicated to three channels, an alpha channel is dropped (not composited) and
    16-bit images are scaled to 8 bits. Images of more than :data:`frnet.limits.MAX_IMAGE_PIXELS`
    pixels are refused from their header, before decoding. Any file name the OS allows works:
    ``cv2.imread`` crashes on names that are not valid UTF-8, so such files are decoded from their
    bytes in memory (``cv2.imdecode``, which unlike ``imread`` refuses a JPEG cut short).

    Raises:
        InputError: the file is missing, empty, too large, or not an image OpenCV can decode.
    """
    import cv2

    path = Path(path)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise InputError(f"cannot read image {path}: no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    if not data:
        raise InputError(f"cannot read image {path}: the file is empty")
    _check_image_header(data, path)
    try:  # 8-bit, 3 channels, EXIF orientation applied
        if _utf8_name(path):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        else:
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # a damaged header claiming a size beyond OpenCV's limits (a format Pillow does not know)
        bgr = None
    if bgr is None or bgr.size == 0:
        raise InputError(
            f"cannot read image {path}: not an image format OpenCV can decode, or the file is corrupt"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _utf8_name(path: Path) -> bool:
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_image_header(data: bytes, path: Path) -> None:
    """Refuse an image over :data:`frnet.limits.MAX_IMAGE_PIXELS` from its header (Pillow reads
    only the header). Formats Pillow does not know are left to OpenCV, whose own limit is 2**30
    pixels.

    Raises:
        InputError: too many pixels.
    """
    import io
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the bound is ours
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
        except Image.DecompressionBombError as exc:  # over twice Pillow's limit, so over ours too
            found = re.search(r"\((\d+) pixels\)", str(exc))
            limits.check_image_pixels(int(found.group(1)) if found else limits.MAX_IMAGE_PIXELS + 1, path)
            return
        except Exception:  # noqa: BLE001 - only sniffing the header; OpenCV decides what decodes
            return
    limits.check_image_pixels(width * height, path, (width, height))


def write_image_atomic(path: str | os.PathLike, image_rgb: np.ndarray) -> None:
    """Write an ``H×W×3`` uint8 RGB image; the format follows the suffix (``.png``, ``.jpg``, …).

    Raises:
        ValueError: ``image_rgb`` is not ``H×W×3`` uint8.
        OutputError: unknown suffix, or the destination cannot be written.
    """
    import cv2

    path = Path(path)
    image_rgb = check_rgb_image(image_rgb)
    try:
        ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    except cv2.error:
        ok = False
    if not ok:
        raise OutputError(f"cannot write {path}: unknown image type {path.suffix!r}; use .png or .jpg")
    with atomic_write(path) as temp:
        temp.write_bytes(encoded.tobytes())


# ---------------------------------------------------------------------------------- output names


@dataclass(frozen=True)
class OutputNames:
    """The files written for one input image (names only, relative to the output folder)."""

    overlay: str
    meshes: list[str]
    landmarks_json: str


def output_names(stem: str, face_count: int, mesh_format: str) -> OutputNames:
    """The one naming rule for per-image outputs, shared by ``frnet-app --image`` and the app's
    export: ``<stem>_overlay.png``, ``<stem>_face<k>.<mesh_format>`` per face (``k = 0, 1, …``)
    and ``<stem>_landmarks.json``. ``mesh_format`` is a key of :data:`frnet.export.MESH_EXPORTERS`
    (callers check it: :func:`frnet.export.check_mesh_format`).
    """
    return OutputNames(overlay=f"{stem}_overlay.png",
                       meshes=[f"{stem}_face{k}.{mesh_format}" for k in range(face_count)],
                       landmarks_json=f"{stem}_landmarks.json")


def is_output_name(name: str, stems: Iterable[str], mesh_format: str, csv_name: str) -> bool:
    """Whether :func:`output_names` (or the run's CSV ``csv_name``) can give ``name`` for one of
    ``stems``: used to refuse a run whose outputs would overwrite one of its inputs."""
    stems = set(stems)
    if name == csv_name:
        return True
    for ending in ("_overlay.png", "_landmarks.json"):
        if name.endswith(ending) and name[: -len(ending)] in stems:
            return True
    # OBJ meshes may have a texture's .mtl and .png beside them (frnet.export).
    suffixes = [mesh_format, "mtl", "png"] if mesh_format == "obj" else [mesh_format]
    face = re.fullmatch(rf"(.*)_face\d+\.(?:{'|'.join(map(re.escape, suffixes))})", name)
    return face is not None and face.group(1) in stems


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """The one duplicate-name policy: each path's stem, the second and later paths sharing a stem
    suffixed ``-2``, ``-3`` …, so no output overwrites another (``a/x.jpg``, ``b/x.png`` →
    ``x``, ``x-2``). A suffixed stem that is itself some input's stem is skipped (``x-2`` taken →
    ``x-3``)."""
    taken = {Path(p).stem for p in paths}
    counts: dict[str, int] = {}
    used: set[str] = set()
    stems = []
    for path in paths:
        stem = Path(path).stem
        counts[stem] = counts.get(stem, 0) + 1
        candidate = stem
        if counts[stem] > 1 or stem in used:
            n = max(counts[stem], 2)
            while f"{stem}-{n}" in taken or f"{stem}-{n}" in used:
                n += 1
            candidate = f"{stem}-{n}"
            counts[stem] = n
        used.add(candidate)
        stems.append(candidate)
    return stems


def distinct_files(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without repeats of the same file (the first mention kept, order kept)."""
    kept: list[Path] = []
    for path in paths:
        if not any(path.stem == k.stem and same_file(path, k) for k in kept):
            kept.append(path)
    return kept
