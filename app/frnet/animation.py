"""Face animation from a video: tracked faces' per-frame parameters → a glTF per face, or a CSV.

frnet's face model is linear, so a performance is exactly a glTF morph-target animation:

* **mesh** — the person's dense mesh (identity coefficients averaged over the track, expression
  zero), in metres, textured from the track's most frontal, most neutral frame;
* **morph targets** — the face model's expression components, each as a pair ``expression_KK_pos``
  and ``expression_KK_neg`` of ±:data:`TARGET_SIGMAS` standard deviations, so every morph weight
  lies in [0, 1] (coefficient ``α`` gives weights ``max(α, 0)/4`` and ``max(-α, 0)/4``): Blender
  clamps shape-key values to their slider range, which its importer sets to [0, 1];
* **node transform** — per frame, the head's rotation and its translation in a pinhole camera
  (:data:`FOCAL_LENGTH_SIDES` × the longer image side as focal length) at the origin, looking down
  −z with +y up, which the file also holds as its camera: looking through it, the face overlays
  the video;
* **animation** — one key per frame at the video's timestamps (seconds), linear interpolation.

Axes and units are glTF's: metres, right-handed, +y up, the face looking along +z at rest.
:class:`AnimationRecorder` collects what the pipeline gives frame by frame; :func:`write_animation`
writes the files (atomically).
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import geometry
from .facemodel import NUM_EXPRESSION, FaceModel
from .pipeline import FrameResult
from .files import atomic_write

log = logging.getLogger(__name__)

ANIMATION_FORMATS = ("glb", "csv")
FOCAL_LENGTH_SIDES = 1.0  # assumed focal length in units of the longer image side (≈ 53° across it)
MM_TO_M = 0.001
TEXTURE_EXPRESSION_DEG = 5.0  # texture frame score: degrees of head turn worth one σ of expression
TEXTURE_CANDIDATES = 16  # frames kept per track as texture candidates (the best scores so far)
TEXTURE_SCORE_SLACK = 8.0  # candidates this close to the best score compete on open eyes
TARGET_SIGMAS = 4.0  # a morph target is this many standard deviations of its component


@dataclass
class _Track:
    frame_indices: list[int] = field(default_factory=list)
    timestamps_ms: list[float] = field(default_factory=list)
    params: list[np.ndarray] = field(default_factory=list)
    roi_boxes: list[np.ndarray] = field(default_factory=list)
    candidates: list[tuple[float, float, np.ndarray, np.ndarray]] = field(default_factory=list)  # score, eyes, frame, vertices

    def texture_frame(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(frame, vertices)`` for the texture: among the candidates scoring within
        :data:`TEXTURE_SCORE_SLACK` of the best, the one whose eyes look most open (no blink)."""
        if not self.candidates:
            return None
        best = self.candidates[0][0]
        near = [c for c in self.candidates if c[0] <= best + TEXTURE_SCORE_SLACK]
        chosen = max(near, key=lambda c: c[1])
        return chosen[2], chosen[3]


