"""MediaPipe Face Mesh (legacy solution) as a *teacher*: 468 3D points per face image.

The legacy ``face_mesh`` solution only ships in ``mediapipe<=0.10.21``; run this module in the build
environment (``make build-env``). Results are cached per source in ``.cache/teacher/<source>.npz``:

* ``names`` — image file names (video frames: ``<clip>#<frame index>``),
* ``points`` — ``(M, 468, 3)`` float32 in image pixels: x right, y down, z = MediaPipe depth scaled
  by the image width (smaller = closer to the camera), NaN where no face was found,
* ``image_size`` — ``(M, 2)`` width, height; ``found`` — ``(M,)`` bool.

Usage: ``python -m frnet.build.teacher [--limit N] [--out .cache/teacher]``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from ..datasets import shared_data_dir

log = logging.getLogger(__name__)

NUM_MESH_VERTICES = 468
# Tight crops (utkface, ytf68) are padded before the teacher sees them: its own face detector
# misses faces that touch the border.
PAD_FRACTION = 0.2
VIDEO_FRAME_STEP = 2
SOURCES = ("ytf68", "utkface", "videos")


class FaceMeshTeacher:
    """Thin wrapper over ``mediapipe.solutions.face_mesh.FaceMesh`` in static-image mode."""

    def __init__(self, min_detection_confidence: float = 0.3) -> None:
        from mediapipe.python.solutions import face_mesh  # build environment only

        self._mesh = face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
        )

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """``(468, 3)`` points in pixels of ``image_rgb`` (see module doc), or None."""
        height, width = image_rgb.shape[:2]
        pad = int(round(PAD_FRACTION * max(height, width)))
        padded = cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        result = self._mesh.process(np.ascontiguousarray(padded))
        if not result.multi_face_landmarks:
            return None
        landmarks = result.multi_face_landmarks[0].landmark
        norm = np.array([(p.x, p.y, p.z) for p in landmarks[:NUM_MESH_VERTICES]], dtype=np.float64)
        padded_h, padded_w = padded.shape[:2]
        points = np.empty_like(norm)
        points[:, 0] = norm[:, 0] * padded_w - pad
        points[:, 1] = norm[:, 1] * padded_h - pad
        points[:, 2] = norm[:, 2] * padded_w
        return points.astype(np.float32)

    def close(self) -> None:
        self._mesh.close()


def iter_source(source: str, data_dir: Path, limit: int | None = None):
    """Yield ``(name, image_rgb)`` for one shared source."""
    if source in ("ytf68", "utkface"):
        files = sorted((data_dir / source / "images").glob("*.jpg"))
        if limit:
            files = files[:: max(1, len(files) // limit)][:limit]
        for path in files:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                yield path.name, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif source == "videos":
        for clip in sorted((data_dir / "videos").glob("*.mp4")):
            capture = cv2.VideoCapture(str(clip))
            index = 0
            emitted = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index % VIDEO_FRAME_STEP == 0:
                    yield f"{clip.name}#{index}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    emitted += 1
                    if limit and emitted >= max(1, limit // 5):
                        break
                index += 1
            capture.release()
    else:
        raise ValueError(f"unknown source {source!r}; choose from {SOURCES}")


def build_teacher_cache(out_dir: Path, data_dir: Path, sources=SOURCES, limit: int | None = None) -> dict:
    """Run the teacher over ``sources`` and write one ``.npz`` per source; returns counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    teacher = FaceMeshTeacher()
    counts = {}
    try:
        for source in sources:
            names, points, sizes = [], [], []
            started = time.perf_counter()
            for name, image in iter_source(source, data_dir, limit):
                mesh = teacher(image)
                names.append(name)
                sizes.append(image.shape[1::-1])
                points.append(mesh if mesh is not None else np.full((NUM_MESH_VERTICES, 3), np.nan, np.float32))
            points_arr = np.stack(points) if points else np.zeros((0, NUM_MESH_VERTICES, 3), np.float32)
            found = np.isfinite(points_arr[:, 0, 0])
            tmp = out_dir / f"{source}.npz.part"
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, names=np.array(names), points=points_arr,
                                    image_size=np.array(sizes, dtype=np.int32).reshape(-1, 2), found=found)
            tmp.replace(out_dir / f"{source}.npz")
            counts[source] = {"images": len(names), "found": int(found.sum())}
            log.info("%s: %d images, face found on %d (%.1f s)", source, len(names), found.sum(),
                     time.perf_counter() - started)
    finally:
        teacher.close()
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".cache/teacher"))
    parser.add_argument("--limit", type=int, default=None, help="at most N images per source (for tests)")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = shared_data_dir()
    if data_dir is None:
        parser.error("../shared/data not found (set FRNET_SHARED_DIR to the folder that holds data/)")
    print(build_teacher_cache(args.out, data_dir, args.sources, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
