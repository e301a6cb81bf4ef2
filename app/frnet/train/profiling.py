"""Large-pose training views by 3D face profiling, the way 300W-LP was made (Zhu et al., CVPR 2016).

A mostly frontal context image with fitted parameters is turned into a picture of the same head
turned further away from the camera, with exact new parameters:

1. **3D image meshing** — the fitted dense face mesh (context pixels + depth) is joined to anchor
   points: rings outside the face's outer contour whose depth falls from the contour's depth
   towards a plane behind the head, and points on the image border at that plane's depth. The
   surround is a Delaunay triangulation of the outer contour vertices and the anchors (triangles
   inside the contour dropped); the face keeps its own triangles, and the mouth hole is closed by a
   fan. Every vertex is textured by the context image at its original 2D position.
2. **Rotation** — the face vertices turn rigidly about the head centre (the face centroid moved
   ``HEAD_CENTRE_BEHIND_CENTROID_MM`` back, roughly the neck's axis). Anchors turn about the same
   axis by a share of the angle that falls off with their distance from the face (all of it next
   to the contour, none at the border; sooner on the side the head turns to, which the face will
   cover), as Zhu et al. adjust their anchors so that the background stays put instead of tearing:
   a background plane turned rigidly by 90° would collapse to a line.
3. **Rendering** — orthographic (the labels' own camera), z-buffered, with moderngl on a headless
   EGL context (:class:`ProfileRenderer`; keep one alive across calls). Pixels no triangle covers
   (rare slivers along the contour) are inpainted.
4. **Labels** — the new pose is ``[Q·s·R | Q·(t − c) + c]`` for the rotation ``Q`` about the centre
   ``c`` in crop space, so ``FaceModel.vertices(new_params)`` is exactly the rendered face.
   ``Q = R(yaw+Δyaw, pitch+Δpitch, roll) · R(yaw, pitch, roll)ᵀ``: the Euler yaw (and pitch) change
   by exactly the requested amounts and roll is kept.

Self-occluded parts of the photo come out as stretched texture, which 300W-LP lives with too.

Usage: ``python -m frnet.train.profiling [--limit N] [--views-per-face N]`` writes
``profiled_context.npy`` and ``profiled_labels.npz`` (same keys as ``labels.npz``) and
``profiled_summary.json`` next to the label cache; see :func:`build_profiled`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import moderngl
import numpy as np
from scipy.spatial import Delaunay
from scipy.spatial.transform import Rotation

from .. import geometry
from ..errors import FrnetError, InputError
from ..facemodel import NUM_LANDMARKS, FaceModel, load_face_model
from .labels import CONTEXT_ROI, CONTEXT_SIZE, DEFAULT_DIR

log = logging.getLogger(__name__)

# -- 3D image meshing (model millimetres; converted with the fitted scale) -----------------------
HEAD_CENTRE_BEHIND_CENTROID_MM = 65.0  # rotation centre: the face centroid moved back this far
BACKGROUND_BEHIND_CENTRE_MM = 40.0  # the background plane lies this far behind the rotation centre
RING_DISTANCES_MM = (4.0, 12.0, 24.0, 40.0, 60.0, 85.0, 115.0, 150.0)  # anchor rings beyond the contour
DEPTH_FALLOFF_MM = 70.0  # rings reach the background plane's depth this far from the contour
# Anchors this close to the contour turn with the head, and from the second distance on stay where
# they are. On the side the head turns towards (anchors that would move away from the camera) the
# face soon covers them, so they let go sooner: dragging them along pulls in whatever lies farther
# out (often the black padding beyond the photo's edge).
ROTATE_NEAR_SIDE_MM = (25.0, 70.0)
ROTATE_FAR_SIDE_MM = (10.0, 40.0)
RAYS = 48  # anchor rays around the contour
BORDER_STEP_PX = 16.0  # spacing of the fixed anchors on the image border
DEPTH_RANGE_PX = 4096.0  # |depth| the renderer's z-buffer spans (context pixels)

# -- dataset generation -------------------------------------------------------------------------
MIN_TARGET_YAW_DEG = 30.0
MAX_PITCH_JITTER_DEG = 10.0
PITCH_JITTER_STD_DEG = 4.0
FRONTAL_YAW_DEG = 2.0  # below this the turn's side is drawn at random
# Pose plan with pitch (frnet v2 data): a share of the views keeps the face's yaw and changes only
# its pitch; the others push yaw as before and draw their pitch from a wide range.
PITCH_VIEW_FRACTION = 0.35
WIDE_PITCH_FRACTION = 0.5
PROFILED_CONTEXT_FILE = "profiled_context.npy"
PROFILED_LABELS_FILE = "profiled_labels.npz"
PROFILED_SUMMARY_FILE = "profiled_summary.json"

_VERTEX_SHADER = """
#version 330
uniform vec2 u_size;
uniform float u_depth_range;
in vec3 in_position;  // image pixels (x right, y down, pixel centres on integers), depth towards camera
in vec2 in_uv;
out vec2 v_uv;
void main() {
    v_uv = in_uv;
    // Row 0 of the image goes to NDC y = -1, i.e. the first row read back: no flips anywhere.
    gl_Position = vec4((in_position.xy + 0.5) / u_size * 2.0 - 1.0, -in_position.z / u_depth_range, 1.0);
}
"""
_FRAGMENT_SHADER = """
#version 330
uniform sampler2D u_texture;
in vec2 v_uv;
out vec4 f_colour;
void main() {
    f_colour = vec4(texture(u_texture, v_uv).rgb, 1.0);
}
"""


class ProfilingError(FrnetError):
    """The profiling renderer cannot start, or the face model's mesh cannot be profiled."""


