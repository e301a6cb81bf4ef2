"""Shading shared by the GL and CPU renderers (pure numpy), so both colour a mesh alike.

Lighting happens in *view space*: image pixels with y flipped up, so x right, y up, z towards the
camera (the model-space axes of :mod:`frnet.geometry`, seen by the camera). The GL shaders get the
constants below as uniforms and repeat :func:`shade`'s formula per fragment.
"""

from __future__ import annotations

import cv2
import numpy as np

BASE_COLOUR = np.array([0.86, 0.84, 0.90], dtype=np.float32)  # pale grey-lilac, RGB 0–1
LIGHT_DIRECTION = np.array([0.35, 0.45, 1.0], dtype=np.float32) / np.linalg.norm([0.35, 0.45, 1.0])
AMBIENT = 0.28
DIFFUSE = 0.72
SPECULAR = 0.18
SHININESS = 24.0
WIREFRAME_COLOUR = np.array([0.95, 0.95, 0.95], dtype=np.float32)
WIREFRAME_OPACITY = 0.75


def depth_lut() -> np.ndarray:
    """``(256, 3)`` uint8 RGB colours for normalised depth 0 (far, blue) … 1 (near, red): the turbo
    map without its darkest ends."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_TURBO)[:, 0, ::-1]
    positions = np.linspace(24.0, 232.0, 256)
    return np.stack(
        [np.interp(positions, np.arange(256), bgr[:, c]) for c in range(3)], axis=1
    ).round().astype(np.uint8)


def face_normals(vertices_image: np.ndarray, triangles: np.ndarray, normalise: bool = True) -> np.ndarray:
    """``(T, 3)`` float32 view-space triangle normals (area-weighted when ``normalise`` is False)."""
    vertices = np.asarray(vertices_image, dtype=np.float32)
    flat = np.ascontiguousarray(triangles, dtype=np.intp).reshape(-1)
    # np.take on contiguous columns is several times faster than fancy-indexing rows.
    x, y, z = (np.ascontiguousarray(vertices[:, axis]).take(flat).reshape(-1, 3) for axis in range(3))
    ax, ay, az = x[:, 1] - x[:, 0], y[:, 0] - y[:, 1], z[:, 1] - z[:, 0]  # y flipped: view space
    bx, by, bz = x[:, 2] - x[:, 0], y[:, 0] - y[:, 2], z[:, 2] - z[:, 0]
    normals = np.empty((len(x), 3), dtype=np.float32)
    normals[:, 0] = ay * bz - az * by
    normals[:, 1] = az * bx - ax * bz
    normals[:, 2] = ax * by - ay * bx
    return _normalise(normals) if normalise else normals


class VertexNormals:
    """Per-vertex normals for one triangle topology; the vertex → triangle incidence is built once.

    Calling it with ``(N, 3)`` image-pixel vertices gives ``(N, 3)`` float32 unit view-space normals,
    the area-weighted mean of the incident triangles' normals; vertices in no triangle get
    ``(0, 0, 1)``.
    """

    def __init__(self, triangles: np.ndarray, num_vertices: int) -> None:
        self.triangles = np.array(triangles, dtype=np.int32).reshape(-1, 3)
        self.num_vertices = int(num_vertices)
        flat = self.triangles.reshape(-1)
        corner_order = np.argsort(flat, kind="stable")
        self._corner_triangle = (corner_order // 3).astype(np.intp)
        sorted_vertex = flat[corner_order]
        self._starts = np.flatnonzero(np.r_[True, sorted_vertex[1:] != sorted_vertex[:-1]]) if flat.size else flat
        self._used = sorted_vertex[self._starts] if flat.size else flat

    def matches(self, triangles: np.ndarray, num_vertices: int) -> bool:
        return (
            num_vertices == self.num_vertices
            and triangles.shape == self.triangles.shape
            and np.array_equal(triangles, self.triangles)
        )

    def __call__(self, vertices_image: np.ndarray) -> np.ndarray:
        normals = np.zeros((self.num_vertices, 3), dtype=np.float32)
        normals[:, 2] = 1.0
        if self._used.size:
            weighted = face_normals(vertices_image, self.triangles, normalise=False)
            normals[self._used] = np.add.reduceat(weighted.take(self._corner_triangle, axis=0), self._starts)
        return _normalise(normals)


def vertex_normals(vertices_image: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``(N, 3)`` unit view-space vertex normals (see :class:`VertexNormals`, which caches the set-up)."""
    return VertexNormals(triangles, len(vertices_image))(vertices_image)


def depth01(depth: np.ndarray) -> np.ndarray:
    """Depth normalised to 0 (farthest) … 1 (nearest) over the given values."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.size == 0:
        return depth
    low, high = float(depth.min()), float(depth.max())
    return (depth - low) / max(high - low, 1e-6)


def shade(normals: np.ndarray) -> np.ndarray:
    """RGB 0–1 ``(..., 3)`` for view-space unit normals: Lambert + Blinn-Phong, lit on both sides."""
    normals = np.where(normals[..., 2:3] < 0, -normals, normals)
    half = _normalise(LIGHT_DIRECTION + np.array([0.0, 0.0, 1.0], dtype=np.float32))
    lambert = np.clip(normals @ LIGHT_DIRECTION, 0.0, None)[..., None]
    highlight = (np.clip(normals @ half, 0.0, None) ** SHININESS)[..., None]
    return np.clip(BASE_COLOUR * (AMBIENT + DIFFUSE * lambert) + SPECULAR * highlight, 0.0, 1.0)


def normal_colours(normals: np.ndarray) -> np.ndarray:
    """RGB 0–1 for view-space unit normals (x → red, y → green, z → blue), lit on both sides."""
    normals = np.where(normals[..., 2:3] < 0, -normals, normals)
    return normals * 0.5 + 0.5


def mesh_edges(triangles: np.ndarray) -> np.ndarray:
    """``(E, 2)`` int32 unique undirected edges of a triangle list."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.sort(edges.astype(np.int64), axis=1)
    keys = np.unique(edges[:, 0] << 32 | edges[:, 1])
    return np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1).astype(np.int32)


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis; zero vectors become ``(0, 0, 1)``."""
    vectors = np.asarray(vectors, dtype=np.float32)
    length = np.sqrt(np.einsum("...i,...i->...", vectors, vectors))[..., None]
    out = vectors / np.maximum(length, 1e-12)
    degenerate = length[..., 0] <= 1e-12
    if degenerate.any():
        out[degenerate] = (0.0, 0.0, 1.0)
    return out
