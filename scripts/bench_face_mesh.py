"""Peer reference for ``frnet-app bench``: MediaPipe Face Mesh's per-frame cost on a video's frames.

Runs in the build environment (``.venv-build``, legacy ``mediapipe==0.10.21``: the only release
with ``mediapipe.solutions.face_mesh``); ``frnet.bench`` starts it as a subprocess and merges the
JSON it prints on stdout::

    .venv-build/bin/python scripts/bench_face_mesh.py VIDEO [--frames 120] [--warmup 5]

Times ``FaceMesh.process`` only (decoding and colour conversion are outside the timer), in its video
(tracking) mode with one face and no iris refinement — the configuration closest to frnet's
``--video`` mode. Output: ``{"median_ms", "p90_ms", "mean_ms", "frames", "faces_fraction", "mediapipe"}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--frames", type=int, default=120, help="frames timed (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=5, help="first frames run but not timed")
    args = parser.parse_args()

    import cv2
    import mediapipe
    import numpy as np
    from mediapipe.python.solutions import face_mesh

    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        print(json.dumps({"error": f"cannot open {args.video}"}))
        return 2
    times_ms: list[float] = []
    found = 0
    with face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False) as mesh:
        index = 0
        while len(times_ms) < args.frames:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            start = time.perf_counter()
            result = mesh.process(rgb)
            elapsed_ms = (time.perf_counter() - start) * 1e3
            if index >= args.warmup:
                times_ms.append(elapsed_ms)
                found += result.multi_face_landmarks is not None
            index += 1
    capture.release()
    if not times_ms:
        print(json.dumps({"error": f"no frame could be timed in {args.video}"}))
        return 2
    print(json.dumps({
        "median_ms": float(np.median(times_ms)),
        "p90_ms": float(np.percentile(times_ms, 90)),
        "mean_ms": float(np.mean(times_ms)),
        "frames": len(times_ms),
        "faces_fraction": found / len(times_ms),
        "mediapipe": mediapipe.__version__,
        "cpu_count": os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
