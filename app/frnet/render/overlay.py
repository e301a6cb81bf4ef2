"""Landmarks and pose axes drawn with OpenCV on top of either renderer's output (RGB, in place)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .types import FaceDrawing, OverlayOptions

LANDMARK_COLOUR = (40, 230, 255)  # RGB, a light cyan that stands out on skin and on the mesh
LANDMARK_OUTLINE = (20, 40, 60)
AXIS_COLOURS = ((235, 40, 40), (40, 200, 60), (50, 90, 255))  # x red, y green, z blue (RGB)
_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel positions
_ONE = 1 << _SHIFT


def draw_overlays(image_rgb: np.ndarray, faces: Sequence[FaceDrawing], options: OverlayOptions) -> np.ndarray:
    """Draw what ``options`` asks for (landmarks, axes) over ``image_rgb`` in place and return it."""
    for face in faces:
        if options.axes:
            draw_axes(image_rgb, face)
        if options.landmarks:
            draw_landmarks(image_rgb, face)
    return image_rgb


def draw_landmarks(image_rgb: np.ndarray, face: FaceDrawing) -> None:
    """Small filled dots, sized from the landmarks' spread (so tiny faces get tiny dots)."""
    if face.landmarks68 is None or len(face.landmarks68) == 0:
        return
    points = face.landmarks68[:, :2]
    spread = float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))
    radius = float(np.clip(spread / 140.0, 1.0, 4.0))
    fixed = np.round(points * _ONE).astype(np.int32)
    outer, inner = int(round((radius + 0.8) * _ONE)), int(round(radius * _ONE))
    for x, y in fixed:
        cv2.circle(image_rgb, (int(x), int(y)), outer, LANDMARK_OUTLINE, -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(image_rgb, (int(x), int(y)), inner, LANDMARK_COLOUR, -1, cv2.LINE_AA, _SHIFT)


def axis_endpoints(face: FaceDrawing) -> np.ndarray | None:
    """``(3, 2)`` image-pixel tips of the x, y, z axes (orthographic; image y is down), or None."""
    if face.rotation is None or face.axes_origin is None or face.axes_length_px <= 0:
        return None
    directions = face.rotation.T[:, :2] * np.array([1.0, -1.0])  # row k: axis k's (x, y) in the image
    return face.axes_origin[None, :] + face.axes_length_px * directions


def draw_axes(image_rgb: np.ndarray, face: FaceDrawing) -> None:
    """x red, y green, z blue arrows; the axis pointing most towards the camera is drawn last."""
    tips = axis_endpoints(face)
    if tips is None:
        return
    thickness = int(np.clip(face.axes_length_px / 30.0, 2, 6))
    origin = tuple(int(v) for v in np.round(face.axes_origin * _ONE))
    for axis in np.argsort(face.rotation[2, :]):  # farthest first
        tip = tuple(int(v) for v in np.round(tips[axis] * _ONE))
        cv2.arrowedLine(image_rgb, origin, tip, AXIS_COLOURS[axis], thickness, cv2.LINE_AA, _SHIFT, 0.15)
