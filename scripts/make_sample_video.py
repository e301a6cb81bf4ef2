"""Build ``assets/sample.mp4``, the bundled demo clip, from scikit-image's ``astronaut`` photo.

The photo (Eileen Collins, NASA; public domain) is filmed by a virtual camera that zooms, pans,
rolls, and sees the photo turn slightly left/right and up/down (a perspective homography), so
the face moves, changes size and shows mild perspective like a real hand-held shot. The camera never
looks past the photo's edges (checked for every frame). 640×480, 30 fps, 8 s, H.264; the frames are
a pure function of the frame index, and the encoder runs single-threaded so the bytes do not depend
on the machine (they still may change with the FFmpeg/x264 version).

Usage (from the repository root)::

    .venv/bin/python scripts/make_sample_video.py            # writes assets/sample.mp4
    .venv/bin/python scripts/make_sample_video.py --check    # and reports the face detection rate
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from frnet.video import VideoReader, VideoWriter

REPO_ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 640, 480
FPS = 30
DURATION_S = 8.0
CRF = 20
DISTANCE_PX = 600.0  # camera-to-photo distance for the yaw/pitch warp, in photo pixels

logger = logging.getLogger("make_sample_video")


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())  # 512×512 RGB uint8


def camera(t: float) -> dict[str, float]:
    """Camera parameters at ``t`` seconds: view centre in the photo (px), zoom, angles (radians)."""
    tau = 2 * math.pi
    return {
        "cx": 256 + 22 * math.sin(tau * t / 8),
        "cy": 160 + 12 * math.sin(tau * t / 4 + 1.0),
        "zoom": 2.0 - 0.3 * math.cos(tau * t / 8),  # 1.7 … 2.3 output px per photo px
        "roll": math.radians(6) * math.sin(tau * t / 5),
        "yaw": math.radians(16) * math.sin(tau * t / 6),
        "pitch": math.radians(10) * math.sin(tau * t / 7 + 0.5),
    }


def homography(t: float) -> np.ndarray:
    """3×3 map from photo pixels to output pixels at time ``t``."""
    p = camera(t)
    centre = np.array([[1, 0, -p["cx"]], [0, 1, -p["cy"]], [0, 0, 1]])
    cy, sy = math.cos(p["yaw"]), math.sin(p["yaw"])
    cp, sp = math.cos(p["pitch"]), math.sin(p["pitch"])
    yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rotation = yaw @ pitch
    # The photo plane turned by ``rotation`` about its centre, seen from DISTANCE_PX away: the
    # pinhole projection of (x, y, 0) is [[r11, r12, 0], [r21, r22, 0], [r31/d, r32/d, 1]]·(x, y, 1).
    tilt = np.array(
        [
            [rotation[0, 0], rotation[0, 1], 0.0],
            [rotation[1, 0], rotation[1, 1], 0.0],
            [rotation[2, 0] / DISTANCE_PX, rotation[2, 1] / DISTANCE_PX, 1.0],
        ]
    )
    cr, sr = math.cos(p["roll"]), math.sin(p["roll"])
    roll_zoom = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]]) @ np.diag([p["zoom"], p["zoom"], 1.0])
    to_output = np.array([[1, 0, WIDTH / 2], [0, 1, HEIGHT / 2], [0, 0, 1]])
    return to_output @ roll_zoom @ tilt @ centre


def render_frame(photo: np.ndarray, index: int) -> np.ndarray:
    h = homography(index / FPS)
    corners = np.array([[0, 0], [WIDTH, 0], [WIDTH, HEIGHT], [0, HEIGHT]], dtype=np.float64).reshape(-1, 1, 2)
    seen = cv2.perspectiveTransform(corners, np.linalg.inv(h)).reshape(-1, 2)
    size = photo.shape[1], photo.shape[0]
    if (seen < 0).any() or (seen > size).any():
        raise RuntimeError(f"frame {index}: the camera looks past the photo's edge ({seen.round(1)})")
    return cv2.warpPerspective(photo, h, (WIDTH, HEIGHT), flags=cv2.INTER_CUBIC)


def make(out: Path) -> None:
    photo = _astronaut()
    count = round(DURATION_S * FPS)
    with VideoWriter(out, FPS, (WIDTH, HEIGHT), crf=CRF, preset="slow", threads=1) as writer:
        for index in range(count):
            writer.write(render_frame(photo, index))
    logger.info("wrote %s: %d frames, %.0f KB", out, count, out.stat().st_size / 1024)


def detection_rate(path: Path) -> float:
    """Share of frames of ``path`` on which the default detector finds exactly one face."""
    from frnet.detect import create_detector

    hits = total = 0
    with VideoReader(path) as reader, create_detector("blazeface", running_mode="video") as detector:
        for frame in reader:
            hits += len(detector(frame.image_rgb, frame.timestamp_ms)) == 1
            total += 1
    return hits / max(total, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "assets" / "sample.mp4")
    parser.add_argument("--check", action="store_true", help="report the face detection rate afterwards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make(args.out)
    if args.check:
        logger.info("face found on %.1f %% of frames", 100 * detection_rate(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
