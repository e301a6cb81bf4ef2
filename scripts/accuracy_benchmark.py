"""Landmark accuracy of frnet vs MediaPipe Face Mesh vs dlib on held-out persons (docs/accuracy.md).

Runs in the runtime environment and drives the peers in the build environment::

    .venv/bin/python scripts/accuracy_benchmark.py                      # everything; rewrites docs/accuracy.md
    .venv/bin/python scripts/accuracy_benchmark.py --limit 40 --systems frnet dlib   # a quick check

1. Builds two evaluation sets under ``.cache/eval/`` (``.cache/eval/limit<N>/`` with ``--limit``):

   * ``ytf68_val`` — every ytf68 image of the validation persons (``frnet.datasets.split_persons``
     over all ytf68 persons; the persons whose samples have ``split == 'val'`` in the label cache,
     never trained on, and left out of the face model's landmark fit), as symlinks to
     ``../shared/data/ytf68/images`` plus ``gt.csv``, the matching rows of ``landmarks68.csv``;
   * ``profiled_val`` — the profiled (large-yaw, synthetic) views of those validation samples
     (``.cache/dataset/profiled_*`` with ``split == 'val'``, ``python -m frnet.train.profiling``) as
     224×224 PNGs plus AFLW2000-3D style ``.mat`` files: ``pt3d_68`` (3, 68) = the face model's 68
     points of the view's exact parameters in image pixels, 1-based like Matlab's; ``Pose_Para`` =
     [pitch, yaw, roll, 0, 0, 0, scale] (radians, frnet's Euler convention).

2. Runs each system over each set's images: frnet (``frnet-app --image DIR --out OUT``), MediaPipe
   and dlib (``scripts/peer_landmarks.py`` in ``.venv-build``; dlib falls back to boxes from frnet's
   output where its HOG detector finds no face).
3. Scores all with :mod:`frnet.evaluate` (NME by √(w·h) of the ground-truth box and by outer-eye
   distance, |yaw| bins, failures at NME_box > 0.10) and prints markdown tables; a full run (all
   systems and sets, no ``--limit``, no ``--no-doc``) writes them into ``docs/accuracy.md`` between
   the results markers.
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
SETS = ("ytf68_val", "profiled_val")
SYSTEMS = ("frnet", "frnet-fp32", "mediapipe", "dlib")
# "frnet" is what users get on a CPU (the int8 graph, --precision auto); "frnet-fp32" the float32
# graph that GPUs run and that the torch checkpoint exports.
SYSTEM_TITLES = {"frnet": "frnet (Mobile-FRNet, int8: the CPU default)", "frnet-fp32": "frnet, float32 graph (GPUs)",
                 "mediapipe": "MediaPipe Face Mesh → 68",
                 "dlib": "dlib shape_predictor_68"}
SET_TITLES = {"ytf68_val": "ytf68 validation persons (real photos, human labels)",
              "profiled_val": "profiled validation views (synthetic large yaw, exact model labels)"}
MARK_START, MARK_END = "<!-- results:start -->", "<!-- results:end -->"
MANIFEST = "manifest.json"
SET_FORMAT_VERSION = 1


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
    stat = path.stat()
    return f"{stat.st_size}:{int(stat.st_mtime)}"


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


def build_profiled_val(folder: Path, dataset_dir: Path, limit: int | None, rebuild: bool) -> dict:
    """PNGs + AFLW2000-style ``.mat`` files of the profiled validation views; returns the manifest."""
    import cv2
    from scipy.io import savemat

    from frnet.facemodel import load_face_model
    from frnet.train.labels import CONTEXT_ROI

    labels_path, context_path = dataset_dir / "profiled_labels.npz", dataset_dir / "profiled_context.npy"
    if not labels_path.is_file() or not context_path.is_file():
        raise InputError(f"{labels_path} / {context_path} missing: build them with python -m frnet.train.labels "
                         f"and python -m frnet.train.profiling")
    expected = {"format": SET_FORMAT_VERSION, "source": _file_stamp(labels_path), "limit": limit}
    if not rebuild and _manifest_ok(folder, expected):
        return json.loads((folder / MANIFEST).read_text())
    with np.load(labels_path, allow_pickle=False) as data:
        split, names, params = data["split"], data["name"], data["params"]
    contexts = np.load(context_path, mmap_mode="r")
    picked = _evenly(list(np.flatnonzero(split == "val")), limit)
    model = load_face_model()
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    (folder / "gt").mkdir()
    yaws, stems = [], set()
    for index in picked:
        stem = base = _safe_stem(str(names[index]))
        while stem in stems:  # two views of one face whose yaws round alike
            stem = f"{base}_{len(stems)}"
        stems.add(stem)
        p = params[index]
        points = geometry.crop_to_image(model.landmarks68(p), CONTEXT_ROI)  # (68, 3) context pixels, 0-based
        yaw, pitch, roll = model.euler_angles(p)
        scale, _, _ = geometry.decompose_pose(geometry.pose_matrix(p.astype(np.float64)))
        pt3d = points.T.copy()
        pt3d[:2] += 1.0  # Matlab's 1-based pixel coordinates, as in AFLW2000-3D
        savemat(folder / "gt" / f"{stem}.mat",
                {"pt3d_68": pt3d, "Pose_Para": np.array([[pitch, yaw, roll, 0.0, 0.0, 0.0, float(scale)]])})
        image_bgr = cv2.cvtColor(np.asarray(contexts[index]), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / "images" / f"{stem}.png"), image_bgr)
        yaws.append(abs(float(np.degrees(yaw))))
    edges = [0, 30, 60, 90.01]
    histogram = np.histogram(yaws, edges)[0].tolist() if yaws else [0, 0, 0]
    manifest = expected | {"images": len(picked), "faces": len({str(names[i]).split("@")[0] for i in picked}),
                           "abs_yaw_bins": dict(zip(["0-30", "30-60", "60-90"], histogram)), "gt": "gt"}
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


def run_frnet(images: Path, out: Path, nice: int, precision: str = "auto") -> dict:
    if out.exists():
        shutil.rmtree(out)
    seconds = _run([sys.executable, "-m", "frnet.cli", "--image", images, "--out", out, "-q",
                    "--mesh-format", "ply", "--precision", precision], nice, "frnet-app --image")
    for mesh in out.glob("*_face*.ply"):  # not needed for scoring; ~0.5 MB each
        mesh.unlink()
    return {"seconds": round(seconds, 1), "csv": str(out / "landmarks68.csv")}


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


def markdown_table(results: dict[str, dict]) -> str:
    """One table for one set: rows = systems."""
    any_yaw = any(r["summary"]["yaw_bins"] for r in results.values())
    with_common = len(results) > 1 and all("common" in r for r in results.values())
    header = ["system", "images", "detected", "failures", "NME_box %", "NME_eye %"]
    if with_common:
        common_images = next(iter(results.values()))["common"]["images"]
        header.append(f"NME_box % on the {common_images} images all detect")
    if any_yaw:
        header += ["yaw 0–30°", "yaw 30–60°", "yaw 60–90°", "balanced"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best_box = min((r["summary"]["nme_box"] for r in results.values() if r["summary"]["nme_box"] is not None),
                   default=None)
    for system, result in results.items():
        s = result["summary"]
        box = _pct(s["nme_box"])
        if s["nme_box"] is not None and s["nme_box"] == best_box and len(results) > 1:
            box = f"**{box}**"
        row = [SYSTEM_TITLES.get(system, system), str(s["count"]), str(s["detected"]), str(s["failures"]), box,
               _pct(s["nme_eye"])]
        if with_common:
            common = result["common"]["nme_box"]
            best_common = min((r["common"]["nme_box"] for r in results.values()
                               if r["common"]["nme_box"] is not None), default=None)
            row.append(f"**{_pct(common)}**" if common is not None and common == best_common else _pct(common))
        if any_yaw:
            bins = {b["label"]: b for b in s["yaw_bins"]}
            for label in ("0-30", "30-60", "60-90"):
                b = bins.get(label)
                empty = b is None or b["count"] == 0
                row.append("–" if empty else f"{_pct(b['nme_box'])} ({b['detected']}/{b['count']})")
            row.append(_pct(s["balanced_nme_box"]))
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
                 f"int8 graph `{net.get('int8_file', '?')}` sha256 {net.get('int8_sha256', '?')}).")
    lines.append("")
    for name, results in all_results["sets"].items():
        manifest = manifests[name]
        extra = (f", {manifest['persons']} persons" if "persons" in manifest
                 else f", from {manifest.get('faces', '?')} faces")
        lines += [f"**{SET_TITLES.get(name, name)}** — `{name}`: {manifest['images']} images{extra}. "
                  f"NME in % (mean over detected images); failures = no face or NME_box > 10 %; "
                  f"yaw-bin cells: NME_box % (detected/images).", "",
                  markdown_table(results), ""]
        notes = []
        for system, run in runs[name].items():
            seconds = run.get("seconds")
            boxes = run.get("boxes")
            text = f"{system} {seconds} s"
            if boxes:
                text += " (boxes: " + ", ".join(f"{k} {v}" for k, v in boxes.items()) + ")"
            if "hog_vs_frnet_box_iou_median" in run:
                text += f", HOG vs converted frnet box median IoU {run['hog_vs_frnet_box_iou_median']}"
            notes.append(text)
        lines += ["Run: " + "; ".join(notes) + ".", ""]
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
    parser.add_argument("--limit", type=int, help="at most N images per set (evenly spaced); no doc update")
    parser.add_argument("--out-dir", type=Path, default=REPO / ".cache" / "eval")
    parser.add_argument("--dataset", type=Path, default=REPO / ".cache" / "dataset", help="label cache")
    parser.add_argument("--build-python", type=Path, default=REPO / ".venv-build" / "bin" / "python")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the system runs (default 10)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the evaluation sets")
    parser.add_argument("--skip-run", action="store_true", help="re-score the last runs' CSVs without running")
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


def _main(args: argparse.Namespace, command: str) -> int:
    started = time.perf_counter()
    root = args.out_dir / f"limit{args.limit}" if args.limit else args.out_dir
    peers = [s for s in args.systems if not s.startswith("frnet")]
    if peers and not args.build_python.exists():
        raise InputError(f"{args.build_python} not found: make build-env (or pass --build-python)")
    manifests, runs, all_sets = {}, {}, {}
    for set_name in args.sets:
        folder = root / set_name
        if set_name == "ytf68_val":
            data_dir = shared_data_dir()
            if data_dir is None:
                raise InputError("../shared/data not found (set FRNET_SHARED_DIR)")
            manifest = build_ytf68_val(folder, data_dir, args.limit, args.rebuild)
        else:
            manifest = build_profiled_val(folder, args.dataset, args.limit, args.rebuild)
        manifests[set_name] = manifest
        log.info("%s: %d images", set_name, manifest["images"])
        images, gt = folder / "images", folder / manifest["gt"]
        ground_truth = evaluate.load_ground_truth(gt)
        runs[set_name], all_sets[set_name], evaluations = {}, {}, {}
        for system in args.systems:
            out = root / "runs" / set_name / system
            if args.skip_run:
                run = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
            elif system.startswith("frnet"):
                run = run_frnet(images, out, args.nice, "fp32" if system == "frnet-fp32" else "auto")
            else:
                boxes = root / "runs" / set_name / "frnet"
                use_boxes = system == "dlib" and (boxes / "landmarks68.csv").is_file()
                if system == "dlib" and not use_boxes:
                    log.warning("no frnet output for %s yet: dlib runs without fallback boxes", set_name)
                run = run_peer(system, images, out, args.build_python, args.nice, boxes if use_boxes else None)
            if not args.skip_run:
                (out / "run.json").write_text(json.dumps(run, indent=1) + "\n")
            evaluation = evaluate.score(evaluate.load_predictions(out / "landmarks68.csv"), ground_truth)
            evaluate.write_json(out / "scores.json", evaluation.to_dict())
            runs[set_name][system] = run
            evaluations[system] = evaluation
            all_sets[set_name][system] = {"summary": evaluation.to_dict()["summary"]}
            log.info("%s / %s: %s", set_name, system,
                     evaluate.format_summary(evaluation.summary).splitlines()[0])
        for system, common in common_subset(evaluations).items():
            all_sets[set_name][system]["common"] = common
    all_results = {"sets": all_sets, "network": network_info() if "frnet" in args.systems else {},
                   "manifests": manifests, "runs": runs, "command": command,
                   "date": dt.datetime.now().isoformat(timespec="seconds"),
                   "seconds": round(time.perf_counter() - started, 1)}
    evaluate.write_json(root / "results.json", all_results)
    block = results_block(all_results, manifests, runs, command, args.note)
    print(block)
    print(f"\ntotal {all_results['seconds']} s; results in {root / 'results.json'}")
    complete = not args.limit and set(args.systems) == set(SYSTEMS) and set(args.sets) == set(SETS)
    if args.no_doc:
        pass
    elif not complete:
        log.info("%s is only rewritten by a full run (all systems and sets, no --limit)", args.doc)
    else:
        write_doc(args.doc, block)
        log.info("wrote the results into %s", args.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
