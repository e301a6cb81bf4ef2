"""The shipped ONNX graph: its contract with the runtime, and that it matches its torch checkpoint."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from frnet.facemodel import FACE_MODEL_FILE
from frnet.regressor import ONNX_FILE, Regressor
from frnet.resources import resource_path

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "checkpoints" / "mobilefrnet_v1" / "best.pt"


@pytest.fixture(scope="module")
def regressor() -> Regressor:
    return Regressor(device="cpu", threads=1)


def test_graph_contract(regressor):
    import onnx

    model = onnx.load(str(resource_path("models", ONNX_FILE)))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param, "the batch axis must be dynamic"
    meta = regressor.metadata
    for key in ("frnet_input", "frnet_input_mean", "frnet_input_std", "frnet_param_mean", "frnet_param_std",
                "frnet_face_model", "frnet_face_model_sha256", "frnet_network_config"):
        assert key in meta, key
    assert len(json.loads(meta["frnet_param_mean"])) == regressor.num_params == 62


def test_graph_was_trained_for_the_shipped_face_model(regressor):
    shipped = hashlib.sha256(resource_path("models", FACE_MODEL_FILE).read_bytes()).hexdigest()
    assert regressor.metadata["frnet_face_model_sha256"] == shipped


def test_output_depends_on_the_input(regressor):
    """A trained graph answers differently for different faces (a constant output means no weights)."""
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, size=(3, 120, 120, 3), dtype=np.uint8)
    params = regressor(crops)
    assert np.abs(params[0] - params[1]).max() > 1e-2


@pytest.mark.skipif(not CHECKPOINT.is_file(), reason=f"training checkpoint {CHECKPOINT} not in this checkout")
def test_shipped_onnx_matches_its_torch_checkpoint(regressor):
    torch = pytest.importorskip("torch")
    from frnet.train.export import load_checkpoint

    deployed, _ = load_checkpoint(CHECKPOINT)
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, size=(4, 120, 120, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = deployed(torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    got = regressor(crops)
    scale = np.abs(expected).max(axis=0) + 1e-6
    assert np.max(np.abs(got - expected) / scale) < 1e-4
