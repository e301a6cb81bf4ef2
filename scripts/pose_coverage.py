"""Yaw × pitch coverage of the training set before (v1 recipe) and after (v2) — docs/training.md.

    .venv/bin/python scripts/pose_coverage.py [--dataset .cache/dataset] [--json OUT]

*Before*: the v1 training set — the teacher-fitted real photos (``labels.npz``) plus the yaw-only
profiled views v1 trained on, whose poses are exactly the targets :func:`frnet.train.profiling.plan_views`
draws (two views per face, seed 0, as ``python -m frnet.train.profiling`` made them; the rendered
labels carry exactly the planned angles, so no rendering is needed to count them).
*After*: every v2 part present in the cache (teacher photos, real AFLW/300-W photos, and the yaw +
pitch profiled views of both), counted from their labels. Training samples only (``split == train``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from frnet.facemodel import load_face_model
from frnet.train import profiling
from frnet.train.train import V2_PARTS

YAW_EDGES = (0, 15, 30, 45, 60, 75, 90.01)
PITCH_EDGES = (-90, -45, -30, -15, 0, 15, 30, 45, 90)


def histogram(yaw_deg: np.ndarray, pitch_deg: np.ndarray) -> np.ndarray:
    return np.histogram2d(np.clip(np.abs(yaw_deg), 0, 90), np.clip(pitch_deg, -89.9, 89.9),
                          [YAW_EDGES, PITCH_EDGES])[0].astype(int)


def angles(params: np.ndarray, face_model) -> tuple[np.ndarray, np.ndarray]:
    a = np.degrees(face_model.euler_angles(params))
    return a[:, 0], a[:, 1]


def before(dataset: Path, face_model) -> np.ndarray:
    with np.load(dataset / "labels.npz") as data:
        params, split = data["params"], data["split"]
    yaw, pitch = angles(params, face_model)
    targets, pitch_delta = profiling.plan_views(yaw, 2, 90.0, np.random.default_rng(0))
    train = split == "train"
    view_yaw = targets[train].reshape(-1)
    view_pitch = (pitch[:, None] + pitch_delta)[train].reshape(-1)
    return histogram(np.concatenate([yaw[train], view_yaw]), np.concatenate([pitch[train], view_pitch]))


def after(dataset: Path, face_model) -> tuple[np.ndarray, dict]:
    yaws, pitches, counts = [], [], {}
    for name, (prefix, _) in V2_PARTS.items():
        path = dataset / f"{prefix}labels.npz"
        if not path.is_file():
            continue
        with np.load(path) as data:
            keep = data["split"] == "train"
            yaw, pitch = angles(data["params"][keep], face_model)
        yaws.append(yaw)
        pitches.append(pitch)
        counts[name] = int(keep.sum())
    return histogram(np.concatenate(yaws), np.concatenate(pitches)), counts


def markdown(counts: np.ndarray, title: str) -> str:
    pitch_labels = [f"{lo}…{hi}" for lo, hi in zip(PITCH_EDGES[:-1], PITCH_EDGES[1:])]
    lines = [f"**{title}** (training samples per |yaw| row × pitch column, degrees; total {int(counts.sum())})", "",
             "| \\|yaw\\| | " + " | ".join(pitch_labels) + " |", "|---|" + "---|" * len(pitch_labels)]
    for (lo, hi), row in zip(zip(YAW_EDGES[:-1], YAW_EDGES[1:]), counts):
        lines.append(f"| {lo}–{int(hi)} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=Path(".cache/dataset"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    face_model = load_face_model()
    old = before(args.dataset, face_model)
    new, parts = after(args.dataset, face_model)
    print(markdown(old, "Before (v1 recipe: teacher photos + yaw-only profiled views)"))
    print()
    print(markdown(new, "After (v2: " + ", ".join(f"{k} {v}" for k, v in parts.items()) + ")"))
    if args.json:
        args.json.write_text(json.dumps({"yaw_edges": YAW_EDGES, "pitch_edges": PITCH_EDGES,
                                         "before": old.tolist(), "after": new.tolist(), "parts": parts}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
