"""``frnet-app bench``: where the time goes, per stage, on real clips, at 1 and 2 threads.

For every clip (default: the videos of ``../shared/data/videos`` when present, else the bundled
sample ``assets/sample.mp4``, which also ships in the wheel) and frame size (the clip's own,
640×480 and 1280×720 — the clip letterboxed into that size, so faces keep their shape), and every
thread count, the full ``--video`` job runs on ``--frames`` frames: decode (PyAV) → detect → track →
crop → infer → reconstruct → render (overlay: mesh + landmarks) → encode (H.264 to a temporary
file). Reported per stage: median and 90th percentile milliseconds per frame; end to end: frames
per second over the whole loop. The first ``--warmup`` frames are run but not counted.

Also measured in the same run:

* the regressor alone (random crops; batch 1 and batch 4, per thread count), for both shipped
  graphs (float32 and int8; the video runs use ``--precision``, default ``auto`` = int8 on the
  CPU): the network's cost does not depend on its weights, only on the graph;
* the *shared yardstick* ``../shared/ref/mobilenetv2_62_120.onnx`` (a standard MobileNetV2-62,
  float32, random weights; see its README): both shipped graphs and the yardstick run as graphs
  alone (the same float32 input batch, 1 thread, batch 1, the app's session options) in
  alternating blocks, ``--rounds`` times; each round gives each graph's time relative to the
  yardstick's, and the report gives the median ratio and its spread (min–max over the rounds).
  Small cloud machines differ up to 2× in speed between sessions and other work on the host
  drifts during a run; the ratios hold across both. A missing file skips this with the reason;
* the *frame loop before rendering*: the pipeline alone (detect → track → crop → infer →
  reconstruct, video mode, 1 thread) on each clip's frames, decoded in the same thread outside
  the timer — exactly how the peer is timed — so the two per-frame costs compare directly. The
  pipeline's stage timers split its whole ``process`` call (smoothing is counted in ``track``),
  so the per-frame ``sum`` is the call's wall time, not just the timed parts of it;
* the peer reference: MediaPipe Face Mesh (legacy ``solutions.face_mesh``) on the same frames,
  through ``scripts/bench_face_mesh.py`` in the build environment ``.venv-build`` (it needs
  ``mediapipe==0.10.21``) of a source checkout; optional: marked ``n/a`` with the reason (no
  checkout, no build environment) when it cannot run, and ``--no-peer`` skips it.

As in ``frnet-app --video``, decoding and encoding run in their own threads and overlap the
processing, so the end-to-end time per frame is less than the sum of the stages. "Threads" sets
ONNX Runtime's intra-op threads, OpenCV's threads and the encoder's threads; the decoder, the
MediaPipe detector and an OpenGL software rasteriser (llvmpipe) pick their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "crop", "infer", "reconstruct", "render", "encode")
SIZES = ("native", "640x480", "1280x720")
TARGETS = {"regressor_ms": 1.0, "640x480_fps": 60.0, "1280x720_fps": 30.0, "yardstick_ratio": 0.9}
YARDSTICK_FILE = "mobilenetv2_62_120.onnx"  # in ../shared/ref (see its README)
PRE_RENDER_STAGES = ("detect", "track", "crop", "infer", "reconstruct")
PEER_SCRIPT_NAME = "scripts/bench_face_mesh.py"
PEER_PYTHON_NAME = ".venv-build/bin/python"


def source_checkout() -> Path | None:
    """The repository root when frnet runs from a source checkout (the peer's script is there), else ``None``."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / PEER_SCRIPT_NAME).is_file() else None


@dataclass
class RunResult:
    """One clip × size × thread count."""

    clip: str
    size: str
    width: int
    height: int
    threads: int
    frames: int
    fps: float
    faces_fraction: float
    stages_ms: dict[str, tuple[float, float]]  # stage → (median, p90) over all frames
    detect_per_run_ms: tuple[float, float]  # (median, p90) over the frames where the detector ran
    renderer: str


@dataclass
class FrameLoopResult:
    """The pipeline alone on one clip × size (1 thread): per-frame cost before rendering."""

    clip: str
    size: str
    frames: int
    stages_ms: dict[str, tuple[float, float]]  # pre-render stage → (median, p90); track includes smooth
    total_ms: tuple[float, float]  # per-frame sum of the stages: (median, p90)
    total_mean_ms: float  # mean per frame: the detector's runs (1 frame in redetect_every) spread over all
    faces_fraction: float
    # frnet's median / the peer's median per round (frnet and the peer alternate), summarised
    vs_peer: dict | None = None


@dataclass
class PeerResult:
    clip: str
    size: str
    median_ms: float | None = None
    p90_ms: float | None = None
    faces_fraction: float | None = None
    reason: str | None = None
    mean_ms: float | None = None


@dataclass
class Report:
    machine: dict
    network: dict
    regressor_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # "int8 threads=1" → {batch1, batch4_per_face}
    reference_ms: dict[str, float | list[float]] = field(default_factory=dict)  # the yardstick, 1 thread: {batch1, batch1_p90, rounds_ms}
    reference_note: str = ""  # what the yardstick is, or why it was skipped
    # graph ("fp32", "int8") → {"median", "min", "max", "rounds": [...]}: time relative to the yardstick
    reference_ratio: dict[str, dict] = field(default_factory=dict)
    frame_loop: list[FrameLoopResult] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)
    peer: list[PeerResult] = field(default_factory=list)
    command: str = ""