@dataclass(frozen=True)
class RenderResult:
    """One rendered view: ``rgb (H, W, 3)`` uint8, ``covered (H, W)`` bool (a triangle drew there)
    and ``depth (H, W)`` float32 in image-pixel units towards the camera (−inf where uncovered;
    ``None`` unless asked for)."""

    rgb: np.ndarray
    covered: np.ndarray
    depth: np.ndarray | None


class ProfileRenderer:
    """Offscreen z-buffered renderer of textured meshes over a texture of the output's size.

    One headless OpenGL 3.3 context (EGL on Linux) with its buffers, reused across calls; create it
    once per process (and thread) and :meth:`close` it, or use it as a context manager.

    Raises:
        ProfilingError: no OpenGL 3.3 context could be created, or the shaders do not build.
    """

    def __init__(self) -> None:
        failures = []
        self._ctx = None
        for backend in ("egl", None):
            try:
                kwargs = {"require": 330} | ({"backend": backend} if backend else {})
                self._ctx = moderngl.create_standalone_context(**kwargs)
                break
            except Exception as exc:  # glcontext raises plain Exceptions
                failures.append(f"{backend or 'default'}: {exc}")
        if self._ctx is None:
            raise ProfilingError(
                "no headless OpenGL 3.3 context for face profiling (" + "; ".join(failures) + "); "
                "install Mesa's EGL/GL drivers (Debian/Ubuntu: libegl1 libgl1-mesa-dri)"
            )
        try:
            self._program = self._ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        except Exception as exc:  # moderngl.Error with the compiler's log
            self.close()
            raise ProfilingError(f"the profiling shaders do not build on this OpenGL driver: {exc}") from exc
        self._program["u_texture"].value = 0
        self._program["u_depth_range"].value = DEPTH_RANGE_PX
        self._size: tuple[int, int] | None = None
        self._texture = self._framebuffer = self._colour = self._depth = None
        self._vbo = self._ctx.buffer(reserve=1 << 20, dynamic=True)
        self._ibo = self._ctx.buffer(reserve=1 << 20, dynamic=True)
        self._vao = self._ctx.vertex_array(
            self._program, [(self._vbo, "3f 2f", "in_position", "in_uv")],
            index_buffer=self._ibo, index_element_size=4,
        )

    def __enter__(self) -> ProfileRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.release()
            self._ctx = None

    def _ensure_size(self, width: int, height: int) -> None:
        if self._size == (width, height):
            return
        for obj in (self._framebuffer, self._colour, self._depth, self._texture):
            if obj is not None:
                obj.release()
        ctx = self._ctx
        self._texture = ctx.texture((width, height), 3, dtype="f1")
        self._texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._texture.repeat_x = self._texture.repeat_y = False
        self._colour = ctx.renderbuffer((width, height), 4)
        self._depth = ctx.depth_renderbuffer((width, height))
        self._framebuffer = ctx.framebuffer(color_attachments=[self._colour], depth_attachment=self._depth)
        self._program["u_size"].value = (float(width), float(height))
        self._size = (width, height)

    @staticmethod
    def _upload(buffer: moderngl.Buffer, data: bytes) -> None:
        if len(data) > buffer.size:
            buffer.orphan(max(len(data), 2 * buffer.size))
        buffer.write(data)

    def render(self, texture_rgb: np.ndarray, positions_px: np.ndarray, uv: np.ndarray,
               triangles: np.ndarray, with_depth: bool = False) -> RenderResult:
        """Draw ``triangles`` of vertices at ``positions_px (N, 3)`` textured at ``uv (N, 2)`` (0…1,
        row 0 of ``texture_rgb`` at v = 0) into an image of the texture's size. The depth is only
        read back with ``with_depth`` (``None`` otherwise)."""
        if self._ctx is None:
            raise ProfilingError("the profiling renderer was closed")
        height, width = texture_rgb.shape[:2]
        self._ensure_size(width, height)
        self._texture.write(np.ascontiguousarray(texture_rgb, dtype=np.uint8).tobytes())
        vertices = np.concatenate([positions_px, uv], axis=1).astype(np.float32)
        indices = np.ascontiguousarray(triangles, dtype=np.int32)
        self._upload(self._vbo, vertices.tobytes())
        self._upload(self._ibo, indices.tobytes())
        self._framebuffer.use()
        self._framebuffer.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self._ctx.enable(moderngl.DEPTH_TEST)
        self._ctx.disable(moderngl.CULL_FACE)  # folded-over triangles still count; the z-buffer decides
        self._texture.use(0)
        self._vao.render(moderngl.TRIANGLES, vertices=indices.size)
        rgba = np.frombuffer(self._framebuffer.read(components=4, alignment=1), np.uint8).reshape(height, width, 4)
        covered = rgba[..., 3] > 0
        depth = None
        if with_depth:
            window_depth = np.frombuffer(
                self._framebuffer.read(components=1, attachment=-1, dtype="f4", alignment=1), np.float32
            ).reshape(height, width)
            depth = np.where(covered, -(2.0 * window_depth - 1.0) * DEPTH_RANGE_PX, -np.inf).astype(np.float32)
        return RenderResult(rgba[..., :3].copy(), covered, depth)


