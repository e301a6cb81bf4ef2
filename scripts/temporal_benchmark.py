"""Temporal benchmark of ``frnet-app --video``: error, lag and jitter against exact truth.

Two parts, one command (``python scripts/temporal_benchmark.py``; tables in docs/video.md):

1. **Synthetic clips with exact truth.** Real faces from ``../shared/data/300w/helen_train`` are
   fitted (the shipped network's mesh plus the human 68 points, :func:`frnet.fitting.fit_to_mesh`)
   and re-rendered turned by Δyaw/Δpitch with the 3D profiling renderer
   (:func:`frnet.train.profiling.profile_face`), which gives the exact parameters of every frame.
   The rendered head is pasted into a 640×480 frame over a blurred copy of its photo, at a fixed or
   moving place (the truth moves with it exactly), with camera noise, and encoded with H.264 at
   30 fps. Motion programs: ``still``, ``slow_turn`` (±25° yaw, ≤ 50°/s), ``fast_turn`` (holds and
   40° → −40° turns at 360°/s), ``nod`` (±15° pitch, ≤ 95°/s) and ``translate`` (across the frame,
   ≤ 3 face sizes/s). Clips are generated (seeded) into ``.cache/temporal/`` (git-ignored).
2. **Real clips** (``../shared/data/videos/*.mp4``, no truth): how far the smoothed points are from
   the per-frame ones (p95, % of the face size) and their jitter on still segments against the raw.

Every clip is run once through the real CLI code path (``frnet.cli.main(["--video", …,
"--landmarks-out", …])``) with a recording pass-through smoother (:func:`record`); each smoothing
level is then replayed on what the smoother saw (:func:`replay`: tracking ignores smoothing, so this
is exactly the CLI's output for that level — checked against a real ``--smoothing light`` run on the
first clip, and in tests/test_smoothing_replay.py). Metrics (face size = √(w·h) of the truth's
68-point box):

* **NME** — mean point error / face size per frame; per motion class of the frame (``still``:
  truth points move < 0.1 face sizes/s, ``fast``: ≥ 1.5, else ``slow``) and per clip.
* **lag** — the delay (ms) of the output's point trajectory behind the truth's that fits best
  (sub-frame, over the moving frames of the turn/nod/translate clips).
* **jitter** — mean |second difference| of the points on still frames, % of the face size per frame.
* **pose** — mean |yaw/pitch/roll error| (degrees) and pose jitter (deg) on still frames.
* **track losses** — frames without a face where the truth has one, and the longest such run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))

from frnet import crop, geometry  # noqa: E402
from frnet.datasets import read_landmarks_csv, shared_data_dir  # noqa: E402
from frnet.evaluate import bbox_size  # noqa: E402
from frnet.facemodel import FaceModel, load_face_model  # noqa: E402
from frnet.fitting import fit_to_mesh  # noqa: E402
from frnet.smoothing import SMOOTHING_LEVELS, FaceSmoother, SmoothingSettings  # noqa: E402
from frnet.video import VideoReader  # noqa: E402

log = logging.getLogger("temporal_benchmark")

FPS = 30
FRAME_SIZE = (640, 480)  # width, height
PATCH_SCALE = 1.5  # the 224-px context image is pasted at this scale (ROI 168 px, face ≈ 110 px)
NOISE_STD = 2.0  # camera noise, 8-bit levels
CLIP_SECONDS = 3.0
MOTIONS = ("still", "slow_turn", "fast_turn", "nod", "translate")
LEVELS = ("none", "light", "strong")
STILL_SPEED = 0.1  # face sizes per second: below this a frame is "still"
FAST_SPEED = 1.5  # and from here "fast"
MIN_FACE_BOX_PX = 150  # helen faces at least this large (landmark box side) are used
DEFAULT_OUT = REPO / ".cache" / "temporal"
REAL_CLIPS = ("short_hamilton_clip.mp4", "driving_d3.mp4", "driving_d6.mp4", "source_s13.mp4",
              "WDA_AlexandriaOcasioCortez_000.mp4")
REAL_MAX_FRAMES = 300
MIN_STILL_FRAMES = 10  # a real clip's still-segment jitter ratio is scored from this many still frames on


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- motion plans
@dataclass(frozen=True)
class Motion:
    """Per-frame head motion: Δyaw, Δpitch (degrees) and the patch's offset (pixels) from centre."""

    delta_yaw_deg: np.ndarray
    delta_pitch_deg: np.ndarray
    offset_px: np.ndarray  # (T, 2)


