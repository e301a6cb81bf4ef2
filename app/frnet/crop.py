"""Square regions of interest (ROI) and 120×120 crops.

An ROI is ``(x0, y0, x1, y1)`` in image pixels, always square (``x1 - x0 == y1 - y0``), and may
extend past the image (the crop is padded with black there). The same rule turns 68 landmarks
into an ROI for training labels and for tracking at run time, so the network always sees faces
framed the way it was trained.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .geometry import CROP_SIZE

# Side of the ROI relative to the larger side of the 68-landmark box (the box misses the forehead).
ROI_SCALE = 1.5
# The ROI centre sits this fraction of the side above the landmark box centre (towards the forehead).
ROI_UPSHIFT = 0.08


def roi_from_landmarks(landmarks_xy: np.ndarray) -> np.ndarray:
    """Square ROI ``(4,)`` (or ``(B, 4)``) framing 68 landmarks ``(68, 2+)`` (or ``(B, 68, 2+)``)."""
    pts = np.asarray(landmarks_xy, dtype=np.float64)[..., :2]
    lo, hi = pts.min(axis=-2), pts.max(axis=-2)
    side = ROI_SCALE * (hi - lo).max(axis=-1)
    cx = (lo[..., 0] + hi[..., 0]) / 2
    cy = (lo[..., 1] + hi[..., 1]) / 2 - ROI_UPSHIFT * side
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=-1)


def roi_affine(roi_box: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """2×3 affine mapping image pixels to ``size``×``size`` crop pixels for one ROI."""
    x0, y0, x1, _ = (float(v) for v in roi_box)
    scale = size / (x1 - x0)
    return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])


def crop_image(image: np.ndarray, roi_box: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """Resample the ROI of ``image`` to ``size``×``size`` (bilinear; box-prefiltered when shrinking a lot)."""
    x0, _, x1, _ = (float(v) for v in roi_box)
    if (x1 - x0) / size > 2.5:
        return _crop_shrunk(image, roi_box, size)
    return cv2.warpAffine(image, roi_affine(roi_box, size), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _crop_shrunk(image: np.ndarray, roi_box: np.ndarray, size: int) -> np.ndarray:
    """A large ROI without aliasing: average ``k``×``k`` pixel blocks (``k`` = the whole part of the
    shrink factor; OpenCV's integer-factor area resize, one pass over the ROI), then bilinear for
    the remaining factor (< 2) with the ROI's exact sub-pixel geometry.

    Replaces an area resize of the whole (zero-padded) ROI, which cost 4–5× more for ROIs of
    300–400 px (0.6–0.9 → 0.14–0.18 ms) and framed the ROI to the nearest pixel only.
    """
    x0, y0, x1, _ = (float(v) for v in roi_box)
    side = x1 - x0
    k = int(side / size)
    h, w = image.shape[:2]
    gx0, gy0 = math.floor(x0), math.floor(y0)
    cols, rows = math.ceil((x1 - gx0) / k), math.ceil((y0 + side - gy0) / k)
    gx1, gy1 = gx0 + k * cols, gy0 + k * rows
    if gx0 >= 0 and gy0 >= 0 and gx1 <= w and gy1 <= h:
        region = image[gy0:gy1, gx0:gx1]
    else:  # the ROI leaves the image: pad with black, as warpAffine does
        region = np.zeros((k * rows, k * cols, *image.shape[2:]), dtype=image.dtype)
        sx0, sy0, sx1, sy1 = max(gx0, 0), max(gy0, 0), min(gx1, w), min(gy1, h)
        if sx1 > sx0 and sy1 > sy0:
            region[sy0 - gy0:sy1 - gy0, sx0 - gx0:sx1 - gx0] = image[sy0:sy1, sx0:sx1]
    blocks = block_means(region, k)
    # Block (i, j) is centred on image pixel (gx0 + k·j + (k-1)/2, gy0 + k·i + (k-1)/2).
    scale = size / side
    affine = np.array([[scale * k, 0.0, scale * (gx0 + (k - 1) / 2 - x0)],
                       [0.0, scale * k, scale * (gy0 + (k - 1) / 2 - y0)]])
    # The outermost output pixels sample up to half a block beyond the outer block centres: replicate
    # (the region already holds black wherever the ROI leaves the image).
    return cv2.warpAffine(blocks, affine, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def block_means(image: np.ndarray, k: int) -> np.ndarray:
    """Means of the ``k``×``k`` pixel blocks of ``image`` (its sides are multiples of ``k``), rounded
    like OpenCV's area resize.

    OpenCV's area resize has a fast path for ``k = 2`` only (0.02 ms for a 280 px ROI, but
    0.24–0.67 ms for ``k`` = 3–5 at 420–700 px, the size of a face filling a 640×480 frame). Odd
    ``k``: a ``k``×``k`` box blur anchored at each block's first pixel, read every ``k``-th pixel —
    the same numbers, 3–4× faster. Even ``k`` > 2: halve with the fast path, then ``k/2`` (each
    block mean within one grey level of the exact one).
    """
    if k == 1:
        return image
    rows, cols = image.shape[0] // k, image.shape[1] // k
    if k == 2:
        return cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
    if k % 2 == 0:
        return block_means(block_means(image, 2), k // 2)
    blurred = cv2.blur(image, (k, k), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(blurred[::k, ::k])


def reroi_params(params: np.ndarray, old_roi: np.ndarray, new_roi: np.ndarray) -> np.ndarray:
    """Re-express parameters fitted for ``old_roi`` relative to ``new_roi`` (same image).

    Crop space of an ROI is a scaled and shifted copy of the image (y up), so the pose is scaled by
    ``k = side_old / side_new`` and its translation shifted; shape coefficients are unchanged.
    """
    params = np.array(params, dtype=np.float64, copy=True)
    old_roi = np.asarray(old_roi, dtype=np.float64)
    new_roi = np.asarray(new_roi, dtype=np.float64)
    side_old = old_roi[..., 2] - old_roi[..., 0]
    side_new = new_roi[..., 2] - new_roi[..., 0]
    k = side_old / side_new
    pose = params[..., :12].reshape(*params.shape[:-1], 3, 4)
    pose *= k[..., None, None]
    pose[..., 0, 3] += (old_roi[..., 0] - new_roi[..., 0]) * CROP_SIZE / side_new
    pose[..., 1, 3] += CROP_SIZE * (1 - k) - (old_roi[..., 1] - new_roi[..., 1]) * CROP_SIZE / side_new
    params[..., :12] = pose.reshape(*params.shape[:-1], 12)
    return params.astype(np.float32)


# Detector box → ROI, calibrated so a BlazeFace box gives the ROI that roi_from_landmarks gives for
# the same face (median over 600 training faces; scripts/calibrate_detector_roi.py reproduces it:
# side/box width 1.40 (spread 0.09), centre offset dx 0.006, dy -0.064 box widths).
DETECTOR_ROI_SCALE = 1.40
DETECTOR_ROI_SHIFT_Y = -0.064


def roi_from_detection(box_xyxy: np.ndarray) -> np.ndarray:
    """Square ROI ``(4,)`` for a detector box ``(x0, y0, x1, y1)``, framed like :func:`roi_from_landmarks`."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    width = x1 - x0
    side = DETECTOR_ROI_SCALE * max(width, y1 - y0)
    cx = (x0 + x1) / 2
    cy = (y0 + y1) / 2 + DETECTOR_ROI_SHIFT_Y * width
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 when either is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
