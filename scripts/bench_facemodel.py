"""Time the numpy face model API: median and p90 microseconds per call over many repeats.

    python scripts/bench_facemodel.py [--repeats 2000] [--threads 1] [--model path.npz]

Each call gets fresh random parameters (a plausible pose and N(0, 1) coefficients), as the live
pipeline does per frame. ``--threads`` sets the BLAS/OpenMP thread count before numpy loads;
one thread is what a per-face call in the real-time loop should use (multi-threaded BLAS only adds
hand-off overhead at these sizes, and a lot of it on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# The budget for one face on the development machine.
TARGETS_US = {"landmarks68, 1 face": 200.0, "dense vertices, 1 face": 1000.0}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls per row (batched rows: a quarter)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS/OpenMP threads (default: leave the environment as it is)")
    parser.add_argument("--model", type=Path, default=None, help="face model .npz (default: the shipped one)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads is not None:  # must happen before numpy is imported
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    import numpy as np

    from frnet import geometry
    from frnet.errors import FrnetError
    from frnet.facemodel import load_face_model

    try:
        model = load_face_model(args.model)
    except FrnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    rng = np.random.default_rng(0)

    def random_params(count: int) -> np.ndarray:
        angles = rng.uniform(-1, 1, (count, 3)) * np.radians([50, 25, 25])
        pose = geometry.compose_pose(rng.uniform(0.4, 0.8, count), geometry.rotation_from_euler(*angles.T),
                                     rng.uniform([45, 45, -10], [75, 75, 10], (count, 3)))
        coeffs = rng.normal(size=(count, model.num_params - geometry.NUM_POSE_PARAMS))
        return np.concatenate([pose.reshape(count, 12), coeffs], axis=1).astype(np.float32)

    roi = np.array([100.0, 80.0, 340.0, 320.0])
    rows = [
        ("landmarks68, 1 face", 1, lambda p: model.landmarks68(p)),
        ("landmarks68 → image px, 1 face", 1, lambda p: geometry.crop_to_image(model.landmarks68(p), roi)),
        ("base vertices (468), 1 face", 1, lambda p: model.vertices(p, dense=False)),
        ("dense vertices, 1 face", 1, lambda p: model.vertices(p)),
        ("dense vertices, batch of 8", 8, lambda p: model.vertices(p)),
        ("euler angles, 1 face", 1, lambda p: model.euler_angles(p)),
    ]
    print(f"frnet face model: {model.num_vertices} base / {model.num_dense_vertices} dense vertices, "
          f"{model.num_params} parameters")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS', 'default')}")
    header = f"| {'call':<32} | {'median µs':>9} | {'p90 µs':>8} | {'target':>8} |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for label, batch, call in rows:
        repeats = args.repeats if batch == 1 else max(50, args.repeats // 4)
        params = random_params((repeats + 20) * batch).reshape(repeats + 20, *((batch,) if batch > 1 else ()), -1)
        timings = np.empty(repeats)
        for i in range(repeats + 20):
            start = time.perf_counter_ns()
            call(params[i])
            if i >= 20:  # warm-up
                timings[i - 20] = (time.perf_counter_ns() - start) / 1e3
        target = TARGETS_US.get(label)
        verdict = "" if target is None else f"< {target:.0f}" + (" ✓" if np.median(timings) < target else " ✗")
        print(f"| {label:<32} | {np.median(timings):>9.1f} | {np.percentile(timings, 90):>8.1f} | {verdict:>8} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
