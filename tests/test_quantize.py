"""``python -m frnet.train.quantize``: the int8 graph it writes, and its scoring helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx (training extra) not installed")
pytest.importorskip("torch", reason="training extra (torch) not installed")  # frnet.train.train imports it

from frnet.facemodel import load_face_model  # noqa: E402
from frnet.regressor import ONNX_FILE, Regressor  # noqa: E402
from frnet.resources import resource_path  # noqa: E402
from frnet.train import quantize  # noqa: E402


@pytest.fixture(scope="module")
def int8_graph(tmp_path_factory):
    """The shipped float32 graph quantised with a handful of calibration crops."""
    out = tmp_path_factory.mktemp("int8") / "net_int8.onnx"
    calibration = np.random.default_rng(0).uniform(0, 255, (8, 3, 120, 120)).astype(np.float32)
    record = quantize.quantize(resource_path("models", ONNX_FILE), out, calibration, "minmax", "test noise")
    return out, record


def test_quantize_writes_a_loadable_int8_graph_with_provenance(int8_graph):
    out, record = int8_graph
    assert not out.with_name(out.name + ".part").exists()
    regressor = Regressor(out, device="cpu", threads=1)
    assert regressor.precision == "int8"
    stored = json.loads(regressor.metadata["frnet_quantization"])
    assert stored == record
    assert stored["calibration_crops"] == 8 and stored["calibration"] == "test noise"
    assert stored["source_graph_sha256"] == quantize.file_sha256(resource_path("models", ONNX_FILE))
    # the float32 graph's contract travels with it
    assert "frnet_param_std" in regressor.metadata and "frnet_face_model_sha256" in regressor.metadata
    crops = np.random.default_rng(1).integers(0, 256, (2, 120, 120, 3), dtype=np.uint8)
    params = regressor(crops)
    assert params.shape == (2, 62) and np.isfinite(params).all()


def test_unknown_method_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown calibration method"):
        quantize.quantize(resource_path("models", ONNX_FILE), tmp_path / "x.onnx", np.zeros((1, 3, 120, 120), np.float32),
                          "median")
    assert not list(tmp_path.iterdir())


def test_score_and_comparison_on_known_parameters():
    model = load_face_model()
    rng = np.random.default_rng(2)
    params = np.zeros((3, 62))
    params[:, :12] = [0.7, 0, 0, 60, 0, 0.7, 0, 60, 0, 0, 0.7, 0]  # upright face, centred in the crop
    params[:, 12:52] = rng.normal(size=(3, 40)) * model.identity_std
    params[:, 52:] = rng.normal(size=(3, 10)) * model.expression_std
    labels = {"params": params, "human68": np.full((3, 68, 2), np.nan), "yaw": np.array([5.0, 40.0, 70.0]),
              "synthetic": np.array([False, True, True])}
    exact = quantize.score(params, labels, model)
    assert exact["nme_vs_labels"] == pytest.approx(0.0, abs=1e-9)
    assert set(exact) >= {"nme_yaw_0_30", "nme_yaw_30_60", "nme_yaw_60_90"} and "nme_vs_human" not in exact
    moved = params.copy()
    moved[:, 3] += 2.0  # 2 px to the right
    assert quantize.compare_to_fp32(params, moved, model)["landmark_shift_px_mean"] == pytest.approx(2.0, abs=1e-6)
    assert quantize.score(moved, labels, model)["nme_vs_labels"] > 0


def test_accuracy_gap_flags_a_yaw_bin_that_loses_more_than_the_limit():
    fp32 = {"n": 10, "nme_vs_labels": 2.0, "nme_yaw_0_30": 1.8, "nme_yaw_30_60": 2.1, "nme_yaw_60_90": 3.0}
    ok = quantize.accuracy_gap(fp32, {**fp32, "nme_yaw_60_90": 3.08, "nme_vs_labels": 2.02})
    assert ok["within_limit"] and ok["worst_yaw_bin_gap"] == pytest.approx(0.08)
    assert ok["gaps"]["nme_vs_labels"] == pytest.approx(0.02) and "n" not in ok["gaps"]
    bad = quantize.accuracy_gap(fp32, {**fp32, "nme_yaw_30_60": 2.25})
    assert not bad["within_limit"] and bad["worst_yaw_bin_gap"] == pytest.approx(0.15)
