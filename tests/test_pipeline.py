"""The pipeline on real photos and clips: faces found, sane geometry, tracking, reset, rendering.

The shipped network may be an interim one, so landmark *accuracy* is not asserted here — only
geometry a working pipeline must have (faces found, landmarks inside the detected face, shapes).
Tracking logic is checked with a stub regressor whose output is consistent with the ROI framing,
so it does not depend on the network's quality.
"""

from __future__ import annotations


import numpy as np
import pytest

from frnet import crop, geometry
from frnet.datasets import shared_data_dir
from frnet.pipeline import STAGES, FrameResult, Pipeline, PipelineOptions
from frnet.render.from_result import drawings_for

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/data is not present (read-only dev data)")
EXPECTED_FACES = {"emma.jpg": 3, "trump_hillary.jpg": 2, "JianzhuGuo.jpg": 1}
TRACK_CLIP = "WDA_AlexandriaOcasioCortez_000.mp4"  # 512², one talking face


def _image(name: str) -> np.ndarray:
    from frnet.video import read_image

    return read_image(SHARED / "images" / name)


def _clip_frames(name: str, count: int) -> list:
    from frnet.video import VideoReader

    frames = []
    with VideoReader(SHARED / "videos" / name) as reader:
        for frame in reader:
            frames.append(frame)
            if len(frames) == count:
                break
    return frames


@pytest.fixture(scope="module")
def image_pipeline(face_model):
    with Pipeline(PipelineOptions(mode="image"), face_model=face_model) as pipeline:
        yield pipeline


def _inside(points_xy: np.ndarray, box: np.ndarray, margin: float = 0.0) -> np.ndarray:
    pad = margin * (box[2] - box[0])
    return ((points_xy >= box[:2] - pad) & (points_xy <= box[2:] + pad)).all(axis=1)


# -- image mode -------------------------------------------------------------------------------------
@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED_FACES))
def test_image_mode_on_shared_photos(image_pipeline, face_model, name):
    image = _image(name)
    detections = image_pipeline.detector(image)
    result = image_pipeline.process(image)
    assert isinstance(result, FrameResult)
    assert result.image_size == (image.shape[1], image.shape[0])
    assert len(result.faces) == EXPECTED_FACES[name]
    assert result.timings_ms["infer"] > 0
    for face in result.faces:
        assert face.landmarks68.shape == (68, 3)
        assert face.vertices.shape == (face_model.num_dense_vertices, 3)
        assert face.params.shape == (62,)
        assert np.isfinite(face.vertices).all() and np.isfinite(face.yaw_pitch_roll_deg).all()
        # Every landmark lies inside the detector box of this face (with a 15 % margin for the chin
        # and brows, which BlazeFace's box can cut) and inside the ROI the network saw.
        landmarks = face.landmarks68[:, :2]
        centre = landmarks.mean(axis=0)
        box = min((d.box_xyxy for d in detections),
                  key=lambda b: np.abs((b[:2] + b[2:]) / 2 - centre).sum())
        assert _inside(landmarks, box, margin=0.15).all(), f"{name}: landmarks outside the detected face"
        assert _inside(landmarks, face.roi_box).all()
        # Most of the dense mesh projects inside the ROI too.
        assert _inside(face.vertices[:, :2], face.roi_box, margin=0.05).mean() > 0.95
    ids = [face.track_id for face in result.faces]
    assert ids == list(range(len(ids)))


@needs_shared
@pytest.mark.shared
def test_faces_are_batched_in_one_inference_call(face_model, monkeypatch):
    from frnet.regressor import Regressor

    calls = []
    original = Regressor.__call__

    def counting(self, crops):
        calls.append(len(crops))
        return original(self, crops)

    monkeypatch.setattr(Regressor, "__call__", counting)
    with Pipeline(PipelineOptions(mode="image"), face_model=face_model) as pipeline:
        pipeline.process(_image("emma.jpg"))
    assert calls == [3, 3]  # detector-framed pass, then landmark-framed pass: all faces together


def test_no_face_gives_an_empty_list(image_pipeline):
    rng = np.random.default_rng(0)
    image = rng.integers(90, 110, (240, 320, 3), dtype=np.uint8)
    result = image_pipeline.process(image)
    assert result.faces == []
    assert drawings_for(result, image_pipeline.face_model) == []


