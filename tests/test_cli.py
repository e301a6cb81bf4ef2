"""``frnet-app`` end to end: --video on a real clip, --image on the shared photos, errors, Ctrl-C.

Jobs run in-process through ``frnet.cli.main`` (fast); the Ctrl-C test runs a subprocess. The
network may be an interim one: only geometry a working product must have is asserted (faces
found, landmarks inside the face's box and the frame, counts, files, formats).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import av
import numpy as np
import pytest
import trimesh

from frnet import cli
from frnet.datasets import LANDMARK_CSV_HEADER, read_landmarks_csv, shared_data_dir
from frnet.facemodel import load_face_model
from support import FakeCamera, SAMPLE, assert_one_error_line, run_cli

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/data is not present (read-only dev data)")
CLIP = SHARED / "videos" / "WDA_AlexandriaOcasioCortez_000.mp4" if SHARED else None  # 512², 25 fps, AAC
LONG_CLIP = SHARED / "videos" / "driving_d6.mp4" if SHARED else None  # 1008 frames
PHOTOS = {"emma.jpg": 3, "trump_hillary.jpg": 2, "JianzhuGuo.jpg": 1}
VIDEO_FRAMES = 60
BENCH_STAGES = ("decode", "detect", "track", "crop", "infer", "reconstruct", "render", "encode")  # issue 4


def _inside(points_xy: np.ndarray, box, margin: float = 0.0) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    pad = margin * (box[2] - box[0])
    return ((points_xy >= box[:2] - pad) & (points_xy <= box[2:] + pad)).all(axis=1)


# -- --video -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def video_job(tmp_path_factory):
    if SHARED is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    folder = tmp_path_factory.mktemp("video")
    out, sidecar = folder / "out.mp4", folder / "faces.jsonl"
    code = cli.main(["--video", str(CLIP), "--out", str(out), "--landmarks-out", str(sidecar),
                     "--max-frames", str(VIDEO_FRAMES), "--axes", "--wireframe", "-q"])
    return code, folder, out, sidecar


@pytest.mark.shared
def test_video_keeps_frame_count_rate_size_and_audio(video_job):
    from frnet.video import VideoReader

    code, folder, out, _ = video_job
    assert code == 0
    with VideoReader(CLIP) as source, VideoReader(out) as result:
        assert result.size == source.size
        assert result.frame_rate == source.frame_rate
        frames = sum(1 for _ in result)
    assert frames == VIDEO_FRAMES
    with av.open(str(CLIP)) as source, av.open(str(out)) as result:
        assert bool(result.streams.audio) == bool(source.streams.audio)
        assert result.streams.video[0].codec_context.name == "h264"
    assert sorted(p.name for p in folder.iterdir()) == ["faces.jsonl", "out.mp4"]  # no temporary files


@pytest.mark.shared
def test_video_finds_faces_with_landmarks_inside_the_face_box(video_job):
    _, _, _, sidecar = video_job
    frames = [json.loads(line) for line in sidecar.read_text().splitlines()]
    assert [f["frame_index"] for f in frames] == list(range(VIDEO_FRAMES))
    with_faces = [f for f in frames if f["faces"]]
    assert len(with_faces) >= 0.95 * VIDEO_FRAMES
    for frame in with_faces:
        for face in frame["faces"]:
            landmarks = np.array(face["landmarks68"])[:, :2]
            assert landmarks.shape == (68, 2)
            assert _inside(landmarks, face["roi_box"]).all()
            assert _inside(landmarks, [0, 0, frame["width"], frame["height"]], margin=0.05).all()


@pytest.mark.shared
def test_video_summary_line(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--video", SAMPLE, "--out", tmp_path / "s.mp4", "--max-frames", 3,
                             "--no-mesh", "--renderer", "cpu")
    assert code == 0
    assert out.startswith(f"wrote {tmp_path / 's.mp4'}: 640x480 at 30.000 fps; 3 frames, faces in")
    assert "Traceback" not in err


# -- --image -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_job(tmp_path_factory):
    if SHARED is None:
        pytest.skip("../shared/data is not present (read-only dev data)")
    out = tmp_path_factory.mktemp("images")
    code = cli.main(["--image", str(SHARED / "images"), "--out", str(out), "-q"])
    return code, out


@pytest.mark.shared
def test_image_job_writes_every_output(image_job):
    code, out = image_job
    assert code == 0
    expected = {"landmarks68.csv"}
    for name, count in PHOTOS.items():
        stem = Path(name).stem
        expected |= {f"{stem}_overlay.png", f"{stem}_landmarks.json"} | {f"{stem}_face{k}.obj" for k in range(count)}
    assert {p.name for p in out.iterdir()} == expected  # and no temporary files


@pytest.mark.shared
def test_image_csv_has_the_dataset_columns_and_the_largest_face(image_job):
    _, out = image_job
    text = (out / "landmarks68.csv").read_text()
    assert text.splitlines()[0] == ",".join(LANDMARK_CSV_HEADER)
    rows = read_landmarks_csv(out / "landmarks68.csv")
    assert sorted(rows) == sorted(PHOTOS)
    for name, landmarks in rows.items():
        faces = json.loads((out / f"{Path(name).stem}_landmarks.json").read_text())["faces"]
        largest = max(faces, key=lambda f: f["roi_box"][2] - f["roi_box"][0])
        np.testing.assert_allclose(landmarks, np.array(largest["landmarks68"])[:, :2], atol=0.01)


@pytest.mark.shared
def test_image_json_landmarks_inside_the_face_box(image_job):
    from frnet.video import read_image

    _, out = image_job
    for name, count in PHOTOS.items():
        document = json.loads((out / f"{Path(name).stem}_landmarks.json").read_text())
        image = read_image(SHARED / "images" / name)
        assert document["image"] == name
        assert (document["width"], document["height"]) == (image.shape[1], image.shape[0])
        assert len(document["faces"]) == count
        for face in document["faces"]:
            landmarks = np.array(face["landmarks68"])
            assert landmarks.shape == (68, 3)
            assert _inside(landmarks[:, :2], face["roi_box"]).all()
            assert len(face["yaw_pitch_roll_deg"]) == 3 and len(face["params"]) == 62
        overlay = read_image(out / f"{Path(name).stem}_overlay.png")
        assert overlay.shape == image.shape
        assert not np.array_equal(overlay, image)  # something was drawn


@pytest.mark.shared
def test_image_meshes_reload_with_colours_in_the_documented_frame(image_job):
    from frnet.video import read_image

    _, out = image_job
    face_model = load_face_model()
    image = read_image(SHARED / "images" / "JianzhuGuo.jpg")
    mesh = trimesh.load(out / "JianzhuGuo_face0.obj", process=False, force="mesh")
    assert mesh.vertices.shape == (face_model.num_dense_vertices, 3)
    np.testing.assert_array_equal(mesh.faces, face_model.render_triangles)
    assert mesh.visual.kind == "vertex"
    colours = mesh.visual.vertex_colors[:, :3].astype(float)
    assert colours.std() > 5  # sampled from the photo, not one flat colour
    # x right, y up (flipped from image rows), z towards the camera: a frontal face's triangles face +z.
    document = json.loads((out / "JianzhuGuo_landmarks.json").read_text())
    roi = np.array(document["faces"][0]["roi_box"])
    height = image.shape[0]
    assert roi[0] - 1 <= mesh.vertices[:, 0].mean() <= roi[2] + 1
    assert height - 1 - roi[3] <= mesh.vertices[:, 1].mean() <= height - 1 - roi[1]
    assert np.sum(mesh.face_normals[:, 2] * mesh.area_faces) > 0


@needs_shared
@pytest.mark.shared
@pytest.mark.parametrize("fmt", ["ply", "glb"])
def test_image_mesh_formats(capsys, tmp_path, fmt):
    code, _, _ = run_cli(capsys, "--image", SHARED / "images" / "JianzhuGuo.jpg", "--out", tmp_path,
                         "--mesh-format", fmt, "--no-landmarks", "--renderer", "cpu")
    assert code == 0
    mesh = trimesh.load(tmp_path / f"JianzhuGuo_face0.{fmt}", process=False, force="mesh")
    assert len(mesh.vertices) == load_face_model().num_dense_vertices
    if fmt == "ply":
        assert mesh.visual.kind == "vertex"
    else:  # GLB: vertex colours as COLOR_0 under a PBR material (trimesh then reports a material)
        from frnet.gltf import read_glb

        document, _ = read_glb((tmp_path / "JianzhuGuo_face0.glb").read_bytes())
        attributes = document["meshes"][0]["primitives"][0]["attributes"]
        assert {"POSITION", "NORMAL", "COLOR_0"} <= set(attributes) and document["materials"]


@needs_shared
@pytest.mark.shared
def test_bad_image_is_reported_and_the_others_are_done(capsys, tmp_path):
    bad = tmp_path / "in" / "broken.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"not a jpeg at all")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "--image", SHARED / "images" / "JianzhuGuo.jpg", bad, "--out", out, "-q")
    assert code == 2
    assert_one_error_line(err, "broken.jpg")
    assert (out / "JianzhuGuo_overlay.png").is_file()
    assert not list(out.glob("broken*"))
    rows = read_landmarks_csv(out / "landmarks68.csv")
    assert rows["broken.jpg"] is None and rows["JianzhuGuo.jpg"].shape == (68, 2)


def test_image_without_a_face(capsys, tmp_path):
    from frnet.video import write_image_atomic

    blank = tmp_path / "in" / "wall.png"
    write_image_atomic(blank, np.full((200, 300, 3), 128, np.uint8))
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "--image", blank.parent, "--out", out, "--renderer", "cpu")
    assert code == 0
    assert "no face found" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["landmarks68.csv", "wall_landmarks.json", "wall_overlay.png"]
    assert read_landmarks_csv(out / "landmarks68.csv") == {"wall.png": None}
    assert json.loads((out / "wall_landmarks.json").read_text())["faces"] == []
    assert "1 images, 0 faces" in stdout


def test_images_sharing_a_stem_get_numbered_outputs(capsys, tmp_path):
    """The duplicate policy of the app's export too (frnet.files.unique_stems): x, x-2, …"""
    from frnet.video import write_image_atomic

    for path in (tmp_path / "a" / "x.png", tmp_path / "b" / "x.jpg"):
        write_image_atomic(path, np.full((100, 120, 3), 128, np.uint8))
    out = tmp_path / "out"
    code, _, _ = run_cli(capsys, "--image", tmp_path / "a", tmp_path / "b" / "x.jpg", tmp_path / "a" / "x.png",
                         "--out", out, "--renderer", "cpu", "-q")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["landmarks68.csv", "x-2_landmarks.json", "x-2_overlay.png",
                                                     "x_landmarks.json", "x_overlay.png"]
    assert json.loads((out / "x-2_landmarks.json").read_text())["image"] == "x.jpg"
    assert list(read_landmarks_csv(out / "landmarks68.csv")) == ["x.png", "x.jpg"]  # a file named twice: once


