"""Tune the video smoother offline: replay recorded per-frame estimates through filter variants.

Tracking ignores smoothing (the next crop is framed from the unsmoothed landmarks), so one run of
the network over a clip fixes everything the smoother sees: per track and frame, the parameters in
the frame-fixed ROI, the unsmoothed landmarks, the time and the "re-anchored by the detector" flag.
This script records that once per clip of ``scripts/temporal_benchmark.py`` (its synthetic clips
with truth and the real clips; ``.cache/temporal/replay/``, re-recorded when the network changes)
and then scores any number of :class:`frnet.smoothing.SmoothingSettings` variants in seconds with
the benchmark's own metrics and targets (docs/video.md)::

    python scripts/smoothing_replay.py                                  # the presets
    python scripts/smoothing_replay.py --variant slow:min_cutoff_hz=0.5 --variant b:beta=40,trust_power=2

A variant is ``NAME:FIELD=VALUE,...`` on top of ``--base`` (default ``light``). The table marks
the issue's three targets: smoothed NME below the per-frame NME on the still, slow and fast frames;
p95 deviation from the per-frame points ≤ 3 % of the face size on every real clip; still-segment
jitter ≤ 0.5 × the per-frame jitter on every real clip with at least 10 still frames (–: fewer).
Numbers for docs come from the benchmark
itself; ``--check`` confirms the replay reproduces the real CLI on one synthetic and one real clip.
``--search N`` runs a local random search from ``--base`` (seeded) and adds its best as a variant.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import temporal_benchmark as tb  # noqa: E402  (also puts app/ on sys.path)

from frnet.smoothing import SMOOTHING_LEVELS, SmoothingSettings  # noqa: E402
from temporal_benchmark import record, replay  # noqa: E402

REPLAY_DIR = tb.DEFAULT_OUT / "replay"


def load_recordings(refresh: bool) -> list[dict]:
    """Every benchmark clip's recording (made on first use and when the network changes)."""
    from frnet.regressor import INT8_ONNX_FILE
    from frnet.resources import resource_path

    REPLAY_DIR.mkdir(parents=True, exist_ok=True)
    (REPLAY_DIR / "runs").mkdir(exist_ok=True)
    # what the recording depends on: the network and the tracking code (not the smoother)
    sources = [resource_path("models", INT8_ONNX_FILE)] + [tb.REPO / "app" / "frnet" / f"{m}.py"
                                                            for m in ("pipeline", "crop", "detect", "regressor")]
    network = hashlib.sha256("".join(tb.file_sha256(p) for p in sources).encode()).hexdigest()[:12]
    clips = tb.build_clips(tb.DEFAULT_OUT, 3, 0)
    items = [(Path(c["video"]), c, None) for c in clips]
    data = tb.shared_data_dir()
    if data is not None:
        items += [(data / "videos" / name, None, tb.REAL_MAX_FRAMES) for name in tb.REAL_CLIPS
                  if (data / "videos" / name).exists()]
    recordings = []
    for video, clip, max_frames in items:
        path = REPLAY_DIR / f"{video.stem}.{network}.json"
        if refresh or not path.exists():
            rec = record(video, max_frames, REPLAY_DIR / "runs")
            rec["tracks"] = {str(k): [(t, p.tolist(), q.tolist(), r) for t, p, q, r in v]
                             for k, v in rec["tracks"].items()}
            path.write_text(json.dumps(rec))
        rec = json.loads(path.read_text())
        rec["tracks"] = {k: [(t, np.asarray(p), np.asarray(q), r) for t, p, q, r in v] for k, v in rec["tracks"].items()}
        rec["name"], rec["clip"], rec["video"] = video.stem, clip, str(video)
        recordings.append(rec)
    return recordings


def score(recordings: list[dict], settings: SmoothingSettings | None, face_model) -> dict:
    """The benchmark's numbers for one variant: NME per motion class, real-clip deviation/jitter."""
    errors = {c: [] for c in ("still", "slow", "fast")}
    real = {}
    raw_cache: dict[str, list[dict]] = {}
    for rec in recordings:
        frames = replay(rec, settings, face_model)
        if rec["clip"] is not None:
            with np.load(rec["clip"]["truth"]) as data:
                truth = {k: data[k] for k in data.files}
            row = tb.score_clip(frames, truth, rec["clip"]["motion"])
            for error, cls in zip(row["errors"], row["classes"]):
                if np.isfinite(error):
                    errors[cls].append(error)
        else:
            raw = raw_cache.setdefault(rec["name"], replay(rec, None, face_model))
            real[rec["name"]] = tb.score_real(raw, frames, rec["fps"]) if settings is not None else None
    return {"nme": {c: 100 * float(np.mean(v)) for c, v in errors.items()}, "real": real}


TUNED = ("min_cutoff_hz", "beta", "speed_knee", "speed_cutoff_hz", "velocity_cutoff_hz", "prediction_speed",
         "trust_power", "expression_min_cutoff_hz", "expression_beta")


# The search never goes below these: an expression must follow speech and smiles (the issue allows
# averaging identity over a track, not expression), and a still pose must not freeze.
FLOORS = {"expression_min_cutoff_hz": 0.5, "min_cutoff_hz": 0.3}


