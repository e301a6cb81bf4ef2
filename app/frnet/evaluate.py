"""Score 68-point predictions against ground truth: NME, yaw bins and failures (pure numpy).

``frnet-app eval --pred PRED.csv --gt GT [--json OUT.json] [--failure-threshold 0.1]``

Predictions are a ``landmarks68.csv`` as ``frnet-app --image … --out DIR`` writes it (``image,x0,y0,
…,x67,y67``, empty cells = no face), or the folder that holds one. Ground truth ``GT`` is one of

* a CSV of the same format (e.g. ``../shared/data/ytf68/landmarks68.csv``); yaw unknown;
* a ``.pts`` file or a folder of them (menpo/iBUG, 1-based pixel centres; see
  :func:`frnet.datasets.read_pts`); yaw unknown;
* a ``.mat`` file or a folder of them, AFLW2000-3D / 300W-LP style: ``pt3d_68`` as ``(3, 68)`` or
  ``(68, 3)`` (only x and y are used) and, if present, ``Pose_Para`` = ``[pitch, yaw, roll, tx, ty,
  tz, scale]`` with angles in radians. The points are taken as **1-based Matlab pixel
  coordinates**, so 1 is subtracted, as for ``.pts`` (frnet's pixel centres are 0-based).

Images are matched by file stem (``a/b/img_01.jpg`` ↔ ``img_01.mat``). Per image:

* ``nme_box`` — mean Euclidean point error / √(w·h) of the ground truth's 68-point bounding box
  (the AFLW2000-3D protocol of 3DDFA and Mobile-FRNet);
* ``nme_eye`` — the same error / the distance between the ground truth's outer eye corners
  (points 36 and 45, the 300-W "inter-ocular" normalisation);
* ``failure`` — no prediction for the image, or ``nme_box`` above the failure threshold.

The summary holds the counts, the mean NMEs over images with a prediction, and where yaw is known
the mean ``nme_box`` per |yaw| bin 0–30°, 30–60°, 60–90° (|yaw| ≥ 90° counts in the last bin) and
their mean over the bins that hold images ("balanced", the AFLW2000-3D headline number).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .datasets import NUM_LANDMARKS, read_ground_truth_csv, read_landmarks_csv, read_pts
from .errors import InputError, OutputError
from .facemodel import LEFT_EYE_OUTER, RIGHT_EYE_OUTER

log = logging.getLogger(__name__)

DEFAULT_FAILURE_THRESHOLD = 0.10
YAW_BINS_DEG = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
PREDICTIONS_CSV = "landmarks68.csv"  # what frnet-app --image writes into its output folder
MAT_POINTS_KEY = "pt3d_68"
MAT_POSE_KEY = "Pose_Para"
MAT_POSE_YAW_INDEX = 1  # Pose_Para = [pitch, yaw, roll, tx, ty, tz, scale]


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """One annotated image: ``landmarks68 (68, 2)`` 0-based image pixels (NaN rows: no label, e.g.
    self-occluded points; they are left out of the scores); ``yaw_deg`` or None; ``pose_deg``
    ``(3,)`` yaw, pitch, roll (NaN where unknown) or None."""

    landmarks68: np.ndarray
    yaw_deg: float | None = None
    pose_deg: np.ndarray | None = None


@dataclass(frozen=True)
class ImageScore:
    """The score of one ground-truth image (NMEs are NaN when there is no prediction)."""

    key: str
    detected: bool
    nme_box: float
    nme_eye: float
    failure: bool
    yaw_deg: float | None
    pose_error_deg: tuple[float, float, float] | None = None  # |Δyaw|, |Δpitch|, |Δroll| (NaN: unknown)


@dataclass(frozen=True)
class YawBinSummary:
    label: str  # "0-30"
    count: int
    detected: int
    failures: int
    nme_box: float | None  # mean over detected images; None when none


@dataclass(frozen=True)
class Summary:
    count: int  # ground-truth images
    detected: int  # with a prediction
    failures: int  # no prediction, or nme_box > failure_threshold
    failure_threshold: float
    nme_box: float | None  # means over detected images
    nme_eye: float | None
    yaw_bins: list[YawBinSummary] = field(default_factory=list)  # empty when no image has a yaw
    balanced_nme_box: float | None = None  # mean of the bins' nme_box over bins with detections
    unmatched_predictions: int = 0  # prediction rows with no ground truth (ignored)
    pose_mae_deg: dict | None = None  # {"yaw", "pitch", "roll"} mean absolute error where known


@dataclass(frozen=True)
class Evaluation:
    summary: Summary
    images: list[ImageScore]

    def to_dict(self) -> dict:
        return {"summary": asdict(self.summary), "images": [asdict(s) for s in self.images]}


# ------------------------------------------------------------------------------------------ math
def bbox_size(landmarks: np.ndarray) -> np.ndarray:
    """√(w·h) of the bounding box of points ``(..., N, 2)`` (NaN points ignored)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    extent = np.nanmax(landmarks[..., :2], axis=-2) - np.nanmin(landmarks[..., :2], axis=-2)
    return np.sqrt(extent[..., 0] * extent[..., 1])


