"""Soak test of ``frnet-app --video``: a clip looped into a long input; memory and speed over time.

The clip's packets are copied (not re-encoded) again and again into one long MP4 in a temporary
folder; then ``frnet-app --video LONG --out OUT ...`` runs in this process — its own parser and
:func:`frnet.jobs.run_video`, the engine every shell uses — writing a real output video. The job's
per-frame callback samples this process's resident memory every ``--sample-every`` frames
(psutil if installed, else ``/proc/self/status``).

It prints one row per sample (elapsed time, frames, frames per second over the last window, RSS)
and a verdict:

* **memory** — after a warm-up (the first ``--warmup`` of the samples), the resident memory may not
  grow by more than ``--max-growth-mb`` above where it was at the end of the warm-up;
* **speed** — the median fps of the last three windows is within ``--max-fps-change`` of the first
  three after the warm-up (only reported unless ``--strict-fps``: on a shared machine other
  processes move the fps).

Exit code 0 when the verdict passes, 1 when it does not, 2 when the job itself failed.

Usage (from the repository root)::

    nice -n 19 .venv/bin/python scripts/soak.py --minutes 10                      # 10 minutes of input
    .venv/bin/python scripts/soak.py --minutes 0.25 --sample-every 50 --json r.json  # the CI variant
    .venv/bin/python scripts/soak.py --minutes 10 -- --threads 2 --no-mesh          # frnet-app options
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO_ROOT / "assets" / "sample.mp4"


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    frames: int
    window_fps: float
    rss_mb: float


def rss_mb() -> float:
    """This process's resident set size in MB."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return psutil.Process().memory_info().rss / 2**20
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("cannot read the resident memory: install psutil")


def loop_clip(clip: Path, target: Path, minutes: float) -> tuple[int, float]:
    """Write ``clip`` repeated (packets copied, timestamps shifted) until it lasts ``minutes``;
    return (loops, seconds)."""
    import av

    with av.open(str(clip)) as source:
        packets = [p for p in source.demux() if p.dts is not None]
        spans = {}  # per stream: how far one loop moves the timestamps, in the stream's time base
        for stream in source.streams:
            own = [p for p in packets if p.stream.index == stream.index]
            if own:
                spans[stream.index] = max(p.pts + (p.duration or 0) for p in own) - min(p.pts for p in own)
        video = source.streams.video[0]
        clip_s = float(spans[video.index] * video.time_base)
        loops = max(1, math.ceil(minutes * 60 / clip_s))
        with av.open(str(target), "w") as out:
            streams = {s.index: out.add_stream_from_template(s) for s in source.streams if s.index in spans}
            for loop in range(loops):
                for packet in packets:
                    if packet.stream.index not in streams:
                        continue
                    shift = loop * spans[packet.stream.index]
                    copy = av.Packet(bytes(packet))
                    copy.pts, copy.dts = packet.pts + shift, packet.dts + shift
                    copy.duration, copy.time_base = packet.duration, packet.time_base
                    copy.is_keyframe = packet.is_keyframe
                    copy.stream = streams[packet.stream.index]
                    out.mux(copy)
    return loops, loops * clip_s


def run_job(argv: list[str], sample_every: int) -> tuple[int, int, list[Sample]]:
    """``frnet-app`` with ``argv`` (a ``--video`` job), memory sampled every ``sample_every`` frames;
    returns the exit code, the frames processed and the samples.

    The arguments go through ``frnet-app``'s own parser and option builder (:mod:`frnet.cli`), and
    the job runs through :func:`frnet.jobs.run_video`, the code ``frnet-app --video`` runs; the
    samples are taken in the job's public per-frame callback (``on_frame``).
    """
    from frnet import cli, console, jobs
    from frnet.errors import FrnetError

    samples: list[Sample] = []
    state = {"frames": 0, "window_start": time.perf_counter(), "start": time.perf_counter()}

    def on_frame(_result) -> None:
        if state["frames"] == 0:
            now = time.perf_counter()
            state["start"] = state["window_start"] = now
            samples.append(Sample(0.0, 0, 0.0, rss_mb()))
        state["frames"] += 1
        if state["frames"] % sample_every == 0:
            now = time.perf_counter()
            fps = sample_every / (now - state["window_start"])
            state["window_start"] = now
            samples.append(Sample(now - state["start"], state["frames"], fps, rss_mb()))
            print(f"{samples[-1].elapsed_s:9.1f} {samples[-1].frames:8d} {fps:9.1f} {samples[-1].rss_mb:9.1f}",
                  flush=True)

    args = cli.build_parser().parse_args(argv)
    console.configure_logging(args.verbose, args.quiet)
    print(f"{'time s':>9} {'frames':>8} {'fps':>9} {'RSS MB':>9}", flush=True)
    try:
        with console.native_stderr_muted(args.verbose == 0):
            jobs.run_video(cli.video_job(args), on_frame=on_frame)
    except FrnetError as exc:
        console.error_line(exc)
        return console.EXIT_USER_ERROR, state["frames"], samples
    return console.EXIT_OK, state["frames"], samples


