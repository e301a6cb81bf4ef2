"""The OpenCV fallback renderer: painter's algorithm, flat shading; no OpenGL needed.

Triangles are sorted far → near and filled one by one with their index into an int32 *id image*
(``cv2.fillConvexPoly``, sub-pixel vertices), so the nearest triangle wins each pixel; colours are
then looked up per pixel and alpha-blended over the frame in one vectorised step. Painter's order is
exact for the non-intersecting triangles of a face mesh; intersecting ones can be wrong where they
cross. Depth and normal colourings are per triangle (flat), unlike the GL renderer's per pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from . import shading
from .base import MergedMesh, Renderer, check_frame, merge_faces
from .overlay import draw_overlays
from .types import FaceDrawing, OverlayOptions

_SHIFT = 4  # fixed-point bits for sub-pixel triangle corners
_NO_TRIANGLE = -1


class CPURenderer(Renderer):
    """Renders with OpenCV only; holds nothing, so ``close()`` does nothing."""

    name = "cpu"

    def __init__(self) -> None:
        self._depth_lut = shading.depth_lut().astype(np.float32) / 255.0

    def render(
        self, frame_rgb: np.ndarray, faces: Sequence[FaceDrawing], options: OverlayOptions | None = None
    ) -> np.ndarray:
        options = options or OverlayOptions()
        out = check_frame(frame_rgb).copy()
        mesh = merge_faces(faces)
        if (options.mesh or options.wireframe) and not mesh.empty:
            triangle_ids = self._rasterise(mesh, out.shape[:2])
            if options.mesh and options.mesh_opacity > 0:
                self._blend_mesh(out, mesh, triangle_ids, options)
            if options.wireframe:
                self._draw_wireframe(out, mesh, triangle_ids)
        return draw_overlays(out, faces, options)

    @staticmethod
    def _rasterise(mesh: MergedMesh, size_hw: tuple[int, int]) -> np.ndarray:
        """``(H, W)`` int32 index of the nearest triangle per pixel, -1 where none."""
        triangle_ids = np.full(size_hw, _NO_TRIANGLE, dtype=np.int32)
        corners = mesh.vertices[mesh.triangles]  # (T, 3, 3)
        height, width = size_hw
        xy = corners[:, :, :2]
        on_screen = (
            (xy[:, :, 0].max(1) >= -1) & (xy[:, :, 0].min(1) <= width)
            & (xy[:, :, 1].max(1) >= -1) & (xy[:, :, 1].min(1) <= height)
        )
        order = np.flatnonzero(on_screen)
        order = order[np.argsort(corners[order, :, 2].mean(axis=1), kind="stable")]  # far first
        fixed = np.round(np.clip(xy[order], -4 * max(size_hw), 4 * max(size_hw)) * (1 << _SHIFT))
        fill = cv2.fillConvexPoly
        for index, polygon in zip(order.tolist(), fixed.astype(np.int32)):
            fill(triangle_ids, polygon, index, cv2.LINE_8, _SHIFT)
        return triangle_ids

    def _blend_mesh(
        self, out: np.ndarray, mesh: MergedMesh, triangle_ids: np.ndarray, options: OverlayOptions
    ) -> None:
        covered = triangle_ids >= 0
        ids = triangle_ids[covered]
        visible, inverse = np.unique(ids, return_inverse=True)
        triangles = mesh.triangles[visible]
        if options.colouring == "depth":
            depth = mesh.depth01[triangles].mean(axis=1)
            colours = self._depth_lut[np.clip(np.round(depth * 255), 0, 255).astype(np.int32)]
        else:
            normals = shading.face_normals(mesh.vertices, triangles)
            colours = shading.shade(normals) if options.colouring == "shaded" else shading.normal_colours(normals)
        alpha = np.float32(options.mesh_opacity)
        below = out[covered].astype(np.float32)
        out[covered] = np.clip(below + alpha * (colours[inverse] * 255.0 - below) + 0.5, 0, 255).astype(np.uint8)

    @staticmethod
    def _draw_wireframe(out: np.ndarray, mesh: MergedMesh, triangle_ids: np.ndarray) -> None:
        """Outlines of the triangles that won at least one pixel (approximate hidden-line removal)."""
        visible = np.unique(triangle_ids[triangle_ids >= 0])
        if visible.size == 0:
            return
        polygons = np.round(mesh.vertices[mesh.triangles[visible], :2] * (1 << _SHIFT)).astype(np.int32)
        layer = out.copy()
        colour = tuple(float(c) for c in shading.WIREFRAME_COLOUR * 255.0)
        cv2.polylines(layer, list(polygons), True, colour, 1, cv2.LINE_8, _SHIFT)
        cv2.addWeighted(layer, shading.WIREFRAME_OPACITY, out, 1.0 - shading.WIREFRAME_OPACITY, 0.0, dst=out)
