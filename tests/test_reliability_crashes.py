"""Inputs that crashed frnet (segfault, abort or traceback) before issue 16: rows of docs/reliability.md.

Each case goes through the real ``frnet-app`` code path (``frnet.cli.main`` in-process, or a
subprocess where the old behaviour killed the process) and checks the exit code, the one message
and the files left. Fixtures are made here from the bundled sample clip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from frnet.video import VideoReader, read_image
from support import SAMPLE, assert_one_error_line, run_cli
from support import MODELS, write_bgr
from support import face_tile, out_files

REPO = Path(__file__).resolve().parents[1]
SHADERS = REPO / "shaders"
FAST = ("--renderer", "cpu", "--preset", "ultrafast")


def _gl_available() -> bool:
    try:
        from frnet.render import GLRenderer

        GLRenderer().close()
        return True
    except Exception:  # noqa: BLE001 - any reason means "no GL here"
        return False


needs_gl = pytest.mark.skipif(not _gl_available(), reason="no OpenGL 3.3 context (EGL/Mesa) on this machine")


def encode_clip(path: Path, frames: list[np.ndarray], rate: Fraction | int = 30, container_format: str | None = None) -> Path:
    """An H.264 clip of RGB ``frames`` written with PyAV directly (not frnet's writer)."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"threads": "1"}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# ------------------------------------------------------------------------------------------ videos


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])
def test_mov_and_mkv_outputs_are_written(capsys, tmp_path, suffix):
    """Every .mov output crashed: ``Container.options`` is read-only in PyAV >= 14."""
    out = tmp_path / f"out{suffix}"
    code, stdout, stderr = run_cli(capsys, "--video", SAMPLE, "--out", out, "--max-frames", 5, *FAST, "-q")
    assert code == 0, stderr
    with VideoReader(out) as reader:
        assert reader.size == (640, 480) and sum(1 for _ in reader) == 5
    assert out_files(tmp_path) == [out.name]
    if suffix == ".mov":  # written with the index first, as the writer promises
        data = out.read_bytes()
        assert data.find(b"moov") < data.find(b"mdat")


def test_resolution_change_mid_stream_is_scaled_to_the_first_size(capsys, tmp_path, sample_frames):
    """Two H.264 segments of different sizes in one MPEG-TS stream: the job used to fail on the
    first frame of the second size; now such frames are letterboxed to the first size."""
    small = [cv2.resize(f, (320, 240), interpolation=cv2.INTER_AREA) for f in sample_frames[:6]]
    first = encode_clip(tmp_path / "a.ts", small, container_format="mpegts")
    second = encode_clip(tmp_path / "b.ts", sample_frames[:6], container_format="mpegts")
    clip = tmp_path / "changes.ts"
    clip.write_bytes(first.read_bytes() + second.read_bytes())
    out = tmp_path / "out" / "o.mp4"
    code, stdout, stderr = run_cli(capsys, "--video", clip, "--out", out, *FAST)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "resolution changes" in stderr
    with VideoReader(out) as reader:
        assert reader.size == (320, 240)
        frames = [f.image_rgb for f in reader]
    assert len(frames) == 12
    # 640×480 into 320×240 keeps the aspect ratio: no bars, the picture fills the frame.
    assert frames[-1].mean() > 40 and frames[-1][:, :8].mean() > 10


def test_resolution_change_keeps_aspect_ratio_with_bars(tmp_path, sample_frames):
    wide = [np.ascontiguousarray(f[:240]) for f in sample_frames[:3]]  # 640×240
    first = encode_clip(tmp_path / "a.ts", [cv2.resize(f, (320, 240)) for f in sample_frames[:3]],
                        container_format="mpegts")
    clip = tmp_path / "c.ts"
    clip.write_bytes(first.read_bytes() + encode_clip(tmp_path / "b.ts", wide, container_format="mpegts").read_bytes())
    with VideoReader(clip) as reader:
        frames = [f.image_rgb for f in reader]
        assert reader.resized_frames == 3
    assert all(f.shape == (240, 320, 3) for f in frames)
    last = frames[-1].astype(int)
    # 640×240 fits 320×120: black bars of 60 rows above and below.
    assert last[:50].max() < 30 and last[-50:].max() < 30 and last[100:140].mean() > 40


