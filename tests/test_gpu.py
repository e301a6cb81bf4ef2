"""The GPU providers for real (CUDA, TensorRT): same numbers as the CPU, engine cache, fp16, the pipeline.

These run only where ``onnxruntime-gpu`` sees a GPU — ``scripts/gpu_check.sh`` builds that environment
and runs them; elsewhere they skip with the reason (the provider choice itself is tested with fake
provider lists in test_regressor.py).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from frnet.regressor import DEVICES, Regressor  # noqa: E402

pytestmark = pytest.mark.gpu
AVAILABLE = ort.get_available_providers()
needs_cuda = pytest.mark.skipif(DEVICES["cuda"] not in AVAILABLE,
                                reason=f"no CUDA provider in this onnxruntime ({', '.join(AVAILABLE)}); "
                                       "scripts/gpu_check.sh sets up onnxruntime-gpu")


def _tensorrt_runtime() -> str | None:
    """Why TensorRT cannot run here (``None`` when it can): onnxruntime-gpu always lists its provider,
    which needs TensorRT's own libnvinfer (the tensorrt wheel; a lent device machine has none)."""
    import ctypes

    if DEVICES["tensorrt"] not in AVAILABLE:
        return "no TensorRT provider in this onnxruntime; scripts/gpu_check.sh"
    for major in (10, 11, 9, 8):
        try:
            ctypes.CDLL(f"libnvinfer.so.{major}")
            return None
        except OSError:
            continue
    return "TensorRT's libnvinfer is not loadable here (no tensorrt wheel: gpu_check.sh installs it)"


needs_tensorrt = pytest.mark.skipif(_tensorrt_runtime() is not None, reason=str(_tensorrt_runtime()))


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (8, 120, 120, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def cpu_params(crops) -> np.ndarray:
    return Regressor(device="cpu", threads=1, precision="fp32")(crops)


def _relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(got - expected) / (np.abs(expected).max(axis=0) + 1e-6)))


def _on(regressor: Regressor, device: str) -> None:
    if regressor.providers[0] != DEVICES[device]:
        pytest.fail(f"{DEVICES[device]} is listed but ONNX Runtime fell back to {regressor.providers[0]} "
                    "(a CUDA/cuDNN/TensorRT library failed to load; see the log above)")


@needs_cuda
def test_cuda_matches_the_cpu(crops, cpu_params):
    regressor = Regressor(device="cuda", precision="auto")
    _on(regressor, "cuda")
    assert regressor.precision == "fp32"  # auto = float32 on GPUs
    assert _relative_error(regressor(crops), cpu_params) < 1e-3
    assert regressor(crops[:0]).shape == (0, 62)


@needs_tensorrt
def test_tensorrt_matches_the_cpu_and_caches_its_engine(tmp_path, crops, cpu_params):
    start = time.perf_counter()
    regressor = Regressor(device="tensorrt", engine_cache=tmp_path)
    _on(regressor, "tensorrt")
    first = regressor(crops)
    build_s = time.perf_counter() - start
    assert _relative_error(first, cpu_params) < 1e-3
    assert any(tmp_path.iterdir()), "no engine written to the cache"
    start = time.perf_counter()
    again = Regressor(device="tensorrt", engine_cache=tmp_path)
    np.testing.assert_allclose(again(crops), first, rtol=1e-5, atol=1e-5)
    assert time.perf_counter() - start < max(5.0, build_s / 2), "the cached engine was not reused"
    for batch in (1, 3, 64):  # the engine's profile covers the pipeline's and the bench's batches
        assert again(np.resize(crops, (batch, 120, 120, 3))).shape == (batch, 62)


@needs_tensorrt
def test_tensorrt_fp16_landmarks_stay_close(tmp_path, crops, cpu_params):
    from frnet.facemodel import load_face_model

    regressor = Regressor(device="tensorrt", engine_cache=tmp_path, tensorrt_fp16=True)
    _on(regressor, "tensorrt")
    model = load_face_model()
    shift = np.linalg.norm(model.landmarks68(regressor(crops))[..., :2] - model.landmarks68(cpu_params)[..., :2], axis=-1)
    assert np.percentile(shift, 99) < 2.0, shift.max()


@needs_cuda
def test_pipeline_on_a_real_photo_with_the_gpu():
    pytest.importorskip("mediapipe", reason="no face detector here (a lent GPU machine: gpu_check.sh --device-machine)")
    from frnet.datasets import shared_data_dir
    from frnet.pipeline import Pipeline, PipelineOptions
    from frnet.video import read_image

    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    frame = read_image(shared / "images" / "trump_hillary.jpg")
    with Pipeline(PipelineOptions(device="cuda", precision="fp32")) as gpu, \
            Pipeline(PipelineOptions(device="cpu", precision="fp32")) as cpu:
        gpu_faces, cpu_faces = gpu.process(frame).faces, cpu.process(frame).faces
    assert len(gpu_faces) == len(cpu_faces) == 2
    for a, b in zip(gpu_faces, cpu_faces):
        assert np.abs(a.landmarks68 - b.landmarks68).max() < 1.0