def targets(result: dict, reference: dict) -> dict:
    """The issue's three targets as margins (all ≥ 0 when met): NME below the per-frame output's in
    every motion class, p95 deviation ≤ 3 % and still jitter ≤ 0.5 × the per-frame one on every real clip."""
    real = [r for r in result["real"].values() if r is not None]
    return {"nme": min(reference[c] - result["nme"][c] for c in reference),
            "deviation": 3.0 - max((100 * r["deviation_p95"] for r in real), default=0.0),
            "jitter": 0.5 - max((r["jitter_ratio"] for r in real if r["jitter_ratio"] is not None), default=0.0)}


def search(recordings: list[dict], start: SmoothingSettings, face_model, steps: int, seed: int,
           fields: tuple[str, ...] = TUNED) -> SmoothingSettings:
    """Local random search (1–3 fields at a time, ×exp(N(0, 0.25)), never below :data:`FLOORS`):
    maximise the jitter margin while the NME margin stays ≥ 0.003 points and the deviation margin
    ≥ 0.2 %."""
    rng = np.random.default_rng(seed)
    reference = score(recordings, None, face_model)["nme"]

    def cost(settings):
        m = targets(score(recordings, settings, face_model), reference)
        return -m["jitter"] + 100 * max(0.0, 0.003 - m["nme"]) + max(0.0, 0.2 - m["deviation"]), m

    best, (best_cost, _) = start, cost(start)
    for step in range(steps):
        changes = {k: getattr(best, k) * float(np.exp(rng.normal(0, 0.25)))
                   for k in rng.choice(fields, size=int(rng.integers(1, min(3, len(fields)) + 1)), replace=False)}
        candidate = dataclasses.replace(best, **{k: max(v, FLOORS.get(k, 0.0)) for k, v in changes.items()})
        value, m = cost(candidate)
        if value < best_cost:
            best, best_cost = candidate, value
            print(f"step {step}: margins {json.dumps({k: round(v, 4) for k, v in m.items()})}", flush=True)
    return best


def parse_variant(text: str, base: SmoothingSettings) -> tuple[str, SmoothingSettings]:
    name, _, body = text.partition(":")
    fields = {f.name: f.type for f in dataclasses.fields(SmoothingSettings)}
    changes = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--variant {text}: no field {key!r} (fields: {', '.join(fields)})")
        changes[key] = int(value) if fields[key] in (int, "int") else float(value)
    return name, dataclasses.replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="light", choices=[k for k, v in SMOOTHING_LEVELS.items() if v])
    parser.add_argument("--variant", action="append", default=[], help="NAME:FIELD=VALUE,... (repeatable)")
    parser.add_argument("--refresh", action="store_true", help="record the clips again")
    parser.add_argument("--check", action="store_true",
                        help="compare the replay of each preset with the real CLI on one synthetic and one real clip")
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="N steps of a local random search from --base for a variant meeting every target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", nargs="+", default=list(TUNED), choices=TUNED, metavar="FIELD",
                        help="fields the search may change (default: all of the pose and expression filter's)")
    parser.add_argument("--start", help="FIELD=VALUE,... the search starts from (on top of --base)")
    args = parser.parse_args(argv)
    from frnet.facemodel import load_face_model

    face_model = load_face_model()
    recordings = load_recordings(args.refresh)
    if args.check:
        for rec in (next(r for r in recordings if r["clip"]), next((r for r in recordings if not r["clip"]), None)):
            if rec is not None:
                for level in ("light", "strong"):
                    tb.cli_check(rec, Path(rec["video"]), REPLAY_DIR / "runs", face_model, level)
    if args.search:
        start = parse_variant("start:" + (args.start or ""), SMOOTHING_LEVELS[args.base])[1]
        best = search(recordings, start, face_model, args.search, args.seed, tuple(args.tune))
        args.variant.append("searched:" + ",".join(f"{k}={v:.6g}" for k, v in dataclasses.asdict(best).items()))
    variants = [("none", None)] + [(k, v) for k, v in SMOOTHING_LEVELS.items() if v is not None]
    base = SMOOTHING_LEVELS[args.base]
    variants += [parse_variant(text, base) for text in args.variant]
    reference = score(recordings, None, face_model)["nme"]
    names = [r["name"] for r in recordings if not r["clip"]]
    print("| variant | NME still / slow / fast % | beats raw | dev p95 max % | jitter ratio per real clip | targets |")
    print("|---|---|---|---|---|---|")
    for name, settings in variants:
        result = score(recordings, settings, face_model)
        nme = result["nme"]
        beats = all(nme[c] < reference[c] for c in nme) if settings is not None else None
        real = result["real"]
        if settings is None or not real:
            print(f"| {name} | {nme['still']:.3f} / {nme['slow']:.3f} / {nme['fast']:.3f} | – | – | – | – |")
            continue
        dev = max(100 * real[n]["deviation_p95"] for n in names)
        ratios = [real[n]["jitter_ratio"] for n in names]
        ok = all(v >= 0 for v in targets(result, reference).values()) and beats
        shown = " ".join("–" if r is None else f"{r:.2f}" for r in ratios)
        print(f"| {name} | {nme['still']:.3f} / {nme['slow']:.3f} / {nme['fast']:.3f} | {'yes' if beats else 'no'} "
              f"| {dev:.2f} | {shown} | {'all met' if ok else 'missed'} |")
    print("\nclips: " + ", ".join(names))
    for name, settings in variants:
        if settings is not None and name not in SMOOTHING_LEVELS:
            print(f"{name}: {settings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
