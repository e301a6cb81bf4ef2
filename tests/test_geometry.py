"""Pose, projection and crop math: Euler angles, sign conventions, pose (de)composition, crop ↔ image
mappings, similarity Procrustes and the ROI helpers of :mod:`frnet.crop`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frnet import geometry
from frnet.crop import reroi_params, roi_from_landmarks
from frnet.facemodel import load_face_model

DEG = np.pi / 180
# Yaw where euler_from_rotation switches to its gimbal-lock branch: sin(yaw) > 1 - 1e-9.
LOCK_MARGIN_RAD = np.arccos(1 - 1e-9) + 1e-7  # ≈ 4.5e-5 rad ≈ 0.0026°

angles_deg = st.floats(-179.0, 179.0, allow_nan=False)
yaws_deg = st.floats(-89.9, 89.9, allow_nan=False)


def random_rotations(count: int, seed: int = 0) -> np.ndarray:
    """Uniformly distributed proper rotations (from normalised Gaussian quaternions)."""
    q = np.random.default_rng(seed).normal(size=(count, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(count, 3, 3)


def random_square_rois(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0, y0 = rng.uniform(-50, 600, (2, count))
    side = rng.uniform(20, 500, count)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=-1)


# -- Euler angles ------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, database=None)  # no .hypothesis/ folder in the checkout
@given(yaws_deg, angles_deg, angles_deg)
def test_euler_round_trip_recovers_angles(yaw_deg, pitch_deg, roll_deg):
    angles = np.radians([yaw_deg, pitch_deg, roll_deg])
    rotation = geometry.rotation_from_euler(*angles)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(geometry.euler_from_rotation(rotation), angles, atol=1e-9)


def test_euler_round_trip_on_random_rotations_reproduces_the_matrix():
    rotations = random_rotations(500)
    angles = geometry.euler_from_rotation(rotations)
    assert angles.shape == (500, 3)
    assert np.all(np.abs(angles[:, 0]) <= np.pi / 2) and np.all(np.abs(angles[:, 1:]) <= np.pi)
    np.testing.assert_allclose(geometry.rotation_from_euler(*angles.T), rotations, atol=1e-9)


@pytest.mark.parametrize("yaw_sign", [1.0, -1.0])
@pytest.mark.parametrize("offset_rad", [0.0, 1e-7, 1e-5, 1e-3, 1e-2])
@pytest.mark.parametrize("pitch_roll_deg", [(0.0, 0.0), (17.0, -11.0), (-40.0, 25.0)])
def test_euler_near_ninety_degree_yaw(yaw_sign, offset_rad, pitch_roll_deg):
    """At |yaw| = 90° only pitch ∓ roll is defined: the matrix must still round-trip (to within
    ~cos(yaw), the size of the term the gimbal-lock branch drops) and yaw must come back."""
    yaw = yaw_sign * (np.pi / 2 - offset_rad)
    pitch, roll = np.radians(pitch_roll_deg)
    rotation = geometry.rotation_from_euler(yaw, pitch, roll)
    angles = geometry.euler_from_rotation(rotation)
    assert np.all(np.isfinite(angles))
    assert angles[0] == pytest.approx(yaw, abs=1e-4)
    np.testing.assert_allclose(geometry.rotation_from_euler(*angles), rotation, atol=1e-4)
    if offset_rad > LOCK_MARGIN_RAD:  # outside the lock branch: every angle is recovered
        np.testing.assert_allclose(angles, [yaw, pitch, roll], atol=1e-6)


def test_euler_is_batched():
    angles = np.radians(np.stack(np.meshgrid(np.arange(-80, 81, 20), np.arange(-60, 61, 30),
                                             np.arange(-45, 46, 15), indexing="ij"), -1))
    rotations = geometry.rotation_from_euler(angles[..., 0], angles[..., 1], angles[..., 2])
    assert rotations.shape == (*angles.shape[:-1], 3, 3)
    np.testing.assert_allclose(geometry.euler_from_rotation(rotations), angles, atol=1e-9)


# -- sign conventions --------------------------------------------------------------------------------
def test_positive_yaw_turns_the_nose_to_plus_x():
    nose = geometry.rotation_from_euler(0.3, 0.0, 0.0) @ np.array([0.0, 0.0, 1.0])
    assert nose[0] > 0.25 and nose[2] > 0.9


def test_positive_pitch_tilts_the_nose_down_and_roll_is_counter_clockwise():
    nose = geometry.rotation_from_euler(0.0, 0.3, 0.0) @ np.array([0.0, 0.0, 1.0])
    assert nose[1] < -0.25  # y up: the nose points down
    x_axis = geometry.rotation_from_euler(0.0, 0.0, 0.3) @ np.array([1.0, 0.0, 0.0])
    assert x_axis[1] > 0.25  # the face's +x end rises: counter-clockwise as seen in the image


def _pose_params(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, scale: float = 0.6,
                 translation=(60.0, 60.0, 0.0), num_coeffs: int = 50) -> np.ndarray:
    pose = geometry.compose_pose(scale, geometry.rotation_from_euler(yaw, pitch, roll), np.array(translation))
    return np.concatenate([pose.reshape(-1), np.zeros(num_coeffs)]).astype(np.float32)


def test_nose_tip_projects_right_for_positive_yaw_and_down_for_positive_pitch():
    model = load_face_model()
    nose_tip = int(np.argmax(model.mean_shape[:, 2]))  # frontal nose tip: the point nearest the camera
    frontal = model.vertices(_pose_params(), dense=False)
    turned = model.vertices(_pose_params(yaw=30 * DEG), dense=False)
    tilted = model.vertices(_pose_params(pitch=20 * DEG), dense=False)
    # Frontal: the nose tip sits near the horizontal middle of the face.
    centre_u = frontal[:, 0].mean()
    assert abs(frontal[nose_tip, 0] - centre_u) < 2.0
    assert turned[nose_tip, 0] - turned[:, 0].mean() > 5.0  # image right (u grows to the right)
    assert tilted[nose_tip, 1] - frontal[nose_tip, 1] > 3.0  # image down (v grows downwards)
    euler = model.euler_angles(_pose_params(yaw=30 * DEG, pitch=-10 * DEG, roll=5 * DEG))
    np.testing.assert_allclose(euler, np.radians([30, -10, 5]), atol=1e-5)


def test_model_to_crop_flips_y_and_keeps_depth():
    pose = geometry.compose_pose(2.0, np.eye(3), np.array([60.0, 60.0, 5.0]))
    points = np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 3.0]])
    np.testing.assert_allclose(geometry.model_to_crop(points, pose), [[60, 60, 5], [80, 40, 11]])
    crop_space = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(
        geometry.crop_space_to_crop_pixels(geometry.crop_space_to_crop_pixels(crop_space)), crop_space)


# -- pose ----------------------------------------------------------------------------------------------
def test_compose_decompose_round_trip():
    rng = np.random.default_rng(1)
    rotations = random_rotations(64, seed=1)
    scales = rng.uniform(0.05, 3.0, 64)
    translations = rng.normal(60, 30, (64, 3))
    pose = geometry.compose_pose(scales, rotations, translations)
    assert pose.shape == (64, 3, 4)
    scale, rotation, translation = geometry.decompose_pose(pose)
    np.testing.assert_allclose(scale, scales, rtol=1e-12)
    np.testing.assert_allclose(rotation, rotations, atol=1e-12)
    np.testing.assert_allclose(translation, translations)
    params = np.concatenate([pose.reshape(64, 12), np.zeros((64, 50))], axis=1)
    np.testing.assert_array_equal(geometry.pose_matrix(params), pose)


def test_decompose_projects_a_noisy_scaled_rotation_to_a_proper_rotation():
    rng = np.random.default_rng(2)
    rotations = random_rotations(32, seed=2)
    noisy = 0.7 * rotations + rng.normal(0, 0.01, rotations.shape)
    pose = np.concatenate([noisy, np.zeros((32, 3, 1))], axis=-1)
    scale, rotation, _ = geometry.decompose_pose(pose)
    np.testing.assert_allclose(rotation @ np.swapaxes(rotation, -1, -2), np.broadcast_to(np.eye(3), (32, 3, 3)),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotation), 1.0)
    np.testing.assert_allclose(scale, 0.7, atol=0.03)
    assert np.abs(rotation - rotations).max() < 0.1


# -- crop ↔ image ----------------------------------------------------------------------------------
def test_crop_to_image_corners():
    roi = np.array([100.0, 50.0, 340.0, 290.0])  # side 240: 2 image pixels per crop pixel
    corners = np.array([[0.0, 0.0, 10.0], [120.0, 120.0, -3.0], [60.0, 30.0, 0.0]])
    np.testing.assert_allclose(geometry.crop_to_image(corners, roi),
                               [[100, 50, 20], [340, 290, -6], [220, 110, 0]])


@pytest.mark.parametrize("dims", [2, 3])
def test_crop_to_image_and_image_to_crop_are_inverse(dims):
    rng = np.random.default_rng(dims)
    rois = random_square_rois(16, seed=dims)
    points = rng.uniform(-20, 140, (16, 68, dims))
    image = geometry.crop_to_image(points, rois)
    assert image.shape == points.shape
    np.testing.assert_allclose(geometry.image_to_crop(image, rois), points, atol=1e-9)
    np.testing.assert_allclose(geometry.crop_to_image(geometry.image_to_crop(points, rois), rois), points, atol=1e-9)


def test_model_to_image_matrix_equals_model_to_crop_then_crop_to_image():
    rng = np.random.default_rng(5)
    points = rng.normal(0, 60, (50, 3))
    pose = geometry.compose_pose(np.array(0.8), geometry.rotation_from_euler(0.3, -0.2, 0.1), np.array([61.0, 58.0, 3.0]))
    roi = np.array([140.5, 80.25, 470.5, 410.25])
    expected = geometry.crop_to_image(geometry.model_to_crop(points, pose), roi)
    matrix = geometry.model_to_image_matrix(pose, roi)
    np.testing.assert_allclose(points @ matrix[:, :3].T + matrix[:, 3], expected, atol=1e-9)


# -- Procrustes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_similarity_procrustes_recovers_a_known_transform(weighted):
    rng = np.random.default_rng(3)
    source = rng.normal(0, 50, (468, 3))
    rotation = random_rotations(1, seed=4)[0]
    scale, translation = 0.63, np.array([61.0, 58.0, -4.0])
    target = scale * source @ rotation.T + translation
    weights = rng.uniform(0.1, 2.0, len(source)) if weighted else None
    s, r, t = geometry.similarity_procrustes(source, target, weights)
    assert s == pytest.approx(scale, rel=1e-10)
    np.testing.assert_allclose(r, rotation, atol=1e-10)
    np.testing.assert_allclose(t, translation, atol=1e-8)


def test_similarity_procrustes_returns_a_proper_rotation_for_a_reflected_target_and_2d():
    rng = np.random.default_rng(5)
    source = rng.normal(0, 10, (50, 3))
    _, rotation, _ = geometry.similarity_procrustes(source, source * np.array([-1.0, 1.0, 1.0]))
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    source_2d = rng.normal(0, 10, (30, 2))
    angle = 0.4
    rot_2d = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    s, r, t = geometry.similarity_procrustes(source_2d, 1.5 * source_2d @ rot_2d.T + [3.0, -2.0])
    assert s == pytest.approx(1.5) and np.allclose(r, rot_2d) and np.allclose(t, [3.0, -2.0])


# -- frnet.crop --------------------------------------------------------------------------------------
def test_roi_from_landmarks_is_square_and_frames_the_landmarks():
    rng = np.random.default_rng(6)
    landmarks = rng.uniform(0, 1, (8, 68, 2)) * rng.uniform(20, 300, (8, 1, 2)) + rng.uniform(0, 500, (8, 1, 2))
    rois = roi_from_landmarks(landmarks)
    assert rois.shape == (8, 4)
    np.testing.assert_allclose(rois[:, 2] - rois[:, 0], rois[:, 3] - rois[:, 1])
    assert np.all(rois[:, 2] > rois[:, 0])
    assert np.all(landmarks[..., 0] >= rois[:, None, 0]) and np.all(landmarks[..., 0] <= rois[:, None, 2])
    assert np.all(landmarks[..., 1] >= rois[:, None, 1]) and np.all(landmarks[..., 1] <= rois[:, None, 3])
    np.testing.assert_allclose(roi_from_landmarks(landmarks[0]), rois[0])


def test_reroi_params_keeps_image_landmarks():
    """The same face re-expressed for another ROI lands on the same image pixels (x, y and the
    image-scaled depth)."""
    model = load_face_model()
    rng = np.random.default_rng(7)
    params = np.stack([
        _pose_params(*rng.uniform(-0.5, 0.5, 3), scale=rng.uniform(0.4, 0.9),
                     translation=rng.uniform([40, 40, -10], [80, 80, 10]))
        for _ in range(6)
    ])
    params[:, 12:] = rng.normal(size=(6, 50))
    old_rois = random_square_rois(6, seed=8)
    new_rois = random_square_rois(6, seed=9)
    moved = reroi_params(params, old_rois, new_rois)
    np.testing.assert_array_equal(moved[:, 12:], params[:, 12:])
    before = geometry.crop_to_image(model.landmarks68(params), old_rois)
    after = geometry.crop_to_image(model.landmarks68(moved), new_rois)
    side = (old_rois[:, 2] - old_rois[:, 0])[:, None, None]
    assert np.abs(after - before).max() < 1e-4 * side.max()  # float32 parameters
    # Also the ROI of the landmarks themselves (the tracking case).
    tracked = roi_from_landmarks(before)
    again = geometry.crop_to_image(model.landmarks68(reroi_params(params, old_rois, tracked)), tracked)
    assert np.abs(again - before).max() < 1e-4 * side.max()


def test_euler_of_one_rotation_equals_the_batched_formula():
    """The runtime's single-rotation path gives the batched path's angles, gimbal lock included."""
    rng = np.random.default_rng(11)
    angles = rng.uniform(-1.5, 1.5, (300, 3))
    rotations = geometry.rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2])
    rotations = np.concatenate([rotations, geometry.rotation_from_euler(np.array([np.pi / 2, -np.pi / 2]),
                                                                        np.array([0.3, -0.2]),
                                                                        np.array([0.2, 0.1]))])
    batched = geometry.euler_from_rotation(rotations)
    single = np.stack([geometry.euler_from_rotation(r) for r in rotations])
    np.testing.assert_allclose(single, batched, atol=1e-12)
    np.testing.assert_allclose(single[:300], angles, atol=1e-9)
    assert single.shape == (302, 3) and single[-1, 2] == 0.0