# -- mesh topology --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Topology:
    outer_loop: np.ndarray  # dense vertex ids of the face's outer contour, in order
    inner_loops: tuple[np.ndarray, ...]  # holes inside the face (the mouth), in order
    triangles: np.ndarray  # (T, 3) int32 dense triangles


def _boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    keys = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    boundary = edges[counts[inverse.reshape(-1)] == 1]
    successor = {int(a): int(b) for a, b in boundary}
    loops, seen = [], set()
    for start in successor:
        if start in seen:
            continue
        loop, vertex = [], start
        while vertex not in seen:
            seen.add(vertex)
            loop.append(vertex)
            vertex = successor[vertex]
        loops.append(np.array(loop, dtype=np.int64))
    return loops


@functools.lru_cache(maxsize=4)
def _topology(face_model: FaceModel) -> _Topology:
    triangles = np.asarray(face_model.render_triangles, dtype=np.int64)
    loops = _boundary_loops(triangles)
    if not loops:
        raise ProfilingError("the face model's render mesh has no boundary; it cannot be profiled")
    mean = face_model.shape(np.zeros(face_model.num_params, np.float32), dense=True)[:, :2]

    def area(loop: np.ndarray) -> float:
        x, y = mean[loop, 0], mean[loop, 1]
        return 0.5 * abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1)))

    loops.sort(key=area, reverse=True)
    return _Topology(loops[0], tuple(loops[1:]), triangles.astype(np.int32))


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of ``points (P, 2)`` against a closed ``polygon (K, 2)``."""
    a, b = polygon[None, :, :], np.roll(polygon, -1, axis=0)[None, :, :]
    px, py = points[:, None, 0], points[:, None, 1]
    straddles = (a[..., 1] > py) != (b[..., 1] > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = a[..., 0] + (py - a[..., 1]) * (b[..., 0] - a[..., 0]) / (b[..., 1] - a[..., 1])
    return (straddles & (px < cross_x)).sum(axis=1) % 2 == 1


def _smoothstep_down(distance: np.ndarray, start: float, end: float) -> np.ndarray:
    """1 up to ``start``, 0 from ``end``, a smooth (cosine) fall in between."""
    x = np.clip((distance - start) / max(end - start, 1e-9), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


# -- pixel ↔ crop space ----------------------------------------------------------------------------
def _image_to_crop_space(points_px: np.ndarray) -> np.ndarray:
    """Context pixels (x, y down, depth) → crop space of ``CONTEXT_ROI`` (y up)."""
    return geometry.crop_space_to_crop_pixels(geometry.image_to_crop(points_px, CONTEXT_ROI))


def _crop_space_to_image(points: np.ndarray) -> np.ndarray:
    return geometry.crop_to_image(geometry.crop_space_to_crop_pixels(points), CONTEXT_ROI)


def profile_rotation(params: np.ndarray, delta_yaw_deg: float, delta_pitch_deg: float = 0.0) -> np.ndarray:
    """The crop-space rotation ``Q`` that changes the Euler yaw and pitch of ``params`` by the deltas.

    ``Q = R(yaw+Δyaw, pitch+Δpitch, roll) · R(yaw, pitch, roll)ᵀ``; the identity for zero deltas.
    """
    if delta_yaw_deg == 0.0 and delta_pitch_deg == 0.0:
        return np.eye(3)
    _, rotation, _ = geometry.decompose_pose(geometry.pose_matrix(np.asarray(params, np.float64)))
    yaw, pitch, roll = geometry.euler_from_rotation(rotation)
    target = geometry.rotation_from_euler(yaw + np.radians(delta_yaw_deg), pitch + np.radians(delta_pitch_deg), roll)
    return target @ geometry.rotation_from_euler(yaw, pitch, roll).T


def rotate_params(params: np.ndarray, rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Compose a crop-space rotation about ``centre (3,)`` (crop space, y up) into the pose."""
    params = np.asarray(params)
    if np.array_equal(rotation, np.eye(3)):
        return params.astype(np.float32, copy=True)
    pose = geometry.pose_matrix(params.astype(np.float64))
    new_pose = np.concatenate([rotation @ pose[:, :3], (rotation @ (pose[:, 3] - centre) + centre)[:, None]], axis=1)
    out = np.array(params, dtype=np.float32, copy=True)
    out[:geometry.NUM_POSE_PARAMS] = new_pose.reshape(-1)
    return out


