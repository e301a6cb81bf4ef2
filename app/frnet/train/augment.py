"""Training augmentation with exact label updates.

Every geometric change is one 2D similarity of the crop (ROI jitter like a detector's box, in-plane
rotation) plus an optional horizontal flip; the 62 parameters are transformed with it in closed form,
so augmented labels stay exact. Photometric changes (colour, blur, occlusion) leave labels alone.

Pixel convention (OpenCV's ``warpAffine``): crop pixel index ``i`` sits at coordinate ``u = i``, so a
horizontal flip of a 120-pixel crop maps ``u → 119 - u``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..facemodel import LANDMARKS68_FLIP, FaceModel
from ..geometry import CROP_SIZE


@dataclass(frozen=True)
class AugmentConfig:
    scale_range: tuple[float, float] = (0.88, 1.18)  # ROI side relative to the landmark ROI
    shift_fraction: float = 0.08  # ROI centre jitter, fraction of the side (uniform, per axis)
    rotation_deg: float = 25.0  # in-plane rotation, uniform in ±rotation_deg
    flip_probability: float = 0.5
    colour_probability: float = 0.8
    grayscale_probability: float = 0.08
    blur_probability: float = 0.2
    occlusion_probability: float = 0.25
    noise_probability: float = 0.15
    # Context pixels beyond the source photo are exactly black (tight crops such as UTKFace's);
    # refill them so "black next to the face" never becomes a cue (e.g. for profiled views).
    padding_fill_probability: float = 0.7


def similarity_2d(scale: float, angle_rad: float, src_center, dst_center) -> np.ndarray:
    """2×3 matrix (y-down pixels): rotate by ``angle_rad`` (counter-clockwise as seen), scale, recentre."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    # Counter-clockwise on screen with y down is the matrix [[c, s], [-s, c]].
    linear = scale * np.array([[c, s], [-s, c]])
    offset = np.asarray(dst_center, float) - linear @ np.asarray(src_center, float)
    return np.concatenate([linear, offset[:, None]], axis=1)