# -------------------------------------------------------------------------------------------- inputs


def default_clips() -> list[Path]:
    """The clips of ``../shared/data/videos``, or else the bundled sample (``[]`` if neither is there)."""
    from .datasets import shared_data_dir
    from .errors import ResourceMissingError
    from .resources import resource_path

    data = shared_data_dir()
    if data is not None and (data / "videos").is_dir():
        clips = sorted((data / "videos").glob("*.mp4"))
        if clips:
            return clips
    try:
        return [resource_path("assets", "sample.mp4")]
    except ResourceMissingError:
        return []


def _parse_size(text: str) -> tuple[int, int] | None:
    if text == "native":
        return None
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be 'native' or WIDTHxHEIGHT, not {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be even and at least 16")
    return width, height


def letterbox(image_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image_rgb`` scaled to fit ``size`` (width, height) with its aspect kept, padded with black."""
    import cv2

    width, height = size
    h, w = image_rgb.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(image_rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - new_w) // 2, (height - new_h) // 2
    out[y0:y0 + new_h, x0:x0 + new_w] = resized
    return out


def prepare_clip(clip: Path, size: tuple[int, int] | None, frames: int, folder: Path) -> Path:
    """The clip itself (``size`` None), or its first ``frames`` frames letterboxed into ``size`` as
    a new H.264 file in ``folder`` (not timed)."""
    from .video import VideoReader, VideoWriter

    if size is None:
        return clip
    out = folder / f"{clip.stem}_{size[0]}x{size[1]}.mp4"
    with VideoReader(clip) as reader, VideoWriter(out, reader.frame_rate, size, crf=16, preset="ultrafast") as writer:
        for frame in reader:
            writer.write(letterbox(frame.image_rgb, size))
            if writer.frames_written >= frames:
                break
    return out


# ----------------------------------------------------------------------------------------- measures


def _median_p90(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.median(values)), float(np.percentile(values, 90))


BLOCK = 10  # calls per graph before switching to the next one


def bench_regressors(threads: int, graphs: dict[str, tuple[Path | None, str]], runs: int = 200
                     ) -> dict[str, dict[str, float]]:
    """Median / p90 ms per face of each graph alone: batch 1, and per face at batch 4.

    ``graphs`` maps a name to ``(model_path or None for the shipped graph, precision)``. The graphs
    are timed in *alternating blocks* of ``BLOCK`` calls, so a change in the host's speed during the
    measurement — common on shared cloud machines — affects all of them alike and their ratios
    hold, while each block still runs with warm caches as a back-to-back benchmark does (calls
    interleaved one by one evict each other's weights from the caches).
    """
    from .geometry import CROP_SIZE
    from .regressor import Regressor

    regressors = {name: Regressor(path, device="cpu", threads=threads, precision=precision)
                  for name, (path, precision) in graphs.items()}
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {name: {} for name in graphs}
    for batch in (1, 4):
        crops = rng.integers(0, 256, (batch, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
        for regressor in regressors.values():
            for _ in range(10):
                regressor(crops)
        times: dict[str, list[float]] = {name: [] for name in graphs}
        for _ in range(max(1, (runs if batch == 1 else max(20, runs // 4)) // BLOCK)):
            for name, regressor in regressors.items():
                regressor(crops)  # back in the caches
                for _ in range(BLOCK):
                    start = time.perf_counter()
                    regressor(crops)
                    times[name].append((time.perf_counter() - start) * 1e3)
        key = "batch1" if batch == 1 else "batch4_per_face"
        for name in graphs:
            median, p90 = _median_p90(times[name])
            out[name][key] = median / batch
            out[name][key + "_p90"] = p90 / batch
    return out


REFERENCE_NOTE = ("shared yardstick ../shared/ref/mobilenetv2_62_120.onnx (standard MobileNetV2-62 float32), "
                  "1 thread, batch 1, same session options, graphs alone in alternating blocks")


def yardstick_path() -> tuple[Path | None, str]:
    """The shared yardstick graph (``FRNET_SHARED_DIR``/ref or ``../shared/ref``), or ``(None, why)``."""
    override = os.environ.get("FRNET_SHARED_DIR")
    root = Path(override) if override else Path(__file__).resolve().parents[2].parent / "shared"
    path = root / "ref" / YARDSTICK_FILE
    if not path.is_file():
        return None, f"n/a: the shared yardstick {path} is missing (read-only dev data)"
    return path, REFERENCE_NOTE


def yardstick_ratios(graphs: dict[str, tuple[Path | None, str]], yardstick: Path, rounds: int = 5,
                     blocks: int = 10) -> tuple[dict[str, dict], dict[str, float]]:
    """Each graph's batch-1 time relative to the yardstick's, per round and summarised.

    Every graph (and the yardstick) runs *alone* — ``Regressor.run_nchw`` on the same prepared
    float32 batch, so no graph pays for a conversion the others skip — at 1 thread with the app's
    session options. A round times ``blocks`` blocks of ``BLOCK`` calls per graph, alternating
    graphs block by block; the ratio of a round is the graph's median over the yardstick's median
    in that round. Returns ``({name: {median, min, max, rounds}}, yardstick {batch1, batch1_p90,
    rounds_ms})`` (``rounds_ms``: the yardstick's median per round, which shows the host's speed).
    """
    from .geometry import CROP_SIZE
    from .regressor import Regressor

    batch = np.random.default_rng(0).uniform(0, 255, (1, 3, CROP_SIZE, CROP_SIZE)).astype(np.float32)
    sessions = {name: Regressor(path, device="cpu", threads=1, precision=precision)
                for name, (path, precision) in graphs.items()}
    sessions["yardstick"] = Regressor(yardstick, device="cpu", threads=1, precision="fp32")
    return alternating_ratios({name: (lambda r=regressor: r.run_nchw(batch)) for name, regressor in sessions.items()},
                              rounds, blocks)


def alternating_ratios(runs: dict[str, Callable[[], object]], rounds: int = 5,
                       blocks: int = 10) -> tuple[dict[str, dict], dict[str, float]]:
    """The timing protocol of :func:`yardstick_ratios` for any zero-argument calls, one of them
    named ``"yardstick"`` (e.g. another runtime's graphs: ``scripts/bench_litert.py``): each call
    warmed up, then per round ``blocks`` blocks of ``BLOCK`` calls per name, alternating block by
    block; a round's ratio is a name's median over the yardstick's median. Same return value."""
    for run in runs.values():
        for _ in range(20):
            run()
    per_round: dict[str, list[float]] = {name: [] for name in runs if name != "yardstick"}
    all_yardstick: list[float] = []
    round_ms: list[float] = []
    for _ in range(rounds):
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(blocks):
            for name, run in runs.items():
                run()  # back in the caches
                for _ in range(BLOCK):
                    start = time.perf_counter()
                    run()
                    times[name].append((time.perf_counter() - start) * 1e3)
        base = float(np.median(times["yardstick"]))
        all_yardstick += times["yardstick"]
        round_ms.append(round(base, 4))
        for name in per_round:
            per_round[name].append(float(np.median(times[name])) / base)
    summary = {name: {"median": float(np.median(r)), "min": float(min(r)), "max": float(max(r)),
                      "rounds": [round(v, 4) for v in r]} for name, r in per_round.items()}
    median, p90 = _median_p90(all_yardstick)
    return summary, {"batch1": median, "batch1_p90": p90, "rounds_ms": round_ms}


def bench_frame_loop(path: Path, clip_name: str, size_name: str, frames: int, warmup: int,
                     precision: str = "auto", rounds: int = 1, peer=None) -> tuple[FrameLoopResult, PeerResult | None]:
    """The pipeline alone on ``path`` (video mode, 1 thread, a fresh pipeline each round): frames
    are decoded in this thread outside the timer, as ``scripts/bench_face_mesh.py`` times the peer.

    ``peer`` (a callable returning a :class:`PeerResult`) runs after each of the ``rounds`` rounds,
    so frnet and the peer alternate and each round's ratio of medians sees the same host load.
    Stage statistics pool the frames of all rounds; the peer's are the medians of its rounds.
    """
    import cv2

    from .pipeline import Pipeline, PipelineOptions
    from .video import VideoReader

    cv2.setNumThreads(1)
    stage_times: dict[str, list[float]] = {stage: [] for stage in PRE_RENDER_STAGES}
    totals: list[float] = []
    with_faces = 0
    peers: list[PeerResult] = []
    ratios: list[float] = []
    with Pipeline(PipelineOptions(mode="video", threads=1, precision=precision)) as pipeline:
        for _ in range(rounds):
            pipeline.reset()
            round_totals: list[float] = []
            with VideoReader(path) as reader:
                for index, frame in enumerate(reader):
                    result = pipeline.process(frame.image_rgb, frame.timestamp_ms)
                    if index < warmup:
                        continue
                    ms = dict(result.timings_ms)
                    ms["track"] = ms.get("track", 0.0) + ms.pop("smooth", 0.0)
                    for stage in PRE_RENDER_STAGES:
                        stage_times[stage].append(ms.get(stage, 0.0))
                    round_totals.append(sum(ms.get(stage, 0.0) for stage in PRE_RENDER_STAGES))
                    with_faces += bool(result.faces)
                    if len(round_totals) == frames:
                        break
            if not round_totals:
                raise InputError(f"{path}: fewer than {warmup + 1} frames; nothing to time")
            totals += round_totals
            if peer is not None:
                peers.append(peer())
                if peers[-1].median_ms:
                    ratios.append(float(np.median(round_totals)) / peers[-1].median_ms)
    merged = None
    if peers:
        timed = [p for p in peers if p.median_ms is not None]
        merged = peers[0] if not timed else PeerResult(
            clip_name, size_name, float(np.median([p.median_ms for p in timed])),
            float(np.median([p.p90_ms for p in timed])), timed[0].faces_fraction,
            mean_ms=float(np.median([p.mean_ms for p in timed])) if all(p.mean_ms is not None for p in timed) else None)
    vs_peer = ({"median": float(np.median(ratios)), "min": float(min(ratios)), "max": float(max(ratios)),
                "rounds": [round(r, 4) for r in ratios]} if ratios else None)
    loop = FrameLoopResult(clip_name, size_name, len(totals),
                           {stage: _median_p90(v) for stage, v in stage_times.items()}, _median_p90(totals),
                           float(np.mean(totals)), with_faces / len(totals), vs_peer)
    return loop, merged


def bench_video(path: Path, clip_name: str, size_name: str, threads: int, frames: int, warmup: int,
                renderer_choice: str, precision: str = "auto") -> RunResult:
    """The ``--video`` job on ``path`` (the same engine and stream helpers as ``frnet-app --video``:
    decoding and encoding in their own threads, overlapping the processing) with per-stage timers."""
    import cv2

    from .engine import Engine, EngineOptions
    from .pipeline import PipelineOptions
    from .render import OverlayOptions
    from .stream import BackgroundWriter, Prefetcher
    from .video import VideoReader, VideoWriter

    cv2.setNumThreads(threads)
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    detector_runs: list[float] = []
    options = EngineOptions(pipeline=PipelineOptions(mode="video", threads=threads, precision=precision),
                            overlay=OverlayOptions(landmarks=True, mesh=True), renderer=renderer_choice)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="frnet-bench-")))
        reader = stack.enter_context(VideoReader(path))
        writer = stack.enter_context(VideoWriter(folder / "out.mp4", reader.frame_rate, reader.size, threads=threads))
        engine = stack.enter_context(Engine.create(options))
        renderer = engine.renderer
        prefetcher = stack.enter_context(Prefetcher(reader))
        encoder = BackgroundWriter(writer)
        counted = with_faces = 0
        start = None
        for index, frame in enumerate(prefetcher):
            if index == warmup:
                start = time.perf_counter()
            result, image = engine.run(frame.image_rgb, frame.timestamp_ms)
            encoder.write(image)
            if index < warmup:
                continue
            counted += 1
            with_faces += bool(result.faces)
            stage_ms = result.timings_ms
            for stage in ("detect", "crop", "infer", "reconstruct", "render"):
                times[stage].append(stage_ms.get(stage, 0.0))
            times["track"].append(stage_ms.get("track", 0.0) + stage_ms.get("smooth", 0.0))
            if result.detector_ran:
                detector_runs.append(stage_ms.get("detect", 0.0))
            if counted == frames:
                break
        encoder.close()  # the last frames are encoded before the clock stops
        elapsed = time.perf_counter() - start if start is not None and counted else float("nan")
        times["decode"] = prefetcher.decode_ms[warmup:warmup + counted]
        times["encode"] = encoder.encode_ms[warmup:warmup + counted]
        width, height = reader.size
        renderer_name = renderer.name
        if renderer_name == "gl":
            renderer_name = f"gl ({renderer.gl_renderer_name})"
    if counted == 0:
        raise InputError(f"{path}: fewer than {warmup + 1} frames; nothing to time")
    return RunResult(
        clip=clip_name, size=size_name, width=width, height=height, threads=threads, frames=counted,
        fps=counted / elapsed, faces_fraction=with_faces / counted,
        stages_ms={stage: _median_p90(values) for stage, values in times.items()},
        detect_per_run_ms=_median_p90(detector_runs), renderer=renderer_name,
    )


def bench_peer(path: Path, clip_name: str, size_name: str, frames: int, warmup: int,
               python: Path | None = None, script: Path | None = None) -> PeerResult:
    """MediaPipe Face Mesh on the same file, in the build environment (or n/a with the reason).

    ``python`` and ``script`` default to the source checkout's ``.venv-build`` and
    ``scripts/bench_face_mesh.py``.
    """
    checkout = source_checkout()
    if script is None:
        if checkout is None:
            return PeerResult(clip_name, size_name, reason=(
                "the MediaPipe Face Mesh peer runs from a source checkout of frnet (scripts/bench_face_mesh.py "
                "and `make build-env`); this is an installed package, so it was skipped (--no-peer hides it)"))
        script = checkout / PEER_SCRIPT_NAME
    if python is None:
        python = checkout / PEER_PYTHON_NAME if checkout is not None else Path(PEER_PYTHON_NAME)
    if not script.is_file():
        return PeerResult(clip_name, size_name, reason=f"{script} is missing (source checkout needed)")
    if not Path(python).exists():
        return PeerResult(clip_name, size_name, reason=f"{python} is missing; create it with `make build-env`")
    command = [str(python), str(script), str(path), "--frames", str(frames), "--warmup", str(warmup)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return PeerResult(clip_name, size_name, reason=f"peer run failed: {exc}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        data = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return PeerResult(clip_name, size_name, reason=f"peer run failed (exit {done.returncode}): {tail}")
    if "error" in data:
        return PeerResult(clip_name, size_name, reason=data["error"])
    return PeerResult(clip_name, size_name, data["median_ms"], data["p90_ms"], data["faces_fraction"],
                      mean_ms=data.get("mean_ms"))


def machine_info() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in load],
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "platform": platform.platform(),
    }


def network_info(precision: str = "auto") -> dict:
    from .regressor import Regressor

    regressor = Regressor(device="cpu", threads=1, precision=precision)
    meta = regressor.metadata
    return {"file": regressor.model_path.name, "precision": regressor.precision,
            "training_epoch": meta.get("frnet_training_epoch", "?"), "checkpoint": meta.get("frnet_checkpoint", "?")}


# ------------------------------------------------------------------------------------------- output


def _cell(pair: tuple[float, float], digits: int = 1) -> str:
    median, p90 = pair
    return "–" if np.isnan(median) else f"{median:.{digits}f} / {p90:.{digits}f}"


def _peer_cell(peer: PeerResult | None, digits: int = 1) -> str:
    if peer is None:
        return "–"
    if peer.median_ms is None:
        return "n/a"
    return f"{peer.median_ms:.{digits}f} / {peer.p90_ms:.{digits}f}"


def format_report(report: Report, markdown: bool = False) -> str:
    """The report as a plain-text table (or a Markdown one)."""
    lines: list[str] = []
    machine = report.machine
    load_end = machine.get("load_average_end")
    lines.append(f"machine: {machine['cpu']}, {machine['cores']} cores, load average (1/5/15 min) "
                 f"{' '.join(str(v) for v in machine['load_average_1_5_15'])} at the start"
                 + (f", {' '.join(str(v) for v in load_end)} at the end" if load_end else ""))
    lines.append(f"network in the video runs: {report.network['file']} ({report.network.get('precision', 'fp32')}, "
                 f"training epoch {report.network['training_epoch']}); onnxruntime {machine['onnxruntime']}")
    if report.runs:
        lines.append(f"renderer: {report.runs[0].renderer}")
    lines.append("")
    lines.append("regressor alone, ms per face (median / p90):")
    for key, values in report.regressor_ms.items():
        lines.append(f"  {key}: batch 1 {values['batch1']:.2f} / {values['batch1_p90']:.2f}, "
                     f"batch 4 {values['batch4_per_face']:.2f} / {values['batch4_per_face_p90']:.2f}")
    if report.reference_ms:
        ref = report.reference_ms
        lines.append(f"  yardstick: {report.reference_note}: batch 1 {ref['batch1']:.2f} / {ref['batch1_p90']:.2f}")
        for name, ratio in report.reference_ratio.items():
            lines.append(f"  {name} graph / yardstick time: {ratio['median']:.3f}× (median of {len(ratio['rounds'])} "
                         f"rounds; spread {ratio['min']:.3f}–{ratio['max']:.3f})")
    elif report.reference_note:
        lines.append(f"  yardstick: {report.reference_note}")
    lines.append("")
    if report.frame_loop:
        lines.extend(frame_loop_lines(report, markdown))
        lines.append("")
    peers = {(p.clip, p.size): p for p in report.peer}
    header = ["clip", "size", "thr", *STAGES, "detect/run", "e2e fps", "faces", "MP FaceMesh"]
    rows = []
    for run in report.runs:
        rows.append([run.clip, f"{run.width}x{run.height}", str(run.threads),
                     *(_cell(run.stages_ms[s]) for s in STAGES), _cell(run.detect_per_run_ms), f"{run.fps:.1f}",
                     f"{100 * run.faces_fraction:.0f} %", _peer_cell(peers.get((run.clip, run.size)))])
    lines.append("per-stage ms per frame (median / p90; detect/run: the detector's cost on the frames it ran), "
                 "end-to-end fps with overlay, MediaPipe Face Mesh ms per frame (median / p90) on the same frames:")
    if markdown:
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in rows)
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows)
    reasons = sorted({p.reason for p in report.peer if p.reason})
    for reason in reasons:
        lines.append(f"MediaPipe Face Mesh n/a: {reason}")
    lines.append("")
    lines.extend(target_lines(report))
    return "\n".join(lines)