def head_centre(params: np.ndarray, face_model: FaceModel, dense_shape: np.ndarray | None = None) -> np.ndarray:
    """The rotation centre in crop space (y up): the face centroid moved back towards the neck.

    ``dense_shape`` is ``face_model.shape(params, dense=True)`` when the caller has it already.
    """
    params = np.asarray(params, np.float64)
    if dense_shape is None:
        dense_shape = face_model.shape(params, dense=True)
    centre_model = np.asarray(dense_shape, np.float64).mean(axis=0)
    centre_model[2] -= HEAD_CENTRE_BEHIND_CENTROID_MM
    pose = geometry.pose_matrix(params)
    return pose[:, :3] @ centre_model + pose[:, 3]


# -- the profiling step ------------------------------------------------------------------------------
def _anchors(contour_px: np.ndarray, mm_to_px: float, background_depth_px: float, size: int):
    """Ring and border anchors: ``(positions (A, 3) context px, distance beyond the contour (A,) mm)``."""
    centre = contour_px[:, :2].mean(axis=0)
    pick = np.linspace(0, len(contour_px), RAYS, endpoint=False).astype(int)
    base = contour_px[pick]
    direction = base[:, :2] - centre
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-6)
    distances = np.asarray(RING_DISTANCES_MM)
    xy = base[None, :, :2] + direction[None] * (distances[:, None, None] * mm_to_px)
    depth_weight = _smoothstep_down(distances, 0.0, DEPTH_FALLOFF_MM)[:, None]
    z = background_depth_px + (base[None, :, 2] - background_depth_px) * depth_weight
    ring = np.concatenate([xy, z[..., None]], axis=-1).reshape(-1, 3)
    ring_mm = np.repeat(distances, RAYS)
    margin = 0.25 * BORDER_STEP_PX
    keep = np.all((ring[:, :2] > margin - 0.5) & (ring[:, :2] < size - 0.5 - margin), axis=1)
    keep &= ~_inside_polygon(ring[:, :2], contour_px[:, :2])
    ring, ring_mm = ring[keep], ring_mm[keep]
    # The image border (pixel edges at −0.5 and size − 0.5), fixed, at the background's depth.
    steps = np.linspace(-0.5, size - 0.5, max(2, int(round(size / BORDER_STEP_PX)) + 1))
    lo, hi = np.full_like(steps, -0.5), np.full_like(steps, size - 0.5)
    border = np.unique(np.concatenate([np.stack([steps, lo], 1), np.stack([steps, hi], 1),
                                       np.stack([lo, steps], 1), np.stack([hi, steps], 1)]), axis=0)
    border = np.concatenate([border, np.full((len(border), 1), background_depth_px)], axis=1)
    return np.concatenate([ring, border]), np.concatenate([ring_mm, np.full(len(border), np.inf)])


