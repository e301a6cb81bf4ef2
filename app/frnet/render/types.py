"""Plain inputs of the renderers: what to draw (:class:`FaceDrawing`) and how (:class:`OverlayOptions`).

Everything is in *image pixels* (see :mod:`frnet.geometry`): x to the right, y down, integer
coordinates at pixel centres (the OpenCV convention), and depth z in the same pixel scale with
**larger z closer to the camera**.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .. import geometry

Colouring = Literal["shaded", "depth", "normals"]
COLOURINGS: tuple[str, ...] = ("shaded", "depth", "normals")


@dataclass(frozen=True)
class OverlayOptions:
    """What the renderers draw over a frame.

    Attributes:
        landmarks: the 68 landmarks as small filled dots.
        mesh: the dense mesh, alpha-blended over the frame with ``mesh_opacity``.
        wireframe: the mesh's visible edges.
        axes: the head pose as three axes (x red, y green, z blue) at ``FaceDrawing.axes_origin``.
        colouring: ``"shaded"`` (Lambert plus a little specular), ``"depth"`` (near = red, far =
            blue, normalised per face) or ``"normals"`` (RGB = normal·½ + ½; x right, y up, z
            towards the camera).
        mesh_opacity: 0 (invisible) … 1 (opaque).

    Raises:
        ValueError: unknown ``colouring`` or ``mesh_opacity`` outside [0, 1].
    """

    landmarks: bool = True
    mesh: bool = True
    wireframe: bool = False
    axes: bool = False
    colouring: Colouring = "shaded"
    mesh_opacity: float = 0.6

    def __post_init__(self) -> None:
        if self.colouring not in COLOURINGS:
            raise ValueError(f"colouring must be one of {COLOURINGS}, not {self.colouring!r}")
        if not 0.0 <= float(self.mesh_opacity) <= 1.0:
            raise ValueError(f"mesh_opacity must be in [0, 1], not {self.mesh_opacity}")


@dataclass(frozen=True, eq=False)
class FaceDrawing:
    """One face to draw, in image pixels. Arrays are converted (not copied when already right).

    Attributes:
        vertices: ``(N, 3)`` float32 — x, y (down), depth (larger = closer).
        triangles: ``(T, 3)`` int32 vertex indices; either winding (lighting is two-sided), but
            counter-clockwise seen from the camera in y-up space gives outward normals.
        landmarks68: ``(68, 2|3)`` float32 or ``None``.
        rotation: ``(3, 3)`` model → camera rotation (model +x right, +y up, +z towards the camera;
            as from :func:`frnet.geometry.decompose_pose`) or ``None`` (no axes).
        axes_origin: ``(2,)`` image pixels where the axes start, or ``None``.
        axes_length_px: length of each axis in pixels.

    Raises:
        ValueError: wrong shapes or triangle indices out of range.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    landmarks68: np.ndarray | None = None
    rotation: np.ndarray | None = None
    axes_origin: np.ndarray | None = None
    axes_length_px: float = 0.0

    def __post_init__(self) -> None:
        vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        triangles = np.ascontiguousarray(self.triangles, dtype=np.int32)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError(f"vertices must have shape (N, 3), not {vertices.shape}")
        if not np.isfinite(vertices).all():
            raise ValueError("vertices contain NaN or infinite values")
        if triangles.size == 0:
            triangles = triangles.reshape(0, 3)
        if triangles.ndim != 2 or triangles.shape[1] != 3:
            raise ValueError(f"triangles must have shape (T, 3), not {triangles.shape}")
        if triangles.size and (triangles.min() < 0 or triangles.max() >= len(vertices)):
            raise ValueError(f"triangle indices must lie in [0, {len(vertices)}), "
                             f"found [{triangles.min()}, {triangles.max()}]")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "triangles", triangles)
        if self.landmarks68 is not None:
            landmarks = np.asarray(self.landmarks68, dtype=np.float32)
            if landmarks.ndim != 2 or landmarks.shape[1] not in (2, 3):
                raise ValueError(f"landmarks68 must have shape (68, 2|3), not {landmarks.shape}")
            object.__setattr__(self, "landmarks68", landmarks)
        if self.rotation is not None:
            rotation = np.asarray(self.rotation, dtype=np.float64)
            if rotation.shape != (3, 3):
                raise ValueError(f"rotation must have shape (3, 3), not {rotation.shape}")
            object.__setattr__(self, "rotation", rotation)
        if self.axes_origin is not None:
            origin = np.asarray(self.axes_origin, dtype=np.float64).reshape(-1)[:2]
            if origin.shape != (2,):
                raise ValueError(f"axes_origin must hold (x, y), not {self.axes_origin!r}")
            object.__setattr__(self, "axes_origin", origin)

    @classmethod
    def from_crop_pose(
        cls,
        vertices: np.ndarray,
        triangles: np.ndarray,
        landmarks68: np.ndarray | None,
        pose: np.ndarray,
        roi_box: np.ndarray,
        axes_length_mm: float = 60.0,
    ) -> FaceDrawing:
        """Build a drawing from image-pixel geometry and the network's crop-space pose.

        Args:
            pose: the ``(3, 4)`` matrix ``[s·R | t]`` (model mm → crop space, y up).
            roi_box: the square crop ``(x0, y0, x1, y1)`` in image pixels.
            axes_length_mm: axis length in model millimetres (scaled like the face).
        """
        scale, rotation, translation = geometry.decompose_pose(np.asarray(pose))
        roi_box = np.asarray(roi_box, dtype=np.float64)
        crop_to_image_scale = (roi_box[2] - roi_box[0]) / geometry.CROP_SIZE
        origin_crop = geometry.crop_space_to_crop_pixels(np.asarray(translation, dtype=np.float64)[None])
        origin = geometry.crop_to_image(origin_crop, roi_box)[0, :2]
        return cls(
            vertices=vertices,
            triangles=triangles,
            landmarks68=landmarks68,
            rotation=rotation,
            axes_origin=origin,
            axes_length_px=float(axes_length_mm * scale * crop_to_image_scale),
        )