def transform_params(params: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Parameters after the crop-pixel similarity ``matrix`` (2×3, y down) is applied to the image.

    In y-up crop space (``Y = CROP_SIZE - v``) the same map is ``F·L·F`` with ``F = diag(1, -1)``;
    depth scales with the same factor, so the 3D pose becomes ``diag3(F L F, |det L|^½)·P`` plus a shift.
    """
    params = np.array(params, dtype=np.float64, copy=True)
    linear, offset = matrix[:, :2], matrix[:, 2]
    flip = np.diag([1.0, -1.0])
    linear_up = flip @ linear @ flip
    # (u, Y) → q_up = F(L(u, C - Y) + b) + (0, C)  ⇒  q_up = Lup (u, Y) + F L (0, C) + F b + (0, C)
    offset_up = flip @ linear @ np.array([0.0, CROP_SIZE]) + flip @ offset + np.array([0.0, CROP_SIZE])
    scale = np.sqrt(abs(np.linalg.det(linear)))
    lift = np.eye(3)
    lift[:2, :2] = linear_up
    lift[2, 2] = scale
    pose = params[:12].reshape(3, 4)
    new_pose = lift @ pose
    new_pose[:2, 3] += offset_up
    params[:12] = new_pose.reshape(-1)
    return params.astype(np.float32)


def mirror_coefficient_matrix(model: FaceModel) -> np.ndarray:
    """``A`` with ``α_mirrored = A·α``: the shape-coefficient map of a left↔right mirrored face."""
    if model.mirror_index is None:
        raise ValueError("this face model has no mirror map; flipping needs one")
    basis = model._scaled_basis.astype(np.float64)  # (3N, K)
    per_vertex = basis.reshape(-1, 3, basis.shape[1])
    mirrored = per_vertex[model.mirror_index] * np.array([-1.0, 1.0, 1.0])[None, :, None]
    solution, *_ = np.linalg.lstsq(basis, mirrored.reshape(basis.shape), rcond=None)
    return solution


def flip_params(params: np.ndarray, mirror_matrix: np.ndarray) -> np.ndarray:
    """Parameters of the horizontally flipped crop (``u → CROP_SIZE - 1 - u``)."""
    params = np.array(params, dtype=np.float64, copy=True)
    pose = params[:12].reshape(3, 4)
    mirror = np.diag([-1.0, 1.0, 1.0])
    new_pose = np.empty_like(pose)
    new_pose[:, :3] = mirror @ pose[:, :3] @ mirror
    new_pose[:, 3] = mirror @ pose[:, 3] + np.array([CROP_SIZE - 1.0, 0.0, 0.0])
    params[:12] = new_pose.reshape(-1)
    params[12:] = mirror_matrix @ params[12:]
    return params.astype(np.float32)


def flip_landmarks(landmarks_xy: np.ndarray) -> np.ndarray:
    out = landmarks_xy[LANDMARKS68_FLIP].copy()
    out[:, 0] = CROP_SIZE - 1.0 - out[:, 0]
    return out


class Augmenter:
    """Turns (context image, params, human68) into a random (crop, params, human68) training sample."""

    def __init__(self, model: FaceModel, context_roi: np.ndarray, config: AugmentConfig = AugmentConfig()):
        self.config = config
        self.context_roi = np.asarray(context_roi, dtype=np.float64)
        self.mirror_matrix = mirror_coefficient_matrix(model)

    def geometric(self, rng: np.random.Generator, train: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
        """Returns (context→crop matrix, crop→crop matrix, flip?) for one sample."""
        x0, y0, x1, y1 = self.context_roi
        side = x1 - x0
        to_crop = np.array([[CROP_SIZE / side, 0, -x0 * CROP_SIZE / side], [0, CROP_SIZE / side, -y0 * CROP_SIZE / side]])
        if not train:
            return to_crop, np.array([[1.0, 0, 0], [0, 1.0, 0]]), False
        cfg = self.config
        scale = 1.0 / rng.uniform(*cfg.scale_range)
        angle = np.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
        shift = rng.uniform(-cfg.shift_fraction, cfg.shift_fraction, size=2) * CROP_SIZE
        centre = np.array([CROP_SIZE / 2, CROP_SIZE / 2])
        jitter = similarity_2d(scale, angle, centre + shift, centre)
        return to_crop, jitter, rng.random() < cfg.flip_probability

    def __call__(self, context: np.ndarray, params: np.ndarray, human68_ctx: np.ndarray,
                 rng: np.random.Generator, train: bool = True, point_weights: np.ndarray | None = None):
        """One sample; with ``point_weights`` ``(68,)`` (per-landmark label weights) they are
        returned as a fourth item, permuted like the landmarks when the crop is flipped."""
        to_crop, jitter, flip = self.geometric(rng, train)
        full = np.vstack([jitter, [0, 0, 1]]) @ np.vstack([to_crop, [0, 0, 1]])
        crop = cv2.warpAffine(context, full[:2], (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        new_params = transform_params(params, jitter)
        human = np.asarray(human68_ctx, dtype=np.float64)
        human = human @ full[:2, :2].T + full[:2, 2]
        if flip:
            crop = crop[:, ::-1]
            new_params = flip_params(new_params, self.mirror_matrix)
            human = flip_landmarks(human)
            if point_weights is not None:
                point_weights = np.asarray(point_weights)[LANDMARKS68_FLIP]
        if train:
            crop = self.photometric(np.ascontiguousarray(crop), rng)
        if point_weights is not None:
            return np.ascontiguousarray(crop), new_params, human.astype(np.float32), point_weights
        return np.ascontiguousarray(crop), new_params, human.astype(np.float32)

    def photometric(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        img = crop.astype(np.float32)
        padding = crop.max(axis=2) == 0
        if padding.mean() > 0.02 and rng.random() < cfg.padding_fill_probability:
            fill = rng.uniform(0, 255, size=3) + rng.normal(0, rng.uniform(0, 40), size=img.shape)
            img[padding] = fill[padding]
        if rng.random() < cfg.colour_probability:
            img = img * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)  # contrast, brightness
            gray = img.mean(axis=2, keepdims=True)
            img = gray + (img - gray) * rng.uniform(0.5, 1.5)  # saturation
            img = img * rng.uniform(0.9, 1.1, size=3)  # white balance
        if rng.random() < cfg.grayscale_probability:
            img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
        if rng.random() < cfg.blur_probability:
            k = int(rng.choice([3, 5, 7]))
            img = cv2.GaussianBlur(img, (k, k), 0)
        if rng.random() < cfg.noise_probability:
            img = img + rng.normal(0, rng.uniform(2, 12), img.shape)
        if rng.random() < cfg.occlusion_probability:
            h = int(rng.uniform(0.15, 0.45) * CROP_SIZE)
            w = int(rng.uniform(0.15, 0.45) * CROP_SIZE)
            y = int(rng.uniform(0, CROP_SIZE - h))
            x = int(rng.uniform(0, CROP_SIZE - w))
            if rng.random() < 0.5:
                img[y:y + h, x:x + w] = rng.uniform(0, 255, size=3)
            else:
                img[y:y + h, x:x + w] = rng.uniform(0, 255, size=(h, w, 3))
        return np.clip(img, 0, 255).astype(np.uint8)
