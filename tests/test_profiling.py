"""Face profiling (large-pose synthesis): geometry of the new labels against what is rendered.

Everything runs on synthetic context images built here from the shipped face model, so no dataset
is needed; the renderer needs a headless OpenGL 3.3 context (Mesa's llvmpipe is enough).
"""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("scipy")

from frnet import geometry  # noqa: E402
from frnet.train.labels import CONTEXT_ROI, CONTEXT_SIZE  # noqa: E402
from frnet.train import profiling  # noqa: E402

FACE_GREEN = (0, 255, 0)
DOT_RED = (255, 0, 0)


@pytest.fixture(scope="module")
def renderer():
    try:
        instance = profiling.ProfileRenderer()
    except profiling.ProfilingError as exc:
        pytest.skip(f"no headless OpenGL: {exc}")
    yield instance
    instance.close()


def make_params(face_model, yaw_deg=10.0, pitch_deg=5.0, roll_deg=8.0, scale=0.57, seed=0) -> np.ndarray:
    """Parameters framing a random face in CONTEXT_ROI the way the label cache does."""
    rng = np.random.default_rng(seed)
    rotation = geometry.rotation_from_euler(*np.radians([yaw_deg, pitch_deg, roll_deg]))
    pose = geometry.compose_pose(np.float64(scale), rotation, np.array([60.5, 56.0, 0.0]))
    coeffs = rng.normal(0.0, 0.5, face_model.num_identity + face_model.num_expression)
    return np.concatenate([pose.reshape(-1), coeffs]).astype(np.float32)


def background(seed: int = 0) -> np.ndarray:
    """A smooth, colourful, never-green, never-pure-red texture."""
    y, x = np.mgrid[:CONTEXT_SIZE, :CONTEXT_SIZE].astype(np.float64)
    phase = np.random.default_rng(seed).uniform(0, 6.28, 3)
    red = 110 + 60 * np.sin(x / 9 + phase[0])
    green = 60 + 20 * np.sin((x + y) / 13 + phase[1])
    blue = 140 + 80 * np.cos(y / 7 + phase[2])
    return np.stack([red, green, blue], -1).clip(0, 255).astype(np.uint8)


def face_pixels(face_model, params) -> np.ndarray:
    """Dense face vertices of ``params`` in context pixels (x, y down, depth)."""
    return geometry.crop_to_image(face_model.vertices(params, dense=True), CONTEXT_ROI)