def test_bad_frame_is_a_value_error(image_pipeline):
    with pytest.raises(ValueError, match="uint8"):
        image_pipeline.process(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        image_pipeline.process(np.zeros((10, 10), np.uint8))


def test_options_are_checked():
    with pytest.raises(ValueError):
        PipelineOptions(mode="live")
    with pytest.raises(ValueError):
        PipelineOptions(redetect_every=0)
    with pytest.raises(ValueError):
        PipelineOptions(max_faces=0)


# -- video mode: tracking ---------------------------------------------------------------------------
class FramedRegressor:
    """Always predicts the same face, placed in the crop exactly as the ROI rule frames landmarks,
    so a tracked ROI is a fixed point (a perfectly self-consistent network)."""

    metadata: dict = {}

    def __init__(self, face_model) -> None:
        params = np.zeros(face_model.num_params)
        mean = face_model.mean_shape
        scale = 70.0 / float(np.ptp(mean[:, 0]))
        params[:12] = geometry.compose_pose(scale, np.eye(3), np.array([60.0, 60.0, 0.0])).reshape(12)
        landmarks = face_model.landmarks68(params)[:, :2]
        full_crop = np.array([0.0, 0.0, geometry.CROP_SIZE, geometry.CROP_SIZE])
        self.params = crop.reroi_params(params, full_crop, crop.roi_from_landmarks(landmarks)).astype(np.float32)
        self.num_params = face_model.num_params
        self.calls: list[int] = []

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        self.calls.append(len(crops))
        return np.tile(self.params, (len(crops), 1))


class CountingDetector:
    def __init__(self, inner) -> None:
        self.inner, self.calls, self.resets = inner, 0, 0

    def __call__(self, frame, timestamp_ms=None):
        self.calls += 1
        return self.inner(frame, timestamp_ms)

    def reset(self) -> None:
        self.resets += 1
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def track_frames():
    if SHARED is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    return _clip_frames(TRACK_CLIP, 45)


def test_stub_regressor_is_a_fixed_point(face_model):
    stub = FramedRegressor(face_model)
    roi = np.array([100.0, 50.0, 300.0, 250.0])
    landmarks = geometry.crop_to_image(face_model.landmarks68(stub.params), roi)
    np.testing.assert_allclose(crop.roi_from_landmarks(landmarks), roi, atol=1e-3)


@pytest.mark.shared
def test_video_mode_keeps_track_ids_and_honours_redetect_every(face_model, track_frames):
    from frnet.detect import create_detector

    stub = FramedRegressor(face_model)
    detector = CountingDetector(create_detector("blazeface", running_mode="video"))
    options = PipelineOptions(mode="video", redetect_every=5, smoothing=True)
    with Pipeline(options, face_model=face_model, regressor=stub, detector=detector) as pipeline:
        results = [pipeline.process(f.image_rgb, f.timestamp_ms) for f in track_frames]
    assert all(len(r.faces) == 1 for r in results)
    assert {r.faces[0].track_id for r in results} == {0}
    ran = [r.frame_index for r in results if r.detector_ran]
    assert ran == list(range(0, len(results), 5))
    assert detector.calls == len(ran)
    assert [r.frame_index for r in results] == list(range(len(results)))
    # Tracked frames crop once per face (no second, landmark-framed pass).
    assert stub.calls[:2] == [1, 1] and set(stub.calls[2:]) == {1}
    assert len(stub.calls) == len(results) + 1


@pytest.mark.shared
def test_reset_starts_a_new_video(face_model, track_frames):
    from frnet.detect import create_detector

    detector = CountingDetector(create_detector("blazeface", running_mode="video"))
    with Pipeline(PipelineOptions(mode="video", redetect_every=100), face_model=face_model,
                  regressor=FramedRegressor(face_model), detector=detector) as pipeline:
        first = [pipeline.process(f.image_rgb, f.timestamp_ms) for f in track_frames[:4]]
        resets_before = detector.resets
        pipeline.reset()
        again = [pipeline.process(f.image_rgb, f.timestamp_ms) for f in track_frames[:4]]
    assert detector.resets == resets_before + 1
    assert [r.detector_ran for r in first] == [True, False, False, False]
    assert [r.detector_ran for r in again] == [True, False, False, False]
    assert [r.frame_index for r in again] == [0, 1, 2, 3]
    assert again[0].faces[0].track_id == 0
    np.testing.assert_allclose(again[0].faces[0].roi_box, first[0].faces[0].roi_box)


@pytest.mark.shared
def test_video_mode_with_the_real_network_finds_the_face(face_model, track_frames):
    with Pipeline(PipelineOptions(mode="video", dense=False), face_model=face_model) as pipeline:
        results = [pipeline.process(f.image_rgb, f.timestamp_ms) for f in track_frames[:20]]
    assert sum(bool(r.faces) for r in results) >= 19
    for result in results:
        for face in result.faces:
            assert face.vertices.shape == (0, 3)  # dense off
            assert _inside(face.landmarks68[:, :2], np.array([0, 0, *result.image_size]), margin=0.05).all()
    drawings = drawings_for(results[-1], face_model)
    assert len(drawings) == len(results[-1].faces)
    assert all(len(d.triangles) == 0 and d.landmarks68 is not None for d in drawings)


# -- tracking that holds (scripted detector, self-consistent stub network) --------------------------
FACE_BOX = np.array([200.0, 150.0, 300.0, 250.0])  # where the scripted detector "sees" the face


class ScriptedDetector:
    """Returns, call after call, the boxes of a script (``None``: the face is not found)."""

    def __init__(self, script) -> None:
        self.script, self.calls = list(script), 0

    def __call__(self, frame, timestamp_ms=None):
        from frnet.detect import Detection

        boxes = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return [] if boxes is None else [Detection(np.asarray(b, float), 0.9) for b in boxes]

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def _track(face_model, per_frame_boxes, regressor=None, frames: int | None = None):
    """Run ``len(per_frame_boxes)`` blank frames; the detector's answer on frame k is
    ``per_frame_boxes[k]`` (only consulted when the pipeline runs it)."""
    frame = np.zeros((480, 640, 3), np.uint8)
    results = []

    class FrameAware(ScriptedDetector):
        def __call__(self, image, timestamp_ms=None):
            self.script = [per_frame_boxes[len(results)]]
            self.calls_at = getattr(self, "calls_at", []) + [len(results)]
            return super().__call__(image, timestamp_ms)

    detector = FrameAware([None])
    options = PipelineOptions(mode="video", redetect_every=10, smoothing="none", dense=False)
    with Pipeline(options, face_model=face_model, regressor=regressor or FramedRegressor(face_model),
                  detector=detector) as pipeline:
        for k in range(frames or len(per_frame_boxes)):
            results.append(pipeline.process(frame, 33 * k))
    return results, getattr(detector, "calls_at", [])


def test_a_missed_detection_keeps_the_track_and_checks_again_next_frame(face_model):
    script = [[FACE_BOX]] * 20
    script[10] = None  # a blurred frame: the detector misses the face on its scheduled run
    results, ran = _track(face_model, script)
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 0 for r in results)
    assert ran == [0, 10, 11]  # the miss is re-checked at once, then the schedule resumes


