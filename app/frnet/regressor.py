"""The Mobile-FRNet stage: batched 120×120 crops → 62 parameters, through ONNX Runtime.

Execution providers are picked by availability in the order TensorRT → CUDA → CPU (``device="auto"``)
or forced (``"cpu"``, ``"cuda"``, ``"tensorrt"``). GPU providers only exist in the
``onnxruntime-gpu`` package, which replaces ``onnxruntime`` (never install both: they overwrite each
other's files). ONNX Runtime silently drops a provider whose libraries fail to load, so the
providers the session really got are read back and logged once.

Two graphs ship: ``mobilefrnet_v2.onnx`` (float32, the reference and what GPUs run) and
``mobilefrnet_v2_int8.onnx`` (the same network quantised by ``python -m frnet.train.quantize``;
1.7–1.8× faster on one CPU thread, landmarks 0.23 px from the float32 ones on average in the
120×120 crop; docs/performance.md, docs/accuracy.md).
``precision="auto"`` runs int8 on the CPU provider and float32 on GPU providers.

TensorRT builds an engine for the graph the first time it sees it (tens of seconds to minutes);
:func:`provider_options` turns on its engine and timing caches (default folder: the user cache,
``platformdirs.user_cache_dir("frnet")/tensorrt``) so later starts load the engine in
milliseconds, declares the batch range (1–64 crops) the engine must accept, and enables fp16
kernels when asked (``tensorrt_fp16``; ``scripts/gpu_check.sh`` measures whether accuracy holds).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .errors import FrnetError, ModelFileError
from .geometry import CROP_SIZE

log = logging.getLogger(__name__)

NETWORK_VERSION = "v2"  # the shipped Mobile-FRNet (models/README.md); its graphs are named after it
ONNX_FILE = f"mobilefrnet_{NETWORK_VERSION}.onnx"
INT8_ONNX_FILE = f"mobilefrnet_{NETWORK_VERSION}_int8.onnx"
PRECISIONS = ("auto", "fp32", "int8")
DEVICES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
AUTO_ORDER = ("tensorrt", "cuda", "cpu")


class DeviceUnavailableError(FrnetError):
    """A forced device's execution provider is not in this onnxruntime build."""


def select_providers(device: str = "auto", available: list[str] | None = None) -> list[str]:
    """Provider list for ``device``; CPU is always appended as the last resort.

    Raises:
        ValueError: unknown device name.
        DeviceUnavailableError: a forced device is not available in the installed onnxruntime.
    """
    import onnxruntime as ort

    available = list(ort.get_available_providers()) if available is None else list(available)
    if device == "auto":
        chosen = [DEVICES[d] for d in AUTO_ORDER if DEVICES[d] in available]
        if chosen and chosen[0] != DEVICES["cpu"]:
            log.info("ONNX Runtime providers by availability: %s", ", ".join(chosen))
        return chosen or [DEVICES["cpu"]]
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose from auto, {', '.join(DEVICES)}")
    provider = DEVICES[device]
    if provider not in available:
        raise DeviceUnavailableError(
            f"--device {device} needs ONNX Runtime's {provider}, which this installation lacks "
            f"(available: {', '.join(available)}). For GPUs: pip uninstall onnxruntime && pip install onnxruntime-gpu"
        )
    return [provider] if provider == DEVICES["cpu"] else [provider, DEVICES["cpu"]]


TENSORRT_MAX_BATCH = 64  # the TensorRT engine accepts batches of 1 … this many crops


