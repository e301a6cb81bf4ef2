"""Temporal smoothing (frnet.smoothing): noise is removed on still faces, steady motion is followed
without lag, identity is averaged over the track, and the presets are what the CLI offers.

The faces are the shipped face model's landmarks for known parameters (relative to a fixed
640-px frame ROI, as the pipeline feeds the smoother), with Gaussian noise on the parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from frnet import geometry
from frnet.pipeline import PipelineOptions
from frnet.smoothing import DEFAULT_SMOOTHING, SMOOTHING_LEVELS, FaceSmoother

FPS = 30.0
FRAME_ROI = np.array([0.0, 0.0, 640.0, 640.0])


def base_params(face_model, seed: int = 0) -> np.ndarray:
    """A frontal face ≈ 120 px wide in the middle of the 640-px frame ROI."""
    rng = np.random.default_rng(seed)
    rotation = geometry.rotation_from_euler(*np.radians([10.0, 5.0, 3.0]))
    pose = geometry.compose_pose(np.float64(0.12), rotation, np.array([60.0, 60.0, 0.0]))
    coeffs = rng.normal(0.0, 0.5, face_model.num_identity + face_model.num_expression)
    return np.concatenate([pose.reshape(-1), coeffs])


def points(face_model, params: np.ndarray) -> np.ndarray:
    return geometry.crop_to_image(face_model.landmarks68(params.astype(np.float32)), FRAME_ROI)[:, :2]


def run(face_model, truth: np.ndarray, noise_px: float, level: str, seed: int = 1,
        identity_noise: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, raw and smoothed landmarks (T, 68, 2) for parameter sequences ``truth`` (T, 62)."""
    rng = np.random.default_rng(seed)
    smoother = FaceSmoother(SMOOTHING_LEVELS[level], face_model.num_identity)
    crop_px = FRAME_ROI[2] / geometry.CROP_SIZE  # image pixels per crop-space unit
    truth_pts, raw_pts, smooth_pts = [], [], []
    for k, params in enumerate(truth):
        noisy = params.copy()
        noisy[[3, 7]] += rng.normal(0.0, noise_px / crop_px, 2)  # translation x, y
        noisy[:3] *= 1 + rng.normal(0.0, 0.004)  # scale
        noisy[12 + face_model.num_identity:] += rng.normal(0.0, 0.05, face_model.num_expression)
        noisy[12:12 + face_model.num_identity] += rng.normal(0.0, identity_noise, face_model.num_identity)
        raw = points(face_model, noisy)
        smoothed = smoother(noisy, raw, k / FPS)
        truth_pts.append(points(face_model, params))
        raw_pts.append(raw)
        smooth_pts.append(points(face_model, smoothed))
    return np.asarray(truth_pts), np.asarray(raw_pts), np.asarray(smooth_pts)


def error(pts: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pts - truth, axis=-1).mean(axis=-1)


def second_difference(pts: np.ndarray) -> float:
    return float(np.linalg.norm(pts[2:] - 2 * pts[1:-1] + pts[:-2], axis=-1).mean())


def translated(face_model, speed_px_s: float, frames: int = 90) -> np.ndarray:
    base = base_params(face_model)
    crop_px = FRAME_ROI[2] / geometry.CROP_SIZE
    seq = np.repeat(base[None], frames, axis=0)
    seq[:, 3] += speed_px_s * np.arange(frames) / FPS / crop_px
    seq[:, 7] -= 0.5 * speed_px_s * np.arange(frames) / FPS / crop_px  # crop space is y up
    return seq


@pytest.mark.parametrize(("level", "max_jitter_ratio"), [("light", 0.7), ("strong", 0.5)])
def test_still_face_jitter_drops_and_error_is_lower(face_model, level, max_jitter_ratio):
    """0.3 px of noise on a ≈ 100 px face: about what the shipped network shows on a still face."""
    truth, raw, smoothed = run(face_model, translated(face_model, 0.0), noise_px=0.3, level=level)
    assert second_difference(smoothed[10:]) < max_jitter_ratio * second_difference(raw[10:])
    assert error(smoothed, truth)[10:].mean() < 0.8 * error(raw, truth)[10:].mean()


@pytest.mark.parametrize("level", ["light", "strong"])
def test_steady_fast_motion_is_followed_without_lag(face_model, level):
    """≈ 3 face widths per second: a plain low-pass would trail by several pixels."""
    truth, raw, smoothed = run(face_model, translated(face_model, 360.0), noise_px=0.3, level=level)
    settled = slice(15, None)
    assert error(smoothed, truth)[settled].mean() < error(raw, truth)[settled].mean()
    # no systematic offset along the motion
    direction = np.array([1.0, 0.5]) / np.linalg.norm([1.0, 0.5])
    behind = ((truth - smoothed).mean(axis=1) @ direction)[settled].mean()
    assert abs(behind) < 0.5  # pixels


def test_a_sudden_stop_settles_within_a_few_frames(face_model):
    seq = translated(face_model, 360.0, frames=60)
    seq[30:] = seq[30]
    truth, raw, smoothed = run(face_model, seq, noise_px=0.0, level=DEFAULT_SMOOTHING)
    overshoot = error(smoothed, truth)
    assert overshoot[36:].max() < 1.0  # pixels, on a ≈ 120 px face


def test_identity_is_averaged_over_the_track(face_model):
    seq = translated(face_model, 0.0)
    truth, raw, smoothed = run(face_model, seq, noise_px=0.0, level="light", identity_noise=0.3)
    assert error(smoothed, truth)[20:].mean() < 0.5 * error(raw, truth)[20:].mean()


def test_first_sample_and_a_time_step_backwards_pass_through(face_model):
    smoother = FaceSmoother(SMOOTHING_LEVELS["light"], face_model.num_identity)
    params = base_params(face_model)
    np.testing.assert_array_equal(smoother(params, points(face_model, params), 1.0), params)
    moved = params.copy()
    moved[3] += 5.0
    np.testing.assert_array_equal(smoother(moved, points(face_model, moved), 0.5), moved)  # a restart


def test_pipeline_options_take_the_level_names_and_booleans():
    assert PipelineOptions(smoothing=True).smoothing == DEFAULT_SMOOTHING
    assert PipelineOptions(smoothing=False).smoothing == "none"
    assert PipelineOptions(smoothing="strong").smoothing == "strong"
    assert set(SMOOTHING_LEVELS) == {"none", "light", "strong"} and SMOOTHING_LEVELS["none"] is None
    with pytest.raises(ValueError, match="smoothing must be one of"):
        PipelineOptions(smoothing="heavy")
