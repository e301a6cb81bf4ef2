"""Unwrap a photo onto frnet's UV layout: one face's texture, with per-texel visibility and fill.

For every texel of the layout (:mod:`frnet.uv`) the fitted dense mesh says where it lies in the
photo and how well the photo sees it:

* **visibility** — the surface normal's component towards the camera (grazing and back-facing
  surface gets little or no weight), a depth test against the mesh's own depth buffer (the nose
  hides part of the far cheek), and the position inside the image;
* **mirror fill** — the layout is left/right symmetric, so the texture flipped left↔right is the
  mirrored face; texels the photo does not see take their mirror texel's colour where that is seen,
  and so do texels seen at a grazing angle whose mirror texel faces the camera much better;
* **smooth fill** — what neither side shows (and the space around the chart, so filtering never
  bleeds a foreign colour in) is filled by pull-push interpolation of the seen colours.

The texture is RGB uint8 with row 0 at the top (``v = 1``). Pure numpy + OpenCV, CPU only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .uv import UVLayout

TEXTURE_SIZES = (256, 512, 1024, 2048)
DEFAULT_TEXTURE_SIZE = 1024
# Texel weight from the normal's cosine towards the camera: 0 below FACING_LOW, 1 above FACING_HIGH.
FACING_LOW, FACING_HIGH = 0.15, 0.45
# A texel is hidden when the depth buffer is nearer than it by more than this share of the face width.
DEPTH_TOLERANCE = 0.02
# The photo's own colour gives way to the mirrored side's as the mirror texel faces the camera this
# much more (difference of the normals' cosines towards the camera).
MIRROR_ADVANTAGE_LOW, MIRROR_ADVANTAGE_HIGH = 0.3, 0.6
# The depth buffer used for visibility has at most this many pixels on its longer side.
DEPTH_BUFFER_MAX_PX = 1024
# Texels this close to the face's outline or an occluding contour in the photo (share of the face width) fade out.
SILHOUETTE_FADE = 0.03
# Texels seen with at least this weight seed the smooth fill.
FILL_SEED_WEIGHT = 0.5
# Seen texels this close (share of the texture size) to a hidden region fade out, so a fitting error at
# the silhouette cannot bring background colours in.
EDGE_FADE = 0.012


@dataclass(frozen=True, eq=False)
class FaceTexture:
    """One face's texture and how each texel got its colour.

    Attributes:
        image: ``(S, S, 3)`` uint8 RGB, row 0 at the top (``v = 1``).
        photo_weight: ``(S, S)`` float32 in [0, 1]: the share of the photo's own colour.
        mirror_weight: ``(S, S)`` float32: the share taken from the mirrored side.
        chart: ``(S, S)`` bool, texels covered by the mesh.
    """

    image: np.ndarray
    photo_weight: np.ndarray
    mirror_weight: np.ndarray
    chart: np.ndarray

    @property
    def fill_weight(self) -> np.ndarray:
        """The share of the smooth fill (1 outside the chart)."""
        return np.clip(1.0 - self.photo_weight - self.mirror_weight, 0.0, 1.0)


# ---------------------------------------------------------------------------------- rasterization


def rasterize(points_xy: np.ndarray, triangles: np.ndarray, height: int, width: int,
              order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which triangle covers each pixel, and where in it.

    Triangles are drawn in ``order`` (default: as given), later ones over earlier ones (the
    painter's algorithm; pass the triangles sorted far to near for a depth buffer).
    Pixel ``(row, col)`` has its centre at ``x = col, y = row``.

    Returns:
        ``triangle_id`` ``(H, W)`` int32 (-1: none) and ``barycentric`` ``(H, W, 3)`` float32
        (clipped to the triangle; zeros where none).
    """
    points = np.asarray(points_xy, dtype=np.float64)[:, :2]
    triangles = np.asarray(triangles, dtype=np.int64)
    shift = 4  # 1/16-pixel vertex precision
    fixed = np.round(points * (1 << shift)).astype(np.int32)
    ids = np.zeros((height, width, 3), np.uint8)
    for t in (range(len(triangles)) if order is None else order):
        code = int(t) + 1
        cv2.fillConvexPoly(ids, fixed[triangles[t]], (code & 255, (code >> 8) & 255, code >> 16),
                           lineType=cv2.LINE_8, shift=shift)
    triangle_id = (ids[..., 0].astype(np.int32) | (ids[..., 1].astype(np.int32) << 8)
                   | (ids[..., 2].astype(np.int32) << 16)) - 1
    barycentric = np.zeros((height, width, 3), np.float32)
    rows, cols = np.nonzero(triangle_id >= 0)
    if len(rows):
        barycentric[rows, cols] = barycentric_coordinates(
            points, triangles[triangle_id[rows, cols]], np.stack([cols, rows], axis=1).astype(np.float64))
    return triangle_id, barycentric


