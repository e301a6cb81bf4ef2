"""What both renderers share: the interface, input checks and the merge of several faces."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..files import check_rgb_image
from . import shading
from .types import FaceDrawing, OverlayOptions


class Renderer(ABC):
    """``render(frame_rgb, faces, options) -> RGB image``; release with ``close()`` or ``with``."""

    name: str = "renderer"

    @abstractmethod
    def render(
        self, frame_rgb: np.ndarray, faces: Sequence[FaceDrawing], options: OverlayOptions | None = None
    ) -> np.ndarray:
        """Draw ``faces`` over a copy of ``frame_rgb`` ``(H, W, 3)`` uint8 RGB; return ``(H, W, 3)`` uint8 RGB.

        Raises:
            ValueError: ``frame_rgb`` is not an ``(H, W, 3)`` uint8 image.
        """

    def close(self) -> None:
        """Release what the renderer holds (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def check_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """The renderers' input check: :func:`frnet.files.check_rgb_image`, the one used everywhere."""
    return check_rgb_image(frame_rgb)


@dataclass(frozen=True, eq=False)
class MergedMesh:
    """All faces of a frame as one mesh (indices offset), with per-vertex depth normalised per face."""

    vertices: np.ndarray  # (N, 3) float32 image pixels
    triangles: np.ndarray  # (T, 3) int32
    depth01: np.ndarray  # (N,) float32, 0 far … 1 near within each face

    @property
    def empty(self) -> bool:
        return len(self.triangles) == 0


def merge_faces(faces: Sequence[FaceDrawing]) -> MergedMesh:
    faces = [f for f in faces if len(f.triangles)]
    if not faces:
        return MergedMesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), np.zeros(0, np.float32))
    if len(faces) == 1:
        face = faces[0]
        return MergedMesh(face.vertices, face.triangles, shading.depth01(face.vertices[:, 2]))
    offsets = np.cumsum([0] + [len(f.vertices) for f in faces[:-1]])
    return MergedMesh(
        np.concatenate([f.vertices for f in faces]),
        np.concatenate([f.triangles + np.int32(o) for f, o in zip(faces, offsets)]),
        np.concatenate([shading.depth01(f.vertices[:, 2]) for f in faces]),
    )