def verdict(samples: list[Sample], warmup: float, max_growth_mb: float, max_fps_change: float) -> dict:
    """Memory growth after the warm-up and fps of the first vs the last windows (see the module doc)."""
    windows = [s for s in samples if s.frames > 0]
    if len(windows) < 4:
        raise ValueError(f"only {len(windows)} samples: make the input longer or --sample-every smaller")
    first = max(1, round(len(windows) * warmup))
    baseline = windows[first - 1]
    after = windows[first:] or windows[-1:]
    growth = max(s.rss_mb for s in after) - baseline.rss_mb
    minutes = (after[-1].elapsed_s - baseline.elapsed_s) / 60
    slope = (after[-1].rss_mb - baseline.rss_mb) / minutes if minutes > 0 else 0.0
    early = statistics.median(s.window_fps for s in after[:3])
    late = statistics.median(s.window_fps for s in after[-3:])
    change = late / early - 1 if early > 0 else 0.0
    return {
        "warmup_samples": first,
        "baseline_rss_mb": round(baseline.rss_mb, 1),
        "peak_rss_mb": round(max(s.rss_mb for s in samples), 1),
        "rss_growth_mb": round(growth, 1),
        "rss_slope_mb_per_min": round(slope, 2),
        "memory_ok": growth <= max_growth_mb,
        "fps_early": round(early, 1),
        "fps_late": round(late, 1),
        "fps_change": round(change, 3),
        "fps_min": round(min(s.window_fps for s in windows), 1),
        "fps_max": round(max(s.window_fps for s in windows), 1),
        "fps_ok": abs(change) <= max_fps_change,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the looped input (default: 10)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the clip to loop (default: assets/sample.mp4)")
    parser.add_argument("--sample-every", type=int, default=900, metavar="N", help="frames per sample (default: 900)")
    parser.add_argument("--warmup", type=float, default=0.1, metavar="F",
                        help="share of the samples that is warm-up (default: 0.1)")
    parser.add_argument("--max-growth-mb", type=float, default=32.0,
                        help="allowed RSS growth after the warm-up (default: 32)")
    parser.add_argument("--max-fps-change", type=float, default=0.25,
                        help="allowed relative fps change, last windows vs first (default: 0.25)")
    parser.add_argument("--strict-fps", action="store_true", help="fail the verdict on the fps change too")
    parser.add_argument("--json", type=Path, help="also write the samples and the verdict here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the looped input and the output in DIR")
    parser.add_argument("job_options", nargs="*", help="options passed on to frnet-app (after --)")
    args = parser.parse_args(argv)
    if args.sample_every < 1 or not args.minutes > 0:
        parser.error("--sample-every and --minutes must be positive")

    with tempfile.TemporaryDirectory(prefix="frnet-soak-") as temp:
        folder = args.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        looped, out = folder / "soak_input.mp4", folder / "soak_output.mp4"
        loops, seconds = loop_clip(args.clip, looped, args.minutes)
        size_mb = looped.stat().st_size / 2**20
        print(f"input: {args.clip.name} looped {loops}× = {seconds / 60:.1f} min ({size_mb:.0f} MB); "
              f"pid {os.getpid()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
        started = time.perf_counter()
        code, frames_in, samples = run_job(["--video", str(looped), "--out", str(out), "-q", *args.job_options],
                                args.sample_every)
        wall_s = time.perf_counter() - started
        if code != 0:
            print(f"soak: frnet-app exited with {code}", file=sys.stderr)
            return 2
        from frnet.video import VideoReader

        with VideoReader(out) as result:
            frames_out = result.frame_count
        report = verdict(samples, args.warmup, args.max_growth_mb, args.max_fps_change)
        report |= {"frames_in": frames_in, "frames_out": frames_out, "wall_s": round(wall_s, 1),
                   "input_minutes": round(seconds / 60, 2), "load_after": round(os.getloadavg()[0], 1)}
    passed = report["memory_ok"] and (report["fps_ok"] or not args.strict_fps)
    print(f"RSS {report['baseline_rss_mb']} MB after warm-up, growth {report['rss_growth_mb']} MB "
          f"({report['rss_slope_mb_per_min']} MB/min), peak {report['peak_rss_mb']} MB: "
          f"{'ok' if report['memory_ok'] else 'TOO MUCH'} (limit {args.max_growth_mb} MB)")
    print(f"fps {report['fps_early']} → {report['fps_late']} ({report['fps_change']:+.0%}; windows "
          f"{report['fps_min']}–{report['fps_max']}): {'stable' if report['fps_ok'] else 'CHANGED'} "
          f"(±{args.max_fps_change:.0%}{', not enforced' if not args.strict_fps else ''})")
    print(f"{report['frames_in']} frames in {report['wall_s']} s; output {report['frames_out']} frames; "
          f"verdict: {'PASS' if passed else 'FAIL'}")
    if args.json:
        args.json.write_text(json.dumps({"samples": [asdict(s) for s in samples], "verdict": report,
                                         "passed": passed}, indent=1))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
