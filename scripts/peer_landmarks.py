"""68-point landmarks from the peer systems frnet is compared with, as a ``landmarks68.csv``.

Runs in the BUILD environment (``make build-env``: legacy MediaPipe Face Mesh, dlib-bin,
face-recognition-models)::

    .venv-build/bin/python scripts/peer_landmarks.py --system mediapipe --images DIR --out mp.csv
    .venv-build/bin/python scripts/peer_landmarks.py --system dlib --images DIR --out dlib.csv \\
        [--boxes FRNET_OUT_DIR] [--report dlib.json]
    .venv-build/bin/python scripts/peer_landmarks.py --calibrate [--samples 1000]

The CSV has the columns of frnet's own (``image,x0,y0,…,x67,y67``, image pixels with 0-based pixel
centres, two decimals, empty cells = no face), one row per image of ``DIR`` (``.jpg .jpeg .png .bmp
.webp .tif .tiff``, sorted, not recursive), holding the largest face, so ``frnet-app eval`` scores
all systems alike.

* **mediapipe** — MediaPipe Face Mesh (legacy solution, static-image mode, one face, the image
  padded by replication exactly as frnet's teacher pads it: :class:`frnet.build.teacher.FaceMeshTeacher`)
  → 468 vertices → the 68 points through the shipped face model's landmark embedding
  (``load_face_model().landmarks_from_vertices``), the same map that made frnet's training labels.
  It uses its own face detector (BlazeFace short-range inside the legacy graph).
* **dlib** — ``shape_predictor_68_face_landmarks.dat`` (from face-recognition-models) on dlib's HOG
  frontal-face detector boxes (the image padded the same way, upsampled ``HOG_UPSAMPLE`` times).
  Where HOG finds nothing and ``--boxes`` names a ``frnet-app --image`` output folder, the box is
  derived from frnet's ``<stem>_landmarks.json``: the largest face's ``roi_box`` (the
  landmark-framed square frnet's network saw; frnet's detection starts from BlazeFace) and its yaw
  (``yaw_pitch_roll_deg[0]``), converted with the constants below. The report counts how many
  images used which box, and where both exist, the median IoU of HOG's box and the converted one.

Box conversion (``--calibrate``): HOG is run as above on training images of the label cache
(``.cache/dataset``), half real contexts (mostly frontal), half profiled views (|yaw| 30–90°), each
rescaled by a random factor in [0.6, 1.8] first (HOG boxes come in its pyramid's discrete sizes).
The reference is the ROI ``frnet.crop.roi_from_landmarks`` gives for the face model's 68 points of
the exact labels, the ROI frnet's image mode converges to, and the yaw is the labels' (frnet's
convention). Fitted: side = k·S (median), dx = a·sin(yaw)·S and dy = (b0 + b1·|sin yaw|)·S (least
squares, one 3-MAD outlier pass): HOG's box sits on the visible half of a turned face. The
constants below come from ``--calibrate --samples 1000`` (2026-11-25): HOG fired on 672 of 1000
images (197 of them at |yaw| > 30°); k = 0.696 (IQR 0.654–0.737), a = 0.182 (residual IQR
−0.025–0.013), b0 = 0.032, b1 = −0.074 (residual IQR −0.020–0.021). They do not depend on frnet's
network. Check on the profiled validation views where HOG fires: dlib on the converted boxes of
the true ROI and yaw scores 5.7 % NME_box against 6.1 % on HOG's own boxes (box IoU median 0.81).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from frnet.datasets import LANDMARK_CSV_HEADER, NUM_LANDMARKS

log = logging.getLogger("peer_landmarks")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SYSTEMS = ("mediapipe", "dlib")
HOG_UPSAMPLE = 1  # dlib's detector misses faces under ~80 px without it (face_recognition's default too)
# dlib-like box from frnet's roi_box (square, side S, centre c) and yaw (degrees, frnet's convention:
# positive = nose towards the image's right): side = k·S, centre = c + (a·sin yaw, b0 + b1·|sin yaw|)·S.
# HOG's box sits on the visible half of a turned face, so it moves towards the nose as yaw grows.
DLIB_SIDE_PER_ROI = 0.696
DLIB_DX_PER_SIN_YAW = 0.182
DLIB_DY_PER_ROI = 0.032
DLIB_DY_PER_ABS_SIN_YAW = -0.074


# ----------------------------------------------------------------------------------------- images
def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SystemExit(f"peer_landmarks: error: {folder} is not a folder of images")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: Path) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def pad_image(image_rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """Replicate-pad like frnet's teacher (faces touching the border are otherwise missed)."""
    from frnet.build.teacher import PAD_FRACTION

    pad = int(round(PAD_FRACTION * max(image_rgb.shape[:2])))
    return cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad


