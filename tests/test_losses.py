"""Training losses: the torch face model against numpy, WPDC, Wing and the masked landmark loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training extra (torch) not installed")
pytestmark = pytest.mark.usefixtures("torch_one_thread")  # tests/conftest.py

from frnet import geometry  # noqa: E402
from frnet.errors import FrnetError  # noqa: E402
from frnet.facemodel import FaceModel, load_face_model  # noqa: E402
from frnet.train.losses import (  # noqa: E402
    LandmarkWingLoss,
    TorchFaceModel,
    VertexWingLoss,
    WPDCLoss,
    default_loss_vertices,
    wing,
)

NUM_VERTICES = 468


def synthetic_face_model(seed: int = 0, num_identity: int = 40, num_expression: int = 10) -> FaceModel:
    """A small random but valid FaceModel: 468-vertex face-sized mesh, orthonormal bases in mm,
    decreasing stds and a 3-vertex barycentric landmark embedding (as the shipped model uses)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, [40.0, 50.0, 20.0], size=(NUM_VERTICES, 3)).astype(np.float32)
    q, _ = np.linalg.qr(rng.normal(size=(NUM_VERTICES * 3, num_identity + num_expression)))
    bases = q.T.reshape(-1, NUM_VERTICES, 3).astype(np.float32)
    landmark_weights = rng.uniform(0.1, 1.0, size=(68, 3))
    return FaceModel(
        mean_shape=mean,
        identity_basis=bases[:num_identity],
        identity_std=np.geomspace(30.0, 1.0, num_identity).astype(np.float32),
        expression_basis=bases[num_identity:],
        expression_std=np.geomspace(10.0, 0.5, num_expression).astype(np.float32),
        triangles=rng.integers(0, NUM_VERTICES, size=(800, 3)).astype(np.int32),
        landmark_indices=rng.integers(0, NUM_VERTICES, size=(68, 3)).astype(np.int32),
        landmark_weights=(landmark_weights / landmark_weights.sum(1, keepdims=True)).astype(np.float32),
    )


def random_params(batch: int, seed: int = 1, num_coeffs: int = 50) -> np.ndarray:
    """Plausible real parameters: a scaled rotation (±60° yaw), a translation near the crop centre
    and N(0, 1) coefficients (float32, like the network's)."""
    rng = np.random.default_rng(seed)
    yaw, pitch, roll = rng.uniform(-1.0, 1.0, (3, batch)) * np.array([[1.0], [0.5], [0.4]])
    rotation = geometry.rotation_from_euler(yaw, pitch, roll)
    scale = rng.uniform(0.5, 0.9, batch)
    translation = np.stack([rng.uniform(50, 70, batch), rng.uniform(50, 70, batch), rng.normal(0, 5, batch)], 1)
    pose = geometry.compose_pose(scale, rotation, translation).reshape(batch, 12)
    coeffs = rng.normal(size=(batch, num_coeffs))
    return np.concatenate([pose, coeffs], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def face_model() -> FaceModel:
    return synthetic_face_model()


@pytest.fixture(scope="module")
def torch_model(face_model) -> TorchFaceModel:
    return TorchFaceModel.from_face_model(face_model)


def _assert_rel_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-4) -> None:
    scale = np.abs(expected).max()
    assert np.abs(actual - expected).max() <= rel * scale


# -- TorchFaceModel ----------------------------------------------------------------------------------
def test_torch_face_model_matches_numpy(face_model, torch_model):
    params = random_params(8)
    with torch.no_grad():
        vertices = torch_model.vertices(torch.from_numpy(params)).numpy()
        landmarks = torch_model.landmarks68(torch.from_numpy(params)).numpy()
        shape = torch_model.shape(torch.from_numpy(params)).numpy()
    assert vertices.shape == (8, NUM_VERTICES, 3) and landmarks.shape == (8, 68, 3)
    _assert_rel_close(vertices, face_model.vertices(params, dense=False))
    _assert_rel_close(landmarks, face_model.landmarks68(params))
    _assert_rel_close(shape, face_model.shape(params))
    assert torch_model.num_params == 62 and torch_model.num_vertices == NUM_VERTICES