# -- errors ------------------------------------------------------------------------------------------
def test_unwritable_out_dir_writes_nothing(capsys, tmp_path):
    from frnet.video import write_image_atomic

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    write_image_atomic(tmp_path / "in" / "a.png", np.zeros((20, 20, 3), np.uint8))
    code, _, err = run_cli(capsys, "--image", tmp_path / "in" / "a.png", "--out", blocker / "out")
    assert code == 2
    assert_one_error_line(err, str(blocker))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "in"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_dir_writes_nothing(capsys, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code, _, err = run_cli(capsys, "--image", SAMPLE, "--out", locked)
        assert code == 2
        assert_one_error_line(err, "cannot write")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_video_output_equal_to_input_is_refused(capsys, tmp_path):
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(SAMPLE, clip)
    digest = hashlib.sha256(clip.read_bytes()).hexdigest()
    code, _, err = run_cli(capsys, "--video", clip, "--out", tmp_path / "." / "clip.mp4")
    assert code == 2
    assert_one_error_line(err, "is the input")
    assert hashlib.sha256(clip.read_bytes()).hexdigest() == digest
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_image_output_equal_to_input_folder_is_refused(capsys, tmp_path):
    from frnet.video import write_image_atomic

    write_image_atomic(tmp_path / "a.png", np.zeros((20, 20, 3), np.uint8))
    code, _, err = run_cli(capsys, "--image", tmp_path, "--out", tmp_path)
    assert code == 2
    assert_one_error_line(err, "is an input")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_missing_video(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--video", tmp_path / "nope.mp4", "--out", tmp_path / "o.mp4")
    assert code == 2
    assert_one_error_line(err, "nope.mp4")
    assert list(tmp_path.iterdir()) == []


def test_unavailable_device_names_the_fix(capsys, tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("CUDA is available here")
    code, _, err = run_cli(capsys, "--video", SAMPLE, "--out", tmp_path / "o.mp4", "--device", "cuda")
    assert code == 2
    assert_one_error_line(err, "onnxruntime-gpu")
    assert list(tmp_path.iterdir()) == []  # the writer's temporary file is gone too


def test_verbose_error_shows_the_traceback(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--video", tmp_path / "nope.mp4", "--out", tmp_path / "o.mp4", "-v")
    assert code == 2
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("frnet-app: error:")


def test_missing_camera(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--webcam", 97, "--out", tmp_path / "cam.mp4")
    assert code == 2
    assert_one_error_line(err, "camera 97")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("frames", "max_frames", "code"), [(1000, 4, 0), (3, 10, 2)])
def test_webcam_recording(capsys, tmp_path, monkeypatch, frames, max_frames, code):
    import cv2

    from frnet.video import VideoReader

    monkeypatch.setattr(cv2, "VideoCapture", lambda index: FakeCamera(index, frames))
    out = tmp_path / "rec.mp4"
    result, stdout, err = run_cli(capsys, "--webcam", 0, "--out", out, "--max-frames", max_frames,
                                  "--renderer", "cpu", "--no-mesh")
    assert result == code
    with VideoReader(out) as reader:  # kept in both cases
        assert reader.size == (640, 480) and reader.fps == 30.0
        assert sum(1 for _ in reader) == min(frames, max_frames)
    if code:
        assert_one_error_line(err, "stopped delivering frames after 3 frames", str(out))
    assert f"wrote {out}" in stdout


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--video", "x.mp4"], "--out is required"),
        (["--out", "x.mp4"], "--out needs a job"),
        (["--image", "a.jpg", "--out", "d", "--landmarks-out", "f.jsonl"], "--landmarks-out"),
        (["--video", "x.mp4", "--out", "y.mp4", "--mesh-opacity", "2"], "--mesh-opacity"),
    ],
)
def test_usage_errors(capsys, argv, fragment):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert_one_error_line(err, fragment)


def test_argparse_errors_and_help_return_codes(capsys):
    assert run_cli(capsys, "--max-frames", "0")[0] == 2
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "--mesh-format" in out and "--webcam" in out


# -- the desktop app and subcommands -----------------------------------------------------------------
def test_no_arguments_opens_the_desktop_app(monkeypatch):
    calls = []
    fake = types.ModuleType("frnet.gui.app")
    fake.run_app = lambda **kwargs: calls.append(kwargs) or 0
    monkeypatch.setitem(sys.modules, "frnet.gui.app", fake)
    assert cli.main([]) == 0
    assert cli.main(["--webcam", "1"]) == 0
    assert calls == [{}, {"camera": 1}]


def test_missing_desktop_app_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "frnet.gui.app", None)  # import fails
    code, _, err = run_cli(capsys)
    assert code == 2
    assert_one_error_line(err, "desktop app")


def test_subcommand_registry(monkeypatch, capsys):
    assert cli.SUBCOMMANDS["bench"] == "frnet.bench:main"
    fake = types.ModuleType("frnet_fake_eval")
    fake.main = lambda argv, prog: print(prog, argv) or 0
    monkeypatch.setitem(sys.modules, "frnet_fake_eval", fake)
    monkeypatch.setitem(cli.SUBCOMMANDS, "eval", "frnet_fake_eval:main")
    code, out, _ = run_cli(capsys, "eval", "--split", "val")
    assert code == 0 and out.strip() == "frnet-app eval ['--split', 'val']"


def test_bench_runs_and_writes_json(capsys, tmp_path):
    report = tmp_path / "bench.json"
    code, out, err = run_cli(capsys, "bench", "--clips", SAMPLE, "--frames", 4, "--warmup", 1, "--threads", 1,
                             "--sizes", "native", "320x240", "--renderer", "cpu", "--json", report,
                             "--peer-python", tmp_path / "no-python")
    assert code == 0, err
    data = json.loads(report.read_text())
    assert [(r["size"], r["width"], r["height"]) for r in data["runs"]] == [("native", 640, 480), ("320x240", 320, 240)]
    for run in data["runs"]:
        assert set(run["stages_ms"]) == set(BENCH_STAGES)
        assert run["frames"] == 4 and run["fps"] > 0
    assert data["regressor_ms"]["fp32 threads=1"]["batch1"] > 0 and data["regressor_ms"]["int8 threads=1"]["batch1"] > 0
    assert data["network"]["precision"] == "int8"  # auto on the CPU
    if data["reference_ms"]:  # the shared yardstick is present
        assert data["reference_ms"]["batch1"] > 0 and "mobilenetv2_62_120.onnx" in data["reference_note"]
        for graph in ("fp32", "int8"):
            ratio = data["reference_ratio"][graph]
            assert ratio["min"] <= ratio["median"] <= ratio["max"] and len(ratio["rounds"]) == 5
        assert "int8 graph / yardstick time" in out
    else:
        assert data["reference_note"].startswith("n/a: the shared yardstick") and "yardstick: n/a" in out
    assert [(f["size"], f["frames"]) for f in data["frame_loop"]] == [("native", 12), ("320x240", 12)]  # 3 rounds
    assert all(f["vs_peer"] is None for f in data["frame_loop"])  # no peer here
    for loop in data["frame_loop"]:
        assert loop["total_ms"][0] >= loop["stages_ms"]["infer"][0] > 0
    assert "frame loop before rendering" in out
    assert all(p["median_ms"] is None and "make build-env" in p["reason"] for p in data["peer"])
    assert "MediaPipe Face Mesh n/a" in out and "targets" in out


# -- Ctrl-C --------------------------------------------------------------------------------------------
@needs_shared
@pytest.mark.shared
def test_ctrl_c_leaves_no_output_and_exits_130(tmp_path):
    out, sidecar = tmp_path / "out.mp4", tmp_path / "faces.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "frnet.cli", "--video", str(LONG_CLIP), "--out", str(out),
         "--landmarks-out", str(sidecar), "--renderer", "cpu", "--no-mesh"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if any(p.stat().st_size > 0 for p in tmp_path.glob(".faces.*.tmp.jsonl")):  # frames are done
                break
            time.sleep(0.1)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert_one_error_line(stderr, "interrupted", str(out))
    assert list(tmp_path.iterdir()) == []  # neither the video, the JSON lines nor a temporary file


def test_missing_image_creates_no_output(capsys, tmp_path):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "--image", tmp_path / "nonexistent.jpg", "--out", out)
    assert code == 2
    assert_one_error_line(err, "nonexistent.jpg", "nothing was written")
    assert not out.exists()