def write_csv(path: Path, rows: list[tuple[str, np.ndarray | None]]) -> None:
    """frnet's landmarks68.csv format, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(LANDMARK_CSV_HEADER)
            for name, points in rows:
                cells = [""] * (2 * NUM_LANDMARKS) if points is None else \
                    [f"{v:.2f}" for v in np.asarray(points, np.float64)[:, :2].reshape(-1)]
                writer.writerow([name, *cells])
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# -------------------------------------------------------------------------------------- MediaPipe
class MediaPipe68:
    """Face Mesh (as frnet's teacher runs it) → 68 points through the face model's embedding."""

    def __init__(self) -> None:
        from frnet.build.teacher import FaceMeshTeacher
        from frnet.facemodel import load_face_model

        self._mesh = FaceMeshTeacher()
        self._model = load_face_model()

    def __call__(self, image_rgb: np.ndarray) -> tuple[np.ndarray | None, str]:
        vertices = self._mesh(image_rgb)
        if vertices is None:
            return None, "none"
        points = self._model.landmarks_from_vertices(vertices[None].astype(np.float64))[0]
        return points[:, :2], "mediapipe"

    def close(self) -> None:
        self._mesh.close()


# ------------------------------------------------------------------------------------------- dlib
def roi_to_dlib_box(roi_box: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """frnet's square ``roi_box`` (x0, y0, x1, y1) and yaw → a box framed like dlib's HOG detector's."""
    x0, y0, x1, y1 = (float(v) for v in roi_box)
    side = x1 - x0
    sin_yaw = float(np.sin(np.radians(yaw_deg)))
    cx = (x0 + x1) / 2 + DLIB_DX_PER_SIN_YAW * sin_yaw * side
    cy = (y0 + y1) / 2 + (DLIB_DY_PER_ROI + DLIB_DY_PER_ABS_SIN_YAW * abs(sin_yaw)) * side
    half = DLIB_SIDE_PER_ROI * side / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def frnet_face(boxes_dir: Path, stem: str) -> tuple[np.ndarray, float] | None:
    """The largest face's ``roi_box`` and yaw (degrees) in frnet's ``<stem>_landmarks.json``, or None."""
    path = boxes_dir / f"{stem}_landmarks.json"
    if not path.is_file():
        return None
    faces = json.loads(path.read_text(encoding="utf-8")).get("faces", [])
    if not faces:
        return None
    largest = max(faces, key=lambda f: f["roi_box"][2] - f["roi_box"][0])
    return np.asarray(largest["roi_box"], dtype=np.float64), float(largest["yaw_pitch_roll_deg"][0])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Dlib68:
    """dlib's 68-point shape predictor on HOG boxes, or on boxes derived from frnet's ROI."""

    def __init__(self, boxes_dir: Path | None = None) -> None:
        import dlib
        import face_recognition_models

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self._boxes_dir = boxes_dir
        self.agreement_iou: list[float] = []  # HOG box vs converted frnet ROI, where both exist

    def hog_box(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """The largest HOG box (x0, y0, x1, y1) in ``image_rgb`` pixels, or None."""
        padded, pad = pad_image(image_rgb)
        rects = self._detector(padded, HOG_UPSAMPLE)
        if len(rects) == 0:
            return None
        rect = max(rects, key=lambda r: r.width() * r.height())
        return np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float64) - pad

    def predict(self, image_rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = self._predictor(np.ascontiguousarray(image_rgb), self._dlib.rectangle(x0, y0, x1, y1))
        return np.array([(shape.part(i).x, shape.part(i).y) for i in range(NUM_LANDMARKS)], np.float64)

    def __call__(self, image_rgb: np.ndarray, stem: str) -> tuple[np.ndarray | None, str]:
        box = self.hog_box(image_rgb)
        face = frnet_face(self._boxes_dir, stem) if self._boxes_dir is not None else None
        if box is not None and face is not None:
            self.agreement_iou.append(box_iou(box, roi_to_dlib_box(*face)))
        source = "hog"
        if box is None and face is not None:
            box, source = roi_to_dlib_box(*face), "frnet"
        if box is None:
            return None, "none"
        return self.predict(image_rgb, box), source

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------------- runs
def run(system: str, images: list[Path], boxes_dir: Path | None) -> tuple[list, dict]:
    engine = MediaPipe68() if system == "mediapipe" else Dlib68(boxes_dir)
    rows: list[tuple[str, np.ndarray | None]] = []
    sources: dict[str, int] = {}
    unreadable = 0
    started = time.perf_counter()
    try:
        for index, path in enumerate(images, 1):
            image = read_rgb(path)
            if image is None:
                log.warning("cannot read %s", path)
                unreadable += 1
                rows.append((path.name, None))
                continue
            points, source = engine(image) if system == "mediapipe" else engine(image, path.stem)
            sources[source] = sources.get(source, 0) + 1
            rows.append((path.name, points))
            if index % 200 == 0:
                log.info("%s: %d/%d images", system, index, len(images))
    finally:
        engine.close()
    seconds = time.perf_counter() - started
    report = {
        "system": system, "images": len(images), "unreadable": unreadable,
        "detected": sum(p is not None for _, p in rows), "boxes": dict(sorted(sources.items())),
        "seconds": round(seconds, 1), "ms_per_image": round(1000 * seconds / max(len(images), 1), 1),
    }
    if system == "dlib":
        report["box_constants"] = {"side_per_roi": DLIB_SIDE_PER_ROI, "dx_per_sin_yaw": DLIB_DX_PER_SIN_YAW,
                                   "dy_per_roi": DLIB_DY_PER_ROI, "dy_per_abs_sin_yaw": DLIB_DY_PER_ABS_SIN_YAW}
        if engine.agreement_iou:
            report["hog_vs_frnet_box_iou_median"] = round(float(np.median(engine.agreement_iou)), 3)
            report["hog_vs_frnet_box_pairs"] = len(engine.agreement_iou)
    return rows, report


def calibrate(dataset_dir: Path, samples: int, seed: int = 0) -> dict:
    """Fit the (roi_box, yaw) → dlib box constants on training images of the label cache.

    Half the samples are real training contexts (mostly frontal), half profiled training views
    (|yaw| 30–90°), so the yaw terms are pinned down. The reference is the ROI
    ``frnet.crop.roi_from_landmarks`` gives for the face model's 68 points of the exact labels, the
    ROI frnet's image mode converges to; the yaw is the labels' (the one frnet's JSON reports).
    """
    from frnet import crop, geometry
    from frnet.facemodel import load_face_model
    from frnet.train.labels import CONTEXT_ROI  # numpy-only import chain

    model = load_face_model()
    dlib68 = Dlib68()
    rng = np.random.default_rng(seed)
    rows = []
    tried = 0
    for prefix, share in (("", samples // 2), ("profiled_", samples - samples // 2)):
        with np.load(dataset_dir / f"{prefix}labels.npz", allow_pickle=False) as labels:
            split, params, yaw_deg = labels["split"], labels["params"], labels["yaw_deg"]
        contexts = np.load(dataset_dir / f"{prefix}context.npy", mmap_mode="r")
        train = np.flatnonzero(split == "train")
        for index in rng.choice(train, min(share, len(train)), replace=False):
            tried += 1
            # A random rescale per image: HOG boxes come in the discrete sizes of its image pyramid,
            # and every context holds its face at about the same size.
            zoom = float(np.exp(rng.uniform(np.log(0.6), np.log(1.8))))
            image = cv2.resize(np.asarray(contexts[index]), None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
            box = dlib68.hog_box(image)
            if box is None:
                continue
            box = (box + 0.5) / zoom - 0.5  # back to context pixels (pixel centres on integers)
            landmarks = geometry.crop_to_image(model.landmarks68(params[index]), CONTEXT_ROI)[:, :2]
            roi = crop.roi_from_landmarks(landmarks)
            side = roi[2] - roi[0]
            offset = ((box[:2] + box[2:]) / 2 - (roi[:2] + roi[2:]) / 2) / side
            rows.append((np.sin(np.radians(yaw_deg[index])), (box[2] - box[0]) / side, *offset))
    sin_yaw, side_ratio, dx, dy = np.array(rows).T

    def robust_lstsq(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        coef = np.linalg.lstsq(design, target, rcond=None)[0]
        residual = target - design @ coef
        keep = np.abs(residual - np.median(residual)) < 3 * 1.4826 * np.median(np.abs(residual - np.median(residual)))
        coef = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
        return coef, target - design @ coef

    (dx_per_sin,), dx_res = robust_lstsq(sin_yaw[:, None], dx)
    (dy0, dy1), dy_res = robust_lstsq(np.column_stack([np.ones_like(sin_yaw), np.abs(sin_yaw)]), dy)
    iqr = lambda values: [round(float(v), 3) for v in np.percentile(values, [25, 75])]  # noqa: E731
    return {
        "samples": tried, "hog_found": len(rows),
        "hog_found_abs_yaw_over_30": int((np.abs(sin_yaw) > 0.5).sum()),
        "side_per_roi": round(float(np.median(side_ratio)), 3), "side_iqr": iqr(side_ratio),
        "dx_per_sin_yaw": round(float(dx_per_sin), 3), "dx_residual_iqr": iqr(dx_res),
        "dy_per_roi": round(float(dy0), 3), "dy_per_abs_sin_yaw": round(float(dy1), 3),
        "dy_residual_iqr": iqr(dy_res),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="68-point landmarks from MediaPipe Face Mesh or dlib as a CSV "
                                                 "(build environment).")
    parser.add_argument("--system", choices=SYSTEMS)
    parser.add_argument("--images", type=Path, help="folder of images")
    parser.add_argument("--out", type=Path, help="output CSV (frnet's landmarks68.csv format)")
    parser.add_argument("--boxes", type=Path, help="dlib: frnet-app --image output folder for fallback boxes")
    parser.add_argument("--report", type=Path, help="also write the run's counts as JSON")
    parser.add_argument("--calibrate", action="store_true", help="fit the frnet ROI → dlib box constants")
    parser.add_argument("--dataset", type=Path, default=Path(".cache/dataset"), help="label cache (--calibrate)")
    parser.add_argument("--samples", type=int, default=1000, help="training images used by --calibrate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.calibrate:
        print(json.dumps(calibrate(args.dataset, args.samples), indent=1))
        return 0
    if args.system is None or args.images is None or args.out is None:
        parser.error("--system, --images and --out are required (or --calibrate)")
    if args.boxes is not None and args.system != "dlib":
        parser.error("--boxes is for --system dlib")
    if args.boxes is not None and not args.boxes.is_dir():
        parser.error(f"--boxes {args.boxes} is not a folder")
    rows, report = run(args.system, list_images(args.images), args.boxes)
    write_csv(args.out, rows)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
