"""Faces per second of Mobile-FRNet on ONNX Runtime's GPU providers, and whether fp16 holds accuracy.

Run by ``scripts/gpu_check.sh`` inside an environment with ``onnxruntime-gpu`` (docs/performance.md,
"GPU"); it also runs, and reports every GPU row as n/a with the reason, on a CPU-only install::

    python scripts/bench_gpu.py [--batches 1 8 64] [--engine-cache DIR] [--json FILE] [--require-gpu]
    python scripts/bench_gpu.py --save-crops FILE.npz      # only write the real crops (for a machine
    python scripts/bench_gpu.py --crops FILE.npz …         # without the detector, e.g. a lent GPU)

Rows (each a :class:`frnet.regressor.Regressor` on the float32 graph, as the app builds it):

* ``cuda`` — CUDA provider;
* ``tensorrt fp32`` / ``tensorrt fp16`` — TensorRT provider with its engine cache in
  ``--engine-cache``; the first session builds the engine (timed as ``engine_build_s``), a second
  session loads it from the cache (``engine_load_s``);
* ``cpu int8`` — the CPU default on one thread, for scale.

Faces/s = batch ÷ median time of one call, the call including what the app's call includes (the
uint8 → float32 NCHW conversion on the host and the copies to and from the GPU). fp16 "holds" when
its 68 landmarks lie no farther from the CPU float32 graph's than the shipped int8 graph's do on the
CPU (mean ≤ 0.25 px, 99th percentile ≤ 1.0 px in the 120×120 crop), measured on real face crops
from ``../shared/data`` (from the bundled sample clip when that folder is absent).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FP16_MAX_MEAN_SHIFT_PX = 0.25
FP16_MAX_P99_SHIFT_PX = 1.0


def face_crops(count: int = 64) -> tuple[np.ndarray, str]:
    """Real face crops framed by the CPU float32 pipeline: ../shared photos, else the bundled sample clip."""
    from frnet import crop
    from frnet.datasets import shared_data_dir
    from frnet.pipeline import Pipeline, PipelineOptions
    from frnet.resources import resource_path
    from frnet.video import VideoReader, read_image

    shared = shared_data_dir()
    if shared is not None:
        paths = sorted((shared / "images").glob("*.jpg")) + sorted((shared / "ytf68" / "images").glob("*.jpg"))[::41]
        frames, where = (read_image(path) for path in paths), f"photos in {shared}"
    else:
        sample = resource_path("assets", "sample.mp4")
        frames, where = (frame.image_rgb for frame in VideoReader(sample)), f"the bundled {sample.name} (../shared/data absent)"
    crops = []
    with Pipeline(PipelineOptions(device="cpu", threads=1, precision="fp32")) as pipeline:
        for frame in frames:
            crops += [crop.crop_image(frame, face.roi_box) for face in pipeline.process(frame).faces]
            if len(crops) >= count:
                break
    if not crops:
        raise SystemExit(f"no face found in {where}: nothing to compare the precisions on")
    return np.stack(crops[:count]), f"{min(len(crops), count)} real face crops from {where}"


def landmark_shift(params_a: np.ndarray, params_b: np.ndarray) -> dict[str, float]:
    """How far two parameter sets' 68 landmarks lie apart, in crop pixels (mean, p99)."""
    from frnet.facemodel import load_face_model

    model = load_face_model()
    shift = np.linalg.norm(model.landmarks68(params_a)[..., :2] - model.landmarks68(params_b)[..., :2], axis=-1)
    return {"mean_px": float(shift.mean()), "p99_px": float(np.percentile(shift, 99))}


def time_batches(regressor, batches: list[int], seconds_per_batch: float = 2.0) -> dict[str, float]:
    """Faces/s per batch size (median call time), after a warm-up."""
    rng = np.random.default_rng(1)
    out = {}
    for batch in batches:
        crops = rng.integers(0, 256, (batch, 120, 120, 3), dtype=np.uint8)
        for _ in range(5):
            regressor(crops)
        times: list[float] = []
        deadline = time.perf_counter() + seconds_per_batch
        while len(times) < 20 or (time.perf_counter() < deadline and len(times) < 2000):
            start = time.perf_counter()
            regressor(crops)
            times.append(time.perf_counter() - start)
        out[f"batch{batch}_faces_per_s"] = batch / float(np.median(times))
        out[f"batch{batch}_ms_p90"] = 1e3 * float(np.percentile(times, 90))
    return out


def bench_row(name: str, device: str, batches: list[int], crops: np.ndarray, reference: np.ndarray,
              engine_cache: Path, fp16: bool = False, threads: int | None = None,
              precision: str = "fp32") -> dict:
    import onnxruntime as ort

    from frnet.regressor import DEVICES, Regressor

    provider = DEVICES[device]
    row: dict = {"name": name, "provider": provider}
    if provider not in ort.get_available_providers():
        row["reason"] = f"n/a: {provider} is not in this onnxruntime ({ort.get_device()} build)"
        return row
    start = time.perf_counter()
    regressor = Regressor(device=device, threads=threads, precision=precision, engine_cache=engine_cache,
                          tensorrt_fp16=fp16)
    params = regressor(crops[:1])  # TensorRT builds its engine on the first run
    row["engine_build_s" if device == "tensorrt" else "session_start_s"] = time.perf_counter() - start
    if regressor.providers[0] != provider:
        row["reason"] = f"n/a: ONNX Runtime fell back to {regressor.providers[0]} (see its log for the missing library)"
        return row
    if device == "tensorrt":
        start = time.perf_counter()
        regressor = Regressor(device=device, precision=precision, engine_cache=engine_cache, tensorrt_fp16=fp16)
        regressor(crops[:1])
        row["engine_load_s"] = time.perf_counter() - start
    params = np.concatenate([regressor(crops[i:i + 8]) for i in range(0, len(crops), 8)])
    row["vs_cpu_fp32"] = landmark_shift(reference, params)
    row.update(time_batches(regressor, batches))
    return row


