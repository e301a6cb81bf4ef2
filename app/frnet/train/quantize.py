"""Post-training int8 quantisation of the shipped graph for CPUs (``models/mobilefrnet_v2_int8.onnx``).

::

    python -m frnet.train.quantize                       # calibrate on the training cache, compare, write
    python -m frnet.train.quantize --images DIR ...      # calibrate on faces found in your own photos

**Why.** On one CPU thread the float32 graph spends most of its time in 1×1 convolutions; ONNX
Runtime's int8 kernels (VNNI on current x86, dot-product instructions on ARM) run the same graph
1.7–1.8× faster (docs/performance.md). The float32 graph stays the reference: it is what the
GPU providers run and what the torch parity test checks.

**How.** ONNX Runtime static quantisation in QDQ form: int8 weights, symmetric and per output
channel; uint8 activations, asymmetric, one scale per tensor. (int8 activations were measured
2.3× *slower* on the x86 CPUs here: ORT's fast x86 kernels are u8×s8.) The activation ranges come
from calibration crops of the *training* split (real photos and profiled large-yaw views, framed
as in training, half of them with the training augmentations so occluded and blurred faces are
covered). ``--method`` picks how a range is read from the calibration activations; the report
compares the methods tried on the *validation* split (held-out persons) and the best one is kept.

The input normalisation, the stem and Layer1 (60×60, where ORT's int8 kernels are slower than
its float ones) and the regressor tail stay float32 (:func:`float_nodes`).

The written graph carries the float32 graph's metadata plus ``frnet_precision = int8``,
``frnet_quantization`` (method, calibration source and count, versions) and the sha256 of the
float32 file it was made from, so a stale int8 file is detectable (tests check it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import geometry
from ..regressor import INT8_ONNX_FILE, ONNX_FILE
from .export import file_sha256

log = logging.getLogger(__name__)

METHODS = ("minmax", "percentile", "entropy")
PERCENTILE = 99.999  # of |activation|: drops one value in 10^5 from the range


# ----------------------------------------------------------------------------------- calibration data

def dataset_crops(dataset_dir: Path, split: str, count: int | None, seed: int = 0,
                  augmented_fraction: float = 0.0, recipe: str = "v2") -> tuple[np.ndarray, dict]:
    """``(N, 3, 120, 120)`` float32 crops (0..255) of ``split`` from the training cache, plus their
    labels (``params``, ``human68``, ``yaw``, ``synthetic``) for scoring.

    ``count=None`` takes every sample of the split in order; otherwise a seeded random subset, of
    which ``augmented_fraction`` get the training augmentations. ``recipe`` picks the label caches
    as training does (``v2``: with the real large-pose AFLW/300-W faces; ``v1``: teacher + profiled).
    """
    from ..facemodel import load_face_model
    from .train import V1_PARTS, V2_PARTS, TrainingData

    data = TrainingData(Path(dataset_dir), load_face_model(), parts=V2_PARTS if recipe == "v2" else V1_PARTS)
    indices = data.indices(split)
    if len(indices) == 0:
        raise ValueError(f"{dataset_dir} has no samples in split {split!r}")
    rng = np.random.default_rng(seed)
    if count is not None:
        indices = rng.choice(indices, size=min(count, len(indices)), replace=False)
    n_augmented = int(round(len(indices) * augmented_fraction))
    crops, params, humans = [], [], []
    for start in range(0, len(indices), 64):
        chunk = indices[start:start + 64]
        images, p, h = data.batch(chunk, rng, train=start < n_augmented)
        crops.append(np.ascontiguousarray(images.numpy(), dtype=np.float32))
        params.append(p.numpy())
        humans.append(h.numpy())
    labels = {"params": np.concatenate(params), "human68": np.concatenate(humans),
              "yaw": np.abs(data.yaw[indices]), "synthetic": data.synthetic[indices]}
    return np.concatenate(crops), labels


def image_crops(paths: list[Path], count: int) -> np.ndarray:
    """Crops of the faces frnet finds in ``paths`` (image mode, float32 graph), for users without the
    training cache. At most ``count`` crops."""
    from .. import crop
    from ..pipeline import Pipeline, PipelineOptions
    from ..regressor import Regressor
    from ..video import read_image

    crops = []
    with Pipeline(PipelineOptions(device="cpu", threads=1), regressor=Regressor(device="cpu", precision="fp32")) as pipeline:
        for path in paths:
            try:
                frame = read_image(path)
            except Exception as exc:  # an unreadable file is skipped, not fatal, for calibration
                log.warning("skipping %s: %s", path, exc)
                continue
            for face in pipeline.process(frame).faces:
                crops.append(crop.crop_image(frame, face.roi_box))
            if len(crops) >= count:
                break
    if not crops:
        raise ValueError("no face found in the calibration images")
    return np.stack(crops[:count]).transpose(0, 3, 1, 2).astype(np.float32)


# ----------------------------------------------------------------------------------- quantisation

FIRST_INT8_STAGE = "/net/stages/stages.1/"  # node-name prefix of Layer2 in the exported graph


def float_nodes(graph) -> list[str]:
    """Names of the nodes that stay float32: everything before Layer2 (input normalisation, stem
    conv, Layer1) and everything after the global average pool (the 1280→62 regressor conv and the
    parameter de-normalisation).

    Why the tail: one uint8 scale per tensor cannot serve 62 outputs whose ranges differ by orders
    of magnitude (translations in pixels, rotations below 1, shape coefficients); quantising them
    moved the landmarks by ~9 px. It is one 1×1 conv on a 1×1 map, so float costs nothing.
    Why the head: at 60×60 with 3 to 32 channels, ONNX Runtime's int8 stem and narrow depthwise
    kernels are *slower* than its float32 ones (measured 430 → 210 µs), and keeping them float
    halves the landmark shift from the float32 graph (0.38 → 0.24 px; docs/training.md).
    """
    nodes = list(graph.node)
    pools = [i for i, node in enumerate(nodes) if node.op_type == "GlobalAveragePool"]
    starts = [i for i, node in enumerate(nodes) if node.name.startswith(FIRST_INT8_STAGE)]
    if not pools or not starts:
        raise ValueError("not a Mobile-FRNet graph: no Layer2 nodes or no GlobalAveragePool")
    keep = nodes[:starts[0]] + nodes[pools[-1] + 1:]
    return [node.name for node in keep if node.op_type != "Constant"]


def quantize(fp32_path: Path, out: Path, calibration: np.ndarray, method: str = "percentile",
             calibration_source: str = "", keep_float=None) -> dict:
    """Write the int8 QDQ graph of ``fp32_path`` to ``out`` (atomically); returns its quantisation
    record (also stored in the graph's metadata as ``frnet_quantization``). ``keep_float`` (graph →
    node names left float32) replaces :func:`float_nodes`, for timing other splits
    (``scripts/bench_graphs.py --splits``)."""
    import onnx
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; choose from {', '.join(METHODS)}")

    class Reader(CalibrationDataReader):
        def __init__(self, batches: list[np.ndarray]):
            self._batches = iter(batches)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {"input": batch}

    out = Path(out)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="frnet_quantize_") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference + constant folding first, as ONNX Runtime's quantiser recommends.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        calibrate = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                     "entropy": CalibrationMethod.Entropy}[method]
        quantized = Path(tmp) / "int8.onnx"
        keep_float = (keep_float or float_nodes)(onnx.load(str(prepared)).graph)
        quantize_static(
            str(prepared), str(quantized), Reader([calibration[i:i + 32] for i in range(0, len(calibration), 32)]),
            quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, calibrate_method=calibrate, nodes_to_exclude=keep_float,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False,
                           "CalibPercentile": PERCENTILE, "CalibTensorRangeSymmetric": False},
        )
        record = {
            "method": method if method != "percentile" else f"percentile {PERCENTILE}",
            "format": "QDQ; weights int8 symmetric per channel; activations uint8 asymmetric per tensor",
            "float32_nodes": keep_float,
            "calibration": calibration_source, "calibration_crops": int(len(calibration)),
            "source_graph": Path(fp32_path).name, "source_graph_sha256": file_sha256(Path(fp32_path)),
            "onnxruntime": onnxruntime.__version__,
            "date": dt.date.today().isoformat(),
            "seconds": round(time.perf_counter() - start, 1),
        }
        graph = onnx.load(str(quantized))
        source_meta = {p.key: p.value for p in onnx.load(str(fp32_path), load_external_data=False).metadata_props}
        source_meta.update({"frnet_precision": "int8", "frnet_quantization": json.dumps(record)})
        del graph.metadata_props[:]
        for key, value in source_meta.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        graph.producer_name = "frnet"
        staged = out.with_name(out.name + ".part")
        onnx.save(graph, str(staged))
        staged.replace(out)
    log.info("wrote %s (%s, %d calibration crops, %.0f s)", out, record["method"], len(calibration), record["seconds"])
    return record


# ----------------------------------------------------------------------------------- evaluation

def run_graph(path: Path, crops: np.ndarray, threads: int = 2) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": crops[i:i + 64]})[0] for i in range(0, len(crops), 64)])


def score(params: np.ndarray, labels: dict, face_model) -> dict:
    """:func:`frnet.train.train.landmark_scores` in percent, with the sample count."""
    from .train import landmark_scores

    scores = landmark_scores(params, labels["params"], labels["human68"], labels["yaw"], face_model)
    return {"n": int(len(params)), **{key: 100 * value for key, value in scores.items()}}


def compare_to_fp32(params_fp32: np.ndarray, params_int8: np.ndarray, face_model) -> dict:
    """How far the int8 graph's 68 landmarks move from the float32 graph's, in 120×120 crop pixels."""
    a = face_model.landmarks68(params_fp32)[..., :2]
    b = face_model.landmarks68(params_int8)[..., :2]
    shift = np.linalg.norm(a - b, axis=-1)
    return {"landmark_shift_px_mean": float(shift.mean()), "landmark_shift_px_p99": float(np.percentile(shift, 99)),
            "landmark_shift_px_max": float(shift.max()), "crop_size": geometry.CROP_SIZE}


MAX_BIN_GAP = 0.1  # NME points (percent): the int8 graph may lose at most this much in any |yaw| bin


def accuracy_gap(fp32: dict, int8: dict) -> dict:
    """int8 minus float32 for every NME of the validation scores, the worst |yaw| bin's gap and
    whether it stays within ``MAX_BIN_GAP``."""
    gaps = {key: int8[key] - fp32[key] for key in fp32 if key.startswith("nme") and key in int8}
    bins = {key: value for key, value in gaps.items() if "_yaw_" in key}
    worst = max(bins.values()) if bins else float("nan")
    return {"gaps": gaps, "worst_yaw_bin_gap": worst, "within_limit": bool(worst <= MAX_BIN_GAP),
            "limit": MAX_BIN_GAP}


# ----------------------------------------------------------------------------------- command line

def main(argv=None) -> int:
    from ..facemodel import load_face_model
    from ..resources import resource_path
    from .labels import DEFAULT_DIR

    parser = argparse.ArgumentParser(description="Quantise the shipped Mobile-FRNet graph to int8 for CPUs.")
    parser.add_argument("--model", type=Path, default=None, help=f"float32 graph (default: the shipped {ONNX_FILE})")
    parser.add_argument("--out", type=Path, default=Path("models") / INT8_ONNX_FILE)
    parser.add_argument("--data", type=Path, default=DEFAULT_DIR, help="training cache (python -m frnet.train.labels)")
    parser.add_argument("--images", type=Path, nargs="+", help="calibrate on faces in these images/folders instead")
    parser.add_argument("--calibration", type=int, default=512, help="calibration crops")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["minmax", "percentile"],
                        help="calibration methods to try; the one with the lowest validation NME is kept")
    parser.add_argument("--report", type=Path, default=None, help="write the comparison as JSON here")
    parser.add_argument("--recipe", choices=("v1", "v2"), default="v2",
                        help="label caches to calibrate and validate on, as in training (default v2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    fp32 = args.model or resource_path("models", ONNX_FILE)
    face_model = load_face_model()

    if args.images:
        from ..video import IMAGE_SUFFIXES
        paths = []
        for item in args.images:
            paths += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if item.is_dir() else [item]
        calibration, source = image_crops(paths, args.calibration), f"faces in {len(paths)} user images"
        validation = None
    else:
        calibration, _ = dataset_crops(args.data, "train", args.calibration, seed=0, augmented_fraction=0.5,
                                       recipe=args.recipe)
        source = (f"{len(calibration)} random training-split crops of {args.data} ({args.recipe} label caches: "
                  "real photos + profiled views; half with training augmentations)")
        validation = dataset_crops(args.data, "val", None, recipe=args.recipe)
        log.info("validation: %d crops of held-out persons", len(validation[0]))

    report = {"fp32_graph": str(fp32), "methods": {}}
    if validation is not None:
        fp32_params = run_graph(fp32, validation[0])
        report["fp32"] = score(fp32_params, validation[1], face_model)
    best_key, best_value = None, np.inf
    with tempfile.TemporaryDirectory(prefix="frnet_int8_") as tmp:
        for method in args.methods:
            candidate = Path(tmp) / f"{method}.onnx"
            record = quantize(fp32, candidate, calibration, method, source)
            entry = {"quantization": record}
            if validation is not None:
                params = run_graph(candidate, validation[0])
                entry["int8"] = score(params, validation[1], face_model)
                entry["vs_fp32"] = compare_to_fp32(fp32_params, params, face_model)
                value = entry["int8"]["nme_vs_labels"]
            else:
                value = len(report["methods"])  # without a validation set, the first method listed wins
            report["methods"][method] = entry
            log.info("%s: %s", method, json.dumps({k: v for k, v in entry.items() if k != "quantization"}))
            if value < best_value:
                best_key, best_value = method, value
        report["chosen"] = best_key
        if validation is not None:
            report["int8_minus_fp32"] = accuracy_gap(report["fp32"], report["methods"][best_key]["int8"])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        staged = args.out.with_name(args.out.name + ".part")  # same folder as the target: rename is atomic
        shutil.copyfile(Path(tmp) / f"{best_key}.onnx", staged)
        staged.replace(args.out)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({"out": str(args.out), "chosen": best_key,
                      **({"fp32": report["fp32"], "int8": report["methods"][best_key]["int8"],
                          "int8_minus_fp32": report["int8_minus_fp32"]} if validation else {})},
                     indent=1))
    if validation is not None and not report["int8_minus_fp32"]["within_limit"]:
        log.warning("the int8 graph loses %.3f NME points in its worst |yaw| bin (limit %.1f)",
                    report["int8_minus_fp32"]["worst_yaw_bin_gap"], MAX_BIN_GAP)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