def test_a_lost_face_is_dropped_and_found_again_on_its_first_frame_back(face_model):
    script = [[FACE_BOX]] * 10 + [None] * 6 + [[FACE_BOX]] * 6
    results, ran = _track(face_model, script)
    with_face = [len(r.faces) for r in results]
    # kept through MAX_MISSED_DETECTIONS - 1 misses (frames 10, 11), gone from the third (12)
    assert with_face[:12] == [1] * 12 and with_face[12:16] == [0] * 4
    assert with_face[16:] == [1] * 6  # re-acquired on the first frame it is visible again
    assert ran[:8] == [0, 10, 11, 12, 13, 14, 15, 16]  # the detector runs every frame while lost
    side = results[-1].faces[0].roi_box[2] - results[-1].faces[0].roi_box[0]
    assert side == pytest.approx(results[5].faces[0].roi_box[2] - results[5].faces[0].roi_box[0], rel=0.02)


class CollapsingRegressor(FramedRegressor):
    """The stub network, but on one call it 'sees' a face a third of the size (no face in the crop)."""

    def __init__(self, face_model, collapse_call: int) -> None:
        super().__init__(face_model)
        self.collapse_call = collapse_call
        small = self.params.copy()
        small[:12] = crop.reroi_params(self.params, np.array([0.0, 0.0, 120.0, 120.0]),
                                       np.array([-120.0, -120.0, 240.0, 240.0]))[:12]
        self.small = small

    def __call__(self, crops):
        out = super().__call__(crops)
        if len(self.calls) == self.collapse_call:
            out[:] = self.small
        return out


def test_a_collapsing_crop_is_checked_by_the_detector_and_recovers(face_model):
    regressor = CollapsingRegressor(face_model, collapse_call=6)  # call 6 = frame 4 (2 calls on frame 0)
    results, ran = _track(face_model, [[FACE_BOX]] * 12, regressor=regressor)
    sides = [r.faces[0].roi_box[2] - r.faces[0].roi_box[0] if r.faces else 0.0 for r in results]
    assert ran[:2] == [0, 5]  # the jump on frame 4 has the detector check frame 5
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 0 for r in results)
    assert sides[-1] == pytest.approx(sides[2], rel=0.02)  # no collapse: back to the face's size