def default_engine_cache() -> Path:
    """Where TensorRT engines are cached unless told otherwise."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("frnet")) / "tensorrt"


def provider_options(providers: list[str], engine_cache: str | Path | None = None,
                     tensorrt_fp16: bool = False, input_name: str = "input") -> list:
    """``providers`` as ONNX Runtime's ``(name, options)`` pairs: TensorRT with its engine and
    timing caches in ``engine_cache`` (default :func:`default_engine_cache`), a 1…64 batch profile
    and fp16 on request; CUDA with the exhaustive cuDNN convolution search (done once per shape);
    CPU as is."""
    out: list = []
    for name in providers:
        if name == DEVICES["tensorrt"]:
            folder = Path(engine_cache) if engine_cache is not None else default_engine_cache()
            shape = f"3x{CROP_SIZE}x{CROP_SIZE}"
            out.append((name, {
                "trt_engine_cache_enable": "True", "trt_engine_cache_path": str(folder),
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(folder),
                "trt_fp16_enable": "True" if tensorrt_fp16 else "False",
                "trt_profile_min_shapes": f"{input_name}:1x{shape}",
                "trt_profile_opt_shapes": f"{input_name}:8x{shape}",
                "trt_profile_max_shapes": f"{input_name}:{TENSORRT_MAX_BATCH}x{shape}",
            }))
        elif name == DEVICES["cuda"]:
            out.append((name, {"cudnn_conv_algo_search": "EXHAUSTIVE"}))
        else:
            out.append(name)
    return out


def shipped_graph(precision: str, provider: str) -> Path:
    """The shipped graph for ``precision`` on ``provider`` (``auto``: int8 on the CPU, float32 on GPUs).

    Raises:
        ValueError: unknown precision.
        ResourceMissingError: the graph is not installed.
    """
    from .resources import resource_path

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "auto":
        # GPU providers get the float32 graph: CUDA runs QDQ graphs through slow fallbacks, and
        # TensorRT builds its own reduced-precision engine from float32 when asked to.
        precision = "int8" if provider == DEVICES["cpu"] else "fp32"
    return resource_path("models", INT8_ONNX_FILE if precision == "int8" else ONNX_FILE)


def check_face_model_match(regressor, face_model) -> None:
    """Refuse a network and a face model that do not belong together: the network's 62 outputs are
    coefficients of one particular face model, and with another one every mesh and landmark is
    silently wrong.

    Compares the parameter counts, and the SHA-256 of the face model file the graph was exported
    with (ONNX metadata ``frnet_face_model_sha256``) with :attr:`FaceModel.file_sha256
    <frnet.facemodel.FaceModel.file_sha256>` of the loaded one. A graph without that metadata or a
    face model built in memory (no file) cannot be compared by hash and passes that part.

    Raises:
        ModelFileError: they do not match (names both files and the fix).
    """
    network = Path(getattr(regressor, "model_path", "the network")).name
    if int(regressor.num_params) != int(face_model.num_params):
        raise ModelFileError(
            f"network {network} predicts {regressor.num_params} parameters, but the face model has "
            f"{face_model.num_params}; use the face model the network was trained for"
        )
    expected = getattr(regressor, "metadata", {}).get("frnet_face_model_sha256")
    actual = face_model.file_sha256
    if not expected or not actual or expected == actual:
        return
    trained_for = getattr(regressor, "metadata", {}).get("frnet_face_model", "its face model")
    loaded = face_model.source_file or "the face model in use"
    raise ModelFileError(
        f"network {network} was trained for {trained_for} (SHA-256 {expected[:12]}…), but the face model "
        f"{loaded} has SHA-256 {actual[:12]}…, so its meshes and landmarks would be wrong; use the face "
        f"model shipped with the network (check FRNET_MODELS_DIR) or export the network for this face "
        f"model (python -m frnet.train.export)"
    )


class Regressor:
    """Runs the shipped (or a given) Mobile-FRNet ONNX graph on batches of crops.

    Args:
        model_path: ONNX file; default: the shipped graph for ``precision``.
        device: ``auto``, ``cpu``, ``cuda`` or ``tensorrt``.
        threads: intra-op threads for the CPU provider (``None``: ONNX Runtime's default).
        precision: which shipped graph, when ``model_path`` is not given: ``auto`` (int8 on the
            CPU provider, float32 on GPUs), ``fp32`` or ``int8``.
        engine_cache: TensorRT engine cache folder (default: :func:`default_engine_cache`).
        tensorrt_fp16: let TensorRT use fp16 kernels (the float32 graph stays the input).
    """

    def __init__(self, model_path: str | Path | None = None, device: str = "auto", threads: int | None = None,
                 precision: str = "auto", engine_cache: str | Path | None = None, tensorrt_fp16: bool = False):
        import onnxruntime as ort

        providers = select_providers(device)
        self.model_path = Path(model_path) if model_path is not None else shipped_graph(precision, providers[0])
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Spinning worker threads busy-wait between runs and steal the cores that decoding, drawing
        # and encoding need in the same process (measured: 2 threads 22.5 → 32.3 fps end to end).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if DEVICES["tensorrt"] in providers:
            folder = Path(engine_cache) if engine_cache is not None else default_engine_cache()
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise FrnetError(f"cannot create the TensorRT engine cache {folder}: {exc.strerror}") from exc
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), sess_options=options,
                providers=provider_options(providers, engine_cache, tensorrt_fp16))
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            if not self.model_path.is_file():
                raise ModelFileError(f"network file {self.model_path} does not exist") from exc
            raise ModelFileError(f"cannot load network {self.model_path}: {str(exc).splitlines()[0]}") from exc
        self.providers = self._session.get_providers()
        if self.providers[0] != providers[0]:
            log.warning("%s could not be used; running on %s", providers[0], self.providers[0])
        self._input = self._session.get_inputs()[0]
        shape = self._input.shape
        if len(shape) != 4 or shape[1:] != [3, CROP_SIZE, CROP_SIZE]:
            raise ModelFileError(f"{self.model_path}: input shape {shape} is not (batch, 3, {CROP_SIZE}, {CROP_SIZE})")
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.precision = self.metadata.get("frnet_precision", "fp32")
        output_shape = self._session.get_outputs()[0].shape
        if len(output_shape) != 2 or not isinstance(output_shape[-1], int) or output_shape[-1] < 1:
            raise ModelFileError(f"{self.model_path}: output shape {output_shape} is not (batch, parameters); "
                                 f"not a Mobile-FRNet graph")
        self.num_params = int(output_shape[-1])

    @property
    def device(self) -> str:
        return {v: k for k, v in DEVICES.items()}.get(self.providers[0], self.providers[0])

    def check_face_model(self, face_model) -> None:
        """Raise unless this graph was trained for ``face_model`` (see :func:`check_face_model_match`)."""
        check_face_model_match(self, face_model)

    def __call__(self, crops_rgb: np.ndarray) -> np.ndarray:
        """``(B, 120, 120, 3)`` uint8 RGB crops → ``(B, 62)`` float32 parameters (empty batch allowed)."""
        crops_rgb = np.asarray(crops_rgb)
        if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"crops must be (B, {CROP_SIZE}, {CROP_SIZE}, 3), got {crops_rgb.shape}")
        if len(crops_rgb) == 0:
            return np.zeros((0, self.num_params), np.float32)
        batch = np.ascontiguousarray(crops_rgb.transpose(0, 3, 1, 2), dtype=np.float32)
        return self._session.run(None, {self._input.name: batch})[0]

    def run_nchw(self, batch: np.ndarray) -> np.ndarray:
        """The graph alone on an already converted ``(B, 3, 120, 120)`` float32 batch (what
        ``__call__`` feeds it); for timing graphs against each other."""
        return self._session.run(None, {self._input.name: batch})[0]

    def describe(self) -> str:
        return json.dumps({"model": self.model_path.name, "precision": self.precision, "providers": self.providers})