def motion_plan(kind: str, frames: int, fps: float = FPS) -> Motion:
    t = np.arange(frames) / fps
    yaw = np.zeros(frames)
    pitch = np.zeros(frames)
    offset = np.zeros((frames, 2))
    if kind == "slow_turn":
        yaw = 25.0 * np.sin(2 * np.pi * 0.3 * t)  # peak 47°/s
    elif kind == "fast_turn":
        # hold −40°, turn to +40° at 360°/s, hold, turn back, hold.
        speed, low, high = 360.0, -40.0, 40.0
        turn_s = (high - low) / speed
        start1, start2 = 0.6, 1.6
        yaw = np.full(frames, low)
        yaw = np.where(t >= start1, np.minimum(low + speed * (t - start1), high), yaw)
        yaw = np.where(t >= start2, np.maximum(high - speed * (t - start2), low), yaw)
        _ = turn_s
    elif kind == "nod":
        pitch = 15.0 * np.sin(2 * np.pi * 1.0 * t)  # peak 94°/s
    elif kind == "translate":
        offset[:, 0] = 150.0 * np.sin(2 * np.pi * 0.4 * t)  # peak 377 px/s
        offset[:, 1] = 30.0 * np.sin(2 * np.pi * 0.3 * t)
    elif kind != "still":
        raise ValueError(f"unknown motion {kind!r}")
    return Motion(yaw, pitch, offset)


# ------------------------------------------------------------------------------------ source faces
@dataclass(frozen=True)
class SourceFace:
    name: str
    context: np.ndarray  # (224, 224, 3) uint8
    valid: np.ndarray  # (224, 224, 3) uint8: 255 where the photo has pixels
    params: np.ndarray  # (62,) relative to CONTEXT_ROI of the context
    background: np.ndarray  # (H, W, 3) uint8 blurred photo filling the frame


def pick_faces(count: int, seed: int) -> list[tuple[Path, np.ndarray]]:
    data = shared_data_dir()
    if data is None:
        raise SystemExit("../shared/data is missing (set FRNET_SHARED_DIR): the benchmark needs its faces and videos")
    folder = data / "300w" / "helen_train"
    labels = read_landmarks_csv(folder / "landmarks68.csv")
    candidates = []
    for name, points in sorted(labels.items()):
        if points is None:
            continue
        extent = points.max(axis=0) - points.min(axis=0)
        # Large, roughly frontal faces: the nose tip near the middle of the outer eye corners.
        eye_mid = (points[36] + points[45]) / 2
        frontal = abs(points[30, 0] - eye_mid[0]) < 0.08 * extent[0]
        if extent.min() >= MIN_FACE_BOX_PX and frontal:
            candidates.append((folder / "images" / name, points))
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    return [candidates[i] for i in sorted(picked)]


