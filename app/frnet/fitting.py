"""Fit the face model's 62 parameters to 3D mesh points and/or 2D landmarks (pure numpy).

Used to turn MediaPipe Face Mesh teacher meshes (plus human 68-point labels where they exist) into
training labels, and by tests. Everything happens in *crop space* (y up, crop pixels; see
:mod:`frnet.geometry`) for one ROI.

The model is linear in the shape coefficients α for a fixed pose and the pose is a similarity
transform for a fixed shape, so the fit alternates an exact similarity Procrustes (Umeyama) with a
regularised linear least-squares solve for α. α is in units of standard deviations, so the ridge
term ``||α||²`` is the Gaussian prior of the PCA model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry
from .facemodel import FaceModel

# Assumed noise of the fitting targets, in model millimetres (they weight mesh vs. landmark rows).
MESH_NOISE_MM = 1.5
LANDMARK_NOISE_MM = 3.0
JAW_LANDMARK_NOISE_MM = 6.0  # contour labels follow the silhouette, our embedded points do not


@dataclass(frozen=True)
class FitResult:
    params: np.ndarray  # (62,)
    mesh_rms_mm: float  # RMS 3D distance between fitted base mesh and the target mesh, model mm
    landmark_rms_px: float  # RMS 2D distance to the target landmarks (nan without landmarks)


def fit_to_mesh(model: FaceModel, mesh_crop: np.ndarray, landmarks_crop: np.ndarray | None = None,
                iterations: int = 6) -> FitResult:
    """Fit pose + identity + expression.

    Args:
        mesh_crop: ``(N, 3)`` target base-mesh vertices in crop space (y up; z towards camera).
        landmarks_crop: optional ``(68, 2)`` target landmarks in crop space (y up); NaN rows ignored.
    """
    mesh_crop = np.asarray(mesh_crop, dtype=np.float64)
    num_coeffs = model.num_identity + model.num_expression
    mean = model.mean_shape.astype(np.float64)
    basis = model._scaled_basis.astype(np.float64)  # (3N, K), x y z interleaved per vertex
    lm_mean = model._landmark_mean.astype(np.float64)
    lm_basis = model._landmark_basis.astype(np.float64)  # (68*3, K)
    alpha = np.zeros(num_coeffs)
    lm_weights = None
    if landmarks_crop is not None:
        landmarks_crop = np.asarray(landmarks_crop, dtype=np.float64)
        valid = np.all(np.isfinite(landmarks_crop), axis=1)
        noise = np.full(68, LANDMARK_NOISE_MM)
        noise[:17] = JAW_LANDMARK_NOISE_MM
        lm_weights = np.where(valid, 1.0 / noise, 0.0)
        landmarks_crop = np.where(valid[:, None], landmarks_crop, 0.0)
    for _ in range(iterations):
        shape = mean + (basis @ alpha).reshape(-1, 3)
        scale, rotation, translation = geometry.similarity_procrustes(shape, mesh_crop)
        sr = scale * rotation
        # Mesh rows: s·R·B_v α ≈ target_v - s·R·mean_v - t, weighted by 1/(s·σ).
        rotated_basis = np.einsum("ij,njk->nik", sr, basis.reshape(-1, 3, num_coeffs)).reshape(-1, num_coeffs)
        rhs = (mesh_crop - mean @ sr.T - translation).reshape(-1)
        w_mesh = 1.0 / (scale * MESH_NOISE_MM)
        a_rows = [rotated_basis * w_mesh]
        b_rows = [rhs * w_mesh]
        if lm_weights is not None:
            lm_rot = np.einsum("ij,njk->nik", sr, lm_basis.reshape(-1, 3, num_coeffs))[:, :2]  # (68, 2, K)
            lm_rhs = landmarks_crop - (lm_mean @ sr.T + translation)[:, :2]
            w = (lm_weights / scale)[:, None]
            a_rows.append((lm_rot * w[..., None]).reshape(-1, num_coeffs))
            b_rows.append((lm_rhs * w).reshape(-1))
        a = np.concatenate(a_rows)
        b = np.concatenate(b_rows)
        alpha = np.linalg.solve(a.T @ a + np.eye(num_coeffs), a.T @ b)
    shape = mean + (basis @ alpha).reshape(-1, 3)
    scale, rotation, translation = geometry.similarity_procrustes(shape, mesh_crop)
    pose = geometry.compose_pose(scale, rotation, translation)
    params = np.concatenate([pose.reshape(-1), alpha]).astype(np.float32)
    fitted = shape @ (scale * rotation).T + translation
    mesh_rms_mm = float(np.sqrt(((fitted - mesh_crop) ** 2).sum(-1).mean()) / scale)
    landmark_rms = float("nan")
    if lm_weights is not None and np.any(lm_weights > 0):
        lm = (lm_mean + (lm_basis @ alpha).reshape(-1, 3)) @ (scale * rotation).T + translation
        ok = lm_weights > 0
        landmark_rms = float(np.sqrt(((lm[ok, :2] - landmarks_crop[ok]) ** 2).sum(-1).mean()))
    return FitResult(params, mesh_rms_mm, landmark_rms)