def outer_eye_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners (iBUG points 36 and 45) of ``(..., 68, 2)``."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    return np.linalg.norm(landmarks[..., LEFT_EYE_OUTER, :2] - landmarks[..., RIGHT_EYE_OUTER, :2], axis=-1)


def mean_point_error(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean 2D Euclidean distance over the points of ``(..., N, 2+)`` arrays (only x, y are used);
    points whose ground truth is NaN (no label) are left out."""
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    distance = np.linalg.norm(predicted[..., :2] - truth[..., :2], axis=-1)
    if not np.isnan(truth[..., :2]).any():
        return distance.mean(axis=-1)
    return np.nanmean(distance, axis=-1)


def nme(predicted: np.ndarray, truth: np.ndarray, normalisation: str = "box") -> np.ndarray:
    """Normalised mean error of ``(..., 68, 2)`` predictions: ``normalisation`` is ``"box"``
    (√(w·h) of the ground truth's box) or ``"eye"`` (outer-eye-corner distance)."""
    if normalisation == "box":
        scale = bbox_size(truth)
    elif normalisation == "eye":
        scale = outer_eye_distance(truth)
    else:
        raise ValueError(f"normalisation must be 'box' or 'eye', not {normalisation!r}")
    return mean_point_error(predicted, truth) / scale


def yaw_bin_label(low: float, high: float) -> str:
    return f"{low:g}-{high:g}"


def yaw_bin_index(yaw_deg: float | None) -> int | None:
    """Index into :data:`YAW_BINS_DEG` for a yaw (sign ignored; ≥ 90° goes to the last bin)."""
    if yaw_deg is None or not math.isfinite(yaw_deg):
        return None
    magnitude = abs(yaw_deg)
    for index, (_, high) in enumerate(YAW_BINS_DEG):
        if magnitude < high:
            return index
    return len(YAW_BINS_DEG) - 1


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else None


def angle_difference_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| of angles in degrees, wrapped to [0, 180]."""
    return np.abs((np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0) % 360.0 - 180.0)


def score(predictions: dict[str, np.ndarray | None], ground_truth: dict[str, GroundTruth],
          failure_threshold: float = DEFAULT_FAILURE_THRESHOLD,
          poses_deg: dict[str, np.ndarray] | None = None) -> Evaluation:
    """Score ``predictions`` (key → ``(68, 2+)`` or None) against ``ground_truth`` (key → GroundTruth).

    ``poses_deg`` (key → predicted yaw, pitch, roll in degrees) is scored against the ground truth's
    ``pose_deg`` where both exist.

    Keys are matched exactly (the loaders key both by file stem). A ground-truth image without a
    prediction, or with ``None``, counts as not detected and as a failure.

    Raises:
        ValueError: a prediction is not ``(68, 2+)``, or the threshold is not positive.
        InputError: no prediction matches any ground-truth image (probably the wrong files).
    """
    if not failure_threshold > 0:
        raise ValueError(f"the failure threshold must be positive, not {failure_threshold}")
    matched = sum(key in predictions for key in ground_truth)
    if ground_truth and predictions and matched == 0:
        example_gt, example_pred = next(iter(ground_truth)), next(iter(predictions))
        raise InputError(f"no prediction matches a ground-truth image (e.g. ground truth {example_gt!r}, "
                         f"prediction {example_pred!r}): images are matched by file stem")
    images = []
    for key in sorted(ground_truth):
        truth = ground_truth[key]
        predicted = predictions.get(key)
        if predicted is None:
            images.append(ImageScore(key, False, math.nan, math.nan, True, truth.yaw_deg))
            continue
        predicted = np.asarray(predicted, dtype=np.float64)
        if predicted.ndim != 2 or predicted.shape[0] != NUM_LANDMARKS or predicted.shape[1] < 2:
            raise ValueError(f"prediction for {key!r} must be (68, 2+), not {predicted.shape}")
        nme_box = float(nme(predicted, truth.landmarks68, "box"))
        nme_eye = float(nme(predicted, truth.landmarks68, "eye"))
        pose_error = None
        if poses_deg is not None and key in poses_deg and truth.pose_deg is not None:
            pose_error = tuple(float(v) for v in angle_difference_deg(poses_deg[key], truth.pose_deg))
        images.append(ImageScore(key, True, nme_box, nme_eye, not nme_box <= failure_threshold, truth.yaw_deg,
                                 pose_error))
    return Evaluation(summarise(images, failure_threshold, len(set(predictions) - set(ground_truth))), images)


def summarise(images: list[ImageScore], failure_threshold: float, unmatched_predictions: int = 0) -> Summary:
    """The :class:`Summary` of per-image scores."""
    detected = [s for s in images if s.detected]
    bins: list[YawBinSummary] = []
    if any(yaw_bin_index(s.yaw_deg) is not None for s in images):
        for index, (low, high) in enumerate(YAW_BINS_DEG):
            members = [s for s in images if yaw_bin_index(s.yaw_deg) == index]
            found = [s.nme_box for s in members if s.detected]
            bins.append(YawBinSummary(yaw_bin_label(low, high), len(members), len(found),
                                      sum(s.failure for s in members), _mean(found)))
    bin_means = [b.nme_box for b in bins if b.nme_box is not None]
    pose_mae = None
    errors = [s.pose_error_deg for s in detected if s.pose_error_deg is not None]
    if errors:
        pose_mae = {name: _mean([e[i] for e in errors]) for i, name in enumerate(("yaw", "pitch", "roll"))}
    return Summary(
        count=len(images), detected=len(detected), failures=sum(s.failure for s in images),
        failure_threshold=failure_threshold,
        nme_box=_mean([s.nme_box for s in detected]), nme_eye=_mean([s.nme_eye for s in detected]),
        yaw_bins=bins, balanced_nme_box=_mean(bin_means), unmatched_predictions=unmatched_predictions,
        pose_mae_deg=pose_mae,
    )


# --------------------------------------------------------------------------------------- readers
def _stem_key(name: str, source: Path, seen: dict[str, str]) -> str:
    key = Path(name).stem
    if key in seen:
        raise InputError(f"{source}: {seen[key]!r} and {name!r} have the same file stem {key!r}; "
                         f"images are matched by stem, so rename one")
    seen[key] = name
    return key


def load_predictions(path: str | Path) -> dict[str, np.ndarray | None]:
    """Predictions from a ``landmarks68.csv`` (or a folder holding one) → ``{stem: (68, 2) or None}``.

    Raises:
        InputError: the file is missing or malformed, or two rows share a file stem.
    """
    path = Path(path)
    if path.is_dir():
        path = path / PREDICTIONS_CSV
    if not path.is_file():
        raise InputError(f"prediction file {path} not found: pass the landmarks68.csv that "
                         f"frnet-app --image … --out DIR wrote (or DIR)")
    seen: dict[str, str] = {}
    return {_stem_key(name, path, seen): points for name, points in read_landmarks_csv(path).items()}


def read_mat(path: str | Path) -> GroundTruth:
    """One AFLW2000-3D / 300W-LP style ``.mat`` file → :class:`GroundTruth` (see the module doc).

    Raises:
        InputError: unreadable file, no ``pt3d_68``, or arrays of the wrong shape.
    """
    path = Path(path)
    # mat4py: a small pure-Python MATLAB 5 reader (compressed or not), a runtime dependency, so that
    # `frnet-app eval` reads .mat files without scipy. It gives nested lists (a 1×N array: a flat list).
    import mat4py

    try:
        content = mat4py.loadmat(str(path))
    except Exception as exc:  # mat4py raises ParseError, IndexError, ValueError, zlib.error, OSError …
        raise InputError(f"cannot read .mat file {path}: {exc or type(exc).__name__}") from exc
    if not isinstance(content, dict):
        raise InputError(f"cannot read .mat file {path}: no variables")
    if MAT_POINTS_KEY not in content:
        keys = ", ".join(k for k in content if not k.startswith("__")) or "none"
        raise InputError(f"{path}: no {MAT_POINTS_KEY} array (it holds: {keys})")
    try:
        points = np.asarray(content[MAT_POINTS_KEY], dtype=np.float64)
    except (TypeError, ValueError) as exc:  # a struct, cell or string array
        raise InputError(f"{path}: {MAT_POINTS_KEY} is not a numeric array ({exc})") from exc
    if points.ndim == 2 and points.shape[1] == NUM_LANDMARKS and points.shape[0] in (2, 3):
        points = points.T
    if points.ndim != 2 or points.shape[0] != NUM_LANDMARKS or points.shape[1] not in (2, 3):
        raise InputError(f"{path}: {MAT_POINTS_KEY} must be (3, 68) or (68, 3), not {points.shape}")
    if not np.all(np.isfinite(points[:, :2])):
        raise InputError(f"{path}: {MAT_POINTS_KEY} holds non-finite values")
    yaw_deg = None
    if MAT_POSE_KEY in content:
        try:
            pose = np.asarray(content[MAT_POSE_KEY], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: {MAT_POSE_KEY} is not a numeric array ({exc})") from exc
        if pose.size <= MAT_POSE_YAW_INDEX or not math.isfinite(pose[MAT_POSE_YAW_INDEX]):
            raise InputError(f"{path}: {MAT_POSE_KEY} must hold [pitch, yaw, roll, …] in radians, "
                             f"got {pose.size} values")
        yaw_deg = float(np.degrees(pose[MAT_POSE_YAW_INDEX]))
    return GroundTruth(points[:, :2] - 1.0, yaw_deg)


def _read_pts68(path: Path) -> GroundTruth:
    points = read_pts(path)
    if points.shape != (NUM_LANDMARKS, 2):
        raise InputError(f"{path}: expected 68 points, found {points.shape[0]}")
    return GroundTruth(points)


def _checked(truth: GroundTruth, source: Path, name: str | None = None) -> GroundTruth:
    """``truth`` if its NME normalisations are not zero (else every NME would be inf).

    Unlabelled (NaN) points are left out, as in the scores; an eye-corner distance that cannot be
    measured (a corner without a label) is not an error (NME_eye is then left out, too).

    Raises:
        InputError: the labelled points' box has no width or height, or both outer eye corners
            are labelled on one spot (the message names the file, and the image for a CSV).
    """
    image = f" (image {name!r})" if name is not None else ""
    points = truth.landmarks68[:, :2]
    labelled = points[np.isfinite(points).all(axis=1)]
    width, height = np.ptp(labelled, axis=0) if len(labelled) else (0.0, 0.0)
    if not (width > 0 and height > 0):
        raise InputError(f"{source}{image}: degenerate ground truth: the labelled points span {width:g} x "
                         f"{height:g} pixels, so NME cannot be normalised; fix or drop the annotation")
    if float(outer_eye_distance(truth.landmarks68)) == 0:
        raise InputError(f"{source}{image}: degenerate ground truth: the outer eye corners (points "
                         f"{LEFT_EYE_OUTER} and {RIGHT_EYE_OUTER}) coincide; fix or drop the annotation")
    return truth


_FILE_READERS = {".pts": _read_pts68, ".mat": read_mat}


def load_ground_truth(path: str | Path) -> dict[str, GroundTruth]:
    """Ground truth from a CSV, a ``.pts``/``.mat`` file or a folder of them → ``{stem: GroundTruth}``.

    CSV rows with empty cells (no annotation) are skipped with a warning.

    Raises:
        InputError: the path is missing, holds no annotation, or a file is malformed (named).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"ground truth {path} not found: pass a landmarks CSV, a .pts/.mat file or a folder of them")
    seen: dict[str, str] = {}
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            result = {}
            for name, (points, pose) in read_ground_truth_csv(path).items():
                key = _stem_key(name, path, seen)
                if points is None:
                    log.warning("%s: %s has no landmarks; skipped", path, name)
                    continue
                if np.isfinite(points).all(axis=1).sum() < 6:
                    raise InputError(f"{path}: {name} has fewer than 6 labelled points")
                yaw = None if pose is None or math.isnan(pose[0]) else float(pose[0])
                result[key] = _checked(GroundTruth(points, yaw, pose), path, name)
            return result
        if suffix in _FILE_READERS:
            return {path.stem: _checked(_FILE_READERS[suffix](path), path)}
        raise InputError(f"{path}: unknown ground-truth format {suffix!r}; use .csv, .pts or .mat")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in _FILE_READERS)
    if not files:
        raise InputError(f"{path} holds no .pts or .mat files; pass the folder of annotations or a CSV")
    return {_stem_key(p.name, path, seen): _checked(_FILE_READERS[p.suffix.lower()](p), p) for p in files}


