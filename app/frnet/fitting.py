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


# -- 2D landmark fitting (human 68-point labels with visibility) -------------------------------------
# Per-point noise of human 2D labels, model millimetres (they weight the rows of the fit).
INNER_LABEL_NOISE_MM = 2.5
JAW_LABEL_NOISE_MM = 5.0
OCCLUDED_NOISE_FACTOR = 2.0  # externally occluded points: the annotator estimated them
# Far-side jaw points that marching may move onto the silhouette (300-W convention); the chin stays.
MARCHING_LANDMARKS = np.r_[0:7, 10:17]
MARCHING_BAND_MM = 6.0  # candidate vertices lie within this height of the landmark's model point


@dataclass(frozen=True)
class Fit2DResult:
    params: np.ndarray  # (62,)
    landmark_rms_px: float  # weighted-point RMS 2D distance to the labels, crop pixels
    nme_box: float  # mean 2D distance over labelled points / sqrt(w*h) of their box
    max_abs_coefficient: float  # largest |alpha| (standard deviations)
    marched: int  # landmarks whose vertex was moved onto the silhouette in the last iteration


def label_noise_mm(visibility: np.ndarray) -> np.ndarray:
    """``(68,)`` noise in mm for MERL-RAV style visibility (1 visible, -1 occluded, 0 absent → inf)."""
    visibility = np.asarray(visibility)
    noise = np.full(68, INNER_LABEL_NOISE_MM)
    noise[:17] = JAW_LABEL_NOISE_MM
    noise = np.where(visibility < 0, noise * OCCLUDED_NOISE_FACTOR, noise)
    return np.where(visibility == 0, np.inf, noise)


def _marching_candidates(model: FaceModel) -> list[np.ndarray]:
    """For each marching landmark: base vertices on its horizontal band, its side or the midline."""
    mean = model.mean_shape.astype(np.float64)
    lm = model._landmark_mean.astype(np.float64)
    out = []
    for k in MARCHING_LANDMARKS:
        side = np.sign(lm[k, 0])
        band = np.abs(mean[:, 1] - lm[k, 1]) < MARCHING_BAND_MM
        out.append(np.flatnonzero(band & (mean[:, 0] * side > -5.0)))
    return out


def _rotation_from_affine(rows: np.ndarray, flip_depth: bool) -> tuple[float, np.ndarray]:
    """Nearest scaled rotation to a 2×3 affine camera (optionally its depth-mirrored twin)."""
    rows = np.array(rows, dtype=np.float64)
    if flip_depth:
        rows[:, 2] *= -1
    u, singular, vt = np.linalg.svd(rows, full_matrices=False)
    r12 = u @ vt
    rotation = np.vstack([r12, np.cross(r12[0], r12[1])])
    return float(singular.mean()), rotation


def _skew(v: np.ndarray) -> np.ndarray:
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape[:-1], 3, 3)


