"""Training losses for Mobile-FRNet: WPDC on the 62 parameters, Wing on vertices and 2D landmarks.

The paper supervises the parameters with 3DDFA's Weighted Parameter Distance Cost (WPDC) and the
reconstructed 3D vertices with the Wing loss; frnet adds a Wing loss on the 68 landmarks against
human 2D labels where a sample has them.

**Every loss here takes de-normalised (real) parameters** ``(B, 62)``: the network predicts
``(params - param_mean) / param_std`` and the training loop de-normalises before calling a loss,
because the vertex geometry that weights WPDC and feeds the Wing losses only exists in real units.
Vertices and landmarks are in crop pixels of the 120×120 crop (u right, v down, depth), exactly as
:meth:`frnet.facemodel.FaceModel.vertices` (``dense=False``) and ``landmarks68`` compute them.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from torch import nn

from .. import geometry
from ..facemodel import NUM_LANDMARKS, FaceModel

log = logging.getLogger(__name__)

NUM_POSE_PARAMS = geometry.NUM_POSE_PARAMS
# Wing loss defaults from Feng et al. 2018 (pixels): log-shaped inside ±WING_WIDTH, L1 outside.
WING_WIDTH = 10.0
WING_EPSILON = 2.0
# Base-mesh vertices, on top of the 68 landmarks, on which WPDC and the vertex Wing loss are
# evaluated; 3DDFA resamples 132 vertices, and a fixed spread-out subset keeps the loss deterministic.
DEFAULT_NUM_LOSS_VERTICES = 132


def to_crop_pixels(points_model: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Model-space points ``(B, P, 3)`` → crop pixels with the pose in ``params`` ``(B, 62)``.

    The torch twin of :func:`frnet.geometry.model_to_crop`: ``X' = s·R·X + t`` then ``v = 120 - y``.
    """
    pose = params[:, :NUM_POSE_PARAMS].reshape(-1, 3, 4)
    moved = points_model @ pose[:, :, :3].transpose(1, 2) + pose[:, None, :, 3]
    flip = moved.new_tensor([1.0, -1.0, 1.0])
    offset = moved.new_tensor([0.0, float(geometry.CROP_SIZE), 0.0])
    return moved * flip + offset