def fit_face(path: Path, human68: np.ndarray, face_model: FaceModel, regressor) -> SourceFace:
    """Context image of the photo's face and parameters fitted to the network's mesh and the human points."""
    from frnet.train.labels import CONTEXT_ROI, CONTEXT_SIZE, context_box
    from frnet.video import read_image

    image = read_image(path)
    roi = crop.roi_from_landmarks(human68)
    ctx_box = context_box(roi)
    context = crop.crop_image(image, ctx_box, CONTEXT_SIZE)
    valid = crop.crop_image(np.full_like(image, 255), ctx_box, CONTEXT_SIZE)
    human_ctx = geometry.image_to_crop(human68.astype(np.float64), ctx_box) * (CONTEXT_SIZE / geometry.CROP_SIZE)
    human_crop = geometry.image_to_crop(human_ctx, CONTEXT_ROI)
    human_crop[:, 1] = geometry.CROP_SIZE - human_crop[:, 1]  # crop space is y up
    params = regressor(crop.crop_image(context, CONTEXT_ROI)[None])[0]
    pose = geometry.pose_matrix(params.astype(np.float64))
    mesh_crop = face_model.shape(params).astype(np.float64) @ pose[:, :3].T + pose[:, 3]
    fitted = fit_to_mesh(face_model, mesh_crop, human_crop).params
    width, height = FRAME_SIZE
    # The photo's colours, blurred until no face is left in them (the detector must not find one).
    background = cv2.resize(image, (width // 8, height // 8), interpolation=cv2.INTER_AREA)
    background = cv2.GaussianBlur(background[::-1], (0, 0), 6)
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_CUBIC)
    return SourceFace(path.stem, context, valid, fitted, background)


# ------------------------------------------------------------------------------------------- clips
def render_clip(face: SourceFace, motion: Motion, face_model: FaceModel, renderer, path: Path,
                rng: np.random.Generator) -> dict:
    """Write the clip to ``path`` (H.264) and return its truth: landmarks (T, 68, 2), angles (T, 3) deg."""
    from frnet.train.labels import CONTEXT_ROI
    from frnet.train.profiling import profile_face
    from frnet.video import VideoWriter

    width, height = FRAME_SIZE
    size = face.context.shape[0]
    landmarks, angles = [], []
    with VideoWriter(path, FPS, FRAME_SIZE, crf=18, threads=1) as writer:
        for dyaw, dpitch, offset in zip(motion.delta_yaw_deg, motion.delta_pitch_deg, motion.offset_px):
            image, params = profile_face(face.context, face.params, face_model, float(dyaw), float(dpitch), renderer)
            valid, _ = profile_face(face.valid, face.params, face_model, float(dyaw), float(dpitch), renderer)
            ox = (width - PATCH_SCALE * size) / 2 + offset[0]
            oy = (height - PATCH_SCALE * size) / 2 + offset[1]
            warp = np.array([[PATCH_SCALE, 0.0, ox], [0.0, PATCH_SCALE, oy]])
            patch = cv2.warpAffine(image, warp, FRAME_SIZE, flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.warpAffine(valid[..., 0], warp, FRAME_SIZE, flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.GaussianBlur(cv2.erode(alpha, np.ones((9, 9), np.uint8)), (0, 0), 6)[..., None] / 255.0
            frame = alpha * patch + (1 - alpha) * face.background.astype(np.float32)
            frame += rng.normal(0.0, NOISE_STD, frame.shape).astype(np.float32)
            writer.write(np.clip(frame + 0.5, 0, 255).astype(np.uint8))
            points = geometry.crop_to_image(face_model.landmarks68(params), CONTEXT_ROI)[:, :2]
            landmarks.append(points * PATCH_SCALE + [ox, oy])
            angles.append(np.degrees(face_model.euler_angles(params)))
    return {"landmarks": np.asarray(landmarks), "angles_deg": np.asarray(angles)}


def build_clips(out_dir: Path, faces: int, seed: int) -> list[dict]:
    """Render (or reuse, when the same settings made them) the synthetic clips; returns their index."""
    from frnet.regressor import Regressor
    from frnet.train.profiling import ProfileRenderer

    clip_dir = out_dir / "clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    index_path = clip_dir / "index.json"
    from frnet.regressor import shipped_graph
    from frnet.train import profiling

    # The clips depend on the renderer and on the float32 network (its mesh is part of the fit).
    settings = {"faces": faces, "seed": seed, "motions": list(MOTIONS), "seconds": CLIP_SECONDS, "fps": FPS,
                "noise": NOISE_STD, "size": list(FRAME_SIZE), "version": 2,
                "network_sha256": file_sha256(shipped_graph("fp32", "CPUExecutionProvider")),
                "renderer_sha256": file_sha256(Path(profiling.__file__))}
    if index_path.exists():
        index = json.loads(index_path.read_text())
        if index.get("settings") == settings and all((clip_dir / c["video"]).exists() for c in index["clips"]):
            log.info("reusing %d clips in %s", len(index["clips"]), clip_dir)
            return [dict(c, video=str(clip_dir / c["video"]), truth=str(clip_dir / c["truth"])) for c in index["clips"]]
    face_model = load_face_model()
    regressor = Regressor(device="cpu", precision="fp32")
    rng = np.random.default_rng(seed)
    clips = []
    frames = int(round(CLIP_SECONDS * FPS))
    started = time.perf_counter()
    with ProfileRenderer() as renderer:
        for k, (path, human68) in enumerate(pick_faces(faces, seed)):
            face = fit_face(path, human68, face_model, regressor)
            for motion_name in MOTIONS:
                stem = f"face{k}_{motion_name}"
                truth = render_clip(face, motion_plan(motion_name, frames), face_model, renderer,
                                    clip_dir / f"{stem}.mp4", rng)
                np.savez(clip_dir / f"{stem}.npz", **truth)
                clips.append({"name": stem, "face": face.name, "motion": motion_name,
                              "video": f"{stem}.mp4", "truth": f"{stem}.npz"})
                log.info("rendered %s (%s), %.0f s", stem, face.name, time.perf_counter() - started)
    index_path.write_text(json.dumps({"settings": settings, "clips": clips}, indent=1))
    return [dict(c, video=str(clip_dir / c["video"]), truth=str(clip_dir / c["truth"])) for c in clips]


# ------------------------------------------------------------------------------------------ running
def run_cli(video: Path, level: str, out_dir: Path, max_frames: int | None = None,
            extra: tuple[str, ...] = ()) -> list[dict]:
    """``frnet-app --video`` with ``--smoothing level`` in this process; the sidecar's frames."""
    from frnet import cli

    sidecar = out_dir / f"{video.stem}.{level}.jsonl"
    overlay = out_dir / f"{video.stem}.{level}.mp4"
    argv = ["--video", str(video), "--out", str(overlay), "--landmarks-out", str(sidecar), "--smoothing", level,
            "--no-mesh", "--renderer", "cpu", "--threads", "1", "--preset", "ultrafast", "-q", *extra]
    if max_frames:
        argv += ["--max-frames", str(max_frames)]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    if code != 0:
        raise SystemExit(f"frnet-app {' '.join(argv)} exited with {code}")
    overlay.unlink(missing_ok=True)
    return [json.loads(line) for line in sidecar.read_text().splitlines()]


def track_arrays(frames: list[dict], truth_points: np.ndarray | None = None):
    """One face per frame — the one overlapping the truth's box most (without truth: the largest):
    landmarks (T, 68, 2) and angles (T, 3), NaN where none; track ids (T,), −1 where none."""
    from frnet.crop import box_iou

    points = np.full((len(frames), 68, 2), np.nan)
    angles = np.full((len(frames), 3), np.nan)
    ids = np.full(len(frames), -1)
    for i, frame in enumerate(frames):
        faces = frame["faces"]
        if truth_points is not None:
            box = np.concatenate([truth_points[i].min(axis=0), truth_points[i].max(axis=0)])
            faces = [f for f in faces if box_iou(np.asarray(f["box_xyxy"]), box) > 0.3]
        if faces:
            if truth_points is not None:
                face = max(faces, key=lambda f: box_iou(np.asarray(f["box_xyxy"]), box))
            else:
                face = max(faces, key=lambda f: (f["box_xyxy"][2] - f["box_xyxy"][0]) * (f["box_xyxy"][3] - f["box_xyxy"][1]))
            points[i] = np.asarray(face["landmarks68"])[:, :2]
            angles[i] = face["yaw_pitch_roll_deg"]
            ids[i] = face["track_id"]
    return points, angles, ids


class _Recorder:
    """Stands in for FaceSmoother in the pipeline: passes the estimate through and records it."""

    log: list[tuple] = []
    made = 0

    def __init__(self, settings, num_identity: int) -> None:
        _Recorder.made += 1
        self.key = _Recorder.made

    def __call__(self, params, points_px, time_s, reframed=False):
        _Recorder.log.append((self.key, time_s, np.asarray(params, np.float64).copy(),
                              np.asarray(points_px, np.float64)[:, :2].copy(), bool(reframed)))
        return np.asarray(params, np.float64).copy()


def record(video: Path, max_frames: int | None, work: Path) -> dict:
    """Run ``frnet-app --video`` once and keep, per track and frame, what the smoother saw (the
    parameters in the frame-fixed ROI, the unsmoothed landmarks, the time, the re-anchor flag).

    The run's smoother is a pass-through recorder, so its sidecar is the per-frame output. Tracking
    ignores smoothing (crops follow the unsmoothed landmarks), so :func:`replay` of this recording
    gives exactly what the CLI writes with any smoothing preset (tests/test_smoothing_replay.py)."""
    import frnet.pipeline as pipeline_module

    work.mkdir(parents=True, exist_ok=True)
    _Recorder.log = []
    original = pipeline_module.FaceSmoother
    pipeline_module.FaceSmoother = _Recorder
    try:
        frames = run_cli(video, "light", work, max_frames)
    finally:
        pipeline_module.FaceSmoother = original
    with VideoReader(video) as reader:
        fps, side = float(reader.fps), float(max(reader.size))
    keys = sorted({entry[0] for entry in _Recorder.log})
    return {"frames": frames, "fps": fps, "frame_side": side,
            "tracks": {str(keys.index(k)): [e[1:] for e in _Recorder.log if e[0] == k] for k in keys}}


def replay(recording: dict, settings: SmoothingSettings | None, face_model) -> list[dict]:
    """The sidecar frames ``frnet-app --video --smoothing …`` writes with ``settings`` (None: none)."""
    frames = [{"faces": [dict(face) for face in frame["faces"]]} for frame in recording["frames"]]

    if settings is None:
        return frames
    side = recording["frame_side"]
    frame_roi = np.array([0.0, 0.0, side, side])
    frame_at = {round(float(frame["timestamp_ms"])): i for i, frame in enumerate(recording["frames"])}
    for track, entries in recording["tracks"].items():
        smoother = FaceSmoother(settings, face_model.num_identity)
        for time_s, params, points, reframed in entries:
            smoothed = smoother(params, points, time_s, reframed)
            matrix = geometry.model_to_image_matrix(geometry.pose_matrix(smoothed), frame_roi)
            landmarks = face_model.landmarks_model(smoothed) @ matrix[:, :3].T + matrix[:, 3]
            frame = frames[frame_at[round(time_s * 1000.0)]]
            # the face of this track in that frame is the one whose raw landmarks these are
            face = min(frame["faces"], key=lambda f: float(np.abs(np.asarray(f["landmarks68"])[:, :2] - points).max()))
            face["landmarks68"] = landmarks[:, :2].tolist()
            face["yaw_pitch_roll_deg"] = np.degrees(face_model.euler_angles(smoothed)).tolist()
    return frames


def cli_check(recording: dict, video: Path, work: Path, face_model, level: str = "light") -> float:
    """The largest landmark difference (px) between the replay of ``level`` and the CLI's own run."""
    cli = run_cli(video, level, work)
    ours = replay(recording, SMOOTHING_LEVELS[level], face_model)
    worst = max((float(np.abs(np.asarray(a["landmarks68"])[:, :2] - np.asarray(b["landmarks68"])[:, :2]).max())
                 for fa, fb in zip(cli, ours) for a, b in zip(fa["faces"], fb["faces"])), default=0.0)
    if worst > 0.05:
        raise SystemExit(f"the replay of --smoothing {level} differs from the CLI by {worst:.3f} px on {video.name}")
    log.info("replay vs CLI (--smoothing %s, %s): largest landmark difference %.3f px", level, video.name, worst)
    return worst


# ------------------------------------------------------------------------------------------ metrics
def point_speed(points: np.ndarray, face_size: np.ndarray, fps: float = FPS) -> np.ndarray:
    """Mean point speed (face sizes per second) per frame (central differences; (T,))."""
    velocity = np.gradient(points, axis=0) * fps
    return np.linalg.norm(velocity, axis=-1).mean(axis=-1) / face_size


def motion_classes(truth_points: np.ndarray, face_size: np.ndarray) -> np.ndarray:
    speed = point_speed(truth_points, face_size)
    return np.where(speed < STILL_SPEED, "still", np.where(speed >= FAST_SPEED, "fast", "slow"))


def jitter(points: np.ndarray, face_size: np.ndarray, mask: np.ndarray) -> float:
    """Mean |p(t+1) − 2p(t) + p(t−1)| over points and the frames of ``mask`` (whose neighbours too
    are in it), as a fraction of the face size; NaN when there are none."""
    second = np.linalg.norm(points[2:] - 2 * points[1:-1] + points[:-2], axis=-1).mean(axis=-1) / face_size[1:-1]
    use = mask[1:-1] & mask[2:] & mask[:-2] & np.isfinite(second)
    return float(second[use].mean()) if use.any() else float("nan")


def angle_jitter(angles: np.ndarray, mask: np.ndarray) -> float:
    second = np.abs(angles[2:] - 2 * angles[1:-1] + angles[:-2]).mean(axis=-1)
    use = mask[1:-1] & mask[2:] & mask[:-2] & np.isfinite(second)
    return float(second[use].mean()) if use.any() else float("nan")


def lag_ms(output: np.ndarray, truth: np.ndarray, mask: np.ndarray, fps: float = FPS,
           max_frames: float = 8.0) -> float:
    """Delay τ (ms, ≥ 0 behind) that best explains ``output(t) ≈ truth(t − τ)`` on frames of ``mask``.

    Trajectories are the mean point (x, y) per frame; τ is searched in 0.1-frame steps with linear
    interpolation of the truth, so a per-frame constant offset does not count as lag.
    """
    out_mean = np.nanmean(output, axis=1)
    truth_mean = truth.mean(axis=1)
    frames = np.arange(len(truth))
    use = mask & np.all(np.isfinite(out_mean), axis=1)
    if use.sum() < 5:
        return float("nan")
    best, best_cost = 0.0, np.inf
    for tau in np.arange(-2.0, max_frames + 1e-9, 0.1):
        shifted = np.stack([np.interp(frames - tau, frames, truth_mean[:, d]) for d in range(2)], axis=1)
        residual = out_mean - shifted
        residual -= np.nanmean(residual[use], axis=0)  # a constant offset is bias, not lag
        cost = float(np.mean(np.sum(residual[use] ** 2, axis=1)))
        if cost < best_cost:
            best, best_cost = float(tau), cost
    return 1000.0 * best / fps


def score_clip(frames: list[dict], truth: dict, motion: str) -> dict:
    truth_points = truth["landmarks"][: len(frames)]
    truth_angles = truth["angles_deg"][: len(frames)]
    points, angles, ids = track_arrays(frames, truth_points)
    size = bbox_size(truth_points)
    found = np.all(np.isfinite(points[:, :, 0]), axis=1)
    error = np.linalg.norm(points - truth_points, axis=-1).mean(axis=-1) / size
    classes = motion_classes(truth_points, size)
    lost_runs, run = [], 0
    for ok in found:
        run = 0 if ok else run + 1
        lost_runs.append(run)
    moving = classes != "still"
    # a lost track shows as an id change between consecutive frames with faces
    valid_ids = ids[found]
    track_changes = int(np.sum(valid_ids[1:] != valid_ids[:-1])) if len(valid_ids) > 1 else 0
    pose_error = np.abs(angles - truth_angles)
    return {
        "frames": int(len(points)),
        "nme": {c: (float(np.nanmean(error[(classes == c) & found])) if np.any((classes == c) & found) else None)
                for c in ("still", "slow", "fast")},
        "nme_all": float(np.nanmean(error[found])) if found.any() else None,
        "class_frames": {c: int(np.sum(classes == c)) for c in ("still", "slow", "fast")},
        "errors": error.tolist(),
        "classes": classes.tolist(),
        "lag_ms": lag_ms(points, truth_points, moving) if motion != "still" else None,
        "jitter": jitter(points, size, (classes == "still") & found),
        "pose_mae_deg": np.nanmean(pose_error[found], axis=0).tolist() if found.any() else None,
        "pose_jitter_deg": angle_jitter(angles, (classes == "still") & found),
        "lost_frames": int(np.sum(~found)),
        "longest_loss": int(max(lost_runs) if lost_runs else 0),
        "track_changes": track_changes,
    }


def still_segments(raw_points: np.ndarray, face_size: np.ndarray, fps: float = FPS,
                   threshold: float = STILL_SPEED, half_window: int = 5) -> np.ndarray:
    """Frames of a real clip where the head holds still: the speed of a centred moving average
    of the raw points (over ±``half_window`` frames) is below ``threshold`` face sizes/s."""
    finite = np.all(np.isfinite(raw_points[:, :, 0]), axis=1)
    filled = raw_points.copy()
    if not finite.any():
        return np.zeros(len(raw_points), bool)
    idx = np.arange(len(raw_points))
    for d in range(2):
        for p in range(68):
            filled[:, p, d] = np.interp(idx, idx[finite], raw_points[finite, p, d])
    kernel = np.ones(2 * half_window + 1) / (2 * half_window + 1)
    padded = np.pad(filled, ((half_window, half_window), (0, 0), (0, 0)), mode="edge")
    smooth = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)
    speed = point_speed(smooth, face_size, fps)
    return (speed < threshold) & finite


def _track_points(frames: list[dict], track_id: int) -> np.ndarray:
    points = np.full((len(frames), 68, 2), np.nan)
    for i, frame in enumerate(frames):
        for face in frame["faces"]:
            if face["track_id"] == track_id:
                points[i] = np.asarray(face["landmarks68"])[:, :2]
    return points


def score_real(raw: list[dict], smoothed: list[dict], fps: float, min_track_frames: int = 30) -> dict:
    """Smoothed against per-frame output, per track (the same tracks: tracking ignores smoothing),
    pooled over the tracks of at least ``min_track_frames`` frames."""
    ids = sorted({face["track_id"] for frame in raw for face in frame["faces"]})
    deviations, raw_second, smooth_second = [], [], []
    still_frames = 0
    for track_id in ids:
        raw_points, points = _track_points(raw, track_id), _track_points(smoothed, track_id)
        both = np.all(np.isfinite(raw_points[:, :, 0]), axis=1) & np.all(np.isfinite(points[:, :, 0]), axis=1)
        if both.sum() < min_track_frames:
            continue
        size = np.where(both, bbox_size(np.nan_to_num(raw_points)), np.nan)
        deviations.append((np.linalg.norm(points - raw_points, axis=-1).mean(axis=-1) / size)[both])
        still = still_segments(raw_points, np.nan_to_num(size, nan=1.0), fps) & both
        use = still[1:-1] & still[2:] & still[:-2]
        still_frames += int(use.sum())
        for target, p in ((raw_second, raw_points), (smooth_second, points)):
            second = np.linalg.norm(p[2:] - 2 * p[1:-1] + p[:-2], axis=-1).mean(axis=-1) / size[1:-1]
            target.append(second[use])
    deviation = np.concatenate(deviations) if deviations else np.zeros(0)
    raw_jitter = float(np.concatenate(raw_second).mean()) if still_frames else float("nan")
    smooth_jitter = float(np.concatenate(smooth_second).mean()) if still_frames else float("nan")
    return {
        "frames": len(raw),
        "face_frames": int(len(deviation)),
        "deviation_p95": float(np.percentile(deviation, 95)) if len(deviation) else None,
        "deviation_max": float(deviation.max()) if len(deviation) else None,
        "still_frames": still_frames,
        "jitter_raw": raw_jitter,
        "jitter": smooth_jitter,
        # a ratio over a handful of frames is noise (the filter is still settling after a move)
        "jitter_ratio": smooth_jitter / raw_jitter if still_frames >= MIN_STILL_FRAMES and raw_jitter > 0 else None,
    }


# ------------------------------------------------------------------------------------------ tables
def _pct(value, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.{digits}f}"


def _num(value, digits: int = 1) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def synthetic_tables(results: dict) -> str:
    lines = ["### Error by motion class of the frame (NME, % of the face size; all synthetic clips)", "",
             "| smoothing | still | slow | fast | all | frames still / slow / fast |", "|---|---|---|---|---|---|"]
    for level in results["levels"]:
        errors = np.concatenate([np.asarray(c[level]["errors"]) for c in results["clips"]])
        classes = np.concatenate([np.asarray(c[level]["classes"]) for c in results["clips"]])
        cells = [_pct(np.nanmean(errors[classes == k]), 3) for k in ("still", "slow", "fast")]
        counts = " / ".join(str(int(np.sum(classes == k))) for k in ("still", "slow", "fast"))
        lines.append(f"| {level} | {' | '.join(cells)} | {_pct(np.nanmean(errors), 3)} | {counts} |")
    lines += ["", "### Per motion program (mean over faces)", "",
              "| motion | smoothing | NME % | lag ms | jitter % | yaw / pitch / roll error ° | pose jitter ° "
              "| lost frames | longest loss | track changes |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for motion in MOTIONS:
        clips = [c for c in results["clips"] if c["motion"] == motion]
        for level in results["levels"]:
            rows = [c[level] for c in clips]

            def mean(key):
                values = [r[key] for r in rows if r[key] is not None and np.isfinite(r[key])]
                return float(np.mean(values)) if values else None

            pose = np.nanmean([r["pose_mae_deg"] for r in rows if r["pose_mae_deg"] is not None], axis=0)
            lines.append(
                f"| {motion} | {level} | {_pct(mean('nme_all'))} | {_num(mean('lag_ms'), 0)} | "
                f"{_pct(mean('jitter'), 3)} | {' / '.join(_num(v) for v in pose)} | {_num(mean('pose_jitter_deg'), 2)} | "
                f"{sum(r['lost_frames'] for r in rows)} | {max(r['longest_loss'] for r in rows)} | "
                f"{sum(r['track_changes'] for r in rows)} |")
    return "\n".join(lines)


def real_tables(results: dict) -> str:
    lines = ["### Real clips: smoothed against per-frame output", "",
             "| clip | smoothing | frames (face-frames) | deviation p95 % | deviation max % | still frames "
             "| jitter raw % | jitter smoothed % | ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for clip in results["real"]:
        for level, row in clip["levels"].items():
            lines.append(f"| {clip['name']} | {level} | {row['frames']} ({row['face_frames']}) | "
                         f"{_pct(row['deviation_p95'])} | {_pct(row['deviation_max'])} | {row['still_frames']} | "
                         f"{_pct(row['jitter_raw'], 3)} | {_pct(row['jitter'], 3)} | {_num(row['jitter_ratio'], 2)} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=3, help="helen faces, each rendered in every motion (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="git-ignored work folder")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS), choices=LEVELS)
    parser.add_argument("--real-max-frames", type=int, default=REAL_MAX_FRAMES,
                        help="frames of each real clip (0: none of them)")
    parser.add_argument("--json", type=Path, help="write all numbers here (default OUT/results.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = args.out
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    clips = build_clips(out, args.faces, args.seed)
    face_model = load_face_model()
    results: dict = {"levels": args.levels, "clips": [], "real": [],
                     "settings": {"faces": args.faces, "seed": args.seed, "real_max_frames": args.real_max_frames}}
    for n, clip in enumerate(clips):
        with np.load(clip["truth"]) as data:
            truth = {k: data[k] for k in data.files}
        recording = record(Path(clip["video"]), None, runs)
        if n == 0:
            results["cli_check_px"] = cli_check(recording, Path(clip["video"]), runs, face_model)
        row = {"name": clip["name"], "motion": clip["motion"], "face": clip["face"]}
        for level in args.levels:
            row[level] = score_clip(replay(recording, SMOOTHING_LEVELS[level], face_model), truth, clip["motion"])
        log.info("%s: NME %s", clip["name"], ", ".join(f"{lv} {100 * (row[lv]['nme_all'] or np.nan):.2f} %"
                                                      for lv in args.levels))
        results["clips"].append(row)
    data = shared_data_dir()
    if args.real_max_frames and data is not None:
        for name in REAL_CLIPS:
            path = data / "videos" / name
            if not path.exists():
                continue
            recording = record(path, args.real_max_frames, runs)
            raw = replay(recording, None, face_model)
            entry = {"name": path.stem, "levels": {}}
            for level in args.levels:
                if level != "none":
                    entry["levels"][level] = score_real(raw, replay(recording, SMOOTHING_LEVELS[level], face_model),
                                                        recording["fps"])
            log.info("%s: %s", name, json.dumps(entry["levels"]))
            results["real"].append(entry)
    results["seconds"] = round(time.perf_counter() - started, 1)
    json_path = args.json or out / "results.json"
    json_path.write_text(json.dumps(results, indent=1, default=float))
    print(synthetic_tables(results))
    print()
    print(real_tables(results))
    print(f"\n({results['seconds']:.0f} s; numbers in {json_path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