def barycentric_coordinates(points: np.ndarray, triangles: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Barycentric coordinates ``(M, 3)`` of ``query`` points ``(M, 2)`` in triangles ``(M, 3)`` of
    ``points``, clipped to the triangle (pixels drawn on an edge stay inside)."""
    a, b, c = (points[triangles[:, k], :2] for k in range(3))
    v0, v1, v2 = b - a, c - a, query - a
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    det = np.where(np.abs(det) < 1e-12, 1e-12, det)
    beta = (v2[:, 0] * v1[:, 1] - v2[:, 1] * v1[:, 0]) / det
    gamma = (v0[:, 0] * v2[:, 1] - v0[:, 1] * v2[:, 0]) / det
    weights = np.clip(np.stack([1.0 - beta - gamma, beta, gamma], axis=1), 0.0, 1.0)
    return (weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)


def uv_to_texel(uv: np.ndarray, size: int) -> np.ndarray:
    """UVs (origin bottom-left, v up) → texel coordinates (x right, y down; centres at integers)."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5], axis=1)


@lru_cache(maxsize=4)
def _texel_raster(uv_bytes: bytes, triangles_bytes: bytes, size: int):
    uv = np.frombuffer(uv_bytes, np.float32).reshape(-1, 2)
    triangles = np.frombuffer(triangles_bytes, np.int64).reshape(-1, 3)
    triangle_id, barycentric = rasterize(uv_to_texel(uv, size), triangles, size, size)
    rows, cols = np.nonzero(triangle_id >= 0)
    return triangle_id, rows, cols, barycentric[rows, cols]


def texel_raster(uv: np.ndarray, triangles: np.ndarray, size: int):
    """The UV layout drawn at ``size``² (cached): ``(triangle_id (S, S), rows, cols, barycentric (M, 3))``
    for the ``M`` covered texels."""
    return _texel_raster(np.ascontiguousarray(uv, np.float32).tobytes(),
                         np.ascontiguousarray(triangles, np.int64).tobytes(), int(size))


# ------------------------------------------------------------------------------------------ helpers


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit area-weighted vertex normals ``(N, 3)`` of a right-handed mesh (CCW = front);
    a vertex without area gets ``(0, 0, 1)``."""
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    face_normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                            vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 1e-12, normals / np.maximum(length, 1e-12), np.array([0.0, 0.0, 1.0]))
    return normals


def _smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def pull_push_fill(colour: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill ``colour`` ``(S, S, C)`` float where ``weight`` ``(S, S)`` in [0, 1] is low by
    multi-resolution weighted averaging (pull-push): smooth, and exact where the weight is 1."""
    levels = [(colour * weight[..., None], weight.astype(np.float64))]
    while min(levels[-1][1].shape) > 1:
        premultiplied, w = levels[-1]
        h, wid = w.shape
        size = (max(wid // 2, 1), max(h // 2, 1))
        factor = (h * wid) / (size[0] * size[1])
        coarse_w = cv2.resize(w, size, interpolation=cv2.INTER_AREA) * factor
        coarse_c = cv2.resize(premultiplied, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1) * factor
        scale = np.where(coarse_w > 1.0, 1.0 / np.maximum(coarse_w, 1e-12), 1.0)
        levels.append((coarse_c * scale[..., None], np.minimum(coarse_w, 1.0)))
    premultiplied, w = levels[-1]
    filled = premultiplied / np.maximum(w, 1e-12)[..., None]
    for premultiplied, w in reversed(levels[:-1]):
        h, wid = w.shape
        up = cv2.resize(filled, (wid, h), interpolation=cv2.INTER_LINEAR).reshape(h, wid, -1)
        filled = premultiplied + (1.0 - w)[..., None] * up
    return filled


# --------------------------------------------------------------------------------------- extraction


def extract_texture(image_rgb: np.ndarray, vertices_image: np.ndarray, triangles: np.ndarray,
                    layout: UVLayout, size: int = DEFAULT_TEXTURE_SIZE) -> FaceTexture:
    """Unwrap ``image_rgb`` into a ``size``² texture of the face fitted as ``vertices_image``.

    Args:
        image_rgb: ``(H, W, 3)`` uint8 photo.
        vertices_image: ``(N, 3)`` dense (or base) mesh in image pixels: x right, y down, depth
            larger = nearer (a :class:`frnet.pipeline.FaceResult`'s ``vertices``).
        triangles: the mesh's triangles (counter-clockwise seen from the front).
        layout: the UV layout; it must have a mesh with ``N`` vertices.
        size: texture side in texels (one of :data:`TEXTURE_SIZES`).

    Raises:
        ValueError: wrong shapes or size.
    """
    if size not in TEXTURE_SIZES:
        raise ValueError(f"texture size must be one of {TEXTURE_SIZES}, not {size}")
    vertices = np.asarray(vertices_image, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must have shape (N, 3), not {vertices.shape}")
    if not (image_rgb.ndim == 3 and image_rgb.shape[2] == 3 and image_rgb.dtype == np.uint8):
        raise ValueError("the image must be an H×W×3 uint8 RGB array")
    triangles = np.asarray(triangles, dtype=np.int64)
    uv = layout.for_vertices(len(vertices))
    height, width = image_rgb.shape[:2]
    triangle_id, rows, cols, bary = texel_raster(uv, triangles, size)
    corners = triangles[triangle_id[rows, cols]]  # (M, 3) vertex ids of each covered texel's triangle

    def interpolate(per_vertex: np.ndarray) -> np.ndarray:
        return np.einsum("mk,mk...->m...", bary, per_vertex[corners])

    # Where each texel lies in the photo, and how much it faces the camera (y flipped: right-handed).
    position = interpolate(vertices)  # (M, 3) x, y, depth
    facing = interpolate(vertex_normals(vertices * np.array([1.0, -1.0, 1.0]), triangles)[:, 2])

    # Depth buffer of the face in the photo (painter's algorithm, far to near), over its bounding box,
    # at most DEPTH_BUFFER_MAX_PX on its longer side (all of it in that buffer's pixels).
    low = np.floor(vertices[:, :2].min(axis=0)) - 1
    extent = np.ceil(vertices[:, :2].max(axis=0)) + 2 - low
    scale = min(1.0, DEPTH_BUFFER_MAX_PX / float(extent.max()))
    local = np.column_stack([(vertices[:, :2] - low) * scale, vertices[:, 2] * scale])
    buffer_w, buffer_h = (np.ceil(extent * scale).astype(int) + 1).tolist()
    order = np.argsort(local[triangles, 2].mean(axis=1))
    buffer_id, buffer_bary = rasterize(local, triangles, buffer_h, buffer_w, order=order)
    covered_px = buffer_id >= 0
    depth_buffer = np.einsum("hwk,hwk->hw", buffer_bary, local[triangles[np.maximum(buffer_id, 0)], 2])
    face_width = float(np.ptp(local[:, 0]))
    tolerance = DEPTH_TOLERANCE * face_width
    farthest = float(depth_buffer[covered_px].min()) if covered_px.any() else 0.0
    depth_buffer = np.where(covered_px, depth_buffer, farthest - 10 * face_width - 1).astype(np.float32)
    texel_px = np.column_stack([(position[:, :2] - low) * scale, position[:, 2] * scale])
    px = np.clip(np.round(texel_px[:, 0]).astype(int), 0, buffer_w - 1)
    py = np.clip(np.round(texel_px[:, 1]).astype(int), 0, buffer_h - 1)
    unoccluded = texel_px[:, 2] >= depth_buffer[py, px] - tolerance
    inside = ((position[:, 0] >= 0) & (position[:, 0] <= width - 1)
              & (position[:, 1] >= 0) & (position[:, 1] <= height - 1))
    # Near the face's outline in the photo and its inner occluding contours (the nose against the far
    # cheek) a small fitting error samples what lies behind: the background, hair. Fade texels out
    # towards those contours: pixels whose depth drops steeply to a neighbour (or to no face at all).
    padded = np.pad(depth_buffer, 1, constant_values=float(depth_buffer.min()))  # beyond the box: no face
    step = padded - cv2.erode(padded, np.ones((3, 3), np.uint8))
    contour = (step > tolerance)[1:-1, 1:-1]
    to_outline = cv2.distanceTransform((~contour).astype(np.uint8), cv2.DIST_L2, 3)
    silhouette = _smoothstep(to_outline[py, px], 0.0, SILHOUETTE_FADE * face_width)

    seen = np.zeros((size, size), np.float32)
    seen[rows, cols] = (_smoothstep(facing, FACING_LOW, FACING_HIGH) * silhouette * unoccluded * inside
                        ).astype(np.float32)
    chart = triangle_id >= 0
    # Where the mirrored side is seen much more frontally, trust it over a grazing view of this side
    # (the far side of a turned face is where a fit error shows the background or hair).
    facing_map = np.full((size, size), -1.0, np.float32)
    facing_map[rows, cols] = facing
    advantage = np.where(chart & np.fliplr(chart), np.fliplr(facing_map) - facing_map, 0.0)
    seen *= 1.0 - _smoothstep(advantage, MIRROR_ADVANTAGE_LOW, MIRROR_ADVANTAGE_HIGH)
    # Fade out near what is not seen (the silhouette, occlusion borders): fitting errors live there.
    fade_px = max(1, int(round(EDGE_FADE * size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * fade_px + 1, 2 * fade_px + 1))
    seen_hard = ((seen > 0.5) | ~chart).astype(np.uint8)  # outside the chart does not count as hidden
    interior = cv2.erode(seen_hard, kernel).astype(np.float32)
    photo_weight = np.minimum(seen, cv2.GaussianBlur(interior, (0, 0), fade_px / 2.0)) * chart

    map_x = np.zeros((size, size), np.float32)
    map_y = np.zeros((size, size), np.float32)
    map_x[rows, cols], map_y[rows, cols] = position[:, 0], position[:, 1]
    photo = cv2.remap(image_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)

    # Mirror fill: the layout is symmetric, so the flipped texture is the mirrored face.
    mirrored_weight = np.fliplr(photo_weight) * chart
    mirror_weight = (1.0 - photo_weight) * mirrored_weight
    covered = photo_weight + mirror_weight
    blended = (photo * photo_weight[..., None] + np.fliplr(photo) * mirror_weight[..., None]) / \
        np.maximum(covered, 1e-6)[..., None]
    # The fill is seeded by confidently seen texels only: pull-push normalises, so where only faint,
    # faded samples (a grazing view, the silhouette) exist they would set the colour on their own.
    fill = pull_push_fill(blended, np.where(covered > FILL_SEED_WEIGHT, covered, 0.0))
    # Partly seen texels lean towards the fill (the square): uncertain photo colours stay faint.
    keep = covered ** 2
    result = blended * keep[..., None] + fill * (1.0 - keep)[..., None]
    share = keep / np.maximum(covered, 1e-6)  # of the final colour, per source
    return FaceTexture(image=np.clip(np.round(result), 0, 255).astype(np.uint8),
                       photo_weight=(photo_weight * share).astype(np.float32),
                       mirror_weight=(mirror_weight * share).astype(np.float32), chart=chart)


def remap_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples ``(M, C)`` of ``image`` at pixel positions ``x``, ``y`` ``(M,)`` (border
    replicated); any ``M`` (OpenCV's remap takes at most 32,767 per side)."""
    count = len(x)
    width = 1024
    rows = max(1, -(-count // width))
    map_x = np.zeros(rows * width, np.float32)
    map_y = np.zeros(rows * width, np.float32)
    map_x[:count], map_y[:count] = x, y
    out = cv2.remap(image, map_x.reshape(rows, width), map_y.reshape(rows, width), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * width, -1)[:count]


def sample_texture(texture_rgb: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """RGBA uint8 ``(N, 4)`` colours of a texture (row 0 at the top) at UVs ``(N, 2)`` (bilinear)."""
    size_y, size_x = texture_rgb.shape[:2]
    uv = np.asarray(uv, dtype=np.float64)
    rgb = remap_points(texture_rgb, uv[:, 0] * size_x - 0.5, (1.0 - uv[:, 1]) * size_y - 0.5)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], axis=1)
