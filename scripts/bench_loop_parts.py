"""Time the frame loop's small CPU steps alone, each against the form it replaced (docs/performance.md).

    python scripts/bench_loop_parts.py [--repeats 300]

``frnet-app bench`` times the stages of the loop as they run; this script isolates the pieces that
were rewritten for speed, so each claim is a same-process comparison of old and new code:

* **crop** — the large-ROI crop's block means at shrink factors k = 2…5: OpenCV's area resize
  (the old code) against :func:`frnet.crop.block_means`, on an image the size of the ROI;
* **dense mesh** — the 7,152-vertex mesh in image pixels: the old ``(3N, K)`` product, mean and
  numpy affine against the coefficient-major rows and one ``cv2.transform`` (what the pipeline does);
* **smoothing** — one :class:`frnet.smoothing.FaceSmoother` call with its two re-framings;
* **Euler angles** — one face's angles from its pose.

Each row is timed "warm" (the same data every call) and "cold" (16 MB written between calls,
as the decoder and the network do between two frames). Medians in microseconds; 1 thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from frnet import crop, geometry  # noqa: E402
from frnet.facemodel import load_face_model  # noqa: E402
from frnet.smoothing import SMOOTHING_LEVELS, FaceSmoother  # noqa: E402


def timed(fn, repeats: int, cold: bool, junk: np.ndarray) -> float:
    """Median microseconds of ``fn()``; ``cold`` dirties 16 MB of memory before each call."""
    times = []
    for _ in range(repeats):
        if cold:
            junk[::64] += 1
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e6


def rows(repeats: int) -> list[tuple[str, object, object]]:
    """(name, old callable or None, new callable) for every compared step."""
    rng = np.random.default_rng(0)
    out = []
    for k in (2, 3, 4, 5):
        image = rng.integers(0, 256, (140 * k, 140 * k, 3), dtype=np.uint8)
        out.append((f"crop block means, k={k} ({140 * k} px ROI)",
                    lambda image=image: cv2.resize(image, (140, 140), interpolation=cv2.INTER_AREA),
                    lambda image=image, k=k: crop.block_means(image, k)))

    model = load_face_model()
    params = np.zeros(model.num_params, np.float32)
    params[:12] = geometry.compose_pose(0.6, np.eye(3), np.array([60.0, 60.0, 0.0])).reshape(12)
    params[12:] = rng.normal(size=model.num_params - 12) * 0.5
    roi = np.array([100.0, 80.0, 400.0, 380.0])
    matrix = geometry.model_to_image_matrix(geometry.pose_matrix(params), roi)
    old_basis = np.ascontiguousarray(model._dense_basis)  # (3N, K), the old layout
    mean = model._dense_mean.reshape(-1)
    linear, offset = matrix[:, :3].T.astype(np.float32), matrix[:, 3].astype(np.float32)
    coefficients = params[12:]

    def dense_old():
        return (coefficients @ old_basis.T + mean).reshape(-1, 3) @ linear + offset

    def dense_new():
        return geometry.transform_points(model.shape(params, dense=True), matrix)

    if np.abs(dense_old() - dense_new()).max() > 1e-3:
        raise SystemExit("the two dense mesh forms disagree")
    out.append(("dense mesh in image pixels (7,152 vertices)", dense_old, dense_new))

    smoother = FaceSmoother(SMOOTHING_LEVELS["light"], model.num_identity)
    points = geometry.crop_to_image(model.landmarks68(params), roi)[:, :2]
    frame_roi = np.array([0.0, 0.0, 512.0, 512.0])
    clock = [0]

    def smooth():
        clock[0] += 1
        moved = params.copy()
        moved[:12] += rng.normal(size=12).astype(np.float32) * 0.01
        smoothed = smoother(crop.reroi_params(moved, roi, frame_roi), points + rng.normal(size=points.shape),
                            clock[0] / 30.0)
        return crop.reroi_params(smoothed, frame_roi, roi)

    out.append(("smoothing, one face (with its two re-framings)", None, smooth))
    out.append(("Euler angles, one face", lambda: geometry.euler_from_rotation(
        geometry.decompose_pose(geometry.pose_matrix(params))[1][None])[0], lambda: model.euler_angles(params)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    cv2.setNumThreads(1)
    junk = np.zeros(16_000_000, np.uint8)
    print("| step | before, warm / cold µs | now, warm / cold µs |")
    print("|---|---|---|")
    for name, old, new in rows(args.repeats):
        before = "–" if old is None else (f"{timed(old, args.repeats, False, junk):.0f} / "
                                          f"{timed(old, args.repeats, True, junk):.0f}")
        now = f"{timed(new, args.repeats, False, junk):.0f} / {timed(new, args.repeats, True, junk):.0f}"
        print(f"| {name} | {before} | {now} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