class AnimationRecorder:
    """Collects every tracked face's parameters frame by frame (video mode results).

    ``keep_texture_frame`` keeps, per track, the frames where the face is most frontal and nearest
    the neutral expression, and textures its mesh from the one of them with the most open eyes. ``start_at_zero`` counts time from the first frame added (a recording
    that starts mid-video) instead of from the video's start.
    """

    def __init__(self, keep_texture_frame: bool = True, start_at_zero: bool = False) -> None:
        self.tracks: dict[int, _Track] = {}
        self.image_size: tuple[int, int] | None = None
        self.keep_texture_frame = keep_texture_frame
        self.start_at_zero = start_at_zero
        self._origin_ms: float | None = None

    def add(self, result: FrameResult, frame_rgb: np.ndarray | None = None) -> None:
        """Record one frame's faces (frames with non-increasing timestamps are skipped)."""
        self.image_size = result.image_size
        timestamp_ms = float(result.timestamp_ms if result.timestamp_ms is not None else result.frame_index * 1000 / 30)
        if self._origin_ms is None:
            self._origin_ms = timestamp_ms if self.start_at_zero else 0.0
        timestamp_ms -= self._origin_ms
        for face in result.faces:
            track = self.tracks.setdefault(face.track_id, _Track())
            if track.timestamps_ms and timestamp_ms <= track.timestamps_ms[-1]:
                continue
            track.frame_indices.append(int(result.frame_index))
            track.timestamps_ms.append(timestamp_ms)
            track.params.append(np.asarray(face.params, dtype=np.float64))
            track.roi_boxes.append(np.asarray(face.roi_box, dtype=np.float64))
            # Texture frame: frontal and near the neutral expression (the texture is worn by every key).
            expression = np.asarray(face.params[-NUM_EXPRESSION:], dtype=np.float64)
            score = float(np.abs(face.yaw_pitch_roll_deg[:2]).sum()) + TEXTURE_EXPRESSION_DEG * float(np.linalg.norm(expression))
            eyes = eye_contrast(frame_rgb, face.landmarks68) if frame_rgb is not None else 0.0
            worst = max((c[0] for c in track.candidates), default=np.inf)
            if self.keep_texture_frame and frame_rgb is not None and len(face.vertices) and (
                    len(track.candidates) < TEXTURE_CANDIDATES or score < worst):
                track.candidates.append((score, eyes, frame_rgb.copy(), np.asarray(face.vertices).copy()))
                track.candidates.sort(key=lambda c: c[0])
                del track.candidates[TEXTURE_CANDIDATES:]

    @property
    def frame_count(self) -> int:
        return max((len(t.params) for t in self.tracks.values()), default=0)


@dataclass(frozen=True, eq=False)
class FaceAnimation:
    """One tracked face's performance, in glTF's axes and units (see the module doc).

    Attributes:
        track_id: the pipeline's track id.
        frame_indices, timestamps_s: ``(K,)`` the video frames and their times.
        identity: ``(40,)`` identity coefficients averaged over the track.
        identity_per_frame, expression: ``(K, 40)``, ``(K, 10)`` coefficients (standard deviations).
        rotation_xyzw: ``(K, 4)`` unit quaternions (glTF order), sign-continuous.
        translation_m: ``(K, 3)`` the head origin in the camera frame (metres).
        yaw_pitch_roll_deg: ``(K, 3)``.
        image_size: ``(width, height)`` of the video; focal_px: the camera's focal length.
    """

    track_id: int
    frame_indices: np.ndarray
    timestamps_s: np.ndarray
    identity: np.ndarray
    identity_per_frame: np.ndarray
    expression: np.ndarray
    rotation_xyzw: np.ndarray
    translation_m: np.ndarray
    yaw_pitch_roll_deg: np.ndarray
    image_size: tuple[int, int]
    focal_px: float