def test_torch_face_model_rejects_wrong_parameter_count(torch_model):
    with pytest.raises(ValueError, match="62"):
        torch_model.vertices(torch.zeros(2, 61))


def test_torch_face_model_buffers_stay_out_of_checkpoints(face_model):
    model = TorchFaceModel.from_face_model(face_model)
    assert model.state_dict() == {}  # derived from the model file, never trained
    assert model.double().vertices(torch.zeros(1, 62, dtype=torch.float64)).dtype == torch.float64


def test_shipped_face_model_matches_numpy():
    try:
        shipped = load_face_model()
    except FrnetError as exc:
        pytest.skip(f"shipped face model not available: {exc}")
    model = TorchFaceModel.from_face_model(shipped)
    params = random_params(4, seed=3, num_coeffs=shipped.num_params - 12)
    with torch.no_grad():
        vertices = model.vertices(torch.from_numpy(params)).numpy()
        landmarks = model.landmarks68(torch.from_numpy(params)).numpy()
    _assert_rel_close(vertices, shipped.vertices(params, dense=False))
    _assert_rel_close(landmarks, shipped.landmarks68(params))


def test_point_set_is_landmarks_then_vertex_subset(face_model, torch_model):
    indices = default_loss_vertices(NUM_VERTICES)
    assert len(indices) == 132 and indices[0] == 0 and indices[-1] == NUM_VERTICES - 1
    points = torch_model.point_set(indices)
    params = random_params(2, seed=4)
    with torch.no_grad():
        got = points(torch.from_numpy(params)).numpy()
    expected = np.concatenate([face_model.landmarks68(params), face_model.vertices(params, dense=False)[:, indices]], 1)
    _assert_rel_close(got, expected)


