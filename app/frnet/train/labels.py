"""Training labels: fit the face model to every teacher mesh and cache crops with exact parameters.

Input: the teacher cache (``python -m frnet.build.teacher``, build environment) and the shared
images. Output in ``.cache/dataset/`` (git-ignored, rebuilt by this module):

* ``context.npy`` — ``(M, 224, 224, 3)`` uint8 RGB: a square of twice the ROI side around each face,
  so augmentation can move, scale and rotate the ROI without running off the stored pixels;
* ``labels.npz`` — ``params`` (M, 62) relative to the canonical ROI ``CONTEXT_ROI`` of the context
  image; ``human68`` (M, 68, 2) context pixels (NaN where no human label); ``split`` (train/val by
  person); ``source``, ``name``, ``person``; ``fit_mesh_rms_mm``; ``yaw_deg``; ``synthetic`` (bool).

Usage: ``python -m frnet.train.labels [--limit N]``
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from .. import crop, geometry
from ..datasets import read_landmarks_csv, shared_data_dir, split_persons, ytf68_person
from ..facemodel import FaceModel, load_face_model
from ..fitting import fit_to_mesh

log = logging.getLogger(__name__)

CONTEXT_SIZE = 224
# The canonical ROI inside a context image: its central half.
CONTEXT_ROI = np.array([CONTEXT_SIZE / 4, CONTEXT_SIZE / 4, 3 * CONTEXT_SIZE / 4, 3 * CONTEXT_SIZE / 4])
MAX_FIT_RMS_MM = 4.0  # worse teacher fits are dropped
MAX_HUMAN_NME = 0.15  # ytf68: fitted landmarks this far (outer-eye NME) from the human labels are dropped
DEFAULT_DIR = Path(".cache/dataset")


def context_box(roi_box: np.ndarray) -> np.ndarray:
    """The square of twice the ROI's side around it (image pixels)."""
    x0, y0, x1, y1 = roi_box
    side = x1 - x0
    return np.array([x0 - side / 2, y0 - side / 2, x1 + side / 2, y1 + side / 2])


def label_image(model: FaceModel, image_rgb: np.ndarray, mesh_px: np.ndarray, human68_px: np.ndarray | None):
    """Fit one teacher mesh; returns (context image, params, human68 in context px, fit) or None."""
    landmarks_px = model.landmarks_from_vertices(mesh_px[None, :, :2].astype(np.float64))[0]
    roi = crop.roi_from_landmarks(landmarks_px)
    ctx_box = context_box(roi)
    # Teacher pixels (y down, z away) → crop space of the context's canonical ROI (y up, z to camera).
    to_ctx = geometry.image_to_crop(mesh_px.astype(np.float64), ctx_box) * (CONTEXT_SIZE / geometry.CROP_SIZE)
    mesh_roi = geometry.image_to_crop(to_ctx, CONTEXT_ROI)
    mesh_roi[:, 1] = geometry.CROP_SIZE - mesh_roi[:, 1]
    mesh_roi[:, 2] = -mesh_roi[:, 2]
    human_roi = None
    human_ctx = np.full((68, 2), np.nan, np.float32)
    if human68_px is not None:
        human_ctx = (geometry.image_to_crop(human68_px, ctx_box) * (CONTEXT_SIZE / geometry.CROP_SIZE)).astype(np.float32)
        human_roi = geometry.image_to_crop(human_ctx.astype(np.float64), CONTEXT_ROI)
        human_roi[:, 1] = geometry.CROP_SIZE - human_roi[:, 1]
    fit = fit_to_mesh(model, mesh_roi, human_roi)
    context = crop.crop_image(image_rgb, ctx_box, CONTEXT_SIZE)
    return context, fit.params, human_ctx, fit


