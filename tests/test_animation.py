"""Face animation export: pose math, ``--anim-out`` end to end on the bundled clip, the files read
back by the Khronos glTF validator and by Blender (skipped with the reason when a client is missing)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from file_clients import blender_inspect, blender_python, gltf_validator, validate_gltf
from frnet import cli, geometry
from frnet.animation import (
    TARGET_SIGMAS,
    AnimationRecorder,
    camera_pose,
    face_animations,
    morph_weights,
    quaternion_from_rotation,
    rotation_from_quaternion,
    write_animation,
)
from frnet.facemodel import load_face_model
from frnet.gltf import accessor_array, read_glb
from frnet.pipeline import FaceResult, FrameResult
from frnet.video import VideoReader, VideoWriter

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample.mp4"
FRAMES = 24


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def test_quaternions_round_trip():
    rng = np.random.default_rng(3)
    angles = rng.uniform(-np.pi / 2, np.pi / 2, (200, 3))
    rotations = geometry.rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2])
    q = quaternion_from_rotation(rotations)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    assert (q[:, 3] >= 0).all()
    np.testing.assert_allclose(rotation_from_quaternion(q), rotations, atol=1e-12)


def test_camera_pose_reprojects_the_head_onto_the_image(model):
    # A face at yaw 30°, 2.1 px/mm in a 640×480 frame: the head origin must project through the
    # pinhole camera exactly where the weak-perspective model puts it, and nearby points closely.
    roi = np.array([[200.0, 100.0, 380.0, 280.0]])
    side = (roi[0, 2] - roi[0, 0]) / geometry.CROP_SIZE
    rotation = geometry.rotation_from_euler(np.radians(30.0), np.radians(-10.0), np.radians(5.0))
    pose = geometry.compose_pose(np.array(2.1 / side), rotation, np.array([55.0, 70.0, 10.0]))
    params = np.zeros((1, model.num_params))
    params[0, :12] = pose.reshape(-1)
    focal = 640.0
    r, t = camera_pose(params, roi, (640, 480), focal)
    np.testing.assert_allclose(r[0], rotation, atol=1e-9)
    points_mm = np.array([[0.0, 0.0, 0.0], [40.0, -30.0, 20.0]])
    weak = geometry.crop_to_image(geometry.model_to_crop(points_mm, pose), roi[0])
    camera = points_mm * 1e-3 @ rotation.T + t[0]
    pinhole = np.column_stack([319.5 + focal * camera[:, 0] / -camera[:, 2], 239.5 - focal * camera[:, 1] / -camera[:, 2]])
    np.testing.assert_allclose(pinhole[0], weak[0, :2], atol=1e-6)
    assert np.linalg.norm(pinhole[1] - weak[1, :2]) < 0.05 * np.linalg.norm(weak[1, :2] - weak[0, :2])


def test_morph_weights_are_signed_pairs_in_unit_range():
    weights = morph_weights(np.array([[2.0, -1.0, 0.0, 9.0]]))
    np.testing.assert_allclose(weights, [[2 / TARGET_SIGMAS, 0, 0, 1 / TARGET_SIGMAS, 0, 0, 1.0, 0]])


def _synthetic_recorder(model, frames: int = 5) -> AnimationRecorder:
    recorder = AnimationRecorder(keep_texture_frame=False)
    for k in range(frames):
        params = np.zeros(model.num_params, np.float32)
        params[:12] = geometry.compose_pose(np.array(0.9), geometry.rotation_from_euler(0.1 * k, 0.0, 0.0),
                                            np.array([60.0, 60.0, 0.0])).reshape(-1)
        params[12 + model.num_identity] = 0.5 * k - 1.0
        face = FaceResult(params=params, roi_box=np.array([100.0, 100.0, 220.0, 220.0]), vertices=np.zeros((0, 3)),
                          landmarks68=np.zeros((68, 3)), yaw_pitch_roll_deg=np.zeros(3), score=1.0, track_id=3)
        recorder.add(FrameResult(k, 40 * k, (320, 240), [face]))
    return recorder


def test_synthetic_animation_file_holds_the_keys(tmp_path, model):
    recorder = _synthetic_recorder(model)
    recorder.add(FrameResult(9, 80, (320, 240), []))  # a frame without faces changes nothing
    (path,) = write_animation(tmp_path / "face.glb", recorder, model)
    document, blob = read_glb(path.read_bytes())
    animation = document["animations"][0]
    samplers = {c["target"]["path"]: animation["samplers"][c["sampler"]] for c in animation["channels"]}
    np.testing.assert_allclose(accessor_array(document, blob, samplers["weights"]["input"]), [0, 0.04, 0.08, 0.12, 0.16],
                               atol=1e-7)
    weights = accessor_array(document, blob, samplers["weights"]["output"]).reshape(5, -1)
    np.testing.assert_allclose(weights[:, 0] - weights[:, 1], (0.5 * np.arange(5) - 1.0) / TARGET_SIGMAS, atol=1e-6)
    assert len(document["meshes"][0]["primitives"][0]["targets"]) == 2 * model.num_expression
    command, why = gltf_validator()
    if command is not None:
        (report,) = validate_gltf(path)
        assert (report["numErrors"], report["numWarnings"], report["numInfos"], report["numHints"]) == (0, 0, 0, 0), report


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """``--video SAMPLE --anim-out`` without ``--out``, as GLB and as CSV."""
    folder = tmp_path_factory.mktemp("anim")
    codes = [cli.main(["--video", str(SAMPLE), "--anim-out", str(folder / name), "--max-frames", str(FRAMES), "-q"])
             for name in ("face.glb", "face.csv")]
    with VideoReader(SAMPLE) as reader:
        timestamps_s = [frame.timestamp_ms / 1000 for _, frame in zip(range(FRAMES), reader)]
        fps = reader.fps
    return folder, codes, np.array(timestamps_s), fps


def test_anim_out_writes_one_glb_and_a_csv_without_a_video(sample_run, model):
    folder, codes, timestamps_s, _ = sample_run
    assert codes == [0, 0]
    assert sorted(p.name for p in folder.iterdir()) == ["face.csv", "face.glb"]  # no video, no temporary file
    document, blob = read_glb((folder / "face.glb").read_bytes())
    primitive = document["meshes"][0]["primitives"][0]
    assert accessor_array(document, blob, primitive["attributes"]["POSITION"]).shape == (model.num_dense_vertices, 3)
    names = document["meshes"][0]["extras"]["targetNames"]
    assert len(names) == len(primitive["targets"]) == 2 * model.num_expression
    animation = document["animations"][0]
    assert {c["target"]["path"] for c in animation["channels"]} == {"translation", "rotation", "weights"}
    samplers = {c["target"]["path"]: animation["samplers"][c["sampler"]] for c in animation["channels"]}
    times = accessor_array(document, blob, samplers["rotation"]["input"])
    np.testing.assert_allclose(times, timestamps_s, atol=1e-6)  # one key per frame at the video's times
    with open(folder / "face.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FRAMES and {r["track_id"] for r in rows} == {"0"}
    expression = np.array([[float(r[f"exp{k:02d}"]) for k in range(model.num_expression)] for r in rows])
    weights = accessor_array(document, blob, samplers["weights"]["output"]).reshape(FRAMES, -1)
    np.testing.assert_allclose(weights[:, 0::2] - weights[:, 1::2], np.clip(expression / TARGET_SIGMAS, -1, 1),
                               atol=1e-4)
    translation = accessor_array(document, blob, samplers["translation"]["output"])
    np.testing.assert_allclose(translation, [[float(r[c]) for c in ("tx_m", "ty_m", "tz_m")] for r in rows], atol=1e-4)
    assert (-3.0 < translation[:, 2]).all() and (translation[:, 2] < -0.2).all()  # a head in front of the camera
    assert "TEXCOORD_0" in primitive["attributes"] and document["images"]  # textured from a frontal frame


def test_animation_passes_the_khronos_validator(sample_run):
    command, why = gltf_validator()
    if command is None:
        pytest.skip(why)
    (report,) = validate_gltf(sample_run[0] / "face.glb")
    assert (report["numErrors"], report["numWarnings"], report["numInfos"], report["numHints"]) == (0, 0, 0, 0), report


def test_animation_imports_into_blender(sample_run, model):
    python, why = blender_python()
    if python is None:
        pytest.skip(why)
    folder, _, timestamps_s, fps = sample_run
    probe = [0, 7, FRAMES - 1]
    info = blender_inspect(folder / "face.glb", fps, sample_frames=probe)
    (mesh,) = info["meshes"]
    assert mesh["vertices"] == model.num_dense_vertices
    assert len(mesh["shape_keys"]) == 2 * model.num_expression and mesh["uv_layers"]
    (action,) = info["actions"]
    np.testing.assert_allclose(action["frame_range"], [timestamps_s[0] * fps, timestamps_s[-1] * fps], atol=0.5)
    with open(folder / "face.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for sample in info["samples"]:
        row = rows[sample["frame"]]
        values = np.array(sample["shape_key_values"])
        expected = np.array([float(row[f"exp{k:02d}"]) for k in range(model.num_expression)]) / TARGET_SIGMAS
        np.testing.assert_allclose(values[0::2] - values[1::2], np.clip(expected, -1, 1), atol=2e-3)
        # glTF (x, y up, z) is Blender's (x, -z, y up).
        np.testing.assert_allclose(sample["location"], [float(row["tx_m"]), -float(row["tz_m"]), float(row["ty_m"])],
                                   atol=1e-3)


def test_bad_anim_arguments_are_usage_errors(tmp_path, capsys):
    for argv, fragment in (
        (["--image", str(SAMPLE), "--out", str(tmp_path / "o"), "--anim-out", str(tmp_path / "f.glb")], "--anim-out is for --video"),
        (["--video", str(SAMPLE), "--anim-out", str(tmp_path / "f.txt")], ".glb or .csv"),
        (["--video", str(SAMPLE), "--anim-out", str(tmp_path / "f.glb"), "--anim-format", "csv"], "does not end in .csv"),
        (["--video", str(SAMPLE), "--anim-out", str(tmp_path / "f.glb"), "--landmarks-out", str(tmp_path / "f.glb")],
         "are the same file"),
        (["--video", str(SAMPLE)], "--out is required with --video (or --anim-out"),
        (["--video", str(SAMPLE), "--out", str(tmp_path / "v.mp4"), "--texture"], "--texture is for --image"),
    ):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists() and not (tmp_path / "f.glb").exists()


def test_video_without_faces_writes_no_animation(tmp_path, capsys):
    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, 10, (128, 96)) as writer:
        for _ in range(5):
            writer.write(np.full((96, 128, 3), 90, np.uint8))
    assert cli.main(["--video", str(blank), "--anim-out", str(tmp_path / "face.glb"), "-q"]) == 2
    assert "no face was tracked" in capsys.readouterr().err
    assert not (tmp_path / "face.glb").exists()


def test_face_animations_longest_track_first(model):
    recorder = _synthetic_recorder(model, 3)
    other = _synthetic_recorder(model, 5).tracks[3]
    recorder.tracks[7] = other
    assert [a.track_id for a in face_animations(recorder, model)] == [7, 3]