class PointSet(nn.Module):
    """A linear point set of the face model: ``points = mean + Σ_k coeff_k · basis_k``, then posed.

    ``mean`` is ``(P, 3)`` and ``basis`` ``(K, P, 3)`` (already scaled by the component std, so the
    coefficients are in std units as in the 62 parameters). Buffers are not persistent: they are
    derived from the face model file, not trained, and must not end up in checkpoints.
    """

    def __init__(self, mean: torch.Tensor, basis: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("basis", basis, persistent=False)

    @property
    def num_points(self) -> int:
        return self.mean.shape[0]

    @property
    def num_coefficients(self) -> int:
        return self.basis.shape[0]

    def model_space(self, params: torch.Tensor) -> torch.Tensor:
        """``(B, P, 3)`` points in model space (mm) for parameters ``(B, 12 + K)`` (pose ignored)."""
        if params.shape[-1] != NUM_POSE_PARAMS + self.num_coefficients:
            raise ValueError(f"expected {NUM_POSE_PARAMS + self.num_coefficients} parameters, got {params.shape[-1]}")
        coeffs = params[:, NUM_POSE_PARAMS:]
        flat = coeffs @ self.basis.reshape(self.num_coefficients, -1)
        return self.mean + flat.reshape(-1, self.num_points, 3)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """``(B, P, 3)`` points in crop pixels."""
        return to_crop_pixels(self.model_space(params), params)


class TorchFaceModel(nn.Module):
    """The base mesh and the 68-landmark embedding of a :class:`FaceModel`, as torch buffers.

    Differentiable and batched, for losses; the dense (subdivided) render mesh is not needed for
    training and is left out. ``vertices`` / ``landmarks68`` reproduce the numpy
    ``FaceModel.vertices(params, dense=False)`` / ``FaceModel.landmarks68(params)``.
    """

    def __init__(self, mean_shape: torch.Tensor, basis: torch.Tensor, landmark_mean: torch.Tensor,
                 landmark_basis: torch.Tensor) -> None:
        super().__init__()
        self.mesh = PointSet(mean_shape, basis)
        self.landmarks = PointSet(landmark_mean, landmark_basis)

    @classmethod
    def from_face_model(cls, face_model: FaceModel) -> "TorchFaceModel":
        """Build from the numpy model: scaled bases ``basis·std`` and the landmark embedding folded in."""
        scaled = np.concatenate([
            face_model.identity_basis * face_model.identity_std[:, None, None],
            face_model.expression_basis * face_model.expression_std[:, None, None],
        ]).astype(np.float32)  # (K, N, 3)
        indices, weights = face_model.landmark_indices, face_model.landmark_weights
        landmark_mean = (face_model.mean_shape[indices] * weights[..., None]).sum(axis=1)
        landmark_basis = (scaled[:, indices] * weights[None, ..., None]).sum(axis=2)
        return cls(
            torch.from_numpy(np.ascontiguousarray(face_model.mean_shape, dtype=np.float32)),
            torch.from_numpy(scaled),
            torch.from_numpy(landmark_mean.astype(np.float32)),
            torch.from_numpy(landmark_basis.astype(np.float32)),
        )

    @property
    def num_vertices(self) -> int:
        return self.mesh.num_points

    @property
    def num_params(self) -> int:
        return NUM_POSE_PARAMS + self.mesh.num_coefficients

    def shape(self, params: torch.Tensor) -> torch.Tensor:
        """Base-mesh vertices in model space ``(B, N, 3)`` (pose ignored)."""
        return self.mesh.model_space(params)

    def vertices(self, params: torch.Tensor) -> torch.Tensor:
        """Base-mesh vertices in crop pixels ``(B, N, 3)``."""
        return self.mesh(params)

    def landmarks_model(self, params: torch.Tensor) -> torch.Tensor:
        """The 68 landmarks in model space ``(B, 68, 3)``."""
        return self.landmarks.model_space(params)

    def landmarks68(self, params: torch.Tensor) -> torch.Tensor:
        """The 68 landmarks in crop pixels ``(B, 68, 3)``."""
        return self.landmarks(params)

    def point_set(self, vertex_indices: np.ndarray | torch.Tensor | None = None,
                  with_landmarks: bool = True) -> PointSet:
        """The sub-model on ``vertex_indices`` (default: :func:`default_loss_vertices`) plus, first,
        the 68 landmarks, so the losses look hardest at the points alignment is judged on."""
        if vertex_indices is None:
            vertex_indices = default_loss_vertices(self.num_vertices)
        index = torch.as_tensor(np.asarray(vertex_indices), dtype=torch.long, device=self.mesh.mean.device)
        means, bases = [self.mesh.mean[index]], [self.mesh.basis[:, index]]
        if with_landmarks:
            means.insert(0, self.landmarks.mean)
            bases.insert(0, self.landmarks.basis)
        return PointSet(torch.cat(means), torch.cat(bases, dim=1))


def default_loss_vertices(num_vertices: int, count: int = DEFAULT_NUM_LOSS_VERTICES) -> np.ndarray:
    """``count`` base-mesh vertex indices spread evenly over the index range (all if fewer)."""
    if num_vertices <= count:
        return np.arange(num_vertices)
    return np.unique(np.linspace(0, num_vertices - 1, count).round().astype(np.int64))


# -- WPDC -------------------------------------------------------------------------------------------
class WPDCLoss(nn.Module):
    """Weighted Parameter Distance Cost (3DDFA, Zhu et al. 2016): ``mean(w_i · Δ_i²)``.

    Plain parameter L2 treats a unit of roll like a unit of the 40th identity coefficient, although
    one moves the whole face and the other a few tenths of a millimetre. WPDC weights parameter
    *i* by how much the reconstructed points move when that one parameter goes from its ground
    truth to its prediction, all others held at ground truth:

    ``w_i = ‖V(p_gt with p_i := p_pred,i) − V(p_gt)‖_F``

    over a point subset (68 landmarks + ``vertex_indices``) for speed. ``V`` is linear in each
    single parameter, so the weights have a closed form (no 62 reconstructions): ``|Δ|·‖S_gt[:, c]‖``
    for the pose entry of row *r*, column *c* < 3 (``S_gt`` the ground-truth model-space shape),
    ``|Δ|·√P`` for a translation, and ``|Δ_k|·‖A_gt b_k‖_F`` for coefficient *k* (``A_gt`` the
    ground-truth ``s·R``, ``b_k`` its scaled basis). The weights are detached (they say where to
    look, they are not a target) and divided by their per-sample maximum, so the largest is 1.
    Unlike 3DDFA, which zeroes the depth translation's weight because its 2D-only projection
    cannot see it, frnet's points keep their depth, so ``t_z`` is weighted like the others.

    Args:
        face_model: the torch face model.
        vertex_indices: base-mesh vertices for the weights (default: :func:`default_loss_vertices`).
        param_std: ``(62,)``; if given, ``Δ_i²`` is measured in normalised units
            ``((pred - gt) / std)²`` as 3DDFA does (the network's output scale); the weights are
            always computed from the real parameters. Without it ``Δ`` is in real units.
    """

    def __init__(self, face_model: TorchFaceModel, vertex_indices: np.ndarray | None = None,
                 param_std: torch.Tensor | np.ndarray | None = None, eps: float = 1e-6) -> None:
        super().__init__()
        self.points = face_model.point_set(vertex_indices)
        basis = self.points.basis
        # Per-coefficient 3×3 Gram matrices Σ_p b_kp b_kpᵀ: ‖A b_k‖_F² = Σ (AᵀA) ⊙ G_k.
        self.register_buffer("basis_gram", torch.einsum("kpi,kpj->kij", basis, basis), persistent=False)
        std = None if param_std is None else torch.as_tensor(np.asarray(param_std), dtype=torch.float32)
        self.register_buffer("param_std", std, persistent=False)
        self.eps = eps

    @torch.no_grad()
    def weights(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, 62)`` detached weights, each row scaled so its maximum is 1 (all 0 at equality)."""
        diff = (pred - target).abs()
        batch = target.shape[0]
        shape_gt = self.points.model_space(target)  # (B, P, 3)
        column_norms = shape_gt.norm(dim=1)  # (B, 3): ‖S_gt[:, c]‖
        translation_norm = math.sqrt(self.points.num_points)
        pose_scale = torch.cat([column_norms, column_norms.new_full((batch, 1), translation_norm)], dim=1)
        pose_weights = diff[:, :NUM_POSE_PARAMS] * pose_scale.repeat(1, 3)  # row-major 3×4
        scaled_rotation = target[:, :NUM_POSE_PARAMS].reshape(batch, 3, 4)[:, :, :3]
        ata = scaled_rotation.transpose(1, 2) @ scaled_rotation
        coeff_norms = torch.einsum("bij,kij->bk", ata, self.basis_gram).clamp_min(0).sqrt()
        weights = torch.cat([pose_weights, diff[:, NUM_POSE_PARAMS:] * coeff_norms], dim=1)
        return weights / (weights.amax(dim=1, keepdim=True) + self.eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss for real parameters ``pred``, ``target`` ``(B, 62)``; ``sample_weights`` ``(B,)``
        (how far each label is trusted) make it a weighted mean over samples."""
        delta = pred - target
        if self.param_std is not None:
            delta = delta / self.param_std
        per_sample = (self.weights(pred, target) * delta.square()).mean(dim=1)
        return _weighted_mean(per_sample, sample_weights)


# -- Wing ---------------------------------------------------------------------------------------------
def wing(x: torch.Tensor, width: float = WING_WIDTH, epsilon: float = WING_EPSILON) -> torch.Tensor:
    """Elementwise Wing function (Feng et al. 2018) of errors ``x`` in pixels.

    ``width·ln(1 + |x|/epsilon)`` for ``|x| < width``, else ``|x| − C`` with
    ``C = width − width·ln(1 + width/epsilon)`` making it continuous at ``|x| = width``. The log
    part boosts small and medium errors that L1/L2 barely push once training has converged on the
    large ones, which is what fine landmark accuracy needs.
    """
    magnitude = x.abs()
    constant = width - width * math.log1p(width / epsilon)
    return torch.where(magnitude < width, width * torch.log1p(magnitude / epsilon), magnitude - constant)


def _weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return per_sample.mean()
    weights = weights.to(per_sample.dtype)
    return (per_sample * weights).sum() / weights.sum().clamp_min(1e-6)


def _masked_mean(per_sample: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return per_sample.mean()
    mask = mask.to(per_sample.dtype)
    return (per_sample * mask).sum() / mask.sum().clamp_min(1.0)


class VertexWingLoss(nn.Module):
    """Wing loss between the points reconstructed from predicted and ground-truth parameters.

    Points: the 68 landmarks + ``vertex_indices`` base vertices, in crop pixels. Per point the
    Wing values of its coordinates (u, v and, with ``use_depth``, depth) are summed; the loss is the
    mean over points and samples, so it does not grow with the number of points.
    """

    def __init__(self, face_model: TorchFaceModel, vertex_indices: np.ndarray | None = None,
                 width: float = WING_WIDTH, epsilon: float = WING_EPSILON, use_depth: bool = True) -> None:
        super().__init__()
        self.points = face_model.point_set(vertex_indices)
        self.width, self.epsilon, self.use_depth = width, epsilon, use_depth

    def forward(self, pred: torch.Tensor, target: torch.Tensor, sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss for real parameters ``pred``, ``target`` ``(B, 62)``; optional ``(B,)`` sample weights."""
        error = self.points(pred) - self.points(target)
        if not self.use_depth:
            error = error[..., :2]
        return _weighted_mean(wing(error, self.width, self.epsilon).sum(dim=-1).mean(dim=1), sample_weights)


class LandmarkWingLoss(nn.Module):
    """Wing loss of the 68 projected landmarks (u, v) against human 2D labels, with a sample mask.

    Only part of a training set has human 68-point labels; the others pass ``mask = 0`` (their
    labels may hold anything, NaN included). The mask is ``(B,)`` per sample or ``(B, 68)`` per
    landmark (e.g. invisible points), or float ``(B, 68)`` weights (0 = unlabelled). The loss is the mean over labelled landmarks of the summed u, v
    Wing values, and 0 (still differentiable) when nothing in the batch is labelled.
    """

    def __init__(self, face_model: TorchFaceModel, width: float = WING_WIDTH, epsilon: float = WING_EPSILON) -> None:
        super().__init__()
        self.face_model = face_model
        self.width, self.epsilon = width, epsilon

    def forward(self, pred: torch.Tensor, landmarks_2d: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``pred`` real parameters ``(B, 62)``; ``landmarks_2d`` ``(B, 68, 2)`` crop pixels (u, v down)."""
        if landmarks_2d.shape[1:] != (NUM_LANDMARKS, 2):
            raise ValueError(f"landmarks_2d must be (B, {NUM_LANDMARKS}, 2), got {tuple(landmarks_2d.shape)}")
        projected = self.face_model.landmarks68(pred)[..., :2]
        batch = pred.shape[0]
        if mask is None:
            mask = torch.ones(batch, NUM_LANDMARKS, dtype=torch.bool, device=pred.device)
        elif mask.dim() == 1:
            mask = mask[:, None].expand(batch, NUM_LANDMARKS)
        keep = mask > 0
        # Zero unlabelled errors before the Wing so NaN placeholders never reach the gradient.
        error = torch.where(keep[..., None], projected - landmarks_2d, torch.zeros_like(projected))
        per_landmark = wing(error, self.width, self.epsilon).sum(dim=-1)
        if mask.dtype == torch.bool:
            return _masked_mean(per_landmark.reshape(-1), keep.reshape(-1))
        # Float weights per landmark (label reliability): a weighted mean over labelled points.
        return _weighted_mean(per_landmark.reshape(-1), torch.where(keep, mask, torch.zeros_like(mask)).reshape(-1))
