"""Landmark and pose accuracy of frnet vs 3DDFA_V2, MediaPipe Face Mesh and dlib (docs/accuracy.md).

Runs in the runtime + train environment (``make setup``; 3DDFA_V2 needs torch) and drives
MediaPipe and dlib in the build environment::

    .venv/bin/python scripts/accuracy_benchmark.py                      # everything; rewrites docs/accuracy.md
    .venv/bin/python scripts/accuracy_benchmark.py --limit 40 --systems frnet 3ddfa_v2   # a quick check

1. Builds the evaluation sets under ``.cache/eval/`` (``.cache/eval/limit<N>/`` with ``--limit``),
   each an ``images/`` folder (symlinks or PNGs) and a ``gt.csv`` (``image,x0,y0,…,x67,y67`` and, where
   known, ``yaw_deg,pitch_deg,roll_deg`` in frnet's convention; empty cells = no label):

   * ``aflw_val`` — 1,100 real AFLW faces at every yaw, MERL-RAV human points of visible *and*
     externally occluded landmarks (self-occluded ones have no label and are not scored), stratified
     400 / 350 / 350 over |yaw| 0–30° / 30–60° / 60–90° by the shipped yaw
     (:func:`frnet.train.real_labels.aflw_validation_names`, never trained on); yaw = the shipped
     estimate with its sign turned to frnet's convention (pitch and roll are not shipped);
   * ``helen_val`` — 200 HELEN training-set faces with 300-W human points
     (:func:`frnet.train.real_labels.helen_validation_names`, never trained on);
   * ``ytf68_val`` — every ytf68 image of the validation persons (never trained on);
   * ``profiled_val`` — synthetic yaw + pitch views of the ytf68 validation faces with exact
     labels (all 68 points of the face model and the exact pose), from ``.cache/dataset``.

2. Runs each system under each crop protocol (:mod:`frnet.eval_images`): ``detector`` — fully
   automatic, frnet's own face detector for frnet *and* 3DDFA_V2 (MediaPipe and dlib use their
   own); ``gt`` — the crop framed by the ground-truth points (frnet and 3DDFA_V2 only: the protocol
   of the paper's and 3DDFA_V2's published AFLW2000-3D tables). frnet runs in-process
   (``frnet`` = the int8 graph users get on a CPU, ``frnet-fp32`` = the float32 graph of GPUs);
   3DDFA_V2 by ``scripts/peer_3ddfa_v2.py`` (evaluation only); MediaPipe and dlib by
   ``scripts/peer_landmarks.py`` in ``.venv-build``.
3. Scores all with :mod:`frnet.evaluate` (NME by √(w·h) of the ground truth's box over its labelled
   points, per |yaw| bin and their mean, failures at NME_box > 0.10, pose MAE where the ground
   truth has pose) and prints markdown tables; a full run (all systems, sets and protocols, no
   ``--limit``, no ``--no-doc``) writes them into ``docs/accuracy.md`` between the results markers.
   ``.cache/eval/results.json`` keeps everything, including the per-image scores.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from frnet import evaluate, geometry
from frnet.datasets import read_landmarks_csv, shared_data_dir, split_persons, ytf68_person
from frnet.errors import FrnetError, InputError

log = logging.getLogger("accuracy_benchmark")

REPO = Path(__file__).resolve().parents[1]
SETS = ("aflw_val", "helen_val", "ytf68_val", "profiled_val")
SYSTEMS = ("frnet", "frnet-fp32", "3ddfa_v2", "mediapipe", "dlib")
PROTOCOLS = ("detector", "gt")
GT_PROTOCOL_SYSTEMS = ("frnet", "frnet-fp32", "3ddfa_v2")  # the others bring their own detectors
# "frnet" is what users get on a CPU (the int8 graph, --precision auto); "frnet-fp32" the float32
# graph that GPUs run and that the torch checkpoint exports.
SYSTEM_TITLES = {"frnet": "frnet (Mobile-FRNet, int8: the CPU default)", "frnet-fp32": "frnet, float32 graph (GPUs)",
                 "3ddfa_v2": "3DDFA_V2 (MobileNet ×0.5)",
                 "mediapipe": "MediaPipe Face Mesh → 68",
                 "dlib": "dlib shape_predictor_68"}
SET_TITLES = {"aflw_val": "AFLW validation faces (real photos at every yaw, MERL-RAV human labels)",
              "helen_val": "HELEN-train validation faces (real photos, 300-W human labels)",
              "ytf68_val": "ytf68 validation persons (real photos, human labels)",
              "profiled_val": "profiled validation views (synthetic yaw + pitch, exact model labels and pose)"}
PROTOCOL_TITLES = {"detector": "fully automatic (frnet's detector)", "gt": "crop from the ground-truth points"}
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
MANIFEST = "manifest.json"
SET_FORMAT_VERSION = 2


# ------------------------------------------------------------------------------------------- sets
def _evenly(items: list, limit: int | None) -> list:
    if not limit or limit >= len(items):
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def _manifest_ok(folder: Path, expected: dict) -> bool:
    path = folder / MANIFEST
    if not path.is_file():
        return False
    stored = json.loads(path.read_text())
    return all(stored.get(k) == v for k, v in expected.items())


def _write_manifest(folder: Path, content: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(content, indent=1) + "\n")


def _file_stamp(path: Path) -> str:
    """What identifies a source file in a manifest: its content (a copy of ``../shared`` with new
    modification times, as every new machine has, reuses the sets and the peers' predictions)."""
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()


def build_ytf68_val(folder: Path, data_dir: Path, limit: int | None, rebuild: bool) -> dict:
    """Symlinks to the validation persons' ytf68 images + ``gt.csv``; returns the manifest."""
    csv_path = data_dir / "ytf68" / "landmarks68.csv"
    expected = {"format": SET_FORMAT_VERSION, "source": _file_stamp(csv_path), "limit": limit}
    if not rebuild and _manifest_ok(folder, expected):
        return json.loads((folder / MANIFEST).read_text())
    labels = read_landmarks_csv(csv_path)
    validation = split_persons([ytf68_person(name) for name in labels])
    names = _evenly(sorted(n for n, p in labels.items() if ytf68_person(n) in validation and p is not None), limit)
    if folder.exists():
        shutil.rmtree(folder)
    images = folder / "images"
    images.mkdir(parents=True)
    for name in names:
        (images / name).symlink_to((data_dir / "ytf68" / "images" / name).resolve())
    wanted = set(names)
    with open(csv_path, newline="", encoding="utf-8") as source, \
            open(folder / "gt.csv", "w", newline="", encoding="utf-8") as subset:
        rows = csv.reader(source)
        writer = csv.writer(subset, lineterminator="\n")
        writer.writerow(next(rows))
        writer.writerows(row for row in rows if row and row[0] in wanted)  # the original rows, verbatim
    manifest = expected | {"images": len(names), "persons": len({ytf68_person(n) for n in names}),
                           "validation_persons": len(validation), "gt": "gt.csv"}
    _write_manifest(folder, manifest)
    return manifest


GT_HEADER = ["image"] + [f"{axis}{i}" for i in range(68) for axis in "xy"] + ["yaw_deg", "pitch_deg", "roll_deg"]


def _write_gt_csv(path: Path, rows: list[tuple[str, np.ndarray, tuple]]) -> None:
    """``image,x0,…,y67,yaw_deg,pitch_deg,roll_deg`` rows; NaN → an empty cell."""
    def cell(v: float) -> str:
        return "" if v is None or not np.isfinite(v) else f"{v:.3f}"

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(GT_HEADER)
        for name, points, pose in rows:
            writer.writerow([name] + [cell(v) for v in np.asarray(points, np.float64).reshape(-1)] +
                            [cell(v) for v in pose])


def _link_images(folder: Path, source: Path, names: list[str]) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    for name in names:
        (folder / "images" / Path(name).name).symlink_to((source / name).resolve())


def build_aflw_val(folder: Path, data_dir: Path, limit: int | None, rebuild: bool) -> dict:
    """Symlinks to the fixed AFLW validation crops + ``gt.csv`` (visible and occluded points, yaw)."""
    from frnet.train import real_labels

    aflw = data_dir / "aflw_merlrav"
    expected = {"format": SET_FORMAT_VERSION, "source": _file_stamp(aflw / "landmarks68.csv"), "limit": limit}
    if not rebuild and _manifest_ok(folder, expected):
        return json.loads((folder / MANIFEST).read_text())
    points = real_labels.read_partial_landmarks_csv(aflw / "landmarks68.csv")
    visibility = real_labels.read_visibility_csv(aflw / "visibility68.csv")
    meta = real_labels.read_meta_csv(aflw / "meta.csv")
    shipped_yaw = {n: float(m["yaw_deg"]) for n, m in meta.items()}
    names = sorted(real_labels.aflw_validation_names(shipped_yaw), key=lambda n: (abs(shipped_yaw[n]), n))
    names = _evenly(names, limit)
    _link_images(folder, aflw / "images", names)
    # The shipped yaw is positive with the nose to the image's left: frnet's is the opposite.
    rows = [(n, np.where((visibility[n] == 0)[:, None], np.nan, points[n]), (-shipped_yaw[n], np.nan, np.nan))
            for n in names]
    _write_gt_csv(folder / "gt.csv", rows)
    bins = np.histogram([abs(shipped_yaw[n]) for n in names], [0, 30, 60, 1000])[0].tolist()
    manifest = expected | {"images": len(names), "abs_yaw_bins": dict(zip(["0-30", "30-60", "60-90"], bins)),
                           "occluded_points_scored": True, "self_occluded_points_scored": False, "gt": "gt.csv"}
    _write_manifest(folder, manifest)
    return manifest


def build_helen_val(folder: Path, data_dir: Path, limit: int | None, rebuild: bool) -> dict:
    """Symlinks to the fixed 200 HELEN-train validation crops + ``gt.csv``."""
    from frnet.train import real_labels

    helen = data_dir / "300w" / "helen_train"
    expected = {"format": SET_FORMAT_VERSION, "source": _file_stamp(helen / "landmarks68.csv"), "limit": limit}
    if not rebuild and _manifest_ok(folder, expected):
        return json.loads((folder / MANIFEST).read_text())
    labels = read_landmarks_csv(helen / "landmarks68.csv")
    names = _evenly(sorted(real_labels.helen_validation_names([n for n, v in labels.items() if v is not None])), limit)
    _link_images(folder, helen / "images", names)
    _write_gt_csv(folder / "gt.csv", [(n, labels[n], (np.nan, np.nan, np.nan)) for n in names])
    manifest = expected | {"images": len(names), "gt": "gt.csv"}
    _write_manifest(folder, manifest)
    return manifest


def build_profiled_val(folder: Path, dataset_dir: Path, limit: int | None, rebuild: bool,
                       prefix: str = "v2_") -> dict:
    """PNGs + ``gt.csv`` (the face model's 68 points and the exact pose) of the profiled validation views."""
    import cv2

    from frnet.facemodel import load_face_model
    from frnet.train.labels import CONTEXT_ROI

    labels_path = dataset_dir / f"{prefix}profiled_labels.npz"
    context_path = dataset_dir / f"{prefix}profiled_context.npy"
    if not labels_path.is_file() or not context_path.is_file():
        raise InputError(f"{labels_path} / {context_path} missing: build them with scripts/train_v2.sh "
                         f"(python -m frnet.train.labels, then frnet.train.profiling --max-pitch 45 --out-prefix v2_)")
    model = load_face_model()
    # The ground truth is the face model's own 68 points of the exact parameters, so a changed
    # landmark embedding (docs/face-model.md, step 7) rebuilds the set.
    expected = {"format": SET_FORMAT_VERSION, "source": _file_stamp(labels_path), "limit": limit,
                "face_model_sha256": model.file_sha256}
    if not rebuild and _manifest_ok(folder, expected):
        return json.loads((folder / MANIFEST).read_text())
    with np.load(labels_path, allow_pickle=False) as data:
        split, names, params = data["split"], data["name"], data["params"]
    contexts = np.load(context_path, mmap_mode="r")
    picked = _evenly(list(np.flatnonzero(split == "val")), limit)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    rows, yaws, pitches, stems = [], [], [], set()
    for index in picked:
        stem = base = _safe_stem(str(names[index]))
        while stem in stems:  # two views of one face whose yaws round alike
            stem = f"{base}_{len(stems)}"
        stems.add(stem)
        p = params[index]
        points = geometry.crop_to_image(model.landmarks68(p), CONTEXT_ROI)[:, :2]  # context pixels, 0-based
        yaw, pitch, roll = np.degrees(model.euler_angles(p))
        rows.append((f"{stem}.png", points, (yaw, pitch, roll)))
        cv2.imwrite(str(folder / "images" / f"{stem}.png"), cv2.cvtColor(np.asarray(contexts[index]), cv2.COLOR_RGB2BGR))
        yaws.append(abs(float(yaw)))
        pitches.append(float(pitch))
    _write_gt_csv(folder / "gt.csv", rows)
    histogram = np.histogram(yaws, [0, 30, 60, 90.01])[0].tolist() if yaws else [0, 0, 0]
    pitch_hist = np.histogram(pitches, [-90, -30, -15, 15, 30, 90])[0].tolist() if pitches else [0] * 5
    manifest = expected | {"images": len(picked), "faces": len({str(names[i]).split("@")[0] for i in picked}),
                           "abs_yaw_bins": dict(zip(["0-30", "30-60", "60-90"], histogram)),
                           "pitch_bins": dict(zip(["<-30", "-30..-15", "-15..15", "15..30", ">30"], pitch_hist)),
                           "gt": "gt.csv"}
    _write_manifest(folder, manifest)
    return manifest


def _safe_stem(name: str) -> str:
    """``training_X_01.jpg@yaw+45`` → ``training_X_01_yaw+45`` (one flat, unique file stem)."""
    base, _, view = name.partition("@")
    return f"{Path(base).stem}_{view}" if view else Path(base).stem


# ---------------------------------------------------------------------------------------- systems
def _niced(nice: int):
    return (lambda: os.nice(nice)) if nice else None


def _run(command: list[str], nice: int, what: str) -> float:
    log.info("$ %s", " ".join(str(c) for c in command))
    started = time.perf_counter()
    done = subprocess.run([str(c) for c in command], cwd=REPO, preexec_fn=_niced(nice),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise FrnetError(f"{what} failed (exit {done.returncode}): {tail}")
    return seconds


def run_inprocess(system: str, images: Path, ground_truth: dict, protocol: str, tddfa=None):
    """frnet (int8 / float32) or 3DDFA_V2 in this process → (landmarks, poses, seconds)."""
    from frnet import eval_images
    from frnet.pipeline import PipelineOptions

    started = time.perf_counter()
    found = eval_images.find_images(images, set(ground_truth))
    if system == "3ddfa_v2":
        peer = _load_script("peer_3ddfa_v2")
        landmarks, poses = peer.predict(found, ground_truth, protocol, tddfa)
    else:
        options = PipelineOptions(mode="image", dense=False, threads=1,
                                  precision="fp32" if system == "frnet-fp32" else "auto")
        landmarks, poses = eval_images.predict(found, ground_truth, protocol, options)
    return landmarks, poses, round(time.perf_counter() - started, 1)


def _manifest_key(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()


def save_predictions(out: Path, manifest: dict, landmarks: dict, poses: dict | None, run: dict) -> None:
    """Keep a system's raw predictions beside its scores, for ``--reuse`` (peers do not change when
    frnet's network does)."""
    names = sorted(landmarks)
    points = np.stack([np.full((68, 3), np.nan) if landmarks[n] is None else
                       np.pad(np.asarray(landmarks[n], float)[:, :3], ((0, 0), (0, 3 - min(3, np.shape(landmarks[n])[1]))),
                              constant_values=np.nan) for n in names]) if names else np.zeros((0, 68, 3))
    pose = np.stack([np.full(3, np.nan) if not poses or poses.get(n) is None else np.asarray(poses[n], float)
                     for n in names]) if names else np.zeros((0, 3))
    np.savez_compressed(out / "predictions.npz", names=np.array(names), points=points, poses=pose,
                        has_poses=poses is not None, manifest=_manifest_key(manifest), run=json.dumps(run))


def load_reused(out: Path, manifest: dict):
    """``(landmarks, poses, run)`` saved by an earlier run on the same evaluation set, else None."""
    path = out / "predictions.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if str(data["manifest"]) != _manifest_key(manifest):
            log.info("%s: the evaluation set changed since; running again", path)
            return None
        names, points, pose = [str(n) for n in data["names"]], data["points"], data["poses"]
        landmarks = {n: None if np.isnan(p).all() else (p[:, :2] if np.isnan(p[:, 2]).all() else p)
                     for n, p in zip(names, points)}
        poses = {n: q for n, q in zip(names, pose) if not np.isnan(q).all()} if bool(data["has_poses"]) else None
        run = dict(json.loads(str(data["run"])), reused=True)
    return landmarks, poses, run


def _load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_peer(system: str, images: Path, out: Path, build_python: Path, nice: int, boxes: Path | None) -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    command = [build_python, REPO / "scripts" / "peer_landmarks.py", "--system", system, "--images", images,
               "--out", out / "landmarks68.csv", "--report", out / "report.json"]
    if boxes is not None:
        command += ["--boxes", boxes]
    seconds = _run(command, nice, f"peer_landmarks.py --system {system}")
    report = json.loads((out / "report.json").read_text())
    return report | {"seconds": round(seconds, 1), "csv": str(out / "landmarks68.csv")}


# ----------------------------------------------------------------------------------------- report
def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def common_subset(evaluations: dict[str, evaluate.Evaluation]) -> dict[str, dict]:
    """Mean NMEs of each system over the images that every system detected (the same images)."""
    detected = [{s.key for s in e.images if s.detected} for e in evaluations.values()]
    common = set.intersection(*detected) if detected else set()
    out = {}
    for system, evaluation in evaluations.items():
        scores = [s for s in evaluation.images if s.key in common]
        out[system] = {"images": len(scores),
                       "nme_box": float(np.mean([s.nme_box for s in scores])) if scores else None,
                       "nme_eye": float(np.mean([s.nme_eye for s in scores])) if scores else None}
    return out


def markdown_table(results: dict[str, dict], with_pose: bool) -> str:
    """One table for one set and protocol: rows = systems."""
    header = ["system", "images", "detected", "failures", "NME_box %", "yaw 0–30°", "yaw 30–60°", "yaw 60–90°",
              "mean of bins"]
    if len(results) > 1:
        common_images = next(iter(results.values()))["common"]["images"]
        header.append(f"NME_box % on the {common_images} images all detect")
    if with_pose:
        header += ["yaw MAE °", "pitch MAE °", "roll MAE °"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def best(values):
        values = [v for v in values if v is not None]
        return min(values) if values else None

    summaries = {k: r["summary"] for k, r in results.items()}
    best_balanced = best(s["balanced_nme_box"] for s in summaries.values())
    for system, result in results.items():
        s = result["summary"]
        bins = {b["label"]: b for b in s["yaw_bins"]}
        row = [SYSTEM_TITLES.get(system, system), str(s["count"]), str(s["detected"]), str(s["failures"]),
               _pct(s["nme_box"])]
        for label in ("0-30", "30-60", "60-90"):
            b = bins.get(label)
            row.append("–" if b is None or b["count"] == 0 else f"{_pct(b['nme_box'])} ({b['detected']}/{b['count']})")
        balanced = _pct(s["balanced_nme_box"])
        if s["balanced_nme_box"] is not None and s["balanced_nme_box"] == best_balanced and len(results) > 1:
            balanced = f"**{balanced}**"
        row.append(balanced)
        if len(results) > 1:
            row.append(_pct(result["common"]["nme_box"]))
        if with_pose:
            mae = s.get("pose_mae_deg") or {}
            row += ["–" if mae.get(k) is None else f"{mae[k]:.2f}" for k in ("yaw", "pitch", "roll")]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def network_info() -> dict:
    """Which network frnet ran: file hashes and the training metadata stored in the ONNX file."""
    from frnet.regressor import INT8_ONNX_FILE, ONNX_FILE
    from frnet.resources import resource_path

    try:
        path = resource_path("models", ONNX_FILE)
        int8 = resource_path("models", INT8_ONNX_FILE)
    except Exception:  # a missing model already failed the frnet run; this is only the report
        return {}
    info = {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:12],
            "int8_file": int8.name, "int8_sha256": hashlib.sha256(int8.read_bytes()).hexdigest()[:12]}
    try:
        import onnxruntime

        meta = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
        for key in ("frnet_checkpoint", "frnet_training_epoch"):
            if key in meta.custom_metadata_map:
                info[key.removeprefix("frnet_")] = meta.custom_metadata_map[key]
    except Exception as exc:  # informational only
        info["metadata_error"] = str(exc)
    return info


def results_block(all_results: dict, manifests: dict, runs: dict, command: str, note: str | None) -> str:
    lines = [MARK_START, ""]
    if note:
        lines += [f"> **{note}**", ""]
    net = all_results.get("network", {})
    checkpoint = ""
    if "checkpoint" in net:
        checkpoint = f", checkpoint `{net['checkpoint']}` epoch {net.get('training_epoch', '?')}"
    lines.append(f"Generated {dt.date.today().isoformat()} by `{command}` "
                 f"(network `{net.get('file', '?')}` sha256 {net.get('sha256', '?')}{checkpoint}; "
                 f"int8 graph `{net.get('int8_file', '?')}` sha256 {net.get('int8_sha256', '?')}). "
                 f"NME_box in % (mean over detected images, labelled points only); failures = no face or "
                 f"NME_box > 10 %; yaw-bin cells: NME_box % (detected/images); 'mean of bins' = the mean "
                 f"of the |yaw| bins (the field's headline number).")
    lines.append("")
    for key, results in all_results["sets"].items():
        name, protocol = key.split("/")
        manifest = manifests[name]
        extra = ""
        if "abs_yaw_bins" in manifest:
            extra = " (|yaw| " + ", ".join(f"{k}°: {v}" for k, v in manifest["abs_yaw_bins"].items()) + ")"
        lines += [f"**{SET_TITLES.get(name, name)}** — `{name}`, {PROTOCOL_TITLES[protocol]}: "
                  f"{manifest['images']} images{extra}.", "",
                  markdown_table(results, any(r["summary"].get("pose_mae_deg") for r in results.values())), ""]
        notes = [f"{system} {run.get('seconds')} s" for system, run in runs[key].items()]
        lines += ["Run time: " + "; ".join(notes) + ".", ""]
    lines.append(MARK_END)
    return "\n".join(lines)


def write_doc(doc: Path, block: str) -> None:
    text = doc.read_text(encoding="utf-8")
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start < 0 or end < start:
        raise InputError(f"{doc} lacks the {MARK_START} … {MARK_END} markers")
    new = text[:start] + block + text[end + len(MARK_END):]
    temp = doc.with_name(doc.name + ".part")
    temp.write_text(new, encoding="utf-8")
    temp.replace(doc)


# ------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    parser.add_argument("--limit", type=int, help="at most N images per set (evenly spaced); no doc update")
    parser.add_argument("--out-dir", type=Path, default=REPO / ".cache" / "eval")
    parser.add_argument("--dataset", type=Path, default=REPO / ".cache" / "dataset", help="label cache")
    parser.add_argument("--build-python", type=Path, default=REPO / ".venv-build" / "bin" / "python")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the peer runs in the build env (default 10)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the evaluation sets")
    parser.add_argument("--reuse", nargs="+", default=[], choices=SYSTEMS, metavar="SYSTEM",
                        help="reuse these systems' saved predictions where the evaluation set is unchanged "
                             "(e.g. the peers after frnet's network changed)")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "accuracy.md")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the doc")
    parser.add_argument("--note", help="a line shown above the doc's results (e.g. that the network is interim)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        shown = list(argv if argv is not None else sys.argv[1:])
        if "--note" in shown:  # the note is shown on its own; a re-run would not repeat it
            at = shown.index("--note")
            del shown[at:at + 2]
        shown = [a for a in shown if not a.startswith("--note=")]
        return _main(args, shlex.join(["python", "scripts/accuracy_benchmark.py", *shown]))
    except FrnetError as exc:
        print(f"accuracy_benchmark: error: {exc}", file=sys.stderr)
        return 2


def build_set(name: str, folder: Path, args) -> dict:
    if name == "profiled_val":
        return build_profiled_val(folder, args.dataset, args.limit, args.rebuild)
    data_dir = shared_data_dir()
    if data_dir is None:
        raise InputError("../shared/data not found (set FRNET_SHARED_DIR)")
    builder = {"aflw_val": build_aflw_val, "helen_val": build_helen_val, "ytf68_val": build_ytf68_val}[name]
    return builder(folder, data_dir, args.limit, args.rebuild)


def _main(args: argparse.Namespace, command: str) -> int:
    started = time.perf_counter()
    root = args.out_dir / f"limit{args.limit}" if args.limit else args.out_dir
    peers = [s for s in args.systems if s in ("mediapipe", "dlib")]
    if peers and not args.build_python.exists():
        raise InputError(f"{args.build_python} not found: make build-env (or pass --build-python)")
    tddfa = _load_script("peer_3ddfa_v2").TDDFA() if "3ddfa_v2" in args.systems else None
    manifests, runs, all_sets = {}, {}, {}
    for set_name in args.sets:
        folder = root / set_name
        manifest = manifests[set_name] = build_set(set_name, folder, args)
        log.info("%s: %d images", set_name, manifest["images"])
        images, ground_truth = folder / "images", evaluate.load_ground_truth(folder / manifest["gt"])
        for protocol in args.protocols:
            key = f"{set_name}/{protocol}"
            runs[key], all_sets[key], evaluations = {}, {}, {}
            for system in args.systems:
                if protocol == "gt" and system not in GT_PROTOCOL_SYSTEMS:
                    continue
                out = root / "runs" / set_name / protocol / system
                out.mkdir(parents=True, exist_ok=True)
                reused = load_reused(out, manifest) if system in args.reuse else None
                if reused is not None:
                    landmarks, poses, run = reused
                    log.info("%s / %s: predictions reused from %s", key, system, out)
                elif system in ("mediapipe", "dlib"):
                    run = run_peer(system, images, out, args.build_python, args.nice, None)
                    landmarks, poses = evaluate.load_predictions(out / "landmarks68.csv"), None
                else:
                    landmarks, poses, seconds = run_inprocess(system, images, ground_truth, protocol, tddfa)
                    run = {"seconds": seconds}
                if reused is None:
                    save_predictions(out, manifest, landmarks, poses, run)
                (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
                evaluation = evaluate.score(landmarks, ground_truth, poses_deg=poses)
                evaluate.write_json(out / "scores.json", evaluation.to_dict())
                runs[key][system] = run
                evaluations[system] = evaluation
                all_sets[key][system] = {"summary": evaluation.to_dict()["summary"]}
                log.info("%s / %s: %s", key, system, evaluate.format_summary(evaluation.summary).splitlines()[0])
            for system, common in common_subset(evaluations).items():
                all_sets[key][system]["common"] = common
    all_results = {"sets": all_sets, "network": network_info() if "frnet" in args.systems else {},
                   "manifests": manifests, "runs": runs, "command": command,
                   "date": dt.datetime.now().isoformat(timespec="seconds"),
                   "seconds": round(time.perf_counter() - started, 1)}
    evaluate.write_json(root / "results.json", all_results)
    block = results_block(all_results, manifests, runs, command, args.note)
    print(block)
    print(f"\ntotal {all_results['seconds']} s; results in {root / 'results.json'}")
    complete = (not args.limit and set(args.systems) == set(SYSTEMS) and set(args.sets) == set(SETS)
                and set(args.protocols) == set(PROTOCOLS))
    if args.no_doc:
        pass
    elif not complete:
        log.info("%s is only rewritten by a full run (all systems, sets and protocols, no --limit)", args.doc)
    else:
        write_doc(args.doc, block)
        log.info("wrote the results into %s", args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