def test_version_names_the_package_and_the_shipped_models(capsys):
    import frnet

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.splitlines()[0].startswith(f"frnet-app {frnet.__version__}")
    for name in ("Mobile-FRNet v2 (training epoch", "mobilefrnet_v2_int8.onnx", "mobilefrnet_v2.onnx",
                 "frnet_face_model_v1.npz"):
        assert name in out, name


def test_help_points_to_installed_docs_and_shows_them(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "frnet-app help cli" in out and "docs/cli.md" not in out.replace("\n", " ")
    code, out, _ = run_cli(capsys, "help")
    assert code == 0 and "cli" in out and "gui" in out
    code, out, _ = run_cli(capsys, "help", "cli")
    assert code == 0 and out.startswith("# ") and "--mesh-format" in out
    code, _, err = run_cli(capsys, "help", "nope")
    assert code == 2
    assert_one_error_line(err, "no documentation topic 'nope'")


def test_bench_defaults_work_outside_a_source_checkout(monkeypatch, capsys, tmp_path):
    from frnet import bench, datasets

    monkeypatch.setattr(datasets, "shared_data_dir", lambda: None)
    (clip,) = bench.default_clips()
    assert clip.name == "sample.mp4" and clip.is_file()  # the bundled sample
    monkeypatch.setattr(bench, "source_checkout", lambda: None)
    peer = bench.bench_peer(clip, "sample", "native", 2, 1)
    assert peer.median_ms is None and "source checkout" in peer.reason and "--no-peer" in peer.reason
    code, out, _ = run_cli(capsys, "bench", "--help")
    assert code == 0 and "lib/python" not in out and "bundled sample" in out


def test_desktop_app_without_a_display_is_one_clear_line_not_an_abort(monkeypatch, capsys):
    calls = []
    fake = types.ModuleType("frnet.gui.app")
    fake.run_app = lambda **kwargs: calls.append(kwargs) or 0
    monkeypatch.setitem(sys.modules, "frnet.gui.app", fake)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run_cli(capsys)
    assert code == 2 and calls == []
    assert_one_error_line(err, "desktop app cannot start", "no display", "xvfb-run", "doctor")
