"""The ONNX Runtime regressor: provider selection and fallback, model-file errors, output shapes."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from frnet import regressor as regressor_module
from frnet.errors import FrnetError, ModelFileError, ResourceMissingError
from frnet.geometry import CROP_SIZE
from frnet.regressor import DEVICES, DeviceUnavailableError, Regressor, select_providers

TRT, CUDA, CPU = DEVICES["tensorrt"], DEVICES["cuda"], DEVICES["cpu"]


def _shipped_network_or_skip():
    from frnet.resources import resource_path

    try:
        return resource_path("models", regressor_module.ONNX_FILE)
    except ResourceMissingError as exc:
        pytest.skip(f"network not built: {exc}")


@pytest.fixture(scope="module")
def regressor() -> Regressor:
    _shipped_network_or_skip()
    return Regressor(device="cpu", threads=1)


# -- provider selection (fake availability lists) -------------------------------------------------
@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ([CPU, CUDA, TRT], [TRT, CUDA, CPU]),  # order of preference, not of the list
        ([CUDA, CPU], [CUDA, CPU]),
        ([TRT, CPU], [TRT, CPU]),
        ([CPU], [CPU]),
        (["AzureExecutionProvider", CPU], [CPU]),
    ],
)
def test_auto_picks_by_preference(available, expected):
    assert select_providers("auto", available) == expected


@pytest.mark.parametrize(("device", "expected"), [("cpu", [CPU]), ("cuda", [CUDA, CPU]), ("tensorrt", [TRT, CPU])])
def test_forced_device_keeps_cpu_as_last_resort(device, expected):
    assert select_providers(device, [TRT, CUDA, CPU]) == expected


@pytest.mark.parametrize("device", ["cuda", "tensorrt"])
def test_forced_unavailable_device_names_the_fix(device):
    with pytest.raises(DeviceUnavailableError) as info:
        select_providers(device, [CPU])
    message = str(info.value)
    assert f"--device {device}" in message
    assert "pip install onnxruntime-gpu" in message
    assert isinstance(info.value, FrnetError)  # so the CLI reports it in one line


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device"):
        select_providers("tpu", [CPU])


def test_auto_without_any_known_provider_falls_back_to_cpu():
    assert select_providers("auto", ["AzureExecutionProvider"]) == [CPU]


def test_auto_fallback_on_this_machine(regressor):
    import onnxruntime as ort

    auto = Regressor(device="auto", threads=1)
    assert auto.providers[-1] == CPU
    assert auto.providers[0] == select_providers("auto", ort.get_available_providers())[0] or auto.providers[0] == CPU
    assert auto.device in DEVICES


@pytest.mark.filterwarnings("ignore:Specified provider:UserWarning")
def test_provider_dropped_by_onnxruntime_is_logged(monkeypatch, caplog):
    """ONNX Runtime silently drops a provider it cannot load; the regressor reads back what it got."""
    import onnxruntime as ort

    _shipped_network_or_skip()
    if CUDA in ort.get_available_providers():
        pytest.skip("CUDA is really available here")
    monkeypatch.setattr(regressor_module, "select_providers", lambda device: [CUDA, CPU])
    with caplog.at_level(logging.WARNING, logger="frnet.regressor"):
        fallback = Regressor(device="cuda", threads=1)
    assert fallback.providers == [CPU]
    assert "running on CPUExecutionProvider" in caplog.text


# -- model files ------------------------------------------------------------------------------------
def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        Regressor(tmp_path / "nope.onnx", device="cpu")


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf" * 10)
    with pytest.raises(ModelFileError, match="cannot load network"):
        Regressor(path, device="cpu")


def test_empty_model_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError):
        Regressor(path, device="cpu")


# -- outputs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_output_shape(regressor, batch):
    crops = np.random.default_rng(batch).integers(0, 256, (batch, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    params = regressor(crops)
    assert params.shape == (batch, 62)
    assert params.dtype == np.float32
    assert np.isfinite(params).all()


def test_batch_rows_are_independent(regressor):
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (3, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    together = regressor(crops)
    alone = np.concatenate([regressor(crops[i:i + 1]) for i in range(3)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(CROP_SIZE, CROP_SIZE, 3), (1, 3, CROP_SIZE, CROP_SIZE), (2, 64, 64, 3)])
def test_wrong_crop_shape(regressor, shape):
    with pytest.raises(ValueError, match="crops must be"):
        regressor(np.zeros(shape, np.uint8))


def test_metadata_describes_the_parameters(regressor):
    assert regressor.num_params == 62
    assert "frnet_param_std" in regressor.metadata
    assert "CPUExecutionProvider" in regressor.describe()


# -- precision: which shipped graph runs ------------------------------------------------------------
@pytest.mark.parametrize(
    ("precision", "provider", "expected"),
    [
        ("auto", CPU, regressor_module.INT8_ONNX_FILE),  # int8 is the fast CPU graph
        ("auto", CUDA, regressor_module.ONNX_FILE),  # GPUs run the float32 reference
        ("auto", TRT, regressor_module.ONNX_FILE),
        ("fp32", CPU, regressor_module.ONNX_FILE),
        ("int8", CPU, regressor_module.INT8_ONNX_FILE),
        ("int8", CUDA, regressor_module.INT8_ONNX_FILE),  # forced: the user's choice stands
    ],
)
def test_shipped_graph_by_precision_and_provider(precision, provider, expected):
    _shipped_network_or_skip()
    assert regressor_module.shipped_graph(precision, provider).name == expected


def test_unknown_precision_is_a_value_error():
    with pytest.raises(ValueError, match="unknown precision"):
        regressor_module.shipped_graph("fp16", CPU)


def test_precision_comes_from_the_graph_metadata():
    _shipped_network_or_skip()
    assert Regressor(device="cpu", threads=1).precision == "int8"
    fp32 = Regressor(device="cpu", threads=1, precision="fp32")
    assert fp32.precision == "fp32"
    assert '"precision": "fp32"' in fp32.describe()


def test_int8_and_fp32_graphs_agree_on_random_crops():
    """Both graphs are the same network: even on noise, far from any face they were calibrated on,
    their parameters stay within a fraction of the parameters' spread (the landmark-level
    comparison on real faces is in test_shipped_network)."""
    _shipped_network_or_skip()
    crops = np.random.default_rng(5).integers(0, 256, (4, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    fp32_regressor = Regressor(device="cpu", threads=1, precision="fp32")
    fp32 = fp32_regressor(crops)
    int8 = Regressor(device="cpu", threads=1, precision="int8")(crops)
    std = np.asarray(json.loads(fp32_regressor.metadata["frnet_param_std"]))
    assert np.median(np.abs(int8 - fp32) / std) < 0.3  # in units of the parameters' spread (measured 0.17)


# -- GPU provider options (no GPU needed: only the option lists are checked) ------------------------
def test_tensorrt_options_cache_the_engine_and_declare_the_batch_range(tmp_path):
    from frnet.regressor import TENSORRT_MAX_BATCH, provider_options

    (trt_name, trt), (cuda_name, cuda), cpu = provider_options([TRT, CUDA, CPU], tmp_path / "engines", tensorrt_fp16=True)
    assert (trt_name, cuda_name, cpu) == (TRT, CUDA, CPU)
    assert trt["trt_engine_cache_enable"] == "True" and trt["trt_engine_cache_path"] == str(tmp_path / "engines")
    assert trt["trt_timing_cache_path"] == str(tmp_path / "engines")
    assert trt["trt_fp16_enable"] == "True"
    assert trt["trt_profile_min_shapes"] == f"input:1x3x{CROP_SIZE}x{CROP_SIZE}"
    assert trt["trt_profile_max_shapes"] == f"input:{TENSORRT_MAX_BATCH}x3x{CROP_SIZE}x{CROP_SIZE}"
    assert provider_options([TRT])[0][1]["trt_fp16_enable"] == "False"  # fp16 only on request
    assert cuda["cudnn_conv_algo_search"] == "EXHAUSTIVE"


def test_default_engine_cache_is_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    from frnet.regressor import default_engine_cache

    assert default_engine_cache() == tmp_path / "frnet" / "tensorrt"