def face_mask(face_model, params) -> np.ndarray:
    """Pixels covered by the projected dense face (cv2 fill of every triangle, subpixel)."""
    points = face_pixels(face_model, params)[:, :2]
    polygons = np.round(points[face_model.render_triangles] * 16).astype(np.int32)
    mask = np.zeros((CONTEXT_SIZE, CONTEXT_SIZE), np.uint8)
    cv2.fillPoly(mask, list(polygons), 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def landmark_pixels(face_model, params) -> np.ndarray:
    return geometry.crop_to_image(face_model.landmarks68(params), CONTEXT_ROI)


def visible_landmarks(face_model, params, renderer, tolerance_px=1.5) -> np.ndarray:
    """Landmarks not hidden by the face itself (z-buffer of the face mesh alone)."""
    vertices = face_pixels(face_model, params)
    uv = np.zeros((len(vertices), 2), np.float32)
    depth = renderer.render(np.zeros((CONTEXT_SIZE, CONTEXT_SIZE, 3), np.uint8), vertices, uv,
                            face_model.render_triangles, with_depth=True).depth
    landmarks = landmark_pixels(face_model, params)
    cols = np.clip(np.round(landmarks[:, 0]).astype(int), 0, CONTEXT_SIZE - 1)
    rows = np.clip(np.round(landmarks[:, 1]).astype(int), 0, CONTEXT_SIZE - 1)
    return landmarks[:, 2] >= depth[rows, cols] - tolerance_px


def test_zero_turn_keeps_image_and_params(face_model, renderer):
    params = make_params(face_model)
    image = background()
    out_image, out_params = profiling.profile_face(image, params, face_model, 0.0, 0.0, renderer)
    assert np.array_equal(out_params, params)
    diff = np.abs(out_image.astype(int) - image.astype(int))
    assert diff.mean() < 1.0
    assert np.percentile(diff, 99) <= 3


def test_turn_changes_yaw_by_the_requested_amount(face_model, renderer):
    params = make_params(face_model, yaw_deg=10.0, pitch_deg=5.0, roll_deg=8.0)
    _, new_params = profiling.profile_face(background(), params, face_model, 30.0, 0.0, renderer)
    before = np.degrees(face_model.euler_angles(params))
    after = np.degrees(face_model.euler_angles(new_params))
    np.testing.assert_allclose(after - before, [30.0, 0.0, 0.0], atol=0.05)
    # Positive yaw turns the nose towards the image's right: the nose tip moves right of the face.
    nose_before, nose_after = landmark_pixels(face_model, params)[30], landmark_pixels(face_model, new_params)[30]
    centre_before = face_pixels(face_model, params)[:, 0].mean()
    centre_after = face_pixels(face_model, new_params)[:, 0].mean()
    assert nose_after[0] - centre_after > nose_before[0] - centre_before + 5
    # Identity and expression are untouched; scale too.
    assert np.array_equal(new_params[12:], params[12:])
    scale_before = geometry.decompose_pose(geometry.pose_matrix(params))[0]
    scale_after = geometry.decompose_pose(geometry.pose_matrix(new_params))[0]
    assert abs(scale_after - scale_before) < 1e-5


def test_pitch_turn_and_negative_yaw(face_model, renderer):
    params = make_params(face_model, yaw_deg=-15.0, pitch_deg=0.0, roll_deg=-5.0, seed=3)
    _, new_params = profiling.profile_face(background(), params, face_model, -50.0, 7.0, renderer)
    change = np.degrees(face_model.euler_angles(new_params) - face_model.euler_angles(params))
    np.testing.assert_allclose(change, [-50.0, 7.0, 0.0], atol=0.05)


@pytest.mark.parametrize("delta_yaw_deg", [30.0, 60.0])
def test_rendered_face_matches_new_params(face_model, renderer, delta_yaw_deg):
    params = make_params(face_model, yaw_deg=5.0, seed=1)
    image = background(1)
    image[face_mask(face_model, params)] = FACE_GREEN
    out_image, new_params = profiling.profile_face(image, params, face_model, delta_yaw_deg, 0.0, renderer)
    red, green, blue = (out_image[..., c].astype(int) for c in range(3))
    rendered_face = (green > 160) & (red < 90) & (blue < 90)
    expected = face_mask(face_model, new_params)
    iou = (rendered_face & expected).sum() / (rendered_face | expected).sum()
    assert iou > 0.9, f"IoU {iou:.3f}"


def test_landmark_dots_follow_the_new_labels(face_model, renderer):
    params = make_params(face_model, yaw_deg=8.0, pitch_deg=3.0, roll_deg=4.0, scale=0.75, seed=2)
    delta_yaw_deg = 20.0
    new_params = profiling.rotate_params(params, profiling.profile_rotation(params, delta_yaw_deg),
                                         profiling.head_centre(params, face_model))
    before, after = landmark_pixels(face_model, params), landmark_pixels(face_model, new_params)
    visible = visible_landmarks(face_model, new_params, renderer)
    assert visible.sum() >= 55
    # Paint well-separated groups of dots, one render per group, so every dot is unambiguous.
    remaining, checked = list(range(68)), 0
    while remaining:
        group = []
        for index in remaining:
            if all(np.linalg.norm(before[index, :2] - before[other, :2]) > 9.0 for other in group):
                group.append(index)
        remaining = [i for i in remaining if i not in group]
        image = np.full((CONTEXT_SIZE, CONTEXT_SIZE, 3), 120, np.uint8)
        for index in group:
            centre = tuple(int(v) for v in np.round(before[index, :2] * 16))
            cv2.circle(image, centre, 24, DOT_RED, -1, lineType=cv2.LINE_AA, shift=4)
        out_image, out_params = profiling.profile_face(image, params, face_model, delta_yaw_deg, 0.0, renderer)
        assert np.array_equal(out_params, new_params)
        redness = np.clip(out_image[..., 0].astype(float) - out_image[..., 1:].mean(-1), 0, None)
        for index in (i for i in group if visible[i]):
            x, y = after[index, :2]
            x0, y0 = int(round(x)) - 4, int(round(y)) - 4
            window = redness[y0:y0 + 9, x0:x0 + 9]
            assert window.sum() > 0, f"landmark {index}: no dot near ({x:.1f}, {y:.1f})"
            rows, cols = np.mgrid[y0:y0 + 9, x0:x0 + 9]
            found = np.array([(cols * window).sum(), (rows * window).sum()]) / window.sum()
            error = np.linalg.norm(found - [x, y])
            assert error < 2.0, f"landmark {index}: dot at {found}, label at ({x:.1f}, {y:.1f})"
            checked += 1
    assert checked == visible.sum()


def test_plan_views_turns_away_and_covers_large_yaw():
    rng = np.random.default_rng(0)
    yaw = np.concatenate([np.linspace(-35, 35, 500), [0.5, -0.5]])
    targets, pitches = profiling.plan_views(yaw, 2, 90.0, rng)
    assert targets.shape == pitches.shape == (len(yaw), 2)
    assert np.all(np.abs(targets) >= 30.0) and np.all(np.abs(targets) <= 90.0)
    turned = np.abs(yaw) > profiling.FRONTAL_YAW_DEG
    assert np.all(np.sign(targets[turned]) == np.sign(yaw[turned])[:, None])
    assert np.all(np.abs(targets) >= np.abs(yaw)[:, None])
    histogram = np.histogram(np.abs(targets), [30, 45, 60, 75, 90])[0]
    assert histogram.min() > 0.15 * histogram.sum()
    assert np.all(np.abs(pitches) <= profiling.MAX_PITCH_JITTER_DEG)


def test_plan_views_pitch_covers_pitch_and_keeps_bounds():
    rng = np.random.default_rng(0)
    yaw = rng.uniform(-40, 40, 2000)
    pitch = rng.uniform(-15, 15, 2000)
    targets, deltas = profiling.plan_views_pitch(yaw, pitch, 2, 90.0, 45.0, rng)
    final_pitch = pitch[:, None] + deltas
    assert targets.shape == deltas.shape == (2000, 2)
    assert np.all(np.abs(final_pitch) <= 45.0 + 1e-9) and np.all(np.abs(targets) <= 90.0)
    # Wide pitch coverage: every 15° pitch bin out to ±45° holds a fair share of the views.
    histogram = np.histogram(final_pitch, [-45, -30, -15, 0, 15, 30, 45])[0]
    assert histogram.min() > 0.08 * histogram.size and histogram.min() > 0.08 * histogram.sum() / 1.5
    # Pitch-only views keep their yaw; the others push it past 30°.
    kept = np.abs(targets - yaw[:, None]) < 15
    assert 0.25 < kept.mean() < 0.45
    assert np.all(np.abs(targets[~kept]) >= 30.0)


def test_build_profiled_writes_a_labelled_cache(face_model, tmp_path):
    params = np.stack([make_params(face_model, yaw_deg=y, seed=i) for i, y in enumerate([12.0, -20.0, 0.5])])
    contexts = np.stack([background(i) for i in range(3)])
    np.save(tmp_path / "context.npy", contexts)
    yaw = np.degrees(face_model.euler_angles(params)[:, 0]).astype(np.float32)
    np.savez(tmp_path / "labels.npz", params=params, human68=np.zeros((3, 68, 2), np.float32),
             split=np.array(["train", "val", "train"]), source=np.array(["a", "b", "c"]),
             name=np.array(["x.jpg", "y.jpg", "z.jpg"]), person=np.array(["p", "q", "r"]),
             fit_mesh_rms_mm=np.ones(3, np.float32), yaw_deg=yaw, synthetic=np.zeros(3, bool))
    summary = profiling.build_profiled(tmp_path, views_per_face=2, seed=1, face_model=face_model)
    assert summary["views"] == 6 and summary["train"] == 4 and summary["val"] == 2
    assert not list(tmp_path.glob("*.part"))
    images = np.load(tmp_path / profiling.PROFILED_CONTEXT_FILE)
    with np.load(tmp_path / profiling.PROFILED_LABELS_FILE) as data:
        labels = {key: data[key] for key in data.files}
    with np.load(tmp_path / "labels.npz") as data:
        assert sorted(labels) == sorted(set(data.files) | {"visibility"})
    assert (labels["visibility"] == 0).all()  # profiled views carry no human points
    assert images.shape == (6, CONTEXT_SIZE, CONTEXT_SIZE, 3) and images.dtype == np.uint8
    assert labels["synthetic"].all() and np.isnan(labels["human68"]).all()
    assert list(labels["split"]) == ["train", "train", "val", "val", "train", "train"]
    assert list(labels["person"]) == ["p", "p", "q", "q", "r", "r"]
    assert all(n.startswith(("x.jpg@yaw", "y.jpg@yaw", "z.jpg@yaw")) for n in labels["name"])
    new_yaw = np.degrees(face_model.euler_angles(labels["params"])[:, 0])
    np.testing.assert_allclose(labels["yaw_deg"], new_yaw, atol=1e-3)
    assert np.all((np.abs(new_yaw) >= 29.9) & (np.abs(new_yaw) <= 90.01))
    assert np.all(np.sign(new_yaw[:4]) == [1, 1, -1, -1])  # turned further the way they look