def _exp_so3(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = _skew(w / theta)
    return np.eye(3) + np.sin(theta) * k + (1 - np.cos(theta)) * (k @ k)


def fit_to_landmarks_2d(model: FaceModel, landmarks_crop: np.ndarray, noise_mm: np.ndarray,
                        silhouette_contour: bool = False, iterations: int = 10) -> Fit2DResult:
    """Fit pose + identity + expression to 2D landmarks with per-point reliability.

    Scaled orthographic camera ``x = s·R₁₂·(m + Bα) + t`` (the labels' own camera is unknown; at
    a face's distance from a photo's camera the difference is small). Alternates Gauss–Newton steps
    on the pose (rotation updated on SO(3), scale, 2D translation) with the exact ridge solve for α
    (prior ``||α||²``, α in standard deviations). Both depth-mirrored readings of the initial affine
    camera are tried and the lower cost kept (a 2D view alone cannot tell them apart for flat
    shapes). With ``silhouette_contour`` (300-W labels: the jaw follows the visible outline) the
    far-side jaw landmarks are re-assigned each iteration to the base vertex on the current
    silhouette at their height ("landmark marching", Zhu et al. 2016).

    Args:
        landmarks_crop: ``(68, 2)`` labels in crop space (y up); rows with infinite noise ignored.
        noise_mm: ``(68,)`` label noise in model millimetres (:func:`label_noise_mm`); ``inf`` = absent.

    The depth translation ``t_z`` is not observable; it is set so the landmarks' mean depth is 0 in
    crop space (the convention of :func:`frnet.fitting.fit_to_mesh`'s teacher meshes, centred).
    """
    target = np.asarray(landmarks_crop, dtype=np.float64)
    noise = np.asarray(noise_mm, dtype=np.float64)
    use = np.isfinite(noise) & np.all(np.isfinite(target), axis=1)
    if use.sum() < 6:
        raise ValueError("need at least 6 labelled landmarks to fit")
    target = np.where(use[:, None], target, 0.0)
    inv_noise = np.where(use, 1.0 / np.where(use, noise, 1.0), 0.0)
    num_coeffs = model.num_identity + model.num_expression
    lm_mean = model._landmark_mean.astype(np.float64)
    lm_basis = model._landmark_basis.astype(np.float64).reshape(68, 3, num_coeffs)
    base_mean = model.mean_shape.astype(np.float64)
    base_basis = model._scaled_basis.astype(np.float64).reshape(-1, 3, num_coeffs)
    candidates = _marching_candidates(model) if silhouette_contour else None

    # Initial affine camera on the mean landmarks (weighted linear least squares).
    homogeneous = np.hstack([lm_mean, np.ones((68, 1))])
    weighted = homogeneous * inv_noise[:, None]
    camera, *_ = np.linalg.lstsq(weighted, target * inv_noise[:, None], rcond=None)  # (4, 2)
    best = None
    for flip in (False, True):  # a few iterations from each reading, then the better one goes on
        scale, rotation = _rotation_from_affine(camera[:3].T, flip)
        state = _fit_2d_from(scale, rotation, np.zeros(2), np.zeros(num_coeffs), target, inv_noise, lm_mean,
                             lm_basis, base_mean, base_basis, candidates, 3, 0)
        if best is None or state[-1] < best[-1]:
            best = state
    best = _fit_2d_from(best[0], best[1], best[2], best[3], target, inv_noise, lm_mean, lm_basis, base_mean,
                        base_basis, candidates, iterations - 3, 3)
    scale, rotation, translation, alpha, points_mean, points_basis, marched, _ = best
    shape_lm = points_mean + points_basis @ alpha
    projected = shape_lm @ (scale * rotation).T
    t2 = translation
    t_z = -float(projected[use, 2].mean())
    pose = geometry.compose_pose(scale, rotation, np.array([t2[0], t2[1], t_z]))
    params = np.concatenate([pose.reshape(-1), alpha]).astype(np.float32)
    fitted = projected[:, :2] + t2
    err = np.linalg.norm(fitted[use] - target[use], axis=1)
    box = target[use].max(0) - target[use].min(0)
    return Fit2DResult(params, float(np.sqrt((err ** 2).mean())), float(err.mean() / np.sqrt(max(box[0] * box[1], 1e-9))),
                       float(np.abs(alpha).max()), int(marched))


def _fit_2d_from(scale, rotation, translation, alpha, target, inv_noise, lm_mean, lm_basis, base_mean, base_basis,
                 candidates, iterations, first_iteration):
    num_coeffs = lm_basis.shape[2]
    points_mean, points_basis = lm_mean.copy(), lm_basis.copy()
    marched = 0
    for iteration in range(first_iteration, first_iteration + iterations):
        if candidates is not None and iteration >= 2:
            # Landmark marching: far-side jaw points → silhouette vertex at their height.
            points_mean, points_basis = lm_mean.copy(), lm_basis.copy()
            shape = base_mean + base_basis @ alpha
            rotated = shape @ rotation.T
            marched = 0
            for k, cand in zip(MARCHING_LANDMARKS, candidates):
                side = np.sign(lm_mean[k, 0])
                if side * rotation[2, 0] >= -np.sin(np.radians(10.0)):
                    continue  # this side faces the camera (or the face is frontal)
                outward = side * rotation[:2, 0]
                outward /= np.linalg.norm(outward) + 1e-12
                best_vertex = cand[np.argmax(rotated[cand, :2] @ outward)]
                points_mean[k], points_basis[k] = base_mean[best_vertex], base_basis[best_vertex]
                marched += 1
        shape_lm = points_mean + points_basis @ alpha  # (68, 3)
        # Pose: Gauss–Newton on (ω, log s, t) with α fixed.
        for _ in range(3):
            rotated = shape_lm @ rotation.T
            residual = (scale * rotated[:, :2] + translation - target) * inv_noise[:, None]
            jac = np.zeros((68, 2, 6))
            # d(R S)/dω = -[R S]× (left perturbation); rows x, y.
            jac[:, :, :3] = -scale * _skew(rotated)[:, :2, :]
            jac[:, :, 3] = scale * rotated[:, :2]
            jac[:, 0, 4] = 1.0
            jac[:, 1, 5] = 1.0
            jac *= inv_noise[:, None, None]
            j = jac.reshape(-1, 6)
            step = np.linalg.solve(j.T @ j + 1e-6 * np.eye(6), -j.T @ residual.reshape(-1))
            rotation = _exp_so3(step[:3]) @ rotation
            scale *= float(np.exp(step[3]))
            translation = translation + step[4:]
        # Shape: exact ridge solve with the pose fixed (rows scaled to millimetres by 1/(s·σ)).
        sr = scale * rotation
        rows = np.einsum("ij,njk->nik", sr, points_basis)[:, :2]  # (68, 2, K)
        rhs = target - (points_mean @ sr.T)[:, :2] - translation
        w = (inv_noise / scale)[:, None]
        a = (rows * w[..., None]).reshape(-1, num_coeffs)
        b = (rhs * w).reshape(-1)
        alpha = np.linalg.solve(a.T @ a + np.eye(num_coeffs), a.T @ b)
    shape_lm = points_mean + points_basis @ alpha
    residual = (scale * (shape_lm @ rotation.T)[:, :2] + translation - target) * inv_noise[:, None] / scale
    cost = float((residual ** 2).sum() + alpha @ alpha)
    return scale, rotation, translation, alpha, points_mean, points_basis, marched, cost
