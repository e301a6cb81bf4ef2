"""Refit the face model's 68-landmark embedding on real faces at every pose.

The embedding (each landmark a convex combination of a few base-mesh vertices) was first fitted in
2D on near-frontal ytf68 photos (:func:`frnet.build.face_model.fit_landmark_embedding`). A frontal
view cannot see depth, so the fit was free to pick vertices at any depth along each point's line of
sight; at large yaw that choice shows: on AFLW's 60–90° faces the ear-side jaw points landed about
10 % of the face box forward of the human labels. This step refits the embedding on meshes
*predicted by a trained network* for faces with human 68 points at all poses (AFLW with MERL-RAV
visibility, 300-W AFW/HELEN, ytf68), so each landmark's vertices are the ones that match the human
points across yaw and pitch, i.e. in 3D.

Samples: the ``train`` split of the label caches (``frnet.train.real_labels``, ``frnet.train.labels``),
their canonical crops, weighted by the landmark loss's per-point weights (visible / occluded, 300-W
silhouette jaw dropped away from frontal) and balanced over |yaw| bins 0–30 / 30–60 / 60–90, with
mirrored copies (the embedding stays left–right symmetric). Residuals are normalised by each face's
68-point box, the measure the evaluation reports. The ``val`` split is scored before and after;
nothing from it is fitted.

    python -m frnet.build.landmark_embedding --checkpoint checkpoints/mobilefrnet_v2/best.pt \\
        --out models/frnet_face_model_v1.npz --report docs/training/landmark_embedding.json

(That checkpoint is archived in git history: ``scripts/restore_state.sh checkpoints/mobilefrnet_v2/best.pt``.)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from ..evaluate import YAW_BINS_DEG, bbox_size
from ..facemodel import LANDMARK_REGIONS, LANDMARKS68_FLIP, NUM_LANDMARKS, FaceModel, load_face_model
from ..files import atomic_write

log = logging.getLogger(__name__)

CANDIDATES = 12  # nearest vertices (mean normalised distance over the samples) each point may mix
# Jaw, brows and nose lie on the skin: each becomes a point of one base-mesh triangle (barycentric
# weights), chosen among the triangles touching its nearest SURFACE_CANDIDATES vertices. A free
# convex mix of vertices would let depth errors of the predicted meshes pull it inside the head
# (the nose tip went 4 mm in). Eye and lip points span the eyelid and lip margins and the open
# mouth gap, so they keep the free mix.
SKIN_POINTS = range(36)
SURFACE_CANDIDATES = 24
YAW_EDGES = tuple(high for _, high in YAW_BINS_DEG[:-1])  # 30, 60
CROP_SIZE = 120
# ytf68's weight on top of the yaw balance. Its labels carry half weight in the landmark loss
# (coarse) and are the only video frames; at 1× the refit moved its frontal points toward AFLW's
# convention (ytf68 val +0.11 NME), at 8× AFLW keeps most of the gain (measured in the report).
YTF68_WEIGHT = 8.0


def predicted_meshes(checkpoint: Path, data, face_model: FaceModel, indices: np.ndarray,
                     batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Base-mesh vertices ``(M, N, 2)`` predicted by ``checkpoint`` on the canonical crops of
    ``indices`` of a :class:`frnet.train.train.TrainingData`, and the human points ``(M, 68, 2)``,
    both in crop pixels."""
    import torch

    from ..train.export import load_checkpoint

    net, _ = load_checkpoint(checkpoint)
    rng = np.random.default_rng(0)
    out, humans = [], []
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            images, _, human = data.batch(indices[start:start + batch_size], rng, train=False)
            out.append(net(images).numpy())
            humans.append(human.numpy()[..., :2])
    params = np.concatenate(out)
    return (face_model.vertices(params, dense=False)[..., :2].astype(np.float64),
            np.concatenate(humans).astype(np.float64))


def mirrored(meshes: np.ndarray, human: np.ndarray, weights: np.ndarray, mirror: np.ndarray):
    """Append horizontally flipped copies (vertex order by ``mirror``, points by LANDMARKS68_FLIP)."""
    flip_mesh = meshes[:, mirror].copy()
    flip_mesh[..., 0] = CROP_SIZE - 1 - flip_mesh[..., 0]
    flip_human = human[:, LANDMARKS68_FLIP].copy()
    flip_human[..., 0] = CROP_SIZE - 1 - flip_human[..., 0]
    return (np.concatenate([meshes, flip_mesh]), np.concatenate([human, flip_human]),
            np.concatenate([weights, weights[:, LANDMARKS68_FLIP]]))