def test_time_lapse_at_one_frame_per_5000_seconds(capsys, tmp_path, sample_frames):
    """``ZeroDivisionError`` before: the rate was rounded to a denominator of 1001, i.e. to 0."""
    clip = encode_clip(tmp_path / "lapse.mp4", sample_frames[:4], rate=Fraction(1, 5000))
    out = tmp_path / "out.mp4"
    code, stdout, stderr = run_cli(capsys, "--video", clip, "--out", out, *FAST)
    assert code == 0, stderr
    with VideoReader(out) as reader:
        assert reader.frame_rate == Fraction(1, 5000)
        assert sum(1 for _ in reader) == 4


# ------------------------------------------------------------------------------------------ images


def test_non_utf8_file_name_is_read(capsys, tmp_path, sample_frame):
    """``cv2.imread`` segfaulted on a name that is not valid UTF-8, killing the whole batch."""
    folder = tmp_path / "in"
    folder.mkdir()
    name = b"caf\xe9.png"  # Latin-1 bytes
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(sample_frame[:, :, ::-1]))
    with open(os.fsencode(folder) + b"/" + name, "wb") as handle:
        handle.write(encoded.tobytes())
    write_bgr(folder / "plain.png", sample_frame[:, :, ::-1])
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "--image", folder, "--out", out, "--renderer", "cpu")
    assert code == 0, stderr
    names = sorted(os.listdir(os.fsencode(out)))
    assert b"caf\xe9_overlay.png" in names and b"plain_overlay.png" in names
    assert read_image(Path(os.fsdecode(os.fsencode(folder) + b"/" + name))).shape == (480, 640, 3)
    from frnet.datasets import read_landmarks_csv

    rows = read_landmarks_csv(out / "landmarks68.csv")
    assert os.fsdecode(name) in rows and rows[os.fsdecode(name)] is not None  # the CSV names the file


@needs_gl
def test_photo_wider_than_the_gl_texture_limit_is_drawn_on_the_cpu(capsys, tmp_path, sample_frame):
    """A photo wider than ``GL_MAX_TEXTURE_SIZE`` (16,384 px on Mesa) raised ``ValueError``."""
    from frnet.render import GLRenderer

    with GLRenderer() as renderer:
        limit = renderer.max_frame_side
    if limit > 20_000:
        pytest.skip(f"this GL's texture limit is {limit} px; the test image would be too large")
    photo = np.full((1600, limit + 200, 3), 200, np.uint8)
    photo[:, 1000:2600] = face_tile(sample_frame, 1600)  # large enough to be found on the detector's copy
    path = write_bgr(tmp_path / "wide.png", photo[:, :, ::-1])
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(capsys, "--image", path, "--out", out, "--renderer", "gl")
    assert code == 0, stderr
    assert "over the OpenGL limit" in stderr and "Traceback" not in stderr
    overlay = read_image(out / "wide_overlay.png")
    assert overlay.shape == photo.shape
    assert np.abs(overlay[:, 1000:2600].astype(int) - photo[:, 1000:2600]).mean() > 2  # the mesh is drawn


# ------------------------------------------------------------------------------------------- cameras


