"""Bad and unusual inputs through the real ``frnet-app`` code paths: images, outputs, models, Ctrl-C.

Each test is one or more rows of docs/reliability.md. Fixtures are built in ``tmp_path`` at test
time from the bundled sample clip (``assets/sample.mp4``: one face, found on every frame), so
nothing here needs ``../shared``. Jobs run in-process through ``frnet.cli.main`` like
tests/test_cli.py (helpers in tests/support.py); the memory bound and the Ctrl-C rows run a real
subprocess. The network may be an interim one: only faces found, counts, sizes, files and messages
are asserted, never accuracy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from frnet.datasets import read_landmarks_csv
from frnet.video import VideoReader, read_image
from support import (
    FACE_BOX,
    FAKE_CAMERA_RUN,
    face_tile,
    interrupt_when,
    no_temp_files,
    out_files,
    FakeCamera,
    MODELS,
    MODEL_FILES,
    SAMPLE,
    UNWRITABLE,
    assert_one_error_line,
    make_image,
    models_copy,
    needs_unwritable,
    run_cli,
    write_bgr,
)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------- fixtures


def face_grid(frame: np.ndarray, count: int = 20, columns: int = 5, side: int = 160, gap: int = 20,
              margin: float = 0.25) -> tuple[np.ndarray, int]:
    """``count`` copies of the sample face on white, in cells of ``side + 2·gap`` pixels; returns
    the image and the cell size."""
    cell = side + 2 * gap
    rows = -(-count // columns)
    grid = np.full((rows * cell, columns * cell, 3), 255, np.uint8)
    tile = face_tile(frame, side, margin)
    for i in range(count):
        row, column = divmod(i, columns)
        grid[row * cell + gap: row * cell + gap + side, column * cell + gap: column * cell + gap + side] = tile
    return grid, cell


def landmarks_inside(points_xy: np.ndarray, box, margin_px: float = 0.0) -> bool:
    x0, y0, x1, y1 = box
    return bool(((points_xy[:, 0] >= x0 - margin_px) & (points_xy[:, 0] <= x1 + margin_px)
                 & (points_xy[:, 1] >= y0 - margin_px) & (points_xy[:, 1] <= y1 + margin_px)).all())


def image_job(capsys, path: Path, out: Path, *options) -> tuple[int, str, str, dict | None]:
    """``--image path --out out`` (OpenCV renderer, fast); returns code, stdout, stderr, the JSON."""
    code, stdout, stderr = run_cli(capsys, "--image", path, "--out", out, "--renderer", "cpu", *options)
    document = out / f"{path.stem}_landmarks.json"
    return code, stdout, stderr, json.loads(document.read_text()) if document.is_file() else None


# ------------------------------------------------------------------------------ unreadable images


@pytest.mark.parametrize("kind", ["empty", "random-bytes", "truncated-png"])
def test_unreadable_image_is_one_error_and_an_empty_csv_row(capsys, tmp_path, sample_frame, kind):
    path = make_image(kind, tmp_path / "in", sample_frame)
    out = tmp_path / "out"
    code, _, stderr, document = image_job(capsys, path, out)
    assert code == 2
    assert_one_error_line(stderr, "cannot read image", path.name)
    assert document is None
    assert out_files(out) == ["landmarks68.csv"]  # no overlay, mesh or JSON for it; no temporary file
    assert read_landmarks_csv(out / "landmarks68.csv") == {path.name: None}


def test_truncated_jpeg_is_decoded_as_far_as_it_goes(capsys, tmp_path, sample_frame):
    """libjpeg fills the missing rows grey; the visible part is processed (the face is in the top half)."""
    path = make_image("truncated-jpeg", tmp_path / "in", sample_frame)
    code, _, stderr, document = image_job(capsys, path, tmp_path / "out")
    assert code == 0 and "Traceback" not in stderr and "error" not in stderr
    assert (document["width"], document["height"]) == (640, 480)
    assert len(document["faces"]) == 1


# ----------------------------------------------------------------------------- unusual valid images


def test_one_pixel_image_is_no_face(capsys, tmp_path, sample_frame):
    path = make_image("1x1", tmp_path / "in", sample_frame)
    out = tmp_path / "out"
    code, stdout, stderr, document = image_job(capsys, path, out)
    assert code == 0
    assert "no face found in" in stderr and "error" not in stderr and "Traceback" not in stderr
    assert (document["width"], document["height"], document["faces"]) == (1, 1, [])
    assert read_image(out / "dot_overlay.png").shape == (1, 1, 3)
    assert read_landmarks_csv(out / "landmarks68.csv") == {"dot.png": None}  # empty cells
    assert out_files(out) == ["dot_landmarks.json", "dot_overlay.png", "landmarks68.csv"]
    assert "1 images, 0 faces" in stdout


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "16-bit", "cmyk-jpeg", "exif-rotated"])
def test_unusual_image_formats_are_read_upright_in_rgb(capsys, tmp_path, sample_frame, kind):
    path = make_image(kind, tmp_path / "in", sample_frame)
    out = tmp_path / "out"
    code, _, stderr, document = image_job(capsys, path, out)
    assert code == 0 and "Traceback" not in stderr and "warning" not in stderr
    # Upright 640×480 (the EXIF photo is stored 480×640) and with the colours of the original.
    image = read_image(path)
    assert image.shape == (480, 640, 3)
    tolerance = 20 if kind == "grayscale" else 4  # grey keeps luminance only; JPEG loses a little
    assert np.abs(image.astype(int) - sample_frame).mean() < tolerance
    assert (document["width"], document["height"]) == (640, 480)
    assert len(document["faces"]) == 1
    landmarks = np.array(document["faces"][0]["landmarks68"])[:, :2]
    assert landmarks_inside(landmarks, FACE_BOX, margin_px=30)
    assert read_landmarks_csv(out / "landmarks68.csv")[path.name].shape == (68, 2)
    assert f"{path.stem}_face0.obj" in out_files(out)


def test_8000_pixel_image_finishes_in_bounded_time_and_memory(tmp_path, sample_frame):
    """A 64-megapixel photo with the face pasted at (3000, 3000)–(5000, 5000): the detector works on
    a downsized copy. Run in a subprocess to measure its own peak memory."""
    big = np.full((8000, 8000, 3), 200, np.uint8)
    big[3000:5000, 3000:5000] = face_tile(sample_frame, 2000)
    path = write_bgr(tmp_path / "in" / "huge.jpg", big[:, :, ::-1])
    del big
    out = tmp_path / "out"
    probe = textwrap.dedent("""
        import json, resource, sys, time
        from frnet import cli
        start = time.perf_counter()
        code = cli.main(sys.argv[1:])
        print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    """)
    done = subprocess.run([sys.executable, "-c", probe, "--image", str(path), "--out", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    # Measured 6–8 s and 1.0 GB (OpenCV renderer) / 1.6 GB (OpenGL) on a 2-core machine busy training:
    # an 8000×8000 RGB image is 192 MB per copy. The bounds leave room for a slower CI machine.
    assert report["seconds"] < 120, report
    assert report["peak_rss_mb"] < 3000, report
    document = json.loads((out / "huge_landmarks.json").read_text())
    assert (document["width"], document["height"]) == (8000, 8000)
    assert len(document["faces"]) == 1
    assert landmarks_inside(np.array(document["faces"][0]["landmarks68"])[:, :2], (3000, 3000, 5000, 5000))


# ------------------------------------------------------------------------------------------ 20 faces


def _cells(document: dict, cell: int) -> set[tuple[int, int]]:
    """The grid cells holding each face's landmark centre."""
    centres = [np.array(face["landmarks68"])[:, :2].mean(axis=0) for face in document["faces"]]
    return {(int(y // cell), int(x // cell)) for x, y in centres}


def test_twenty_faces_are_all_found_and_max_faces_caps_them(capsys, tmp_path, sample_frame):
    grid, cell = face_grid(sample_frame)  # 1000×800, faces about 90 px wide with 50 px between them
    path = write_bgr(tmp_path / "in" / "crowd.png", grid[:, :, ::-1])
    code, stdout, _, document = image_job(capsys, path, tmp_path / "all", "--max-faces", "20")
    assert code == 0
    assert len(document["faces"]) == 20
    assert len(_cells(document, cell)) == 20  # one face per cell, none twice
    assert len(list((tmp_path / "all").glob("crowd_face*.obj"))) == 20
    assert "20 faces" in stdout
    code, _, _, document = image_job(capsys, path, tmp_path / "default")
    assert code == 0 and len(document["faces"]) == 8  # --max-faces defaults to 8
    code, _, _, document = image_job(capsys, path, tmp_path / "one", "--max-faces", "1")
    assert code == 0 and len(document["faces"]) == 1
    assert read_landmarks_csv(tmp_path / "one" / "landmarks68.csv")["crowd.png"].shape == (68, 2)


@pytest.mark.xfail(strict=True, reason="known limitation (docs/reliability.md): when the whole-frame pass finds "
                   "some faces, the tile search that would find the rest is skipped (frnet.detect)")
def test_twenty_faces_packed_edge_to_edge(capsys, tmp_path, sample_frame):
    grid, _ = face_grid(sample_frame, side=160, gap=0, margin=0.1)  # 800×640, faces touching
    path = write_bgr(tmp_path / "in" / "packed.png", grid[:, :, ::-1])
    code, _, _, document = image_job(capsys, path, tmp_path / "out", "--max-faces", "20")
    assert code == 0
    assert len(document["faces"]) == 20


# -------------------------------------------------------------------------------------------- outputs


@needs_unwritable
@pytest.mark.parametrize("job", ["image", "video", "landmarks-out", "webcam"])
def test_unwritable_output_is_refused_before_processing(capsys, tmp_path, monkeypatch, sample_frame, job):
    """Also as root (for whom a read-only folder is writable; tests/test_cli.py covers that case
    for other users)."""
    import cv2 as cv2_module

    monkeypatch.setattr(cv2_module, "VideoCapture", lambda index: FakeCamera(index))
    image = make_image("grayscale", tmp_path / "in", sample_frame)
    argv = {
        "image": ["--image", image, "--out", UNWRITABLE / "frnet-reliability-out"],
        "video": ["--video", SAMPLE, "--out", UNWRITABLE / "frnet-reliability.mp4"],
        "landmarks-out": ["--video", SAMPLE, "--out", tmp_path / "out" / "ok.mp4",
                          "--landmarks-out", UNWRITABLE / "frnet-reliability.jsonl"],
        "webcam": ["--webcam", 0, "--out", UNWRITABLE / "frnet-reliability.mp4", "--max-frames", 3],
    }[job]
    code, _, stderr = run_cli(capsys, *argv, "--renderer", "cpu")
    assert code == 2
    assert_one_error_line(stderr, "cannot write", str(UNWRITABLE / "frnet-reliability"))
    assert out_files(tmp_path / "out") == []  # nothing, not even the video that could have been written
    assert not list(UNWRITABLE.glob("frnet-reliability*"))


def test_output_equal_to_the_input_is_refused(capsys, tmp_path, sample_frame):
    image = make_image("grayscale", tmp_path, sample_frame)
    clip = tmp_path / "clip.mp4"
    shutil.copyfile(SAMPLE, clip)
    os.link(clip, tmp_path / "same_clip.mp4")  # another name for the same file
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    cases = [
        (["--image", image, "--out", image], "is an input"),
        (["--video", clip, "--out", tmp_path / "same_clip.mp4"], "is the input video"),
        (["--video", clip, "--out", tmp_path / "o.mp4", "--landmarks-out", clip], "is the input video"),
        (["--video", clip, "--out", tmp_path / "o.mp4", "--landmarks-out", tmp_path / "o.mp4"], "the same file"),
    ]
    for argv, fragment in cases:
        code, _, stderr = run_cli(capsys, *argv)
        assert code == 2, argv
        assert_one_error_line(stderr, fragment)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched, nothing added


def test_camera_that_opens_but_gives_no_frames(capsys, tmp_path, monkeypatch):
    import cv2 as cv2_module

    monkeypatch.setattr(cv2_module, "VideoCapture", lambda index: FakeCamera(index, frames=0))
    code, _, stderr = run_cli(capsys, "--webcam", 3, "--out", tmp_path / "rec.mp4")
    assert code == 2
    assert_one_error_line(stderr, "camera 3", "no frames")
    assert out_files(tmp_path) == []


# --------------------------------------------------------------------------------------- model files


# ... and the float32 graph, loaded with --precision fp32 (and on GPUs).
PRECISION_OF = {"mobilefrnet_v2.onnx": "fp32"}


@pytest.mark.parametrize(("name", "damage"), [(n, d) for n in [*MODEL_FILES, *PRECISION_OF] for d in ("missing", "truncated")]
                         + [("face_detection_short_range.tflite", "truncated-unchecked")])
def test_missing_or_corrupt_model_file(capsys, tmp_path, monkeypatch, name, damage):
    if not (MODELS / name).is_file():
        pytest.skip(f"models/{name} is not in this checkout")
    monkeypatch.setenv("FRNET_MODELS_DIR", str(models_copy(tmp_path / "models", name, damage)))
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "--video", SAMPLE, "--out", out / "o.mp4", "--max-frames", 1,
                              "--precision", PRECISION_OF.get(name, "auto"))
    assert code == 2
    assert_one_error_line(stderr, name)
    assert out_files(out) == []  # the writer's temporary file is gone too


# --------------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_while_recording_a_webcam_keeps_a_playable_file(tmp_path, sample_frame):
    """The documented way to stop ``--webcam N --out FILE``: the recording so far is kept, exit 0.

    The camera never stops, so the Ctrl-C always finds the recording running; the CLI turns it into
    a stop request that the frame loop honours after the current frame (``jobs.ctrl_c_requests_stop``),
    so it cannot land inside the encoder hand-off's lock and hang the job."""
    frame = write_bgr(tmp_path / "frame.png", sample_frame[:, :, ::-1])
    flag, out = tmp_path / "flowing", tmp_path / "rec" / "rec.mp4"
    process = subprocess.Popen([sys.executable, "-c", FAKE_CAMERA_RUN, str(frame), str(flag), "--webcam", "0",
                                "--out", str(out), "--renderer", "cpu", "--no-mesh"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = interrupt_when(process, flag.exists)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "error" not in stderr
    assert "(stopped with Ctrl-C)" in stdout
    with VideoReader(out) as reader:
        assert reader.size == (640, 480) and reader.fps == 30.0
        frames = sum(1 for _ in reader)
    assert frames >= 1 and f"; {frames} frames" in stdout
    assert out_files(out.parent) == ["rec.mp4"]


# The batch pauses (in a plain sleep) once the second image's landmark JSON is written, until the
# test's Ctrl-C arrives: the signal always finds the job running, mid-batch, at a known point, however
# loaded the machine is (a timed race could let the whole batch finish first).
PAUSING_IMAGE_BATCH_RUN = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from frnet import cli, export

    signal.signal(signal.SIGINT, signal.default_int_handler)
    original = export.export_landmarks_json
    def export_then_pause(path, *args, **kwargs):
        written = original(path, *args, **kwargs)
        if Path(path).name == "p001_landmarks.json":
            open(sys.argv[1], "w").close()  # tells the test where the batch is
            for _ in range(6000):  # short sleeps: the signal may reach another thread, and
                time.sleep(0.1)    # Python runs its handler when the main thread wakes
        return written
    export.export_landmarks_json = export_then_pause
    sys.exit(cli.main(sys.argv[2:]))
""")


def test_ctrl_c_during_an_image_batch(tmp_path, sample_frame):
    """Exit 130 and one line; the images finished before Ctrl-C keep their (complete) files, the one
    being written is discarded, and the CSV, written at the end, is not written."""
    folder = tmp_path / "in"
    first = write_bgr(folder / "p000.png", sample_frame[:, :, ::-1])
    for i in range(1, 60):
        shutil.copyfile(first, folder / f"p{i:03d}.png")
    out, flag = tmp_path / "out", tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", PAUSING_IMAGE_BATCH_RUN, str(flag), "--image", str(folder),
                                "--out", str(out), "--renderer", "cpu"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = interrupt_when(process, flag.exists)
    assert process.returncode == 130
    assert_one_error_line(stderr, "interrupted")
    names = out_files(out)
    assert "landmarks68.csv" not in names and no_temp_files(out)
    overlays = [n for n in names if n.endswith("_overlay.png")]
    assert len(overlays) == 2  # p000 and p001; p001's mesh, due after its JSON, was never started
    for name in names:  # every file there is complete
        if name.endswith(".png"):
            assert read_image(out / name).shape == (480, 640, 3)
        elif name.endswith(".json"):
            assert len(json.loads((out / name).read_text())["faces"]) == 1