def _convex_fit(a_rows: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    """min ‖A x − b‖ with x ≥ 0, Σx = 1 (NNLS with a heavily weighted sum-to-one row)."""
    from scipy.optimize import nnls

    penalty = 1e3 * max(np.abs(a_rows).max(), 1e-9)
    x, _ = nnls(np.vstack([a_rows, penalty * np.ones(a_rows.shape[1])]), np.append(b, penalty))
    x = x / x.sum()
    return x, float(np.sum((a_rows @ x - b) ** 2))


def fit_embedding(meshes: np.ndarray, human: np.ndarray, weights: np.ndarray, points=range(NUM_LANDMARKS),
                  start: tuple[np.ndarray, np.ndarray] | None = None, triangles: np.ndarray | None = None,
                  surface_points=SKIN_POINTS, mirror: np.ndarray | None = None):
    """Weighted, masked refit of landmarks ``points`` (others copied from ``start``).

    ``meshes`` (M, N, 2), ``human`` (M, 68, 2) with NaN where absent, ``weights`` (M, 68) ≥ 0.
    Each point: the ``CANDIDATES`` vertices nearest to it on (weighted) average, then a convex
    least-squares mix of them. With ``triangles``, the points in ``surface_points`` are instead the
    best barycentric point of one triangle touching their ``SURFACE_CANDIDATES`` nearest vertices.
    With ``mirror`` (the model's left↔right vertex map; the samples should include mirrored copies),
    only one point of each left/right pair is fitted and its partner is its exact mirror image.
    Returns (indices (68, K), weights (68, K)).
    """
    scale = bbox_size(human)[:, None, None]
    mesh_n, human_n = meshes / scale, human / scale
    k = CANDIDATES if start is None else start[0].shape[1]
    indices = np.zeros((NUM_LANDMARKS, k), np.int64) if start is None else start[0].astype(np.int64).copy()
    mix = np.zeros((NUM_LANDMARKS, k)) if start is None else start[1].astype(np.float64).copy()
    points = list(points)
    for i in points:
        if mirror is not None and LANDMARKS68_FLIP[i] < i and LANDMARKS68_FLIP[i] in points:
            continue  # set from its partner below
        w = np.where(np.isfinite(human_n[:, i]).all(axis=1), weights[:, i], 0.0)
        use = w > 0
        if use.sum() < 20:
            log.warning("landmark %d: only %d labelled samples, kept", i, use.sum())
            continue
        m, h, sw = mesh_n[use], human_n[use, i], np.sqrt(w[use] / w[use].sum())
        distance = (np.linalg.norm(m - h[:, None], axis=-1) * sw[:, None] ** 2).sum(axis=0)
        b = (h * sw[:, None]).reshape(-1)

        def rows(vertices):
            return (m[:, vertices] * sw[:, None, None]).transpose(0, 2, 1).reshape(-1, len(vertices))

        if triangles is not None and i in surface_points:
            near = np.argsort(distance)[:SURFACE_CANDIDATES]
            options = triangles[np.isin(triangles, near).any(axis=1)]
            fits = [(_convex_fit(rows(t), b), t) for t in options]
            (x, _), cand = min(fits, key=lambda f: f[0][1])
        else:
            cand = np.argsort(distance)[:CANDIDATES]
            x, _ = _convex_fit(rows(cand), b)
        order = np.argsort(-x)[:k]
        x_k = np.zeros(k)
        x_k[:len(order)] = x[order] / x[order].sum()
        picked = np.full(k, cand[order[0]])
        picked[:len(order)] = cand[order]
        indices[i], mix[i] = picked, x_k
        partner = LANDMARKS68_FLIP[i]
        if mirror is not None and partner != i and partner in points:
            indices[partner], mix[partner] = mirror[picked], x_k
        elif mirror is not None and partner == i and 2 * len(order) <= k:
            # a midline point: the mean of the fit and its mirror image, exactly symmetric
            n = len(order)
            indices[i, n:2 * n], mix[i, :n], mix[i, n:2 * n] = mirror[picked[:n]], x_k[:n] / 2, x_k[:n] / 2
    return indices, mix


def landmarks(meshes: np.ndarray, indices: np.ndarray, mix: np.ndarray) -> np.ndarray:
    return (meshes[:, indices] * mix[None, :, :, None]).sum(axis=2)


def scores(meshes, human, abs_yaw, indices, mix) -> dict:
    """NME_box (%) of the labelled points per |yaw| bin and by region."""
    pred = landmarks(meshes, indices, mix)
    err = np.linalg.norm(pred - human, axis=-1) / bbox_size(human)[:, None] * 100
    out = {}
    bins = np.digitize(abs_yaw, YAW_EDGES)
    for b, name in enumerate(("0-30", "30-60", "60-90")):
        sel = bins == b
        if sel.any():
            out[name] = {"faces": int(sel.sum()), "nme": round(float(np.nanmean(np.nanmean(err[sel], axis=1))), 3)}
            out[name] |= {r: round(float(np.nanmean(err[sel][:, s])), 3) for r, s in LANDMARK_REGIONS.items()}
    present = [out[k]["nme"] for k in ("0-30", "30-60", "60-90") if k in out]
    out["bin_mean"] = round(float(np.mean(present)), 3)
    return out


def yaw_balance(abs_yaw: np.ndarray) -> np.ndarray:
    """Per-sample weight making each |yaw| bin count the same in total."""
    bins = np.digitize(abs_yaw, YAW_EDGES)
    count = np.bincount(bins, minlength=3).astype(np.float64)
    return (1.0 / count[bins]) * len(abs_yaw) / 3


def refit(checkpoint: Path, dataset_dir: Path, face_model: FaceModel, points=range(NUM_LANDMARKS),
          cache: Path | None = None, ytf68_weight: float = YTF68_WEIGHT):
    """Returns (new FaceModel, report). ``cache``: keep the predictions there (keyed by checkpoint)."""
    import dataclasses

    from ..train.train import TrainingData

    parts = {"teacher": ("", 1.0), "real2d": ("real2d_", 0.5)}
    data = TrainingData(dataset_dir, face_model, use_profiled=False, parts=parts)
    has = np.isfinite(data.human68).any(axis=2).sum(axis=1) >= 6
    report = {"checkpoint": str(checkpoint), "candidates": CANDIDATES, "points_refitted": list(map(int, points))}
    checkpoint_sha = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()[:16]
    sets = {}
    for split in ("train", "val"):
        idx = np.flatnonzero((data.split == split) & ~data.synthetic & has)
        key = f"{split}_{checkpoint_sha}_{len(idx)}"
        path = cache / f"{key}.npz" if cache else None
        if path is not None and path.is_file():
            with np.load(path) as saved:
                meshes, human = saved["meshes"], saved["human"]
        else:
            log.info("%s: predicting %d faces", split, len(idx))
            meshes, human = predicted_meshes(checkpoint, data, face_model, idx)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(path, meshes=meshes, human=human)
        sets[split] = (meshes, human, np.abs(data.yaw[idx]).astype(np.float64),
                       data.weights68[idx].astype(np.float64), data.source[idx])
    meshes, human, abs_yaw, weights, source = sets["train"]
    weights = weights * yaw_balance(abs_yaw)[:, None]
    weights[source == "ytf68"] *= ytf68_weight
    report["ytf68_weight"] = ytf68_weight
    report["train_faces"] = {str(s): int((source == s).sum()) for s in np.unique(source)}
    fit_m, fit_h, fit_w = mirrored(meshes, human, weights, face_model.mirror_index)
    old = (face_model.landmark_indices, face_model.landmark_weights)
    indices, mix = fit_embedding(fit_m, fit_h, fit_w, points, start=old, triangles=face_model.triangles,
                                  mirror=face_model.mirror_index)
    vm, vh, vy, _, vs = sets["val"]
    report["val"] = {}
    for src in np.unique(vs):
        sel = vs == src
        report["val"][str(src)] = {"before": scores(vm[sel], vh[sel], vy[sel], *old),
                                   "after": scores(vm[sel], vh[sel], vy[sel], indices, mix)}
    report["train"] = {"before": scores(meshes, human, abs_yaw, *old),
                       "after": scores(meshes, human, abs_yaw, indices, mix)}
    model = dataclasses.replace(face_model, landmark_indices=indices.astype(np.int32),
                                landmark_weights=mix.astype(np.float32),
                                provenance=face_model.provenance | {"landmark_embedding": {
                                    "refitted_by": "frnet.build.landmark_embedding",
                                    "checkpoint": str(checkpoint),
                                    "data": "train split of AFLW (MERL-RAV points), 300-W AFW/HELEN, ytf68 "
                                            "(human 68 points; research use)",
                                    "train_faces": report["train_faces"]}},
                                source_file=None, file_sha256=None)
    return model, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a trained network (best.pt)")
    parser.add_argument("--data", type=Path, default=Path(".cache/dataset"))
    parser.add_argument("--face-model", type=Path, default=None, help="model to start from (default: shipped)")
    parser.add_argument("--points", default="all", help="'all', 'jaw' or comma-separated indices")
    parser.add_argument("--out", type=Path, default=None, help="write the refitted face model here")
    parser.add_argument("--report", type=Path, default=None)
    parser.add_argument("--ytf68-weight", type=float, default=YTF68_WEIGHT)
    parser.add_argument("--cache", type=Path, default=Path(".cache/landmark_embedding"),
                        help="predictions kept here between runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    points = {"all": range(NUM_LANDMARKS), "jaw": range(17)}.get(args.points) or \
        [int(p) for p in args.points.split(",")]
    model, report = refit(args.checkpoint, args.data, load_face_model(args.face_model), points, args.cache,
                          args.ytf68_weight)
    text = json.dumps(report, indent=1)
    print(text)
    if args.report:
        with atomic_write(args.report) as temp:
            temp.write_text(text + "\n")
    if args.out:
        model.save(args.out)  # atomic (FaceModel.save writes a temporary file and renames it)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
