"""Pose and projection math shared by the face model, the runtime and training (numpy; OpenCV
only for the bulk point transform of the dense mesh).

Conventions (the 3DDFA ones, written out):

* **Model space** — millimetres, right-handed: +x towards the image's right, +y up, +z out of the
  face towards the camera. The nose tip of a frontal face points along +z.
* **Pose** — the first 12 of the 62 parameters are a 3×4 matrix ``P = [s·R | t]`` (row-major) that
  takes model points to *crop space*: ``X' = s·R·X + t``, still y-up, in pixels of the 120×120 crop.
* **Crop pixels** — ``u = X'_x``, ``v = CROP_SIZE - X'_y`` (image rows grow downwards), ``z = X'_z``.
* **Image pixels** — the crop is a square ``roi_box = (x0, y0, x1, y1)`` of the frame, so
  ``x = x0 + u·(x1-x0)/CROP_SIZE`` and likewise for y; depth is scaled by the same factor.
* **Euler angles** (radians) — ``R = Rz(roll) · Ry(yaw) · Rx(pitch)``. Positive yaw turns the nose
  towards the image's right, positive pitch tilts it down, positive roll turns the face
  counter-clockwise as seen in the image.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

CROP_SIZE = 120
NUM_POSE_PARAMS = 12


def rotation_from_euler(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` from angles in radians (see the module's conventions)."""
    yaw, pitch, roll = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (yaw, pitch, roll)))
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    zeros, ones = np.zeros_like(yaw), np.ones_like(yaw)
    rx = np.stack([ones, zeros, zeros, zeros, cp, -sp, zeros, sp, cp], -1).reshape(*yaw.shape, 3, 3)
    ry = np.stack([cy, zeros, sy, zeros, ones, zeros, -sy, zeros, cy], -1).reshape(*yaw.shape, 3, 3)
    rz = np.stack([cr, -sr, zeros, sr, cr, zeros, zeros, zeros, ones], -1).reshape(*yaw.shape, 3, 3)
    return rz @ ry @ rx


def euler_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """``(..., 3)`` angles ``(yaw, pitch, roll)`` in radians from rotation matrices ``(..., 3, 3)``.

    Yaw is in [-π/2, π/2]; at gimbal lock (|yaw| = 90°) roll is set to 0 and pitch absorbs it.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape == (3, 3):  # one face per frame in the runtime: the same formulas on floats
        (r00, _, _), (r10, r11, r12), (r20, r21, r22) = rotation.tolist()
        sin_yaw = min(1.0, max(-1.0, -r20))
        if abs(sin_yaw) > 1.0 - 1e-9:
            return np.array([math.asin(sin_yaw), math.atan2(-r12, r11), 0.0])
        return np.array([math.asin(sin_yaw), math.atan2(r21, r22), math.atan2(r10, r00)])
    sin_yaw = np.clip(-rotation[..., 2, 0], -1.0, 1.0)
    yaw = np.arcsin(sin_yaw)
    locked = np.abs(sin_yaw) > 1.0 - 1e-9
    pitch = np.where(
        locked,
        np.arctan2(-rotation[..., 1, 2], rotation[..., 1, 1]),
        np.arctan2(rotation[..., 2, 1], rotation[..., 2, 2]),
    )
    roll = np.where(locked, 0.0, np.arctan2(rotation[..., 1, 0], rotation[..., 0, 0]))
    return np.stack([yaw, pitch, roll], axis=-1)


def pose_matrix(params: np.ndarray) -> np.ndarray:
    """The ``(..., 3, 4)`` pose ``[s·R | t]`` held in the first 12 parameters."""
    params = np.asarray(params)
    return params[..., :NUM_POSE_PARAMS].reshape(*params.shape[:-1], 3, 4)


def decompose_pose(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``[s·R | t]`` into scale ``(...)``, a proper rotation ``(..., 3, 3)`` and ``t (..., 3)``.

    A network's ``s·R`` is never exactly a scaled rotation, so the rotation is the nearest one
    (polar decomposition through the SVD) and the scale the mean singular value.
    """
    pose = np.asarray(pose, dtype=np.float64)
    scaled_rotation = pose[..., :3]
    u, singular, vt = np.linalg.svd(scaled_rotation)
    det = np.linalg.det(u @ vt)
    fix = np.ones_like(singular)
    fix[..., 2] = np.sign(det) + (det == 0)
    rotation = (u * fix[..., None, :]) @ vt
    return singular.mean(axis=-1), rotation, pose[..., 3]