def evaluate(pred_path: str | Path, gt_path: str | Path,
             failure_threshold: float = DEFAULT_FAILURE_THRESHOLD) -> Evaluation:
    """Load both sides and :func:`score` them."""
    return score(load_predictions(pred_path), load_ground_truth(gt_path), failure_threshold)


def evaluate_images(images_dir: str | Path, gt_path: str | Path, protocol: str = "detector",
                    failure_threshold: float = DEFAULT_FAILURE_THRESHOLD, precision: str = "auto") -> Evaluation:
    """Run frnet on the images of ``images_dir`` (:mod:`frnet.eval_images`) and :func:`score` it,
    head pose included where the ground truth has one."""
    from . import eval_images
    from .pipeline import PipelineOptions

    truth = load_ground_truth(gt_path)
    images = eval_images.find_images(Path(images_dir), set(truth))
    missing = len(truth) - len(images)
    if missing:
        log.warning("%d ground-truth entries have no image in %s; they count as not detected", missing, images_dir)
    options = PipelineOptions(mode="image", dense=False, precision=precision)
    landmarks, poses = eval_images.predict(images, truth, protocol, options)
    return score(landmarks, truth, failure_threshold, poses)


# ---------------------------------------------------------------------------------------- report
def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def format_summary(summary: Summary, title: str = "") -> str:
    """A plain-text table of one summary (NMEs in percent)."""
    lines = [title] if title else []
    lines.append(f"images {summary.count}, with a prediction {summary.detected}, failures {summary.failures} "
                 f"(no prediction or NME_box > {100 * summary.failure_threshold:g} %)")
    if summary.unmatched_predictions:
        lines.append(f"({summary.unmatched_predictions} predictions without ground truth ignored)")
    rows = [("all", summary.count, summary.detected, summary.failures, summary.nme_box, summary.nme_eye)]
    rows += [(f"|yaw| {b.label}", b.count, b.detected, b.failures, b.nme_box, None) for b in summary.yaw_bins]
    header = f"{'subset':<14}{'images':>8}{'found':>8}{'fail':>6}{'NME_box %':>11}{'NME_eye %':>11}"
    lines += [header, "-" * len(header)]
    for name, count, detected, failures, box, eye in rows:
        lines.append(f"{name:<14}{count:>8}{detected:>8}{failures:>6}{_percent(box):>11}{_percent(eye):>11}")
    if summary.yaw_bins:
        filled = sum(b.nme_box is not None for b in summary.yaw_bins)
        lines.append(f"{'balanced':<14}{'':>8}{'':>8}{'':>6}{_percent(summary.balanced_nme_box):>11}"
                     f"   (mean of {filled} yaw bin{'s' if filled != 1 else ''})")
    if summary.pose_mae_deg:
        mae = summary.pose_mae_deg
        lines.append("pose MAE (deg): " + ", ".join(f"{k} {'–' if mae[k] is None else f'{mae[k]:.2f}'}"
                                                     for k in ("yaw", "pitch", "roll")))
    return "\n".join(lines)


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as JSON atomically (NaN → null).

    Raises:
        OutputError: the file cannot be written.
    """
    from .video import atomic_write

    path = Path(path)
    text = json.dumps(_json_safe(data), indent=1) + "\n"
    with atomic_write(path) as temp:
        try:
            temp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------- CLI
def build_parser(prog: str = "frnet-app eval") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Score 68-point landmark predictions against ground truth (NME, yaw bins, failures).",
        epilog="Details: docs/accuracy.md",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", metavar="PRED.csv", type=Path,
                        help="predictions: the landmarks68.csv of frnet-app --image (or its folder)")
    source.add_argument("--images", metavar="DIR", type=Path,
                        help="run frnet on the images of DIR (matched to the ground truth by file stem) and score it")
    parser.add_argument("--crop", choices=("detector", "gt"), default="detector",
                        help="with --images: crop from frnet's own detector (fully automatic, default) or from "
                             "the ground-truth landmarks (the protocol of published AFLW2000-3D tables)")
    parser.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                        help="with --images: which network graph (default: auto, int8 on the CPU)")
    parser.add_argument("--gt", metavar="GT", type=Path, required=True,
                        help="ground truth: a landmarks CSV, a .pts/.mat file, or a folder of .pts/.mat files")
    parser.add_argument("--json", metavar="OUT.json", type=Path, help="also write the summary and per-image scores")
    parser.add_argument("--failure-threshold", metavar="T", type=float, default=DEFAULT_FAILURE_THRESHOLD,
                        help=f"an image fails when NME_box exceeds T (default {DEFAULT_FAILURE_THRESHOLD:g})")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing (use with --json)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more messages")
    return parser


def main(argv: list[str] | None = None, prog: str = "frnet-app eval") -> int:
    """``frnet-app eval``; returns the exit code. User errors raise :class:`frnet.errors.FrnetError`
    (the CLI prints them as one line and exits with 2)."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return int(exc.code or 0)
    if not args.failure_threshold > 0:
        parser.print_usage(sys.stderr)
        print(f"{prog}: error: --failure-threshold must be positive, not {args.failure_threshold}", file=sys.stderr)
        return 2
    if args.json is not None:  # before any work: not an input, not a folder, writable
        from .outputs import check_output

        inputs = [p for p in (args.pred, args.images, args.gt) if p is not None]
        if args.pred is not None:
            inputs.append(args.pred / PREDICTIONS_CSV)
        check_output(args.json, inputs=inputs, option="--json")
    if args.images is not None:
        evaluation = evaluate_images(args.images, args.gt, args.crop, args.failure_threshold, args.precision)
        title = f"frnet on {args.images} ({args.crop} crop) vs {args.gt}"
    else:
        evaluation = evaluate(args.pred, args.gt, args.failure_threshold)
        title = f"{args.pred} vs {args.gt}"
    if not args.quiet:
        print(format_summary(evaluation.summary, title))
    if args.json is not None:
        write_json(args.json, evaluation.to_dict())
    return 0


if __name__ == "__main__":  # python -m frnet.evaluate
    from .errors import FrnetError

    try:
        sys.exit(main())
    except FrnetError as exc:
        print(f"frnet-app eval: error: {exc}", file=sys.stderr)
        sys.exit(2)
