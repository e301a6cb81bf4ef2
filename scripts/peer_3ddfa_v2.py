"""3DDFA_V2 (MobileNet-V1 ×0.5, ``../shared/peers/3ddfa_v2``) as an evaluation peer: 68 points + pose.

**Scoring beside frnet only.** Its weights come from Basel-Face-Model fits (300W-LP); nothing it
outputs is used for frnet's labels, model or anything that ships. Runs in the runtime + train
environment (torch, ``make setup``)::

    .venv/bin/python scripts/peer_3ddfa_v2.py --images DIR --gt GT.csv --crop gt|detector [--json OUT]

Run as its authors run it (``../shared/peers/3ddfa_v2/README.md``): BGR crop → 120×120 bilinear,
``(x − 127.5) / 128``; from a face box ``(l, t, r, b)`` the square of side ``1.58·(w + h)/2``
centred ``0.14·(w + h)/2`` below the box centre; then the second pass its video demo uses, a
square of √2 × the longer side of the first pass's 68-point box. Two protocols, as for frnet
(:mod:`frnet.eval_images`): ``detector`` — the boxes of frnet's own face detector (BlazeFace), the
face whose landmarks overlap the ground truth most; ``gt`` — the box of the ground-truth points.
Head pose: the rows of ``P[:, :3]`` normalised and completed to a rotation, read as Euler angles in
frnet's convention (:func:`frnet.geometry.euler_from_rotation`), so angles compare directly.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np

from frnet import crop, evaluate, geometry
from frnet.datasets import shared_data_dir
from frnet.errors import InputError
from frnet.eval_images import best_match, find_images, gt_box

SIZE = 120


def peer_dir() -> Path:
    data = shared_data_dir()
    folder = None if data is None else data.parent / "peers" / "3ddfa_v2"
    if folder is None or not (folder / "mb05_120x120.pth").is_file():
        raise InputError("../shared/peers/3ddfa_v2 not found: the 3DDFA_V2 peer is not available here")
    return folder


class TDDFA:
    """The 3DDFA_V2 network and its 68-point basis, on the CPU."""

    def __init__(self, folder: Path | None = None, threads: int = 1) -> None:
        import torch

        torch.set_num_threads(threads)
        folder = folder or peer_dir()
        spec = importlib.util.spec_from_file_location("tddfa_mobilenet_v1", folder / "mobilenet_v1.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.net = module.mobilenet(widen_factor=0.5, num_classes=62, size=SIZE)
        state = torch.load(folder / "mb05_120x120.pth", map_location="cpu", weights_only=False)
        state = state.get("state_dict", state)
        clean = {}
        for key, value in state.items():
            key = key.removeprefix("module.")
            if key.startswith("fc_lm"):
                continue
            clean[key.replace("fc_param", "fc")] = value
        self.net.load_state_dict(clean, strict=False)
        self.net.eval()
        with open(folder / "param_mean_std_62d_120x120.pkl", "rb") as handle:
            stats = pickle.load(handle)
        self.mean, self.std = np.asarray(stats["mean"], np.float64), np.asarray(stats["std"], np.float64)
        self.u = np.loadtxt(folder / "sparse_bfm_u_base.txt").reshape(-1, 1)
        self.w_shp = np.loadtxt(folder / "sparse_bfm_w_shp_base.txt").reshape(self.u.shape[0], -1)
        self.w_exp = np.loadtxt(folder / "sparse_bfm_w_exp_base.txt").reshape(self.u.shape[0], -1)
        self.torch = torch

    def params(self, image_bgr: np.ndarray, roi: np.ndarray) -> np.ndarray:
        patch = crop.crop_image(image_bgr, roi, SIZE)  # zero padding outside the image, bilinear
        x = (patch.astype(np.float32) - 127.5) / 128.0
        with self.torch.no_grad():
            out = self.net(self.torch.from_numpy(x.transpose(2, 0, 1)[None].copy())).numpy()[0]
        return out * self.std + self.mean

    def landmarks(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        pose = params[:12].reshape(3, 4)
        shape = self.u + self.w_shp @ params[12:52, None] + self.w_exp @ params[52:62, None]
        pts = pose[:, :3] @ shape.reshape(3, -1, order="F") + pose[:, 3:]
        side = roi[2] - roi[0]
        x = (pts[0] - 1) * side / SIZE + roi[0]
        y = (SIZE - pts[1]) * side / SIZE + roi[1]
        return np.stack([x, y], axis=1)

    @staticmethod
    def pose_deg(params: np.ndarray) -> np.ndarray:
        rows = params[:12].reshape(3, 4)[:2, :3]
        r1, r2 = rows[0] / np.linalg.norm(rows[0]), rows[1] / np.linalg.norm(rows[1])
        rotation = np.stack([r1, r2, np.cross(r1, r2)])
        u, _, vt = np.linalg.svd(rotation)
        return np.degrees(geometry.euler_from_rotation(u @ vt))

    def __call__(self, image_bgr: np.ndarray, box_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two passes from a face box → ((68, 2) image pixels, (3,) yaw, pitch, roll degrees)."""
        l, t, r, b = (float(v) for v in box_xyxy)
        old = (r - l + b - t) / 2
        cx, cy = (l + r) / 2, (t + b) / 2 + 0.14 * old
        size = int(old * 1.58)
        roi = np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
        first = self.landmarks(self.params(image_bgr, roi), roi)
        roi2 = roi_from_points(first)
        params = self.params(image_bgr, roi2)
        return self.landmarks(params, roi2), self.pose_deg(params)


