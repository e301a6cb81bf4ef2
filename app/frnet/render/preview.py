"""Stand-alone pictures of a model-space mesh (docs figures: the mean face, ±2σ components …)."""

from __future__ import annotations

import numpy as np

from .. import geometry
from .base import Renderer
from .types import Colouring, FaceDrawing, OverlayOptions

PREVIEW_BACKGROUND = (255, 255, 255)


def fit_to_view(
    vertices_model: np.ndarray, size: tuple[int, int], yaw_deg: float = 0.0, margin: float = 0.06
) -> np.ndarray:
    """Model-space vertices (mm, y up, z towards the camera) → image pixels, turned by ``yaw_deg``
    (positive: nose towards the image's right), centred and scaled to fill ``size = (w, h)``."""
    width, height = size
    vertices = np.asarray(vertices_model, dtype=np.float64)
    rotation = geometry.rotation_from_euler(np.radians(yaw_deg), 0.0, 0.0)
    turned = vertices @ rotation.T
    low, high = turned[:, :2].min(axis=0), turned[:, :2].max(axis=0)
    extent = np.maximum(high - low, 1e-9)
    scale = min(width * (1 - 2 * margin) / extent[0], height * (1 - 2 * margin) / extent[1])
    centre = (low + high) / 2
    image = np.empty_like(turned)
    image[:, 0] = (width - 1) / 2 + (turned[:, 0] - centre[0]) * scale
    image[:, 1] = (height - 1) / 2 - (turned[:, 1] - centre[1]) * scale
    image[:, 2] = turned[:, 2] * scale
    return image.astype(np.float32)


def render_mesh_preview(
    vertices_model: np.ndarray,
    triangles: np.ndarray,
    size: tuple[int, int] = (512, 512),
    yaw_deg: float = 0.0,
    colouring: Colouring = "shaded",
    renderer: Renderer | None = None,
    background_rgb: tuple[int, int, int] = PREVIEW_BACKGROUND,
) -> np.ndarray:
    """An ``(h, w, 3)`` uint8 RGB picture of an opaque mesh, fitted in the view.

    Args:
        vertices_model: ``(N, 3)`` model-space vertices (mm; +y up, +z towards the camera).
        triangles: ``(T, 3)`` vertex indices.
        size: ``(width, height)`` in pixels.
        yaw_deg: turn about the vertical axis before drawing (positive: nose to the image's right).
        colouring: ``"shaded"``, ``"depth"`` or ``"normals"``.
        renderer: one to reuse; ``None`` makes one with :func:`frnet.render.create_renderer`
            (OpenGL when available, else OpenCV) for this call.
    """
    width, height = int(size[0]), int(size[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive (width, height), not {size}")
    face = FaceDrawing(fit_to_view(vertices_model, (width, height), yaw_deg), triangles)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:] = background_rgb
    options = OverlayOptions(landmarks=False, mesh=True, colouring=colouring, mesh_opacity=1.0)
    if renderer is not None:
        return renderer.render(canvas, [face], options)
    from . import create_renderer  # here, not at import: the package imports this module

    with create_renderer("auto") as own_renderer:
        return own_renderer.render(canvas, [face], options)
