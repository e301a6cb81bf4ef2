"""Run frnet over annotated images under one crop protocol, for ``frnet-app eval --images``.

Two protocols, as the field reports them:

* ``detector`` — fully automatic, what users get: frnet's own face detector, then its usual crop
  and landmark-framed second pass. The face whose landmark box overlaps the ground truth's most is
  scored; an image with no such face counts as not detected.
* ``gt`` — the crop comes from the ground truth: the square ROI that frames the labelled points
  (:func:`frnet.crop.roi_from_landmarks`), then frnet's own second pass. This is the protocol behind
  the published AFLW2000-3D tables of the paper and of 3DDFA_V2 (there: a box from the 68 points).

The result is landmarks and head pose per image key, scored by :func:`frnet.evaluate.score`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from . import crop
from .detect import Detection, FaceDetector
from .errors import InputError
from .files import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

PROTOCOLS = ("detector", "gt")
MIN_MATCH_IOU = 0.1  # a detected face must overlap the ground truth's box this much to be scored


def gt_box(landmarks68: np.ndarray) -> np.ndarray:
    """Bounding box ``(x0, y0, x1, y1)`` of the labelled (finite) points."""
    known = np.isfinite(landmarks68).all(axis=1)
    pts = landmarks68[known]
    return np.concatenate([pts.min(axis=0), pts.max(axis=0)])


def best_match(candidates: list, boxes: list[np.ndarray], truth_box: np.ndarray):
    """The candidate whose box overlaps ``truth_box`` most (IoU ≥ ``MIN_MATCH_IOU``), else None."""
    best, best_iou = None, MIN_MATCH_IOU
    for candidate, box in zip(candidates, boxes):
        iou = crop.box_iou(box, truth_box)
        if iou >= best_iou:
            best, best_iou = candidate, iou
    return best


def detection_for_roi(roi: np.ndarray) -> Detection:
    """A detector box that :func:`frnet.crop.roi_from_detection` turns back into ``roi`` exactly."""
    side = float(roi[2] - roi[0])
    width = side / crop.DETECTOR_ROI_SCALE
    cx, cy = (roi[0] + roi[2]) / 2, (roi[1] + roi[3]) / 2 - crop.DETECTOR_ROI_SHIFT_Y * width
    return Detection(np.array([cx - width / 2, cy - width / 2, cx + width / 2, cy + width / 2]), 1.0)


class GivenBoxes(FaceDetector):
    """A stand-in detector that returns the boxes it is given (the ``gt`` protocol)."""

    def __init__(self) -> None:
        self.boxes: list[Detection] = []

    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Detection]:
        return list(self.boxes)

    def close(self) -> None:
        pass


def find_images(folder: Path, keys: set[str]) -> dict[str, Path]:
    """``{stem: path}`` for the images in ``folder`` whose stem is a ground-truth key."""
    if not folder.is_dir():
        raise InputError(f"image folder {folder} not found")
    found = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in keys}
    if not found:
        raise InputError(f"{folder} holds no image whose file stem matches the ground truth")
    return found


def predict(images: dict[str, Path], ground_truth: dict, protocol: str, options=None):
    """Run frnet; returns ``({key: (68, 3) landmarks or None}, {key: (3,) yaw, pitch, roll degrees})``."""
    from .pipeline import Pipeline, PipelineOptions
    from .video import read_image

    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
    given = GivenBoxes() if protocol == "gt" else None
    options = options or PipelineOptions(mode="image", dense=False)
    with Pipeline(options, detector=given) as pipeline:
        return _predict_with(pipeline, images, ground_truth, given, read_image)


def _predict_with(pipeline, images, ground_truth, given, read_image):
    landmarks, poses = {}, {}
    for key, path in images.items():
        image = read_image(path)
        truth = ground_truth[key].landmarks68
        if given is not None:
            given.boxes = [detection_for_roi(crop.roi_from_landmarks(truth[np.isfinite(truth).all(axis=1)]))]
        faces = pipeline.process(image).faces
        best = best_match(faces, [face.box_xyxy for face in faces], gt_box(truth))
        landmarks[key] = None if best is None else np.asarray(best.landmarks68)
        if best is not None:
            poses[key] = np.asarray(best.yaw_pitch_roll_deg, np.float64)
    return landmarks, poses