def profile_face(context_rgb: np.ndarray, params: np.ndarray, face_model: FaceModel, delta_yaw_deg: float,
                 delta_pitch_deg: float = 0.0, renderer: ProfileRenderer | None = None):
    """Turn the fitted head in a context image by Δyaw (and Δpitch) and re-render it.

    Args:
        context_rgb: ``(S, S, 3)`` uint8 RGB context image (``S = CONTEXT_SIZE``).
        params: ``(62,)`` parameters relative to ``CONTEXT_ROI`` of that image.
        face_model: the model the parameters belong to.
        delta_yaw_deg: change of the Euler yaw, degrees (positive turns the nose towards the
            image's right, see :mod:`frnet.geometry`). The final |yaw| should stay ≤ 90°.
        delta_pitch_deg: change of the Euler pitch, degrees (positive tilts the nose down).
        renderer: a :class:`ProfileRenderer` to reuse; ``None`` creates and closes one (slow).

    Returns:
        ``(new_context_rgb (S, S, 3) uint8, new_params (62,) float32)`` with
        ``face_model.vertices(new_params)`` on the rendered face; zero deltas give back the
        parameters unchanged.

    Raises:
        ValueError: wrong image or parameter shapes.
    """
    context_rgb = np.asarray(context_rgb)
    if context_rgb.ndim != 3 or context_rgb.shape[2] != 3 or context_rgb.shape[0] != context_rgb.shape[1]:
        raise ValueError(f"expected a square (S, S, 3) RGB context image, got shape {context_rgb.shape}")
    if context_rgb.shape[0] != CONTEXT_SIZE:
        raise ValueError(f"expected a {CONTEXT_SIZE}×{CONTEXT_SIZE} context image, got {context_rgb.shape[:2]}")
    params = np.asarray(params, dtype=np.float32)
    if params.shape != (face_model.num_params,):
        raise ValueError(f"expected ({face_model.num_params},) parameters, got shape {params.shape}")
    if renderer is None:
        with ProfileRenderer() as own:
            return profile_face(context_rgb, params, face_model, delta_yaw_deg, delta_pitch_deg, own)

    size = context_rgb.shape[0]
    topology = _topology(face_model)
    rotation = profile_rotation(params, delta_yaw_deg, delta_pitch_deg)
    dense_shape = face_model.shape(params, dense=True)  # the same for old and new parameters
    centre = head_centre(params, face_model, dense_shape)
    new_params = rotate_params(params, rotation, centre)
    # What face_model.vertices(params) computes, without rebuilding the shape for each pose.
    old_face = geometry.crop_to_image(geometry.model_to_crop(dense_shape, geometry.pose_matrix(params)), CONTEXT_ROI)
    new_face = geometry.crop_to_image(geometry.model_to_crop(dense_shape, geometry.pose_matrix(new_params)),
                                      CONTEXT_ROI)
    # Mouth (and any other inner hole): a fan around the loop's centroid, rigid with the face.
    fan_old = [old_face[loop].mean(axis=0) for loop in topology.inner_loops]
    fan_new = [new_face[loop].mean(axis=0) for loop in topology.inner_loops]
    num_face = len(old_face)
    fan_triangles = []
    for k, loop in enumerate(topology.inner_loops):
        hub = num_face + k
        fan_triangles.append(np.stack([loop, np.roll(loop, -1), np.full(len(loop), hub)], axis=1))
    num_rigid = num_face + len(fan_old)

    # Anchors around the outer contour (context pixels, depth towards the camera).
    scale, _, _ = geometry.decompose_pose(geometry.pose_matrix(params.astype(np.float64)))
    crop_to_context = (CONTEXT_ROI[2] - CONTEXT_ROI[0]) / geometry.CROP_SIZE
    mm_to_px = float(scale) * crop_to_context
    background_depth = (centre[2] - BACKGROUND_BEHIND_CENTRE_MM * float(scale)) * crop_to_context
    contour = old_face[topology.outer_loop]
    anchors_old, anchors_mm = _anchors(contour, mm_to_px, background_depth, size)

    # Anchors turn about the same axis by a share of the angle that falls off away from the face.
    anchors_new = anchors_old.copy()
    if not np.array_equal(rotation, np.eye(3)):
        rotvec = Rotation.from_matrix(rotation).as_rotvec()
        local = _image_to_crop_space(anchors_old) - centre
        # How far the full turn moves an anchor away from the camera, relative to its distance from
        # the centre and to the largest such move: 1 on the far side, 0 on the near side.
        recede = (local[:, 2] - local @ rotation[2]) / np.maximum(np.linalg.norm(local, axis=1), 1e-6)
        largest = max(np.sin(min(np.linalg.norm(rotvec), np.pi / 2)), 1e-3)
        far_side = np.clip(0.5 + recede / (2 * largest), 0.0, 1.0)
        share = ((1 - far_side) * _smoothstep_down(anchors_mm, *ROTATE_NEAR_SIDE_MM)
                 + far_side * _smoothstep_down(anchors_mm, *ROTATE_FAR_SIDE_MM))
        moving = share > 0
        partial = Rotation.from_rotvec(share[moving, None] * rotvec[None]).as_matrix()
        anchors_new[moving] = _crop_space_to_image(np.einsum("nij,nj->ni", partial, local[moving]) + centre)

    # Surround: Delaunay of the contour and the anchors, minus what lies inside the contour.
    points_2d = np.concatenate([contour[:, :2], anchors_old[:, :2]])
    surround = Delaunay(points_2d).simplices
    centroids = points_2d[surround].mean(axis=1)
    surround = surround[~_inside_polygon(centroids, contour[:, :2])]
    to_global = np.concatenate([topology.outer_loop, num_rigid + np.arange(len(anchors_old))])
    surround = to_global[surround]

    positions = np.concatenate([new_face, np.reshape(fan_new, (-1, 3)), anchors_new])
    uv_px = np.concatenate([old_face, np.reshape(fan_old, (-1, 3)), anchors_old])[:, :2]
    triangles = np.concatenate([topology.triangles, *fan_triangles, surround]).astype(np.int32)
    result = renderer.render(context_rgb, positions, (uv_px + 0.5) / size, triangles)
    image = result.rgb
    if not result.covered.all():
        image = cv2.inpaint(image, (~result.covered).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return image, new_params


# -- dataset generation ----------------------------------------------------------------------------
def plan_views(yaw_deg: np.ndarray, views_per_face: int, max_yaw_deg: float, rng: np.random.Generator):
    """Target yaws (degrees, signed) for each face: ``(F, V)``, plus pitch deltas ``(F, V)``.

    |yaw| targets are stratified over ``[max(MIN_TARGET_YAW_DEG, |yaw|), max_yaw_deg]`` (one draw per
    stratum), on the side the face already looks to (random for near-frontal faces), so a face is
    only ever turned further away from the camera.
    """
    yaw_deg = np.asarray(yaw_deg, np.float64)
    low = np.minimum(np.maximum(MIN_TARGET_YAW_DEG, np.abs(yaw_deg)), max_yaw_deg)
    strata = (np.arange(views_per_face)[None, :] + rng.random((len(yaw_deg), views_per_face))) / views_per_face
    target_abs = low[:, None] + (max_yaw_deg - low[:, None]) * strata
    side = np.where(np.abs(yaw_deg) > FRONTAL_YAW_DEG, np.sign(yaw_deg), rng.choice([-1.0, 1.0], len(yaw_deg)))
    pitch = np.clip(rng.normal(0.0, PITCH_JITTER_STD_DEG, target_abs.shape),
                    -MAX_PITCH_JITTER_DEG, MAX_PITCH_JITTER_DEG)
    return side[:, None] * target_abs, pitch


def plan_views_pitch(yaw_deg: np.ndarray, pitch_deg: np.ndarray, views_per_face: int, max_yaw_deg: float,
                     max_pitch_deg: float, rng: np.random.Generator):
    """Target yaws ``(F, V)`` and pitch *deltas* ``(F, V)`` covering yaw and pitch.

    A share ``PITCH_VIEW_FRACTION`` of the views keeps the face's yaw (± a few degrees) and draws its
    target pitch uniformly in ``±max_pitch_deg``; the others push yaw as :func:`plan_views` does, with
    a target pitch drawn uniformly in ``±max_pitch_deg`` for ``WIDE_PITCH_FRACTION`` of them and the
    small jitter otherwise. Final pitches stay within ``±max_pitch_deg`` (the labels' Euler pitch).
    """
    yaw_deg, pitch_deg = np.asarray(yaw_deg, np.float64), np.asarray(pitch_deg, np.float64)
    targets, jitter = plan_views(yaw_deg, views_per_face, max_yaw_deg, rng)
    shape = targets.shape
    pitch_view = rng.random(shape) < PITCH_VIEW_FRACTION
    keep_yaw = np.clip(yaw_deg[:, None] + rng.normal(0, 3.0, shape), -max_yaw_deg, max_yaw_deg)
    targets = np.where(pitch_view, keep_yaw, targets)
    wide = pitch_view | (rng.random(shape) < WIDE_PITCH_FRACTION)
    target_pitch = np.where(wide, rng.uniform(-max_pitch_deg, max_pitch_deg, shape),
                            np.clip(pitch_deg[:, None] + jitter, -max_pitch_deg, max_pitch_deg))
    return targets, target_pitch - pitch_deg[:, None]


def build_profiled(dataset_dir: str | Path = DEFAULT_DIR, views_per_face: int = 2, max_yaw_deg: float = 90.0,
                   seed: int = 0, limit: int | None = None, face_model: FaceModel | None = None,
                   max_pitch_deg: float | None = None, prefix: str = "", out_prefix: str | None = None) -> dict:
    """Profile every sample of the label cache into large-yaw views; returns a summary dict.

    Training samples give training views and validation samples a separate validation set (same
    ``split``, ``synthetic = True``), so evaluation can report large-yaw accuracy on held-out
    persons. Writes ``profiled_context.npy``, ``profiled_labels.npz`` (the keys of ``labels.npz``;
    ``name`` suffixed ``@yaw<deg>``, ``human68`` NaN) and ``profiled_summary.json`` atomically.

    Raises:
        InputError: the label cache is missing or inconsistent.
    """
    dataset_dir = Path(dataset_dir)
    out_prefix = prefix if out_prefix is None else out_prefix
    labels_path, context_path = dataset_dir / f"{prefix}labels.npz", dataset_dir / f"{prefix}context.npy"
    if not labels_path.exists() or not context_path.exists():
        raise InputError(f"{labels_path} / {context_path} missing: build them with python -m frnet.train.labels")
    with np.load(labels_path, allow_pickle=False) as data:
        labels = {key: data[key] for key in data.files}
    contexts = np.load(context_path, mmap_mode="r")
    if contexts.shape[0] != len(labels["params"]) or contexts.shape[1:] != (CONTEXT_SIZE, CONTEXT_SIZE, 3):
        raise InputError(f"{context_path} {contexts.shape} does not match {labels_path} "
                         f"({len(labels['params'])} samples): rebuild with python -m frnet.train.labels")
    face_model = face_model or load_face_model()
    picked = np.arange(len(contexts))
    if limit:
        picked = picked[:: max(1, len(picked) // limit)][:limit]
    rng = np.random.default_rng(seed)
    if max_pitch_deg is None:
        targets, pitches = plan_views(labels["yaw_deg"][picked], views_per_face, max_yaw_deg, rng)
    else:
        pitch_now = np.degrees(face_model.euler_angles(labels["params"][picked])[:, 1])
        targets, pitches = plan_views_pitch(labels["yaw_deg"][picked], pitch_now, views_per_face, max_yaw_deg,
                                            max_pitch_deg, rng)
    num_views = targets.size

    out_context = dataset_dir / (out_prefix + PROFILED_CONTEXT_FILE)
    tmp_context = out_context.with_name(out_context.name + ".part")
    images = np.lib.format.open_memmap(tmp_context, mode="w+", dtype=np.uint8,
                                       shape=(num_views, CONTEXT_SIZE, CONTEXT_SIZE, 3))
    new_params = np.zeros((num_views, face_model.num_params), np.float32)
    origin = np.repeat(picked, views_per_face)
    started = time.perf_counter()
    with ProfileRenderer() as renderer:
        view = 0
        for row, index in enumerate(picked):
            params = labels["params"][index]
            yaw_now = float(np.degrees(face_model.euler_angles(params)[0]))
            context = np.asarray(contexts[index])
            for target, pitch in zip(targets[row], pitches[row]):
                images[view], new_params[view] = profile_face(context, params, face_model, target - yaw_now,
                                                              float(pitch), renderer)
                view += 1
            if (row + 1) % 500 == 0:
                elapsed = time.perf_counter() - started
                log.info("%d/%d faces, %.1f ms/view, %.0f s left", row + 1, len(picked),
                         1000 * elapsed / view, elapsed / view * (num_views - view))
    images.flush()
    del images
    seconds = time.perf_counter() - started
    tmp_context.replace(out_context)

    yaw = np.degrees(face_model.euler_angles(new_params)[:, 0]).astype(np.float32)
    names = np.array([f"{labels['name'][i]}@yaw{y:+.0f}" for i, y in zip(origin, yaw)])
    out = {
        "params": new_params,
        "human68": np.full((num_views, NUM_LANDMARKS, 2), np.nan, np.float32),
        "visibility": np.zeros((num_views, NUM_LANDMARKS), np.int8),
        "yaw_deg": yaw,
        "synthetic": np.ones(num_views, bool),
        "name": names,
    }
    for key, values in labels.items():
        if key not in out:
            out[key] = values[origin]
    out_labels = dataset_dir / (out_prefix + PROFILED_LABELS_FILE)
    tmp_labels = out_labels.with_name(out_labels.name + ".part")
    with open(tmp_labels, "wb") as handle:
        np.savez(handle, **out)
    tmp_labels.replace(out_labels)

    edges = np.arange(0, 100, 10)
    split = out["split"]
    summary = {
        "views": int(num_views), "faces": int(len(picked)), "views_per_face": views_per_face,
        "train": int((split == "train").sum()), "val": int((split == "val").sum()),
        "abs_yaw_histogram_deg": {f"{lo}-{lo + 10}": int(c) for lo, c in
                                  zip(edges[:-1], np.histogram(np.abs(yaw), edges)[0])},
        "real_abs_yaw_histogram_deg": {f"{lo}-{lo + 10}": int(c) for lo, c in
                                       zip(edges[:-1], np.histogram(np.abs(labels["yaw_deg"]), edges)[0])},
        "seconds": round(seconds, 1),
        "ms_per_view": round(1000 * seconds / max(num_views, 1), 2),
        "origin_index": origin.tolist(),
        "seed": seed, "max_yaw_deg": max_yaw_deg, "max_pitch_deg": max_pitch_deg,
        "yaw_pitch_histogram": yaw_pitch_histogram(new_params, face_model),
        "source_yaw_pitch_histogram": yaw_pitch_histogram(labels["params"][picked], face_model),
    }
    summary_path = dataset_dir / (out_prefix + PROFILED_SUMMARY_FILE)
    tmp_summary = summary_path.with_name(summary_path.name + ".part")
    tmp_summary.write_text(json.dumps(summary, indent=1))
    tmp_summary.replace(summary_path)
    return summary


YAW_EDGES_DEG = (-90, -60, -30, 0, 30, 60, 90)
PITCH_EDGES_DEG = (-90, -45, -30, -15, 0, 15, 30, 45, 90)


def yaw_pitch_histogram(params: np.ndarray, face_model: FaceModel) -> dict:
    """Counts per (yaw bin, pitch bin) of parameters, degrees; rows yaw, columns pitch."""
    angles = np.degrees(face_model.euler_angles(np.asarray(params)))
    counts = np.histogram2d(np.clip(angles[:, 0], -89.9, 89.9), np.clip(angles[:, 1], -89.9, 89.9),
                            [YAW_EDGES_DEG, PITCH_EDGES_DEG])[0].astype(int)
    return {"yaw_edges_deg": list(YAW_EDGES_DEG), "pitch_edges_deg": list(PITCH_EDGES_DEG), "counts": counts.tolist()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Synthesise large-yaw training views by 3D face profiling.")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DIR, help="label cache directory")
    parser.add_argument("--views-per-face", type=int, default=2)
    parser.add_argument("--max-yaw", type=float, default=90.0, help="largest |yaw| in degrees")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="profile only this many faces")
    parser.add_argument("--max-pitch", type=float, default=None,
                        help="also vary pitch up to this |pitch| in degrees (v2 data; default: yaw only)")
    parser.add_argument("--prefix", default="", help="label cache prefix, e.g. real2d_ for frnet.train.real_labels")
    parser.add_argument("--out-prefix", default=None, help="output file prefix (default: --prefix)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        summary = build_profiled(args.dataset, args.views_per_face, args.max_yaw, args.seed, args.limit,
                                 max_pitch_deg=args.max_pitch, prefix=args.prefix, out_prefix=args.out_prefix)
    except FrnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary.pop("origin_index")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