def iter_teacher_samples(teacher_dir: Path, data_dir: Path, limit: int | None = None):
    """Yield (source, name, person, image_rgb, mesh_px, human68_px | None) for faces the teacher found."""
    human = read_landmarks_csv(data_dir / "ytf68" / "landmarks68.csv")
    for source in ("ytf68", "utkface", "videos"):
        with np.load(teacher_dir / f"{source}.npz") as cache:
            names, points, found = cache["names"], cache["points"], cache["found"]
        index = {str(n): i for i, n in enumerate(names)}
        picked = [str(n) for n, f in zip(names, found) if f]
        if limit:
            picked = picked[:: max(1, len(picked) // limit)][:limit]
        if source == "videos":
            by_clip: dict[str, list[int]] = {}
            for name in picked:
                clip, frame = name.split("#")
                by_clip.setdefault(clip, []).append(int(frame))
            for clip, frames in by_clip.items():
                wanted = set(frames)
                capture = cv2.VideoCapture(str(data_dir / "videos" / clip))
                frame_index = 0
                while wanted:
                    ok, frame = capture.read()
                    if not ok:
                        break
                    if frame_index in wanted:
                        wanted.discard(frame_index)
                        name = f"{clip}#{frame_index}"
                        yield source, name, "video:" + clip, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), \
                            points[index[name]], None
                    frame_index += 1
                capture.release()
            continue
        for name in picked:
            image = cv2.imread(str(data_dir / source / "images" / name), cv2.IMREAD_COLOR)
            if image is None:
                continue
            person = "ytf68:" + ytf68_person(name) if source == "ytf68" else f"{source}:{name}"
            yield source, name, person, cv2.cvtColor(image, cv2.COLOR_BGR2RGB), points[index[name]], \
                human.get(name) if source == "ytf68" else None


def build_labels(out_dir: Path, teacher_dir: Path, data_dir: Path, limit: int | None = None) -> dict:
    model = load_face_model()
    out_dir.mkdir(parents=True, exist_ok=True)
    contexts, params, humans, meta = [], [], [], []
    dropped = {"fit_rms": 0, "human_nme": 0}
    started = time.perf_counter()
    for source, name, person, image, mesh_px, human_px in iter_teacher_samples(teacher_dir, data_dir, limit):
        context, p, human_ctx, fit = label_image(model, image, mesh_px, human_px)
        if fit.mesh_rms_mm > MAX_FIT_RMS_MM:
            dropped["fit_rms"] += 1
            continue
        if human_px is not None:
            pred = model.landmarks68(p)[:, :2]
            human_roi = geometry.image_to_crop(human_ctx.astype(np.float64), CONTEXT_ROI)
            nme = np.linalg.norm(pred - human_roi, axis=-1).mean() / np.linalg.norm(human_roi[36] - human_roi[45])
            if nme > MAX_HUMAN_NME:
                dropped["human_nme"] += 1
                continue
        contexts.append(context)
        params.append(p)
        humans.append(human_ctx)
        meta.append((source, name, person, fit.mesh_rms_mm))
        if len(meta) % 1000 == 0:
            log.info("%d faces labelled (%.0f s)", len(meta), time.perf_counter() - started)
    params_arr = np.stack(params)
    persons = [m[2] for m in meta]
    validation = split_persons([p.split(":", 1)[1] for p in persons if p.startswith("ytf68:")])
    split = np.array(["val" if p.startswith("ytf68:") and p.split(":", 1)[1] in validation else "train" for p in persons])
    yaw = np.degrees(model.euler_angles(params_arr)[:, 0])
    np.save(out_dir / "context.npy.part.npy", np.stack(contexts))
    (out_dir / "context.npy.part.npy").replace(out_dir / "context.npy")
    tmp = out_dir / "labels.npz.part"
    with open(tmp, "wb") as handle:
        np.savez(handle, params=params_arr, human68=np.stack(humans), split=split,
                 source=np.array([m[0] for m in meta]), name=np.array([m[1] for m in meta]),
                 person=np.array(persons), fit_mesh_rms_mm=np.array([m[3] for m in meta], np.float32),
                 yaw_deg=yaw.astype(np.float32), synthetic=np.zeros(len(meta), bool))
    tmp.replace(out_dir / "labels.npz")
    summary = {
        "samples": len(meta), "train": int((split == "train").sum()), "val": int((split == "val").sum()),
        "val_persons": len(validation), "dropped": dropped,
        "by_source": {s: int(sum(m[0] == s for m in meta)) for s in ("ytf68", "utkface", "videos")},
        "fit_mesh_rms_mm_median": float(np.median([m[3] for m in meta])),
        "abs_yaw_deg_percentiles": {q: float(np.percentile(np.abs(yaw), q)) for q in (50, 90, 99)},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "labels_summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fit training labels and cache context crops.")
    parser.add_argument("--teacher", type=Path, default=Path(".cache/teacher"))
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = shared_data_dir()
    if data_dir is None:
        parser.error("../shared/data not found (set FRNET_SHARED_DIR)")
    print(json.dumps(build_labels(args.out, args.teacher, data_dir, args.limit), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
