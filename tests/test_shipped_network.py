"""The shipped ONNX graph: its contract with the runtime, and that it matches its torch checkpoint."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from frnet.facemodel import FACE_MODEL_FILE
from frnet.regressor import INT8_ONNX_FILE, ONNX_FILE, Regressor
from frnet.resources import resource_path

REPO = Path(__file__).resolve().parents[1]


def _checkpoint() -> Path:
    """The training checkpoint the shipped graph records it was exported from (``frnet_checkpoint``)."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(resource_path("models", ONNX_FILE))).metadata_props}
    return REPO / meta["frnet_checkpoint"]


CHECKPOINT = _checkpoint()


@pytest.fixture(scope="module")
def regressor() -> Regressor:
    return Regressor(device="cpu", threads=1, precision="fp32")


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
    """Torch runs on one thread, like the graph: on two, torch's other summation order alone moved
    an output by 1.03e-4 of its range, past the tolerance."""
    torch = pytest.importorskip("torch")
    from frnet.train.export import load_checkpoint

    deployed, _ = load_checkpoint(CHECKPOINT)
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, size=(4, 120, 120, 3), dtype=np.uint8)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            expected = deployed(torch.from_numpy(crops.transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    finally:
        torch.set_num_threads(threads)
    got = regressor(crops)
    scale = np.abs(expected).max(axis=0) + 1e-6
    assert np.max(np.abs(got - expected) / scale) < 1e-4


# -- the int8 graph (python -m frnet.train.quantize) -------------------------------------------------


def test_int8_graph_was_made_from_the_shipped_fp32_graph(regressor):
    """A stale int8 file (the float32 graph re-exported, the int8 one not redone) fails here."""
    int8 = Regressor(device="cpu", threads=1, precision="int8")
    assert int8.precision == "int8" and regressor.precision == "fp32"
    record = json.loads(int8.metadata["frnet_quantization"])
    assert record["source_graph_sha256"] == hashlib.sha256(resource_path("models", ONNX_FILE).read_bytes()).hexdigest()
    for key in ("frnet_param_mean", "frnet_param_std", "frnet_face_model_sha256", "frnet_network_config"):
        assert int8.metadata[key] == regressor.metadata[key], key


def test_int8_graph_is_quantised():
    import onnx

    ops = {node.op_type for node in onnx.load(str(resource_path("models", INT8_ONNX_FILE))).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops


def _real_face_crops(count: int = 48) -> np.ndarray:
    """Crops of real faces from ../shared, framed by the float32 pipeline (image mode)."""
    from frnet import crop
    from frnet.datasets import shared_data_dir
    from frnet.pipeline import Pipeline, PipelineOptions
    from frnet.video import read_image

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    paths = sorted((shared / "images").glob("*.jpg")) + sorted((shared / "ytf68" / "images").glob("*.jpg"))[::97]
    crops = []
    with Pipeline(PipelineOptions(device="cpu", threads=1, precision="fp32")) as pipeline:
        for path in paths:
            frame = read_image(path)
            crops += [crop.crop_image(frame, face.roi_box) for face in pipeline.process(frame).faces]
            if len(crops) >= count:
                break
    assert len(crops) >= 20, "too few faces found for a comparison"
    return np.stack(crops)


def test_int8_landmarks_match_fp32_on_real_faces(regressor):
    """Quantisation moves the 68 landmarks by a fraction of a pixel of the 120×120 crop."""
    from frnet.facemodel import load_face_model

    crops = _real_face_crops()
    model = load_face_model()
    fp32 = model.landmarks68(regressor(crops))[..., :2]
    int8 = model.landmarks68(Regressor(device="cpu", threads=1, precision="int8")(crops))[..., :2]
    shift = np.linalg.norm(fp32 - int8, axis=-1)
    assert shift.mean() < 0.6, shift.mean()
    assert np.percentile(shift, 99) < 2.5, np.percentile(shift, 99)