def roi_from_points(points: np.ndarray) -> np.ndarray:
    """3DDFA_V2's ``parse_roi_box_from_landmark``: √2 × the longer side of the points' box."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre = (lo + hi) / 2
    half = np.sqrt(2) * (hi - lo).max() / 2
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def predict(images: dict[str, Path], ground_truth: dict, protocol: str, tddfa: TDDFA | None = None):
    """``({key: (68, 2) or None}, {key: (3,) pose degrees})`` like :func:`frnet.eval_images.predict`."""
    from frnet.detect import create_detector
    from frnet.video import read_image

    tddfa = tddfa or TDDFA()
    detector = create_detector("blazeface", running_mode="image") if protocol == "detector" else None
    landmarks, poses = {}, {}
    try:
        for key, path in images.items():
            rgb = read_image(path)
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            truth = ground_truth[key].landmarks68
            box = gt_box(truth)
            if protocol == "gt":
                # The ground-truth points' box, through its own landmark rule (as its benchmark does),
                # then its second pass.
                roi = roi_from_points(truth[np.isfinite(truth).all(axis=1)])
                first = tddfa.landmarks(tddfa.params(bgr, roi), roi)
                roi2 = roi_from_points(first)
                params = tddfa.params(bgr, roi2)
                candidates = [(tddfa.landmarks(params, roi2), tddfa.pose_deg(params))]
            else:
                candidates = [tddfa(bgr, d.box_xyxy) for d in detector(rgb)]
            best = best_match(candidates, [np.concatenate([p.min(0), p.max(0)]) for p, _ in candidates], box)
            landmarks[key] = None if best is None else best[0]
            if best is not None:
                poses[key] = best[1]
    finally:
        if detector is not None:
            detector.close()
    return landmarks, poses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Score 3DDFA_V2 on annotated images (evaluation peer only).")
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--gt", type=Path, required=True)
    parser.add_argument("--crop", choices=("detector", "gt"), default="detector")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        truth = evaluate.load_ground_truth(args.gt)
        landmarks, poses = predict(find_images(args.images, set(truth)), truth, args.crop)
    except InputError as exc:
        print(f"peer_3ddfa_v2: error: {exc}", file=sys.stderr)
        return 2
    evaluation = evaluate.score(landmarks, truth, poses_deg=poses)
    print(evaluate.format_summary(evaluation.summary, f"3DDFA_V2 on {args.images} ({args.crop} crop)"))
    if args.json:
        evaluate.write_json(args.json, evaluation.to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