def compose_pose(scale: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """``[s·R | t]`` as ``(..., 3, 4)``; the inverse of :func:`decompose_pose`."""
    scale = np.asarray(scale, dtype=np.float64)
    scaled = np.asarray(rotation, dtype=np.float64) * scale[..., None, None]
    return np.concatenate([scaled, np.asarray(translation, dtype=np.float64)[..., :, None]], axis=-1)


def model_to_crop(points_model: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Model-space points ``(..., N, 3)`` → crop pixels ``(..., N, 3)`` (u, v, depth; v down)."""
    pose = np.asarray(pose)
    moved = points_model @ np.swapaxes(pose[..., :3], -1, -2) + pose[..., None, :, 3]
    return crop_space_to_crop_pixels(moved)


def crop_space_to_crop_pixels(points: np.ndarray) -> np.ndarray:
    """Flip y-up crop space to y-down crop pixels (its own inverse)."""
    out = np.array(points, dtype=np.result_type(points, np.float32), copy=True)
    out[..., 1] = CROP_SIZE - out[..., 1]
    return out


def crop_to_image(points_crop: np.ndarray, roi_box: np.ndarray) -> np.ndarray:
    """Crop pixels ``(..., N, 2|3)`` → image pixels for square ROI boxes ``(..., 4)`` = x0, y0, x1, y1."""
    roi_box = np.asarray(roi_box, dtype=np.float64)
    scale = (roi_box[..., 2] - roi_box[..., 0]) / CROP_SIZE
    out = np.array(points_crop, dtype=np.float64, copy=True)
    out[..., 0] = roi_box[..., 0, None] + out[..., 0] * scale[..., None]
    out[..., 1] = roi_box[..., 1, None] + out[..., 1] * scale[..., None]
    if out.shape[-1] > 2:
        out[..., 2] *= scale[..., None]
    return out


def model_to_image_matrix(pose: np.ndarray, roi_box: np.ndarray) -> np.ndarray:
    """The ``(3, 4)`` affine map from model space to image pixels for one face: :func:`model_to_crop`
    followed by :func:`crop_to_image` as one matrix, so a dense mesh is mapped in one pass
    (``points @ m[:, :3].T + m[:, 3]``)."""
    pose = np.asarray(pose, dtype=np.float64)
    x0, y0, x1, _ = (float(v) for v in roi_box)
    scale = (x1 - x0) / CROP_SIZE
    flip = np.array([scale, -scale, scale])[:, None]  # crop space is y up, pixels y down
    matrix = pose * flip
    matrix[:, 3] += (x0, y0 + scale * CROP_SIZE, 0.0)
    return matrix


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``points (N, 3) @ matrix[:, :3].T + matrix[:, 3]`` for a ``(3, 4)`` affine map, in float32.

    One pass of OpenCV's ``transform`` (≈ 2× numpy's matmul-and-add for the 7,152 dense vertices,
    which the runtime maps every frame)."""
    points = np.ascontiguousarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"expected (N, 3) points, got {points.shape}")
    if not len(points):
        return points.copy()
    return cv2.transform(points[:, None, :], np.asarray(matrix, dtype=np.float64)).reshape(-1, 3)


def image_to_crop(points_image: np.ndarray, roi_box: np.ndarray) -> np.ndarray:
    """Image pixels → crop pixels; the inverse of :func:`crop_to_image`."""
    roi_box = np.asarray(roi_box, dtype=np.float64)
    scale = CROP_SIZE / (roi_box[..., 2] - roi_box[..., 0])
    out = np.array(points_image, dtype=np.float64, copy=True)
    out[..., 0] = (out[..., 0] - roi_box[..., 0, None]) * scale[..., None]
    out[..., 1] = (out[..., 1] - roi_box[..., 1, None]) * scale[..., None]
    if out.shape[-1] > 2:
        out[..., 2] *= scale[..., None]
    return out


def similarity_procrustes(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None):
    """Best ``s, R, t`` with ``s·R·source + t ≈ target`` for point sets ``(N, D)`` (Umeyama 1991).

    Returns ``(scale, rotation (D, D), translation (D,))``; the rotation is proper (det = +1).
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    w = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = w @ source
    mu_t = w @ target
    src = source - mu_s
    tgt = target - mu_t
    cov = (tgt * w[:, None]).T @ src
    u, singular, vt = np.linalg.svd(cov)
    d = np.ones(len(singular))
    d[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = (u * d) @ vt
    var_s = w @ (src**2).sum(axis=1)
    scale = (singular * d).sum() / var_s
    translation = mu_t - scale * rotation @ mu_s
    return scale, rotation, translation
