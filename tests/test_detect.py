"""Face detectors: the same checks for every registered detector (``DETECTORS``: the ``detector``
fixture and the ``name`` parameters run each test once per name), plus BlazeFace specifics."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from frnet.datasets import shared_data_dir
from frnet.detect import BLAZEFACE_MODEL, DETECTORS, Detection, FaceDetector, MediaPipeFaceDetector, create_detector
from frnet.errors import ModelFileError
from frnet.resources import resource_path
from frnet.video import VideoReader, read_image

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGES = (shared_data_dir() or REPO.parent / "shared" / "data") / "images"
SAMPLE_VIDEO = REPO / "assets" / "sample.mp4"

# Hand-marked face centres (x, y) in pixels. emma.jpg is a montage of three photos of one person.
FACES = {
    "emma.jpg": [(562, 685), (1883, 489), (3203, 611)],
    "trump_hillary.jpg": [(317, 269), (1133, 269)],
    "JianzhuGuo.jpg": [(213, 224)],
}

needs_shared = pytest.mark.skipif(
    not SHARED_IMAGES.is_dir(), reason=f"shared test images not found at {SHARED_IMAGES}"
)


@pytest.fixture(scope="module", params=sorted(DETECTORS))
def detector(request):
    with create_detector(request.param) as det:
        yield det


def _inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _gradient(height: int = 480, width: int = 640) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :] * np.linspace(0.3, 1, height)[:, None]
    return np.repeat(ramp.astype(np.uint8)[..., None], 3, axis=2)


@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(FACES))
def test_finds_each_face_in_photos(detector, name):
    image = read_image(SHARED_IMAGES / name)
    found = detector(image)
    centres = FACES[name]
    assert len(found) == len(centres), [d.box_xyxy for d in found]
    for x, y in centres:
        holders = [d for d in found if _inside((x, y), d.box_xyxy)]
        assert len(holders) == 1, f"face at ({x}, {y}) in {len(holders)} boxes"
        box = holders[0].box_xyxy
        centre = (box[:2] + box[2:]) / 2
        assert np.hypot(*(centre - (x, y))) < 0.35 * holders[0].width
    scores = [d.score for d in found]
    assert scores == sorted(scores, reverse=True)
    for det in found:
        assert 0.5 <= det.score <= 1.0
        assert (det.box_xyxy >= 0).all()
        assert det.box_xyxy[2] <= image.shape[1] and det.box_xyxy[3] <= image.shape[0]


@needs_shared
@pytest.mark.shared
def test_keypoints_lie_on_the_face(detector):
    (det,) = detector(read_image(SHARED_IMAGES / "JianzhuGuo.jpg"))
    if det.keypoints is None:
        pytest.skip(f"{detector!r} gives no keypoints")
    x0, y0, x1, y1 = det.box_xyxy
    eyes_nose_mouth = det.keypoints[:4]
    assert ((eyes_nose_mouth >= (x0, y0)) & (eyes_nose_mouth <= (x1, y1))).all()
    right_eye, left_eye = det.keypoints[0], det.keypoints[1]
    assert right_eye[0] < left_eye[0]  # the subject's right eye is on the image's left


@pytest.mark.parametrize(
    "image", [_gradient(), np.full((480, 640, 3), 128, np.uint8)], ids=["gradient", "uniform"]
)
def test_no_face_gives_empty_list(detector, image):
    assert detector(image) == []


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((48, 64), np.uint8),
        np.zeros((48, 64, 4), np.uint8),
        np.zeros((48, 64, 3), np.float32),
        np.zeros((0, 64, 3), np.uint8),
        [[0, 0, 0]],
    ],
    ids=["gray", "rgba", "float", "empty", "list"],
)
def test_rejects_non_rgb_uint8(detector, bad):
    with pytest.raises(ValueError):
        detector(bad)


def test_accepts_non_contiguous_views(detector):
    assert detector(_gradient()[::2, ::2]) == []


def test_unknown_detector_name_raises():
    with pytest.raises(ValueError, match="unknown face detector 'nope'"):
        create_detector("nope")


def test_bad_options_raise():
    with pytest.raises(ValueError):
        MediaPipeFaceDetector(min_confidence=1.5)
    with pytest.raises(ValueError):
        MediaPipeFaceDetector(running_mode="live")


def test_detection_is_immutable():
    det = Detection(np.array([1, 2, 3, 4]), 0.9, np.zeros((6, 2)))
    assert det.box_xyxy.dtype == np.float64 and det.width == 2 and det.height == 2
    with pytest.raises(ValueError):
        det.box_xyxy[0] = 5
    with pytest.raises(AttributeError):
        det.score = 0.1


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_takes_the_pipelines_options(name):
    """The pipeline builds detectors as create_detector(name, min_confidence=…, running_mode=…)."""
    for mode in ("image", "video"):
        with create_detector(name, min_confidence=0.5, running_mode=mode) as det:
            assert isinstance(det, FaceDetector)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_closed_detector_refuses_work(name):
    det = create_detector(name)
    det.close()
    det.close()
    with pytest.raises(RuntimeError):
        det(_gradient())


def test_shipped_model_matches_its_checksum():
    model = resource_path("models", BLAZEFACE_MODEL)
    expected = (model.parent / f"{BLAZEFACE_MODEL}.sha256").read_text().split()[0]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == expected
    assert (model.parent / "NOTICE-mediapipe.md").is_file()


def test_damaged_model_raises_model_file_error(tmp_path):
    broken = tmp_path / BLAZEFACE_MODEL
    broken.write_bytes(b"not a tflite model")
    with pytest.raises(ModelFileError, match=str(broken)):
        MediaPipeFaceDetector(model_path=broken)
    shutil.copyfile(resource_path("models", BLAZEFACE_MODEL), broken)
    (tmp_path / f"{BLAZEFACE_MODEL}.sha256").write_text("0" * 64 + "\n")
    with pytest.raises(ModelFileError, match="SHA-256"):
        MediaPipeFaceDetector(model_path=broken)


@needs_shared
@pytest.mark.shared
def test_small_face_in_large_frame_needs_tiles():
    """A ~100 px face in a 1920×1080 frame is below what the whole-frame pass can see."""
    photo = read_image(SHARED_IMAGES / "JianzhuGuo.jpg")
    small = cv2.resize(photo, None, fx=0.55, fy=0.55, interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 120, np.uint8)
    frame[600 : 600 + small.shape[0], 1300 : 1300 + small.shape[1]] = small
    face_x, face_y = 1300 + 213 * 0.55, 600 + 224 * 0.55
    with MediaPipeFaceDetector(tile_fallback=False) as plain:
        assert plain(frame) == []
    with MediaPipeFaceDetector() as tiled:
        (det,) = tiled(frame)
    assert _inside((face_x, face_y), det.box_xyxy)
    assert 60 < det.width < 160


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_video_mode_timestamps(name):
    frame = _gradient()
    with create_detector(name, running_mode="video") as det:
        assert det(frame, 0) == []
        assert det(frame, 33) == []
        assert det(frame, 33) == []  # repeated timestamp: moved past the previous one
        assert det(frame) == []  # no timestamp: the next one
        det.reset()
        assert det(frame, 0) == []


@pytest.mark.skipif(
    not SAMPLE_VIDEO.is_file(), reason="assets/sample.mp4 not built (scripts/make_sample_video.py)"
)
@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_sample_video_face_found_on_nearly_every_frame(name):
    hits = total = 0
    with VideoReader(SAMPLE_VIDEO) as reader, create_detector(name, running_mode="video") as det:
        for frame in reader:
            if frame.index % 4:
                continue
            found = det(frame.image_rgb, frame.timestamp_ms)
            hits += len(found) == 1
            total += 1
    assert total == 60
    assert hits / total >= 0.95