def eye_contrast(frame_rgb: np.ndarray, landmarks68: np.ndarray) -> float:
    """How open the eyes look in the frame: inside each eye's outline (68 points), how much brighter
    the brightest pixels (the sclera) are than the typical one. A closed lid is skin: low."""
    import cv2

    points = np.asarray(landmarks68, dtype=np.float64)[:, :2]
    height, width = frame_rgb.shape[:2]
    x0, y0 = np.clip(np.floor(points[36:48].min(axis=0)).astype(int) - 2, 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(points[36:48].max(axis=0)).astype(int) + 3, 1, [width, height])
    grey = cv2.cvtColor(np.ascontiguousarray(frame_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    mask = np.zeros(grey.shape, np.uint8)
    for start in (36, 42):
        cv2.fillConvexPoly(mask, np.round(points[start:start + 6] - [x0, y0]).astype(np.int32), 1)
    inside = grey[mask > 0].astype(np.float64)
    if inside.size < 4:
        return 0.0
    return float(np.percentile(inside, 95) - np.median(inside))


def quaternion_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(..., 4)`` as ``(x, y, z, w)`` with ``w ≥ 0`` from rotation matrices ``(..., 3, 3)``."""
    r = np.asarray(rotation, dtype=np.float64)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    candidates = np.stack([
        np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1], 1 + m00 + m11 + m22], -1),
        np.stack([1 + m00 - m11 - m22, r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0], r[..., 2, 1] - r[..., 1, 2]], -1),
        np.stack([r[..., 0, 1] + r[..., 1, 0], 1 - m00 + m11 - m22, r[..., 1, 2] + r[..., 2, 1], r[..., 0, 2] - r[..., 2, 0]], -1),
        np.stack([r[..., 0, 2] + r[..., 2, 0], r[..., 1, 2] + r[..., 2, 1], 1 - m00 - m11 + m22, r[..., 1, 0] - r[..., 0, 1]], -1),
    ], -2)  # (..., 4, 4): each row proportional to the quaternion; the largest is the stable one
    pick = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1).argmax(-1)
    q = np.take_along_axis(candidates, pick[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def rotation_from_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` from unit quaternions ``(x, y, z, w)``."""
    x, y, z, w = np.moveaxis(np.asarray(q_xyzw, dtype=np.float64), -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def camera_pose(params: np.ndarray, roi_box: np.ndarray, image_size: tuple[int, int], focal_px: float):
    """``(rotation (K, 3, 3), translation_m (K, 3))`` of the head for parameters ``(K, 62)``.

    The weak-perspective pose (``s·R``, origin in crop pixels) becomes a rigid pose in a pinhole
    camera: the head's size in pixels gives its distance, ``Z = f / (pixels per mm)``.
    """
    scale, rotation, t = geometry.decompose_pose(geometry.pose_matrix(params))
    side = (roi_box[:, 2] - roi_box[:, 0]) / geometry.CROP_SIZE  # image pixels per crop pixel
    px_per_mm = scale * side
    x_img = roi_box[:, 0] + t[:, 0] * side
    y_img = roi_box[:, 1] + (geometry.CROP_SIZE - t[:, 1]) * side
    width, height = image_size
    translation_mm = np.stack([(x_img - (width - 1) / 2) / px_per_mm, -(y_img - (height - 1) / 2) / px_per_mm,
                               -focal_px / px_per_mm], axis=1)
    return rotation, translation_mm * MM_TO_M


def face_animations(recorder: AnimationRecorder, face_model: FaceModel) -> list[FaceAnimation]:
    """One :class:`FaceAnimation` per recorded track, longest first."""
    if recorder.image_size is None:
        return []
    width, height = recorder.image_size
    focal_px = FOCAL_LENGTH_SIDES * max(width, height)
    n_pose, n_id = geometry.NUM_POSE_PARAMS, face_model.num_identity
    out = []
    for track_id, track in recorder.tracks.items():
        params = np.stack(track.params)
        rotation, translation = camera_pose(params, np.stack(track.roi_boxes), recorder.image_size, focal_px)
        quaternions = quaternion_from_rotation(rotation)
        for k in range(1, len(quaternions)):  # shortest path between keys
            if quaternions[k] @ quaternions[k - 1] < 0:
                quaternions[k] = -quaternions[k]
        out.append(FaceAnimation(
            track_id=track_id, frame_indices=np.asarray(track.frame_indices),
            timestamps_s=np.asarray(track.timestamps_ms) / 1000.0,
            identity=params[:, n_pose:n_pose + n_id].mean(axis=0),
            identity_per_frame=params[:, n_pose:n_pose + n_id], expression=params[:, n_pose + n_id:],
            rotation_xyzw=quaternions, translation_m=translation,
            yaw_pitch_roll_deg=np.degrees(geometry.euler_from_rotation(rotation)),
            image_size=(int(width), int(height)), focal_px=float(focal_px)))
    return sorted(out, key=lambda a: (-len(a.timestamps_s), a.track_id))


def expression_targets(face_model: FaceModel) -> tuple[list[np.ndarray], list[str]]:
    """The dense mesh's morph targets (metres) and their names: per expression component ``k`` the
    displacement for ``+TARGET_SIGMAS`` and for ``-TARGET_SIGMAS`` standard deviations."""
    basis = face_model._dense_basis.reshape(face_model.num_dense_vertices, 3, -1)
    targets, names = [], []
    for k in range(face_model.num_expression):
        displacement = basis[:, :, face_model.num_identity + k].astype(np.float64) * MM_TO_M * TARGET_SIGMAS
        targets += [displacement, -displacement]
        names += [f"expression_{k:02d}_pos", f"expression_{k:02d}_neg"]
    return targets, names


def morph_weights(expression: np.ndarray) -> np.ndarray:
    """Expression coefficients ``(..., K)`` → morph weights ``(..., 2K)`` in [0, 1] (pos/neg pairs)."""
    expression = np.asarray(expression, dtype=np.float64) / TARGET_SIGMAS
    pairs = np.stack([np.maximum(expression, 0.0), np.maximum(-expression, 0.0)], axis=-1)
    return np.minimum(pairs, 1.0).reshape(*expression.shape[:-1], -1)


def animation_glb(animation: FaceAnimation, face_model: FaceModel, texture_rgb: np.ndarray | None = None,
                  uv: np.ndarray | None = None) -> bytes:
    """The ``.glb`` bytes of one face's animation (see the module doc); textured when both
    ``texture_rgb`` and ``uv`` (dense-mesh UVs, origin bottom-left) are given."""
    import cv2

    from . import __version__
    from .gltf import GltfBuilder
    from .texture import vertex_normals

    params = np.zeros(face_model.num_params)
    params[geometry.NUM_POSE_PARAMS:geometry.NUM_POSE_PARAMS + face_model.num_identity] = animation.identity
    positions = face_model.shape(params, dense=True).astype(np.float64) * MM_TO_M
    triangles = np.asarray(face_model.render_triangles, dtype=np.int64)
    builder = GltfBuilder(f"frnet {__version__}")
    texture = None
    if texture_rgb is not None and uv is not None:
        ok, png = cv2.imencode(".png", cv2.cvtColor(texture_rgb, cv2.COLOR_RGB2BGR))
        texture = builder.add_png_texture(png.tobytes())
    material = builder.add_material("face", texture=texture)
    targets, names = expression_targets(face_model)
    weights = morph_weights(animation.expression)
    mesh = builder.add_mesh(
        f"face_track{animation.track_id}", positions, triangles, vertex_normals(positions, triangles), material,
        colours_linear=None if texture is not None else np.full((len(positions), 3), 0.62),
        uv_gltf=None if texture is None else np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]),
        targets=targets, target_names=names, weights=weights[0].tolist())
    face_node = builder.add_node({"name": f"face_track{animation.track_id}", "mesh": mesh,
                                  "rotation": animation.rotation_xyzw[0].tolist(),
                                  "translation": animation.translation_m[0].tolist()})
    width, height = animation.image_size
    builder.document["cameras"] = [{"name": "video camera", "type": "perspective", "perspective": {
        "yfov": float(2 * np.arctan((height / 2) / animation.focal_px)), "aspectRatio": width / height,
        "znear": 0.01, "zfar": 100.0}}]
    camera_node = builder.add_node({"name": "video camera", "camera": 0})
    builder.add_scene([face_node, camera_node])
    times = builder.add_accessor(animation.timestamps_s.astype(np.float32), bounds=True)
    outputs = {
        "translation": builder.add_accessor(animation.translation_m),
        "rotation": builder.add_accessor(animation.rotation_xyzw),
        "weights": builder.add_accessor(weights.reshape(-1)),
    }
    builder.add_animation({
        "name": f"performance_track{animation.track_id}",
        "samplers": [{"input": times, "output": outputs[path], "interpolation": "LINEAR"} for path in outputs],
        "channels": [{"sampler": k, "target": {"node": face_node, "path": path}} for k, path in enumerate(outputs)],
    })
    return builder.glb()


CSV_COLUMNS_POSE = ("track_id", "frame_index", "timestamp_ms", "yaw_deg", "pitch_deg", "roll_deg",
                    "qx", "qy", "qz", "qw", "tx_m", "ty_m", "tz_m")


def write_animation_csv(path: str | os.PathLike, animations: list[FaceAnimation]) -> Path:
    """One row per face per frame: pose (degrees, quaternion, camera-frame metres) and the frame's
    own identity and expression coefficients (``id00…``, ``exp00…``, standard deviations)."""
    if not animations:
        raise ValueError("no tracked face to write")
    n_id, n_exp = animations[0].identity_per_frame.shape[1], animations[0].expression.shape[1]
    header = [*CSV_COLUMNS_POSE, *(f"exp{k:02d}" for k in range(n_exp)), *(f"id{k:02d}" for k in range(n_id))]
    rows = []
    for a in sorted(animations, key=lambda a: a.track_id):
        for k in range(len(a.timestamps_s)):
            rows.append([a.track_id, int(a.frame_indices[k]), f"{a.timestamps_s[k] * 1000:.3f}",
                         *(f"{v:.3f}" for v in a.yaw_pitch_roll_deg[k]), *(f"{v:.6f}" for v in a.rotation_xyzw[k]),
                         *(f"{v:.5f}" for v in a.translation_m[k]), *(f"{v:.5f}" for v in a.expression[k]),
                         *(f"{v:.5f}" for v in a.identity_per_frame[k])])
    rows.sort(key=lambda r: (r[1], r[0]))
    with atomic_write(path) as temp, open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return Path(path)


def animation_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format for ``path``: ``fmt`` when given, else from the suffix (``.glb`` or ``.csv``).

    Raises:
        ValueError: unknown suffix or format, or a suffix that contradicts ``fmt``.
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if fmt is None:
        fmt = suffix
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"cannot write a face animation as {Path(path).name!r}: use a .glb or .csv file "
                         f"(or --anim-format {'|'.join(ANIMATION_FORMATS)})")
    if suffix != fmt:
        raise ValueError(f"the animation file {Path(path).name!r} does not end in .{fmt}")
    return fmt