def test_a_second_looser_box_of_a_tracked_face_starts_no_track(face_model):
    centre = (FACE_BOX[:2] + FACE_BOX[2:]) / 2
    loose = np.concatenate([centre - 90.0, centre + 90.0])  # the same face, boxed 1.8x larger
    results, _ = _track(face_model, [[FACE_BOX]] * 10 + [[loose, FACE_BOX]] * 5)
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 0 for r in results)


class SquareFinder(FramedRegressor):
    """A stub network that finds the one bright square of a frame in its crop and predicts a face
    there (centre and size from the square's visible part), so a crop placed off the face slides
    onto it frame by frame, as the real network's landmark-framed crops do."""

    def __call__(self, crops):
        self.calls.append(len(crops))
        out = np.tile(self.params, (len(crops), 1)).astype(np.float64)
        full = np.array([0.0, 0.0, geometry.CROP_SIZE, geometry.CROP_SIZE])
        for k, image in enumerate(crops):
            ys, xs = np.nonzero(image[..., 0] > 128)
            if not len(xs):
                continue
            side = max(np.ptp(xs), np.ptp(ys)) + 1.0
            centre = np.array([(xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2])
            # the stub face fills the centred ROI the landmark rule gives; move and scale that ROI
            # onto the square (the square is SQUARE_SHARE of a well-framed crop)
            half = side / SQUARE_SHARE / 2
            roi = np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])
            out[k] = crop.reroi_params(self.params, roi, full)
        return out.astype(np.float32)


SQUARE_SHARE = 100.0 / 150.0  # a 100-px square (the scripted face box) in a 150-px ROI


def _square_clip(face_model):
    """Frames with one bright square (the face); the detector also boxes a spot beside it once."""
    frame = np.zeros((480, 640, 3), np.uint8)
    x0, y0, x1, y1 = FACE_BOX.astype(int)
    frame[y0:y1, x0:x1] = 255
    off = FACE_BOX + np.array([95.0, 0.0, 95.0, 0.0])  # a box beside the face: matches no track
    script = [[FACE_BOX]] * 10 + [[FACE_BOX, off]] + [[FACE_BOX]] * 9
    results: list = []

    class Scripted(ScriptedDetector):
        def __call__(self, image, timestamp_ms=None):
            self.script = [script[len(results)]]
            return super().__call__(image, timestamp_ms)

    options = PipelineOptions(mode="video", redetect_every=10, smoothing="none", dense=False)
    with Pipeline(options, face_model=face_model, regressor=SquareFinder(face_model),
                  detector=Scripted([None])) as pipeline:
        for k in range(len(script)):
            results.append(pipeline.process(frame, 33 * k))
    return results


def _same_face_twice(result) -> bool:
    boxes = [f.roi_box for f in result.faces]
    return any(crop.box_iou(a, b) > 0.5 for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_a_track_started_off_the_face_merges_into_the_tracked_one(face_model, monkeypatch):
    import frnet.pipeline as pipeline_module

    results = _square_clip(face_model)
    assert not any(_same_face_twice(r) for r in results)
    assert all(len(r.faces) == 1 and r.faces[0].track_id == 0 for r in results)
    # without the merge the same scene reports the face twice from the off-face detection on
    monkeypatch.setattr(pipeline_module, "DUPLICATE_IOU", 1.01)
    unmerged = _square_clip(face_model)
    assert [_same_face_twice(r) for r in unmerged] == [False] * 10 + [True] * 10


# -- crops ------------------------------------------------------------------------------------------
def test_area_crop_of_a_roi_whose_corners_round_differently():
    """Regression: x and y rounded separately made the area-averaged crop region non-square."""
    image = np.zeros((500, 500, 3), np.uint8)
    assert crop.crop_image(image, np.array([0.6, 0.4, 400.8, 400.6])).shape == (120, 120, 3)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7, 8])