# -- WPDC ---------------------------------------------------------------------------------------------
def _brute_force_wpdc_weights(loss: WPDCLoss, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Reconstruct once per parameter with only that parameter moved to its prediction."""
    with torch.no_grad():
        reference = loss.points(target)
        columns = []
        for i in range(target.shape[1]):
            moved = target.clone()
            moved[:, i] = pred[:, i]
            columns.append((loss.points(moved) - reference).flatten(1).norm(dim=1))
        weights = torch.stack(columns, dim=1)
    return weights / (weights.amax(dim=1, keepdim=True) + loss.eps)


def test_wpdc_weights_equal_brute_force(torch_model):
    loss = WPDCLoss(torch_model).double()
    target = torch.from_numpy(random_params(4, seed=5)).double()
    pred = target + torch.from_numpy(random_params(4, seed=6)).double() * 0.05
    weights = loss.weights(pred, target)
    torch.testing.assert_close(weights, _brute_force_wpdc_weights(loss, pred, target), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(weights.amax(dim=1), torch.ones(4, dtype=torch.float64), rtol=1e-5, atol=0)


def test_wpdc_is_zero_at_equality_and_positive_otherwise(torch_model):
    loss = WPDCLoss(torch_model)
    target = torch.from_numpy(random_params(3, seed=7))
    assert loss(target, target).item() == 0.0
    pred = target.clone()
    pred[:, 20] += 0.3
    assert loss(pred, target).item() > 0.0
    pred = target + 0.01 * torch.randn_like(target)
    assert loss(pred, target).item() > 0.0


def test_wpdc_weights_are_detached_and_gradients_flow(torch_model):
    loss = WPDCLoss(torch_model, param_std=np.full(62, 2.0, dtype=np.float32))
    target = torch.from_numpy(random_params(3, seed=8))
    pred = (target + 0.1 * torch.randn_like(target)).requires_grad_(True)
    assert not loss.weights(pred, target).requires_grad
    value = loss(pred, target)
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # The weights only scale: the gradient is exactly 2·w·Δ/std² / numel.
    delta = (pred - target).detach()
    expected = 2 * loss.weights(pred, target) * delta / 4.0 / delta.numel()
    torch.testing.assert_close(pred.grad, expected, rtol=1e-5, atol=1e-9)


# -- Wing ---------------------------------------------------------------------------------------------
def test_wing_matches_closed_form_piecewise():
    w, eps = 10.0, 2.0
    x = torch.tensor([-25.0, -10.5, -3.0, -0.5, 0.0, 0.5, 3.0, 9.9, 10.0, 12.0, 40.0], dtype=torch.float64)
    c = w - w * math.log(1 + w / eps)
    expected = [w * math.log(1 + abs(v) / eps) if abs(v) < w else abs(v) - c for v in x.tolist()]
    torch.testing.assert_close(wing(x), torch.tensor(expected, dtype=torch.float64))
    torch.testing.assert_close(wing(x, 4.0, 1.0)[3], torch.tensor(4.0 * math.log(1.5), dtype=torch.float64))


def test_wing_is_continuous_at_width():
    w = 10.0
    for width, epsilon in ((w, 2.0), (5.0, 0.5)):
        inside = wing(torch.tensor(width - 1e-9, dtype=torch.float64), width, epsilon)
        outside = wing(torch.tensor(width + 1e-9, dtype=torch.float64), width, epsilon)
        assert abs(inside.item() - outside.item()) < 1e-8
        assert abs(inside.item() - width * math.log(1 + width / epsilon)) < 1e-7


def test_vertex_wing_loss(torch_model):
    loss = VertexWingLoss(torch_model)
    target = torch.from_numpy(random_params(3, seed=9))
    assert loss(target, target).item() == 0.0
    pred = (target + 0.05 * torch.randn_like(target)).requires_grad_(True)
    value = loss(pred, target)
    assert value.item() > 0.0
    value.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # Per point the coordinates' Wing values are summed, then averaged over points and samples.
    with torch.no_grad():
        error = loss.points(pred) - loss.points(target)
        torch.testing.assert_close(value.detach(), wing(error).sum(-1).mean())
        flat = VertexWingLoss(torch_model, use_depth=False)(pred, target)
        torch.testing.assert_close(flat, wing(error[..., :2]).sum(-1).mean())


# -- 2D landmark loss -------------------------------------------------------------------------------
def test_landmark_loss_mask(torch_model):
    loss = LandmarkWingLoss(torch_model)
    params = torch.from_numpy(random_params(4, seed=10))
    with torch.no_grad():
        labels = torch_model.landmarks68(params)[..., :2] + 1.5
    full = loss(params, labels)
    # Each labelled coordinate is 1.5 px off: per landmark 2 · wing(1.5).
    torch.testing.assert_close(full, 2 * wing(torch.tensor(1.5)))

    labels_missing = labels.clone()
    labels_missing[1] = float("nan")  # sample without human labels
    labels_missing[3] += 30.0  # a wrong label that the mask must hide
    mask = torch.tensor([True, False, True, False])
    pred = params.clone().requires_grad_(True)
    value = loss(pred, labels_missing, mask)
    torch.testing.assert_close(value, full)
    value.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[[1, 3]].abs().sum() == 0 and pred.grad[[0, 2]].abs().sum() > 0

    # Per-landmark masks, and a batch with no labels at all: 0 with a finite (zero) gradient.
    per_landmark = torch.zeros(4, 68, dtype=torch.bool)
    per_landmark[0, :10] = True
    torch.testing.assert_close(loss(params, labels_missing, per_landmark), full)
    pred = params.clone().requires_grad_(True)
    none = loss(pred, labels_missing, torch.zeros(4))
    none.backward()
    assert none.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_landmark_loss_rejects_wrong_label_shape(torch_model):
    with pytest.raises(ValueError, match="68"):
        LandmarkWingLoss(torch_model)(torch.zeros(2, 62), torch.zeros(2, 68, 3))
