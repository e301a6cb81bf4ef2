"""Label fitting: ``fit_to_mesh`` recovers known parameters from meshes the model itself made."""

from __future__ import annotations

import numpy as np
import pytest

from frnet import geometry
from frnet.facemodel import NUM_EXPRESSION, NUM_IDENTITY, FaceModel, load_face_model
from frnet.fitting import FitResult, fit_to_mesh


@pytest.fixture(scope="module")
def shipped() -> FaceModel:
    return load_face_model()


def similarity_modes(mean: np.ndarray) -> np.ndarray:
    """Orthonormal ``(7, 3N)`` basis of the shape changes a similarity transform makes at ``mean``
    (3 translations, 3 infinitesimal rotations, 1 scale): what the pose, not the shape, explains."""
    centred = mean - mean.mean(axis=0)
    modes = [np.tile(np.eye(3)[axis], (len(mean), 1)) for axis in range(3)]
    modes += [np.cross(np.eye(3)[axis], centred) for axis in range(3)]
    modes.append(centred)
    q, _ = np.linalg.qr(np.stack([m.reshape(-1) for m in modes], axis=1))
    return q.T


@pytest.fixture(scope="module")
def well_posed(shipped) -> FaceModel:
    """The shipped mean, mesh and landmarks with bases that are orthogonal to the similarity modes
    (so pose and shape cannot trade) and standard deviations well above the fit's assumed 1.5 mm
    mesh noise (so its Gaussian prior shrinks coefficients by < 4 %): every parameter is identifiable."""
    mean = shipped.mean_shape.astype(np.float64)
    bases = np.concatenate([shipped.identity_basis, shipped.expression_basis]).reshape(50, -1).astype(np.float64)
    pose_modes = similarity_modes(mean)
    bases = bases - (bases @ pose_modes.T) @ pose_modes
    q, _ = np.linalg.qr(bases.T)
    bases = q.T.reshape(50, -1, 3).astype(np.float32)
    return FaceModel(
        mean_shape=shipped.mean_shape, triangles=shipped.triangles,
        identity_basis=bases[:NUM_IDENTITY], identity_std=np.geomspace(30, 8, NUM_IDENTITY).astype(np.float32),
        expression_basis=bases[NUM_IDENTITY:],
        expression_std=np.geomspace(25, 8, NUM_EXPRESSION).astype(np.float32),
        landmark_indices=shipped.landmark_indices, landmark_weights=shipped.landmark_weights,
    )


def synthetic_target(model: FaceModel, seed: int):
    """Known parameters and the base mesh and 68 landmarks they make, in crop space (y up)."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-1, 1, 3) * np.radians([45, 20, 20])
    scale = rng.uniform(0.45, 0.8)
    rotation = geometry.rotation_from_euler(*angles)
    translation = np.array([60.0, 62.0, 0.0]) + rng.normal(0, 4, 3)
    coeffs = np.clip(rng.normal(size=NUM_IDENTITY + NUM_EXPRESSION), -2.5, 2.5)
    params = np.concatenate([geometry.compose_pose(scale, rotation, translation).reshape(-1), coeffs])
    params = params.astype(np.float32)
    mesh = model.shape(params).astype(np.float64) @ (scale * rotation).T + translation
    landmarks = model.landmarks_model(params).astype(np.float64) @ (scale * rotation).T + translation
    return params, mesh, landmarks


def pose_errors(fitted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """(rotation error in degrees, relative scale error, translation error in crop pixels)."""
    s_fit, r_fit, t_fit = geometry.decompose_pose(geometry.pose_matrix(fitted))
    s_true, r_true, t_true = geometry.decompose_pose(geometry.pose_matrix(truth))
    cos_angle = np.clip((np.trace(r_fit.T @ r_true) - 1) / 2, -1, 1)
    return float(np.degrees(np.arccos(cos_angle))), float(abs(s_fit / s_true - 1)), float(np.abs(t_fit - t_true).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_landmarks", [False, True])
def test_fit_recovers_known_parameters(well_posed, seed, with_landmarks):
    truth, mesh, landmarks = synthetic_target(well_posed, seed)
    result = fit_to_mesh(well_posed, mesh, landmarks[:, :2] if with_landmarks else None)
    assert isinstance(result, FitResult) and result.params.shape == (62,) and result.params.dtype == np.float32
    rotation_deg, scale_rel, translation_px = pose_errors(result.params, truth)
    assert rotation_deg < 0.05 and scale_rel < 2e-3 and translation_px < 0.05
    # The only bias is the prior's shrinkage, (σ/1.5 mm)² / (1 + (σ/1.5 mm)²) ≥ 0.966 for σ ≥ 8 mm.
    assert np.abs(result.params[12:] - truth[12:]).max() < 0.1
    assert result.mesh_rms_mm < 0.5
    if with_landmarks:
        assert result.landmark_rms_px < 0.2
    else:
        assert np.isnan(result.landmark_rms_px)


def test_fit_to_the_shipped_model_reproduces_the_mesh(shipped):
    """On the shipped model the small identity components (σ down to 0.5 mm, below the 1.5 mm mesh
    noise the fit assumes) are shrunk by the prior, so the check is on what labels need: the pose,
    the geometry, and the large (expression) components."""
    for seed in (3, 4):
        truth, mesh, landmarks = synthetic_target(shipped, seed)
        result = fit_to_mesh(shipped, mesh, landmarks[:, :2])
        rotation_deg, scale_rel, translation_px = pose_errors(result.params, truth)
        assert rotation_deg < 0.05 and scale_rel < 0.015 and translation_px < 0.5
        assert result.mesh_rms_mm < 0.5 and result.landmark_rms_px < 0.5
        vertex_error_px = np.abs(shipped.vertices(result.params) - shipped.vertices(truth)).max()
        assert vertex_error_px < 1.0
        large = np.concatenate([shipped.identity_std, shipped.expression_std]) >= 8.0
        assert np.abs(result.params[12:] - truth[12:])[large].max() < 0.1


def test_fit_ignores_nan_landmark_rows(shipped):
    truth, mesh, landmarks = synthetic_target(shipped, 5)
    partial = landmarks[:, :2].copy()
    partial[:17] = np.nan  # e.g. an unlabelled jaw
    partial[30] += 40.0  # one landmark far off …
    partial[30] = np.nan  # … then withdrawn: it must not count
    result = fit_to_mesh(shipped, mesh, partial)
    assert np.all(np.isfinite(result.params)) and result.landmark_rms_px < 0.5
    assert pose_errors(result.params, truth)[0] < 0.05


def test_shape_bases_exclude_the_similarity_modes(shipped):
    """No shape component may move the face like a pose change (it would duplicate s·R|t)."""
    pose_modes = similarity_modes(shipped.mean_shape.astype(np.float64))
    for basis in (shipped.identity_basis, shipped.expression_basis):
        overlap = basis.reshape(len(basis), -1).astype(np.float64) @ pose_modes.T
        assert np.abs(overlap).max() < 0.2, np.round(np.abs(overlap).max(axis=1), 2)