def frame_loop_lines(report: Report, markdown: bool) -> list[str]:
    """The pre-render frame cost per clip × size next to MediaPipe Face Mesh's landmark step."""
    peers = {(p.clip, p.size): p for p in report.peer}
    header = ["clip", "size", *PRE_RENDER_STAGES, "sum", "sum mean", "MP FaceMesh", "MP mean",
              "frnet / MP (rounds' spread)"]
    rows = []
    for loop in report.frame_loop:
        peer = peers.get((loop.clip, loop.size))
        ratio = (f"{loop.vs_peer['median']:.2f}× ({loop.vs_peer['min']:.2f}–{loop.vs_peer['max']:.2f})"
                 if loop.vs_peer else "–")
        mean = f"{peer.mean_ms:.2f}" if peer and peer.mean_ms is not None else "–"
        rows.append([loop.clip, loop.size, *(_cell(loop.stages_ms[s], 2) for s in PRE_RENDER_STAGES),
                     _cell(loop.total_ms, 2), f"{loop.total_mean_ms:.2f}", _peer_cell(peer, 2), mean, ratio])
    lines = ["frame loop before rendering (pipeline alone, 1 thread, decoded outside the timer as the peer is), "
             "ms per frame median / p90, and MediaPipe Face Mesh's landmark step on the same frames:"]
    if markdown:
        lines += ["", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return lines


def target_lines(report: Report) -> list[str]:
    """The issue's targets against what was measured."""
    out = ["targets (2 cores):"]
    key = f"{report.network.get('precision', 'fp32')} threads=1"
    one = report.regressor_ms.get(key)
    if one:
        ok = one["batch1"] <= TARGETS["regressor_ms"]
        out.append(f"  regressor ≤ {TARGETS['regressor_ms']:.1f} ms per face at 1 thread ({key}): "
                   f"{one['batch1']:.2f} ms — {'met' if ok else 'NOT met'} on this host")
    precision = report.network.get("precision", "fp32")
    ratio = report.reference_ratio.get(precision)
    if ratio:
        target = TARGETS["yardstick_ratio"]
        out.append(f"  regressor ({precision}, 1 thread, batch 1) ≤ {target}× the shared yardstick's time: "
                   f"{ratio['median']:.3f}× (spread {ratio['min']:.3f}–{ratio['max']:.3f}) — "
                   f"{'met' if ratio['median'] <= target else 'NOT met'}")
    ratios = [loop.vs_peer["median"] for loop in report.frame_loop if loop.vs_peer]
    if ratios:
        met = sum(ratio <= 1.0 for ratio in ratios)
        out.append(f"  frame loop before rendering ≤ MediaPipe Face Mesh's landmark step (per-frame medians, "
                   f"alternating rounds): {met} of {len(ratios)} clip sizes, frnet/MP {min(ratios):.2f}–"
                   f"{max(ratios):.2f}× — {'met' if met == len(ratios) else 'NOT met'}")
    for size in ("640x480", "1280x720"):
        runs = [r for r in report.runs if f"{r.width}x{r.height}" == size]
        if not runs:
            continue
        best = {}
        for run in runs:
            best[run.clip] = max(best.get(run.clip, 0.0), run.fps)
        median_fps = float(np.median(list(best.values())))
        target = TARGETS[f"{size}_fps"]
        out.append(f"  end to end ≥ {target:.0f} fps at {size} with overlay: median over clips (best thread count) "
                   f"{median_fps:.1f} fps — {'met' if median_fps >= target else 'NOT met'}")
    return out


# ------------------------------------------------------------------------------------------------ main


def build_parser(prog: str) -> argparse.ArgumentParser:
    from .console import add_output_arguments
    from .regressor import PRECISIONS
    from .render import RENDERER_CHOICES

    parser = argparse.ArgumentParser(
        prog=prog, description="Per-stage timings and end-to-end fps (docs/performance.md).")
    parser.add_argument("--clips", metavar="VIDEO", type=Path, nargs="+",
                        help="videos to time (default: ../shared/data/videos/*.mp4, else the bundled sample)")
    parser.add_argument("--frames", metavar="N", type=int, default=120, help="frames timed per run (default: 120)")
    parser.add_argument("--warmup", metavar="N", type=int, default=5, help="frames run first, not timed (default: 5)")
    parser.add_argument("--threads", metavar="N", type=int, nargs="+", default=[1, 2],
                        help="thread counts to time (default: 1 2)")
    parser.add_argument("--sizes", metavar="SIZE", nargs="+", default=list(SIZES),
                        help="'native' and/or WIDTHxHEIGHT (even) (default: native 640x480 1280x720)")
    parser.add_argument("--renderer", choices=RENDERER_CHOICES, default="auto", help="renderer (default: auto)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="network graph of the video runs (default: auto = int8 on the CPU)")
    parser.add_argument("--no-reference", action="store_true", help="skip the shared MobileNetV2-62 yardstick")
    parser.add_argument("--rounds", metavar="N", type=int, default=5,
                        help="rounds of alternating blocks for the yardstick ratios (default: 5)")
    parser.add_argument("--loop-rounds", metavar="N", type=int, default=3,
                        help="frame-loop rounds per clip and size, alternating with the peer (default: 3)")
    parser.add_argument("--no-peer", action="store_true",
                        help="skip the MediaPipe Face Mesh reference (optional; it needs a source checkout)")
    parser.add_argument("--peer-python", metavar="PYTHON", type=Path,
                        help=f"interpreter with mediapipe 0.10.21 (default: the source checkout's {PEER_PYTHON_NAME})")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", metavar="FILE", type=Path, help="also write every number as JSON")
    add_output_arguments(parser)
    return parser


def check_options(args: argparse.Namespace) -> str | None:
    """The first problem with the options (counts, thread bound, sizes), or None."""
    from .limits import check_threads

    for name, value in (("--frames", args.frames), ("--rounds", args.rounds), ("--loop-rounds", args.loop_rounds)):
        if value < 1:
            return f"{name} must be at least 1, not {value}"
    if args.warmup < 0:
        return f"--warmup must be 0 or more, not {args.warmup}"
    try:
        for threads in args.threads:
            check_threads(threads)
        for size in args.sizes:
            _parse_size(size)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace, command: str) -> Report:
    clips = args.clips or default_clips()
    if not clips:
        raise InputError("no clips to time: neither ../shared/data/videos nor the bundled sample is there; "
                         "pass --clips VIDEO …")
    for clip in clips:
        if not clip.is_file():
            raise InputError(f"cannot read video {clip}: no such file")
    sizes = [(name, _parse_size(name)) for name in args.sizes]
    report = Report(machine=machine_info(), network=network_info(args.precision), command=command)
    yardstick, report.reference_note = (None, "") if args.no_reference else yardstick_path()
    if yardstick is not None:
        report.reference_ratio, report.reference_ms = yardstick_ratios(
            {precision: (None, precision) for precision in ("fp32", "int8")}, yardstick, rounds=args.rounds)
    for threads in args.threads:
        report.regressor_ms.update(bench_regressors(
            threads, {f"{precision} threads={threads}": (None, precision) for precision in ("fp32", "int8")}))
    with tempfile.TemporaryDirectory(prefix="frnet-bench-clips-") as folder:
        for clip in clips:
            for size_name, size in sizes:
                path = prepare_clip(clip, size, args.warmup + args.frames, Path(folder))
                log.info("timing the frame loop on %s at %s", clip.name, size_name)
                peer = None if args.no_peer else (
                    lambda: bench_peer(path, clip.stem, size_name, args.frames, args.warmup, python=args.peer_python))
                loop, peer_result = bench_frame_loop(path, clip.stem, size_name, args.frames, args.warmup,
                                                     args.precision, rounds=args.loop_rounds, peer=peer)
                report.frame_loop.append(loop)
                if peer_result is not None:
                    report.peer.append(peer_result)
                for threads in args.threads:
                    log.info("timing %s at %s, %d thread(s)", clip.name, size_name, threads)
                    report.runs.append(bench_video(path, clip.stem, size_name, threads, args.frames, args.warmup,
                                                   args.renderer, args.precision))
                if size is not None:
                    path.unlink()
    if hasattr(os, "getloadavg"):
        report.machine["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    return report


def main(argv: list[str], prog: str = "frnet-app bench") -> int:
    """``frnet-app bench``; see the module doc."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    problem = check_options(args)
    if problem:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 2
    if args.json is not None:  # before the benchmark: not a clip, not a folder, writable
        from .outputs import check_output

        check_output(args.json, inputs=args.clips or [], option="--json")
    report = run(args, command=" ".join([prog, *argv]))
    if not args.quiet:
        print(format_report(report, markdown=args.markdown))
    if args.json is not None:
        from .files import atomic_write

        with atomic_write(args.json) as temp:
            temp.write_text(json.dumps(asdict(report), indent=1) + "\n", encoding="utf-8")
    return 0
