"""The frnet pipeline: frame → detections → ROIs → crops → parameters → faces.

One :class:`Pipeline` owns its stages (detector, regressor, face model, smoothing) and turns an RGB
frame into a :class:`FrameResult` of plain data; drawing and writing are the callers' business
(:mod:`frnet.render`, :mod:`frnet.export`), so the CLI and the GUI are thin shells over this.

Modes (``PipelineOptions.mode``):

* ``"image"`` — every frame is independent: detect, crop from the detector box, regress, then
  re-crop from the predicted landmarks and regress again (the network was trained on
  landmark-framed crops, so the second pass is better framed).
* ``"video"`` — faces are *tracked*: the next frame's ROI comes from this frame's landmarks (as
  3DDFA_V2 does), and the detector runs only every ``redetect_every`` frames or when no face is
  tracked, to pick up new faces and drop lost ones. The next ROI follows the *unsmoothed*
  landmarks, so smoothing never drags the crop behind a moving face; the output parameters are
  smoothed (:mod:`frnet.smoothing`, preset ``smoothing``: ``none``/``light``/``strong``). A frame
  in which a tracked face is lost runs the detector at once (and the next frames too until a face
  is found), so a face lost to blur or a fast turn is picked up again on the next frame it is
  visible. Call :meth:`Pipeline.reset` between unrelated videos.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import crop, geometry
from .detect import Detection, FaceDetector, create_detector
from .facemodel import FaceModel, load_face_model
from .files import check_rgb_image
from .regressor import PRECISIONS, Regressor, check_face_model_match
from .smoothing import DEFAULT_SMOOTHING, SMOOTHING_LEVELS, FaceSmoother
from .threads import cap_blas_threads

log = logging.getLogger(__name__)

STAGES = ("detect", "track", "crop", "infer", "reconstruct", "smooth")
MATCH_MIN_IOU = 0.2  # a detection continues a track when their ROIs overlap at least this much
ROI_DRIFT_LOG_RATIO = 0.15  # ≈ 16 % size difference between tracked and detected ROI → re-anchor
ROI_JUMP_LOG_RATIO = 0.25  # the tracked ROI changed size by ≈ 28 % in one frame → the detector checks it
MAX_MISSED_DETECTIONS = 3  # a track the detector misses this many times in a row is dropped
DUPLICATE_IOU = 0.5  # two tracks whose landmark ROIs overlap more than this are one face (the younger goes)


class _StageClock:
    """Wall time split over :data:`STAGES`: each :meth:`lap` charges the time since the previous
    one (or since the clock was made) to a stage, so the laps add up to the whole call."""

    def __init__(self) -> None:
        self.laps = dict.fromkeys(STAGES, 0.0)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] += (now - self._last) * 1e3
        self._last = now


@dataclass(frozen=True)
class PipelineOptions:
    """Everything that configures a :class:`Pipeline`; built alike by the CLI and the GUI.

    Attributes:
        mode: ``"image"`` or ``"video"`` (see the module doc).
        device: ``auto``/``cpu``/``cuda``/``tensorrt`` for ONNX Runtime.
        threads: ONNX Runtime intra-op threads (``None``: its default).
        precision: which shipped network graph: ``auto`` (int8 on the CPU, float32 on GPUs),
            ``fp32`` or ``int8`` (see :mod:`frnet.regressor`).
        detector: name in :data:`frnet.detect.DETECTORS`.
        min_detection_confidence: detector score threshold.
        max_faces: at most this many faces per frame (largest first).
        redetect_every: in video mode, run the detector every N frames (1 = every frame).
        min_face_px: faces whose ROI side is smaller are ignored (too small to reconstruct).
        smoothing: temporal smoothing of tracked faces (video mode): a name in
            :data:`frnet.smoothing.SMOOTHING_LEVELS` (``none``, ``light``, ``strong``); ``True``
            and ``False`` mean the default level and ``none``.
        dense: reconstruct the dense mesh (off: landmarks and pose only, faster).
    """

    mode: Literal["image", "video"] = "image"
    device: str = "auto"
    threads: int | None = None
    precision: str = "auto"
    detector: str = "blazeface"
    min_detection_confidence: float = 0.5
    max_faces: int = 8
    redetect_every: int = 10
    min_face_px: float = 24.0
    smoothing: str = DEFAULT_SMOOTHING
    dense: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.smoothing, bool):
            object.__setattr__(self, "smoothing", DEFAULT_SMOOTHING if self.smoothing else "none")
        if self.smoothing not in SMOOTHING_LEVELS:
            raise ValueError(f"smoothing must be one of {', '.join(SMOOTHING_LEVELS)}, not {self.smoothing!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', not {self.mode!r}")
        if self.redetect_every < 1:
            raise ValueError("redetect_every must be at least 1")
        if self.max_faces < 1:
            raise ValueError("max_faces must be at least 1")


@dataclass(frozen=True, eq=False)
class FaceResult:
    """One reconstructed face. Image-pixel arrays use x right, y down, depth larger = closer.

    Attributes:
        params: ``(62,)`` parameters relative to ``roi_box``.
        roi_box: ``(4,)`` the square crop the network saw.
        vertices: ``(N, 3)`` dense mesh in image pixels (``(0, 3)`` when ``dense`` is off).
        landmarks68: ``(68, 3)`` in image pixels.
        yaw_pitch_roll_deg: ``(3,)`` head pose in degrees (see :mod:`frnet.geometry`).
        score: the detector's score when the face was (re)detected.
        track_id: stable id of the face across a video (image mode: index in the frame).
    """

    params: np.ndarray
    roi_box: np.ndarray
    vertices: np.ndarray
    landmarks68: np.ndarray
    yaw_pitch_roll_deg: np.ndarray
    score: float
    track_id: int

    @property
    def box_xyxy(self) -> np.ndarray:
        """Bounding box of the 68 landmarks."""
        return np.concatenate([self.landmarks68[:, :2].min(axis=0), self.landmarks68[:, :2].max(axis=0)])


@dataclass(frozen=True, eq=False)
class FrameResult:
    """What the pipeline found in one frame. No face gives ``faces == []``.

    ``face_model`` is the model the faces were reconstructed with (its triangles and landmark
    indices are what drawing and mesh export need: ``frnet.draw``, ``frnet.export_mesh``).
    """

    frame_index: int
    timestamp_ms: int | None
    image_size: tuple[int, int]  # width, height
    faces: list[FaceResult]
    timings_ms: dict[str, float] = field(default_factory=dict)
    detector_ran: bool = False
    face_model: FaceModel | None = field(default=None, repr=False)


@dataclass
class _Track:
    track_id: int
    roi_box: np.ndarray
    score: float
    landmark_framed: bool = False  # the ROI comes from this track's own landmarks (not a detector box)
    smoother: FaceSmoother | None = None
    missed: int = 0  # consecutive detector runs that did not find this face
    verify: bool = False  # run the detector on the next frame to confirm this track
    reframed: bool = False  # this frame's ROI was re-anchored by the detector (not followed)


class Pipeline:
    """Frame → :class:`FrameResult`. Stages can be injected (tests, the GUI), else they are built.

    Raises (construction): ``ModelFileError``/``ResourceMissingError`` for missing or broken model
    files and for a network and face model that do not belong together
    (:func:`frnet.regressor.check_face_model_match`), ``DeviceUnavailableError`` for a forced device
    that is not installed.
    """

    def __init__(self, options: PipelineOptions = PipelineOptions(), face_model: FaceModel | None = None,
                 regressor: Regressor | None = None, detector: FaceDetector | None = None) -> None:
        cap_blas_threads()  # the reconstruct stage's small products run 25x slower on many BLAS threads
        self.options = options
        self.face_model = face_model if face_model is not None else load_face_model()
        self.regressor = regressor if regressor is not None else Regressor(
            device=options.device, threads=options.threads, precision=options.precision)
        check_face_model_match(self.regressor, self.face_model)
        self.detector = detector if detector is not None else create_detector(
            options.detector, min_confidence=options.min_detection_confidence,
            running_mode="video" if options.mode == "video" else "image")
        self.reset()

    # -- lifecycle --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget tracked faces (start of a new video)."""
        self._tracks: list[_Track] = []
        self._frame_index = 0
        self._next_track_id = 0
        self._last_timestamp_ms: int | None = None
        if hasattr(self.detector, "reset"):
            self.detector.reset()

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- the stages ---------------------------------------------------------------------------------
    def process(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> FrameResult:
        """Run all stages on one RGB frame (H, W, 3) uint8.

        ``FrameResult.timings_ms`` splits the call's whole wall time over :data:`STAGES` (every
        line of this method is counted in exactly one stage), so their sum is the frame's cost.

        Raises:
            ValueError: the frame is not a non-empty H×W×3 uint8 array (:func:`frnet.files.check_rgb_image`).
        """
        clock = _StageClock()
        frame_rgb = check_rgb_image(frame_rgb)
        video = self.options.mode == "video"
        if video and timestamp_ms is None:
            timestamp_ms = (self._last_timestamp_ms or 0) + 33 if self._frame_index else 0
        height, width = frame_rgb.shape[:2]

        # detect + track: decide this frame's ROIs.
        run_detector = (not video or not self._tracks or self._frame_index % self.options.redetect_every == 0
                        or any(t.missed or t.verify for t in self._tracks))
        detections: list[Detection] = []
        if run_detector:
            detections = self.detector(frame_rgb, timestamp_ms if video else None)
        clock.lap("detect")
        if video:
            tracks = self._update_tracks(detections, run_detector, width, height)
        else:
            tracks = [_Track(i, crop.roi_from_detection(d.box_xyxy), d.score) for i, d in
                      enumerate(self._largest(detections))]
        tracks = [t for t in tracks if (t.roi_box[2] - t.roi_box[0]) >= self.options.min_face_px]
        clock.lap("track")

        # crop + infer (+ a landmark-framed second pass for faces without a landmark ROI yet).
        params = self._regress([t.roi_box for t in tracks], frame_rgb, clock)
        fresh = [i for i, t in enumerate(tracks) if not t.landmark_framed]
        if fresh:
            landmarks = [self._landmarks_image(params[i], tracks[i].roi_box) for i in fresh]
            refined_rois = [crop.roi_from_landmarks(lm) for lm in landmarks]
            clock.lap("track")
            refined = self._regress(refined_rois, frame_rgb, clock)
            for k, i in enumerate(fresh):
                tracks[i].roi_box = refined_rois[k]
                params[i] = refined[k]

        # track: the unsmoothed landmarks frame the next crop (video) and measure the face's speed.
        raw_landmarks = [self._landmarks_image(p, t.roi_box) for t, p in zip(tracks, params)]
        next_rois = [crop.roi_from_landmarks(lm) for lm in raw_landmarks]
        if video and len(tracks) > 1:
            keep = self._distinct_faces(tracks, next_rois)
            tracks, raw_landmarks, next_rois = ([seq[i] for i in keep] for seq in (tracks, raw_landmarks, next_rois))
            params = params[keep]
        clock.lap("track")

        # smooth (video) in a frame-fixed ROI so ROI moves are not taken for motion.
        settings = SMOOTHING_LEVELS[self.options.smoothing]
        if video and settings is not None:
            frame_roi = np.array([0.0, 0.0, float(max(width, height)), float(max(width, height))])
            for i, track in enumerate(tracks):
                if track.smoother is None:
                    track.smoother = FaceSmoother(settings, self.face_model.num_identity)
                global_params = crop.reroi_params(params[i], track.roi_box, frame_roi)
                smoothed = track.smoother(global_params, raw_landmarks[i], timestamp_ms / 1000.0, track.reframed)
                params[i] = crop.reroi_params(smoothed, frame_roi, track.roi_box)
        clock.lap("smooth")

        # reconstruct.
        faces = []
        for track, p, next_roi in zip(tracks, params, next_rois):
            # Model space → image pixels in one float32 affine pass (the dense mesh is 7k vertices).
            matrix = geometry.model_to_image_matrix(geometry.pose_matrix(p), track.roi_box)
            landmarks = geometry.transform_points(self.face_model.landmarks_model(p), matrix)
            if self.options.dense:
                vertices = geometry.transform_points(self.face_model.shape(p, dense=True), matrix)
            else:
                vertices = np.zeros((0, 3), np.float32)
            angles = np.degrees(self.face_model.euler_angles(p))
            faces.append(FaceResult(params=p.astype(np.float32), roi_box=track.roi_box.astype(np.float64),
                                    vertices=vertices, landmarks68=landmarks,
                                    yaw_pitch_roll_deg=angles.astype(np.float32), score=float(track.score),
                                    track_id=track.track_id))
            if video:
                # A crop that suddenly grows or shrinks a lot has lost the face (blur, a fast turn,
                # an occluder): the detector checks it on the next frame instead of letting the
                # ROI collapse onto the background.
                change = abs(np.log((next_roi[2] - next_roi[0]) / (track.roi_box[2] - track.roi_box[0])))
                track.verify = track.verify or change > ROI_JUMP_LOG_RATIO
                track.roi_box = next_roi  # next frame's crop
                track.landmark_framed = True
                track.reframed = False
        if video:
            self._tracks = [t for t in tracks if self._inside(t.roi_box, width, height)]
            self._last_timestamp_ms = timestamp_ms
        result = FrameResult(self._frame_index, timestamp_ms, (width, height), faces, clock.laps, run_detector,
                             face_model=self.face_model)
        self._frame_index += 1
        clock.lap("reconstruct")  # result.timings_ms is this same dict
        return result

    def _regress(self, rois: list[np.ndarray], frame_rgb: np.ndarray, clock: _StageClock) -> np.ndarray:
        crops = np.stack([crop.crop_image(frame_rgb, roi) for roi in rois]) if rois else \
            np.zeros((0, geometry.CROP_SIZE, geometry.CROP_SIZE, 3), np.uint8)
        clock.lap("crop")
        params = self.regressor(crops) if len(rois) else np.zeros((0, self.face_model.num_params), np.float32)
        params = np.array(params, dtype=np.float32)
        clock.lap("infer")
        return params

    def _landmarks_image(self, params: np.ndarray, roi_box: np.ndarray, with_depth: bool = False) -> np.ndarray:
        points = geometry.crop_to_image(self.face_model.landmarks68(params), roi_box)
        return points if with_depth else points[:, :2]

    def _largest(self, detections: list[Detection]) -> list[Detection]:
        ordered = sorted(detections, key=lambda d: -(d.box_xyxy[2] - d.box_xyxy[0]) * (d.box_xyxy[3] - d.box_xyxy[1]))
        return ordered[: self.options.max_faces]

    def _update_tracks(self, detections: list[Detection], detector_ran: bool, width: int, height: int) -> list[_Track]:
        if not detector_ran:
            return self._tracks
        # Match detections to tracks by overlap of their ROIs, best pairs first (or, for a track
        # whose ROI went wrong, by its centre lying in the detection's ROI). A matched track keeps
        # its landmark ROI; an unmatched detection starts a new track unless it holds a tracked
        # face's centre (a second, looser box of the same face). A track the detector misses is
        # kept (it may be a blurred frame) and checked again on the next frame, up to
        # MAX_MISSED_DETECTIONS times.
        candidates = [(d, crop.roi_from_detection(d.box_xyxy)) for d in self._largest(detections)]
        pairs = sorted(((crop.box_iou(roi, t.roi_box), i, j) for i, (_, roi) in enumerate(candidates)
                        for j, t in enumerate(self._tracks)), reverse=True)
        match: dict[int, int] = {}  # detection index → track index
        for iou, i, j in pairs:
            if iou > MATCH_MIN_IOU and i not in match and j not in match.values():
                match[i] = j
        re_anchored: set[int] = set()
        for i, (_, roi) in enumerate(candidates):
            if i not in match:
                inside = [j for j, t in enumerate(self._tracks)
                          if j not in match.values() and self._centre_inside(t.roi_box, roi)]
                if inside:
                    match[i] = inside[0]
                    re_anchored.add(i)
        kept: list[_Track] = []
        for i, (detection, roi) in enumerate(candidates):
            if i in match:
                track = self._tracks[match[i]]
                track.score = detection.score
                track.missed, track.verify = 0, False
                # Landmark-framed ROIs feed back into themselves, so any size bias of the network
                # compounds frame after frame; the detector re-anchors the scale when it drifts
                # (a looser 42 % made fast turns 5 % less accurate on the temporal benchmark).
                drift = abs(np.log((track.roi_box[2] - track.roi_box[0]) / (roi[2] - roi[0])))
                if i in re_anchored or drift > ROI_DRIFT_LOG_RATIO:
                    track.roi_box = roi
                    track.landmark_framed = False
                    track.reframed = True
                kept.append(track)
        for i, (detection, roi) in enumerate(candidates):
            if i not in match and not any(self._centre_inside(t.roi_box, roi) for t in kept):
                kept.append(_Track(self._next_track_id, roi, detection.score))
                self._next_track_id += 1
        for j, track in enumerate(self._tracks):
            if j not in match.values():
                track.missed += 1
                if track.missed < MAX_MISSED_DETECTIONS and not track.verify:
                    kept.append(track)
        return kept

    @staticmethod
    def _distinct_faces(tracks: list[_Track], rois: list[np.ndarray]) -> list[int]:
        """Indices of the tracks to keep when two have converged onto one face.

        A detection the matching could not tie to a tracked face (a loose box, or one on a
        face-like patch of background) starts a track whose landmark-framed crop then slides onto
        the nearest real face within a few frames; from then on both tracks would report the same
        face twice. Two tracks whose landmark ROIs overlap more than ``DUPLICATE_IOU`` are one
        face: the older track (its smoothing state, its id) stays, the younger is dropped.
        """
        order = sorted(range(len(tracks)), key=lambda i: tracks[i].track_id)
        keep: list[int] = []
        for i in order:
            if all(crop.box_iou(rois[i], rois[j]) <= DUPLICATE_IOU for j in keep):
                keep.append(i)
        return sorted(keep)

    @staticmethod
    def _centre_inside(inner: np.ndarray, outer: np.ndarray) -> bool:
        cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
        return bool(outer[0] <= cx <= outer[2] and outer[1] <= cy <= outer[3])

    @staticmethod
    def _inside(roi: np.ndarray, width: int, height: int) -> bool:
        """A track whose ROI has mostly left the frame is dropped (the face is lost)."""
        x0, y0, x1, y1 = roi
        overlap_w = max(0.0, min(x1, width) - max(x0, 0.0))
        overlap_h = max(0.0, min(y1, height) - max(y0, 0.0))
        return overlap_w * overlap_h > 0.25 * (x1 - x0) * (y1 - y0)

