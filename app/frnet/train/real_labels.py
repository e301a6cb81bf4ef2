"""Training labels from real large-pose photos with human 2D landmarks (AFLW/MERL-RAV, 300-W).

The face model is fitted to each face's human 68 points (:func:`frnet.fitting.fit_to_landmarks_2d`):
MERL-RAV labels carry visibility (visible / externally occluded / self-occluded-absent), so absent
points are left out and occluded ones count half; 300-W labels put the jaw on the visible outline,
so their far-side jaw points are matched to the model's silhouette by landmark marching. Fits whose
landmarks miss the labels (``MAX_FIT_NME_BOX``) or need implausible coefficients
(``MAX_ABS_COEFFICIENT``) are dropped. No teacher network is involved: every label comes from the
human points and frnet's own face model (no Basel Face Model, no 3DDFA output).

Output in ``.cache/dataset/`` (beside :mod:`frnet.train.labels`' cache, same keys plus
``visibility`` and ``silhouette_jaw``):

* ``real2d_context.npy`` — ``(M, 224, 224, 3)`` uint8 context images (twice the fitted ROI);
* ``real2d_labels.npz`` — ``params``, ``human68`` (context px, NaN where absent), ``visibility``
  ``(M, 68)`` (1 / -1 / 0), ``silhouette_jaw`` (300-W), ``split`` (``train`` / ``val``),
  ``source``, ``name``, ``person``, ``yaw_deg`` (fitted), ``meta_yaw_deg`` (as shipped, AFLW),
  ``fit_nme_box``, ``fit_mesh_rms_mm`` (NaN: no mesh), ``synthetic`` (False);
* ``real2d_summary.json`` — counts kept/dropped, fit residuals and fitted-vs-shipped yaw per bin.

Validation sets (fixed: chosen by a hash of the image name, never trained on): ``aflw_val`` — 1,100
AFLW faces stratified over |yaw| (400 at 0–30°, 350 at 30–60°, 350 at 60–90°, by the shipped yaw);
``helen_val`` — 200 HELEN-train faces. AFW is training only.

Usage: ``python -m frnet.train.real_labels [--limit N]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from .. import crop, geometry
from ..datasets import read_ground_truth_csv, read_landmarks_csv, shared_data_dir
from ..facemodel import load_face_model
from ..fitting import fit_to_landmarks_2d, label_noise_mm
from .labels import CONTEXT_SIZE, DEFAULT_DIR, context_box

log = logging.getLogger(__name__)

MAX_FIT_NME_BOX = 0.06
MAX_ABS_COEFFICIENT = 4.5
AFLW_VAL_PER_BIN = {(0, 30): 400, (30, 60): 350, (60, 1000): 350}
HELEN_VAL_COUNT = 200
YAW_BINS = ((0, 30), (30, 60), (60, 1000))
LABELS_FILE, CONTEXT_FILE, SUMMARY_FILE = "real2d_labels.npz", "real2d_context.npy", "real2d_summary.json"


def _hash_key(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def aflw_validation_names(meta_yaw: dict[str, float]) -> set[str]:
    """The fixed AFLW validation images: per |yaw| bin the first names in hash order."""
    chosen: set[str] = set()
    for (lo, hi), count in AFLW_VAL_PER_BIN.items():
        names = sorted((n for n, y in meta_yaw.items() if lo <= abs(y) < hi), key=_hash_key)
        chosen.update(names[:count])
    return chosen


def helen_validation_names(names: list[str]) -> set[str]:
    return set(sorted(names, key=_hash_key)[:HELEN_VAL_COUNT])


def read_visibility_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    return {row[0]: np.array([int(float(v)) for v in row[1:69]]) for row in rows[1:] if row}


def read_partial_landmarks_csv(path: Path) -> dict[str, np.ndarray]:
    """``image,x0,y0,…`` rows whose empty cells (self-occluded points) become NaN
    (:func:`frnet.datasets.read_ground_truth_csv`, without the pose columns)."""
    return {name: points for name, (points, _) in read_ground_truth_csv(path).items() if points is not None}


def read_meta_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return {row["image"]: row for row in csv.DictReader(handle)}


def iter_sources(data_dir: Path, limit: int | None = None):
    """Yield (source, name, image path, landmarks (68,2) image px with NaN, visibility (68,), meta yaw)."""
    aflw = data_dir / "aflw_merlrav"
    if (aflw / "landmarks68.csv").is_file():
        points = read_partial_landmarks_csv(aflw / "landmarks68.csv")
        visibility = read_visibility_csv(aflw / "visibility68.csv")
        meta = read_meta_csv(aflw / "meta.csv")
        names = sorted(points)
        if limit:
            names = names[:: max(1, len(names) // limit)][:limit]
        for name in names:
            vis = visibility[name]
            lm = points[name]
            if lm is None:
                continue
            lm = np.where((vis == 0)[:, None], np.nan, lm)
            yield "aflw", name, aflw / "images" / name, lm, vis, float(meta[name]["yaw_deg"])
    for part in ("afw", "helen_train"):
        folder = data_dir / "300w" / part
        if not (folder / "landmarks68.csv").is_file():
            continue
        points = read_landmarks_csv(folder / "landmarks68.csv")
        names = sorted(n for n, v in points.items() if v is not None)
        if limit:
            names = names[:: max(1, len(names) // max(1, limit // 4))][: max(1, limit // 4)]
        for name in names:
            yield part, name, folder / "images" / name, points[name], np.ones(68, int), float("nan")


def fit_face(face_model, landmarks_px: np.ndarray, visibility: np.ndarray, silhouette: bool):
    """Fit one face; returns (params relative to the fitted ROI, ROI box, fit result)."""
    known = np.all(np.isfinite(landmarks_px), axis=1)
    roi0 = crop.roi_from_landmarks(landmarks_px[known])
    target = geometry.image_to_crop(np.where(known[:, None], landmarks_px, 0.0), roi0)
    target[:, 1] = geometry.CROP_SIZE - target[:, 1]
    target[~known] = np.nan
    noise = label_noise_mm(np.where(known, visibility, 0))
    fit = fit_to_landmarks_2d(face_model, target, noise, silhouette_contour=silhouette)
    fitted_px = geometry.crop_to_image(face_model.landmarks68(fit.params)[:, :2], roi0)
    roi = crop.roi_from_landmarks(fitted_px)
    params = crop.reroi_params(fit.params, roi0, roi)
    return params, roi, fit


def yaw_bin(yaw_deg: float) -> str:
    a = abs(yaw_deg)
    for lo, hi in YAW_BINS:
        if lo <= a < hi:
            return f"{lo}-{min(hi, 90)}"
    return "nan"


def build_real_labels(out_dir: Path, data_dir: Path, limit: int | None = None) -> dict:
    face_model = load_face_model()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples = list(iter_sources(data_dir, limit))
    aflw_yaw = {name: yaw for source, name, _, _, _, yaw in samples if source == "aflw"}
    val_names = aflw_validation_names(aflw_yaw) if not limit else \
        {n for n in aflw_yaw if _hash_key(n) < "4"}  # a quarter for small test runs
    helen = [name for source, name, *_ in samples if source == "helen_train"]
    val_names |= {f"helen_train/{n}" for n in (helen_validation_names(helen) if not limit else helen[::4])}
    contexts, rows, dropped, residuals = [], [], {"nme": 0, "coefficients": 0, "unreadable": 0, "too_few_points": 0}, []
    for i, (source, name, path, lm_px, vis, meta_yaw) in enumerate(samples):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            dropped["unreadable"] += 1
            continue
        if np.isfinite(lm_px).all(axis=1).sum() < 8:
            dropped["too_few_points"] += 1
            continue
        silhouette = source != "aflw"
        params, roi, fit = fit_face(face_model, lm_px, vis, silhouette)
        yaw = float(np.degrees(face_model.euler_angles(params)[0]))
        residuals.append((source, yaw, meta_yaw, fit.nme_box, fit.max_abs_coefficient))
        if fit.nme_box > MAX_FIT_NME_BOX:
            dropped["nme"] += 1
            continue
        if fit.max_abs_coefficient > MAX_ABS_COEFFICIENT:
            dropped["coefficients"] += 1
            continue
        ctx_box = context_box(roi)
        contexts.append(crop.crop_image(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), ctx_box, CONTEXT_SIZE))
        human_ctx = geometry.image_to_crop(lm_px, ctx_box) * (CONTEXT_SIZE / geometry.CROP_SIZE)
        key = name if source == "aflw" else f"{source}/{name}"
        rows.append(dict(params=params, human68=human_ctx.astype(np.float32), visibility=vis.astype(np.int8),
                         silhouette_jaw=silhouette, split="val" if key in val_names else "train", source=source,
                         name=key, person=f"{source}:{name}", yaw_deg=yaw, meta_yaw_deg=meta_yaw,
                         fit_nme_box=fit.nme_box))
        if (i + 1) % 1000 == 0:
            log.info("%d/%d faces fitted (%.0f s)", i + 1, len(samples), time.perf_counter() - started)
    arrays = {key: np.stack([r[key] for r in rows]) if key in ("params", "human68", "visibility")
              else np.array([r[key] for r in rows]) for key in rows[0]}
    arrays["params"] = arrays["params"].astype(np.float32)
    arrays["yaw_deg"] = arrays["yaw_deg"].astype(np.float32)
    arrays["fit_mesh_rms_mm"] = np.full(len(rows), np.nan, np.float32)
    arrays["synthetic"] = np.zeros(len(rows), bool)
    tmp = out_dir / (CONTEXT_FILE + ".part.npy")
    np.save(tmp, np.stack(contexts))
    tmp.replace(out_dir / CONTEXT_FILE)
    tmp = out_dir / (LABELS_FILE + ".part")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    tmp.replace(out_dir / LABELS_FILE)
    summary = summarise(residuals, arrays, dropped, time.perf_counter() - started)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1))
    return summary


def summarise(residuals, arrays, dropped, seconds) -> dict:
    """Counts, fit residuals per yaw bin (all fits, kept or not) and fitted-vs-shipped yaw (AFLW)."""
    per_bin = {}
    for source in ("aflw", "afw", "helen_train"):
        rows = [r for r in residuals if r[0] == source]
        for lo, hi in YAW_BINS:
            # AFLW is binned by its shipped yaw, 300-W by the fitted one (it ships none).
            sel = [r for r in rows if lo <= abs(r[2] if source == "aflw" else r[1]) < hi]
            if not sel:
                continue
            nmes = np.array([r[3] for r in sel])
            entry = {"fits": len(sel), "kept": int(((nmes <= MAX_FIT_NME_BOX) &
                                                    (np.array([r[4] for r in sel]) <= MAX_ABS_COEFFICIENT)).sum()),
                     "fit_nme_box_median_pct": round(100 * float(np.median(nmes)), 2),
                     "fit_nme_box_p90_pct": round(100 * float(np.percentile(nmes, 90)), 2)}
            if source == "aflw":
                # The shipped yaw counts positive with the nose towards the image's left: frnet's
                # convention (frnet.geometry) is the opposite, so its sign is flipped here.
                fitted, shipped = np.array([r[1] for r in sel]), -np.array([r[2] for r in sel])
                entry |= {"yaw_abs_diff_median_deg": round(float(np.median(np.abs(fitted - shipped))), 1),
                          "yaw_abs_diff_p90_deg": round(float(np.percentile(np.abs(fitted - shipped), 90)), 1),
                          "yaw_same_sign_pct": round(100 * float(np.mean(np.sign(fitted) == np.sign(shipped))), 1)}
            per_bin[f"{source} {lo}-{min(hi, 90)}"] = entry
    split = arrays["split"]
    return {
        "kept": int(len(split)), "train": int((split == "train").sum()), "val": int((split == "val").sum()),
        "val_by_source": {s: int(((arrays["source"] == s) & (split == "val")).sum()) for s in ("aflw", "afw", "helen_train")},
        "kept_by_source": {s: int((arrays["source"] == s).sum()) for s in ("aflw", "afw", "helen_train")},
        "dropped": dropped, "thresholds": {"max_fit_nme_box": MAX_FIT_NME_BOX, "max_abs_coefficient": MAX_ABS_COEFFICIENT},
        "per_yaw_bin": per_bin, "seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fit the face model to real large-pose human landmarks.")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = shared_data_dir()
    if data_dir is None:
        parser.error("../shared/data not found (set FRNET_SHARED_DIR)")
    print(json.dumps(build_real_labels(args.out, data_dir, args.limit), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