def format_rows(rows: list[dict], batches: list[int]) -> str:
    lines = ["| graph / provider | " + " | ".join(f"batch {b} faces/s" for b in batches)
             + " | landmarks vs CPU fp32 (mean / p99 px) | engine build / cached load (s) |",
             "|---" * (len(batches) + 3) + "|"]
    for row in rows:
        if "reason" in row:
            lines.append(f"| {row['name']} | " + " | ".join("–" for _ in batches) + f" | {row['reason']} | |")
            continue
        shift = row["vs_cpu_fp32"]
        engine = (f"{row['engine_build_s']:.1f} / {row['engine_load_s']:.2f}" if "engine_build_s" in row else "")
        lines.append(f"| {row['name']} | " + " | ".join(f"{row[f'batch{b}_faces_per_s']:,.0f}" for b in batches)
                     + f" | {shift['mean_px']:.3f} / {shift['p99_px']:.3f} | {engine} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--engine-cache", type=Path, default=None,
                        help="TensorRT engine cache (default: a fresh temporary folder, so the build is timed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--require-gpu", action="store_true", help="exit 1 unless the CUDA row ran on the GPU")
    parser.add_argument("--crops", type=Path, default=None,
                        help="real face crops saved by --save-crops (no detector needed here)")
    parser.add_argument("--save-crops", type=Path, default=None, metavar="FILE",
                        help="write the real face crops to FILE (.npz) and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from frnet.regressor import TENSORRT_MAX_BATCH, Regressor

    if max(args.batches) > TENSORRT_MAX_BATCH or min(args.batches) < 1:
        parser.error(f"batches must be 1 … {TENSORRT_MAX_BATCH} (the TensorRT engine's profile)")
    if args.save_crops:
        crops, source = face_crops()
        args.save_crops.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.save_crops.with_name(args.save_crops.name + ".tmp.npz")
        np.savez_compressed(tmp, crops=crops, source=np.array(source))
        tmp.replace(args.save_crops)
        print(f"{args.save_crops}: {source}")
        return 0
    if args.crops:
        try:
            with np.load(args.crops) as saved:
                crops, source = saved["crops"], str(saved["source"])
        except (OSError, KeyError, ValueError) as exc:
            print(f"error: {args.crops} holds no saved crops (--save-crops): {exc}", file=sys.stderr)
            return 2
        if crops.ndim != 4 or crops.shape[1:] != (120, 120, 3) or crops.dtype != np.uint8:
            print(f"error: {args.crops}: crops of shape {crops.shape} {crops.dtype}, not (N, 120, 120, 3) uint8",
                  file=sys.stderr)
            return 2
    else:
        crops, source = face_crops()
    reference = Regressor(device="cpu", threads=1, precision="fp32")(crops)
    with tempfile.TemporaryDirectory(prefix="frnet-trt-") as tmp:
        cache = args.engine_cache or Path(tmp)
        rows = [
            bench_row("cuda fp32", "cuda", args.batches, crops, reference, cache),
            bench_row("tensorrt fp32", "tensorrt", args.batches, crops, reference, cache / "fp32"),
            bench_row("tensorrt fp16", "tensorrt", args.batches, crops, reference, cache / "fp16", fp16=True),
            bench_row("cpu int8 (1 thread)", "cpu", args.batches, crops, reference, cache, threads=1, precision="int8"),
        ]
    fp16 = next(r for r in rows if r["name"] == "tensorrt fp16")
    if "vs_cpu_fp32" in fp16:
        shift = fp16["vs_cpu_fp32"]
        holds = shift["mean_px"] <= FP16_MAX_MEAN_SHIFT_PX and shift["p99_px"] <= FP16_MAX_P99_SHIFT_PX
        verdict = (f"fp16 {'holds' if holds else 'does NOT hold'} accuracy: landmarks {shift['mean_px']:.3f} px mean, "
                   f"{shift['p99_px']:.3f} px p99 from the CPU float32 graph (bar: {FP16_MAX_MEAN_SHIFT_PX} / "
                   f"{FP16_MAX_P99_SHIFT_PX} px)")
    else:
        holds, verdict = None, f"fp16: {fp16['reason']}"
    print(f"crops for the accuracy columns: {source}")
    print(format_rows(rows, args.batches))
    print(verdict)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"crops": source, "rows": rows, "fp16_holds": holds}, indent=1) + "\n")
    cuda = rows[0]
    if args.require_gpu and "reason" in cuda:
        print(f"error: {cuda['reason']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