def test_block_means_equal_opencvs_area_resize(k):
    """The fast block means: exactly OpenCV's area resize for odd k, within one grey level for
    even k (two rounding steps), on colour and grey images."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(k)
    for shape in [(k * 37, k * 41, 3), (k * 23, k * 19)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        expected = cv2.resize(image, (shape[1] // k, shape[0] // k), interpolation=cv2.INTER_AREA).astype(int)
        got = crop.block_means(image, k)
        assert got.shape == expected.shape and got.dtype == np.uint8
        worst = np.abs(got.astype(int) - expected).max()
        assert worst == 0 if k % 2 or k == 2 else worst <= 1


@pytest.mark.parametrize("roi", [(40.3, 25.7, 390.3, 375.7), (10.0, 20.0, 610.0, 620.0), (-60.5, -30.2, 250.5, 280.8),
                                 (200.2, 150.6, 1590.2, 1540.6)])
def test_shrinking_crop_matches_an_area_resize_of_the_exact_roi(roi):
    """Large ROIs (block means, then bilinear) give what an area resize of the ROI gives: the same
    framing to a fraction of a crop pixel and the same local means, outside the image black."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 256, (1600, 1700, 3), dtype=np.uint8), (0, 0), 6)
    image[700:720, 900:920] = 255  # a bright square to check the framing
    roi = np.array(roi)
    got = crop.crop_image(image, roi).astype(np.float64)
    # Reference: the ROI upsampled ×4 bilinearly, then area-averaged, aligned so that crop pixel u
    # is centred on image x0 + u·side/120 (roi_affine's and geometry.image_to_crop's convention).
    affine = crop.roi_affine(roi, 480)
    affine[:, 2] += 1.5
    big = cv2.warpAffine(image, affine, (480, 480), flags=cv2.INTER_LINEAR)
    expected = cv2.resize(big, (120, 120), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(got - expected).mean() < 3.0  # of 255; the image's local contrast is ~40

    def centroid(crop_image):  # of the bright square, in crop pixels
        weight = np.clip(crop_image.mean(-1) - 160, 0, None)
        rows, cols = np.indices(weight.shape)
        return np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()

    if roi[0] < 900 < roi[2] and roi[1] < 700 < roi[3]:
        assert np.abs(centroid(got) - centroid(expected)).max() < 0.3
    if roi[0] < 0:
        assert got[:5, :5].max() == 0  # padded region


# -- rendering: GL and CPU agree on a real frame ----------------------------------------------------
@needs_shared
@pytest.mark.shared
def test_gl_and_cpu_renderers_agree_on_a_real_frame(image_pipeline):
    from frnet.render import CPURenderer, GLRenderer, GLUnavailableError, OverlayOptions

    try:
        gl = GLRenderer()
    except GLUnavailableError as exc:
        pytest.skip(f"no OpenGL here: {exc}")
    frame = _clip_frames(TRACK_CLIP, 1)[0].image_rgb
    result = image_pipeline.process(frame)
    assert len(result.faces) == 1
    drawings = drawings_for(result, image_pipeline.face_model)
    options = OverlayOptions(landmarks=False, mesh=True, mesh_opacity=1.0)
    with gl, CPURenderer() as cpu:
        gl_out, cpu_out = gl.render(frame, drawings, options), cpu.render(frame, drawings, options)
    gl_mask = np.abs(gl_out.astype(int) - frame).sum(axis=2) > 0
    cpu_mask = np.abs(cpu_out.astype(int) - frame).sum(axis=2) > 0
    iou = (gl_mask & cpu_mask).sum() / (gl_mask | cpu_mask).sum()
    assert iou > 0.95
    both = gl_mask & cpu_mask
    assert np.abs(gl_out[both].astype(float).mean(axis=0) - cpu_out[both].astype(float).mean(axis=0)).max() < 10
    assert np.abs(gl_out.astype(int) - cpu_out)[both].mean() < 12


def test_stage_timings_split_the_whole_call(face_model):
    """``timings_ms`` charges every part of ``process`` to one stage: the stages add up to the
    call's wall time, and time spent inside the detector / the network lands in their stages."""
    import time

    class SlowDetector(ScriptedDetector):
        def __call__(self, frame, timestamp_ms=None):
            time.sleep(0.004)
            return super().__call__(frame, timestamp_ms)

    class SlowRegressor(FramedRegressor):
        def __call__(self, crops):
            time.sleep(0.003)
            return super().__call__(crops)

    frame = np.zeros((480, 640, 3), np.uint8)
    options = PipelineOptions(mode="video", redetect_every=3, smoothing="light")
    with Pipeline(options, face_model=face_model, regressor=SlowRegressor(face_model),
                  detector=SlowDetector([[FACE_BOX]])) as pipeline:
        for k in range(7):
            start = time.perf_counter()
            result = pipeline.process(frame, 33 * k)
            wall_ms = (time.perf_counter() - start) * 1e3
            timings = result.timings_ms
            assert set(timings) == set(STAGES)
            assert sum(timings.values()) == pytest.approx(wall_ms, rel=0.02, abs=0.3)
            assert (timings["detect"] >= 4.0) == result.detector_ran
            passes = 2 if k == 0 else 1  # the first frame also runs the landmark-framed pass
            assert timings["infer"] >= 3.0 * passes
            assert timings["reconstruct"] > 0 and timings["smooth"] > 0 and timings["track"] > 0