def track_path(path: Path, animation: FaceAnimation, first: bool) -> Path:
    """The longest track goes to ``path``; every other one to ``<stem>_track<id><suffix>``."""
    return path if first else path.with_name(f"{path.stem}_track{animation.track_id}{path.suffix}")


def write_animation(path: str | os.PathLike, recorder: AnimationRecorder, face_model: FaceModel,
                    fmt: str | None = None, texture_size: int | None = None) -> list[Path]:
    """Write the recorded faces: ``glb`` — one file per track (see :func:`track_path`), textured
    from each track's most frontal frame unless ``texture_size`` is 0; ``csv`` — one file. Returns
    the files written (none when no face was tracked).

    Raises:
        ValueError: unknown format (see :func:`animation_format`).
        OutputError: a file cannot be written.
    """
    from .texture import DEFAULT_TEXTURE_SIZE, extract_texture

    path = Path(path)
    fmt = animation_format(path, fmt)
    animations = face_animations(recorder, face_model)
    if not animations:
        return []
    if fmt == "csv":
        return [write_animation_csv(path, animations)]
    layout = None
    if texture_size != 0:
        from .uv import load_uv_layout

        layout = load_uv_layout()
    written = []
    for k, animation in enumerate(animations):
        track = recorder.tracks[animation.track_id]
        texture = uv = None
        picked = track.texture_frame() if layout is not None else None
        if picked is not None:
            uv = layout.for_vertices(face_model.num_dense_vertices)
            texture = extract_texture(picked[0], picked[1], face_model.render_triangles, layout,
                                      texture_size or DEFAULT_TEXTURE_SIZE).image
        target = track_path(path, animation, k == 0)
        data = animation_glb(animation, face_model, texture, uv)
        with atomic_write(target) as temp:
            temp.write_bytes(data)
        written.append(target)
    return written