@pytest.mark.parametrize("index", ["-1", "100", "99999999999999999999"])
@pytest.mark.parametrize("record", [True, False])
def test_camera_numbers_outside_the_bound_are_refused(capsys, tmp_path, monkeypatch, index, record):
    """``--webcam -1`` segfaulted inside OpenCV; a huge number raised ``OverflowError``."""
    def no_camera(*args):
        raise AssertionError("a camera must not be opened")

    monkeypatch.setattr(cv2, "VideoCapture", no_camera)
    import frnet.cli

    monkeypatch.setattr(frnet.cli, "launch_gui", no_camera, raising=False)
    out = ("--out", tmp_path / "rec.mp4") if record else ()
    code, _, stderr = run_cli(capsys, "--webcam", index, *out)
    assert code == 2
    assert_one_error_line(stderr, "0 to 99")
    assert out_files(tmp_path) == []


# ------------------------------------------------------------------------------------ the desktop app


def _desktop_app(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    return subprocess.run([sys.executable, "-m", "frnet.cli"], env=env, capture_output=True, text=True, timeout=120)


def _unserved_display() -> str:
    """An X display number nobody serves here (no socket in /tmp/.X11-unix)."""
    return next(f":{n}" for n in range(5871, 5999) if not Path(f"/tmp/.X11-unix/X{n}").exists())


@pytest.mark.parametrize("display", [None, "unserved"], ids=["no-display", "unreachable-display"])
def test_desktop_app_without_a_display_says_so_and_exits_2(display):
    """Qt aborted the process (SIGABRT, exit -6) when it found no display."""
    result = _desktop_app({"DISPLAY": _unserved_display() if display else None})
    assert result.returncode == 2, result.stderr
    assert_one_error_line(result.stderr, "display", "command-line jobs")


# ------------------------------------------------------------------------------ damaged installation


def _graph_with_outputs(path: Path, width: int) -> Path:
    """A valid ONNX graph with frnet's input, (batch, 3, 120, 120), and ``width`` outputs."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.zeros((3, width), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "w"], ["params"])],
        "wrong_width",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 120, 120])],
        [helper.make_tensor_value_info("params", TensorProto.FLOAT, ["batch", width])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _models_with(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for path in MODELS.iterdir():
        if path.is_file() and not path.name.endswith(".md"):
            shutil.copyfile(path, folder / path.name)
    (folder / name).unlink()
    return folder


def test_network_with_the_wrong_output_width_is_a_model_file_error(capsys, tmp_path, monkeypatch):
    """A graph giving 10 numbers per face raised a ``ValueError`` traceback in the face model."""
    models = _models_with(tmp_path, "mobilefrnet_v2_int8.onnx")
    _graph_with_outputs(models / "mobilefrnet_v2_int8.onnx", 10)
    monkeypatch.setenv("FRNET_MODELS_DIR", str(models))
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", out / "o.mp4", "--max-frames", 2, *FAST)
    assert code == 2
    assert_one_error_line(stderr, "mobilefrnet_v2_int8.onnx", "10 parameters", "62")
    assert out_files(out) == []


def _shaders_with_bad_bytes(tmp_path: Path) -> Path:
    folder = tmp_path / "shaders"
    shutil.copytree(SHADERS, folder)
    (folder / "mesh.vert").write_bytes(b"#version 330\n// \xff\xfe not UTF-8\n")
    return folder


@needs_gl
def test_shader_that_is_not_utf8_falls_back_to_the_cpu_renderer(capsys, tmp_path, monkeypatch):
    """``UnicodeDecodeError`` traceback before; now ``auto`` falls back to OpenCV, ``gl`` is one error."""
    monkeypatch.setenv("FRNET_SHADERS_DIR", str(_shaders_with_bad_bytes(tmp_path)))
    out = tmp_path / "o.mp4"
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", out, "--max-frames", 2, "--preset", "ultrafast")
    assert code == 0, stderr
    assert "OpenGL renderer unavailable" in stderr and "mesh.vert" in stderr and "Traceback" not in stderr
    assert out.is_file()
    out.unlink()
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", out, "--max-frames", 2, "--renderer", "gl")
    assert code == 2
    assert_one_error_line(stderr, "mesh.vert", "UTF-8")
    assert not out.exists()
