"""Time the face detector stage alone on the bundled sample: milliseconds per call, median and p90.

Used for README's "One OpenCV" numbers: run it with each OpenCV build in alternating blocks, e.g.
``PYTHONPATH=/path/to/other/cv2 python scripts/bench_detector.py --blocks 3``; it prints one JSON
line per frame size with the OpenCV build it ran with (``cv2.__file__``, version, headless or not).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per size (default: 40)")
    args = parser.parse_args()

    import cv2

    from frnet.bench import letterbox
    from frnet.detect import MediaPipeFaceDetector
    from frnet.resources import resource_path
    from frnet.video import VideoReader

    with VideoReader(resource_path("assets", "sample.mp4")) as reader:
        frames = [f.image_rgb for _, f in zip(range(args.frames), reader)]
    try:
        from cv2 import version as cv2_version
        headless = bool(getattr(cv2_version, "headless", False))
    except ImportError:
        headless = None
    for size in (None, (1280, 720), (1920, 1080)):
        images = frames if size is None else [letterbox(f, size) for f in frames]
        with MediaPipeFaceDetector(running_mode="image") as detector:
            detector(images[0])  # warm-up
            times = []
            for image in images:
                start = time.perf_counter()
                detector(image)
                times.append((time.perf_counter() - start) * 1e3)
        height, width = images[0].shape[:2]
        print(json.dumps({"size": f"{width}x{height}", "median_ms": round(float(np.median(times)), 2),
                          "p90_ms": round(float(np.percentile(times, 90)), 2), "frames": len(times),
                          "cv2": cv2.__version__, "headless": headless, "cv2_file": cv2.__file__}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
