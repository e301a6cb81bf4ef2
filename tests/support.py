"""Helpers shared by the test modules (plain functions, builders and constants; the fixtures are
in conftest.py). Test modules import from here, never from each other: ``pythonpath = ["tests"]``
in pyproject.toml puts this folder on ``sys.path`` under every import mode.

* running ``frnet-app`` in-process and checking its one error line (:func:`run_cli`,
  :func:`assert_one_error_line`);
* fake cameras for the CLI (:class:`FakeCamera`, through ``cv2.VideoCapture``) and the app
  (:class:`FakeCapture`, through ``open_capture``);
* builders of bad inputs: images (:func:`make_image`), videos (:func:`make_clip`,
  :func:`make_bad_video`, :func:`damage_middle`, :func:`faststart_copy`, :func:`_audio_only`) and a
  copy of ``models/`` with one file damaged (:func:`models_copy`);
* driving the app's window: :func:`drop`, :func:`drop_and_wait`, :func:`wait_frames`.
"""

from __future__ import annotations

import shutil
import time
import textwrap
import subprocess
import signal
import typing
import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from frnet import cli

if typing.TYPE_CHECKING:
    from frnet.gui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[1]

SAMPLE = REPO / "assets" / "sample.mp4"


SAMPLE_VIDEO = REPO / "assets" / "sample.mp4"


MODELS = REPO / "models"


# The files a CPU run loads by default (--precision auto runs the int8 graph on the CPU).
MODEL_FILES = ["mobilefrnet_v2_int8.onnx", "frnet_face_model_v1.npz", "face_detection_short_range.tflite"]


UNWRITABLE = Path("/sys")  # not writable even by root (a read-only folder is, for root)


WAIT_MS = 60_000


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("frnet-app: error:")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


class FakeCamera:
    """Stands in for cv2.VideoCapture: ``frames`` BGR frames, then nothing."""

    def __init__(self, index, frames: int = 1000) -> None:
        from frnet.video import VideoReader

        with VideoReader(SAMPLE) as reader:
            self.bgr = next(iter(reader)).image_rgb[:, :, ::-1].copy()
        self.left = frames
        self.released = False

    def isOpened(self) -> bool:
        return True

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, self.bgr

    def get(self, prop) -> float:
        return 0.0  # "unknown frame rate" → 30

    def release(self) -> None:
        self.released = True


class FakeCapture:
    """A ``cv2.VideoCapture`` stand-in: ``frames`` frames, then failure."""

    def __init__(self, opened=True, frames=3):
        self.opened, self.frames, self.released = opened, frames, False

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, *args):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.full((48, 64, 3), (10, 20, 30), np.uint8)  # BGR

    def release(self):
        self.released = True


def _is_unwritable(folder: Path) -> bool:
    probe = folder / "frnet-write-probe"
    try:
        probe.mkdir()
    except OSError:
        return folder.is_dir()
    probe.rmdir()
    return False


needs_unwritable = pytest.mark.skipif(not _is_unwritable(UNWRITABLE),
                                      reason="needs a folder nobody may write to (/sys on Linux)")


def write_bgr(path: Path, image: np.ndarray) -> Path:
    """Write with OpenCV, keeping the array's own channels/depth (gray, BGRA, 16-bit …)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path
    return path


def make_image(kind: str, folder: Path, frame: np.ndarray) -> Path:
    """One input file of the kind named in docs/reliability.md, built from the sample frame."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    if kind == "empty":
        path = folder / "empty.jpg"
        path.write_bytes(b"")
    elif kind == "random-bytes":
        path = folder / "noise.jpg"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "truncated-png":
        data = cv2.imencode(".png", bgr)[1].tobytes()
        path = folder / "cut.png"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-jpeg":
        data = cv2.imencode(".jpg", bgr)[1].tobytes()
        path = folder / "cut.jpg"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "1x1":
        path = write_bgr(folder / "dot.png", np.full((1, 1, 3), 90, np.uint8))
    elif kind == "grayscale":
        path = write_bgr(folder / "gray.png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    elif kind == "rgba":
        alpha = np.full(frame.shape[:2], 200, np.uint8)
        path = write_bgr(folder / "rgba.png", np.dstack([bgr, alpha]))
    elif kind == "16-bit":
        path = write_bgr(folder / "deep.png", bgr.astype(np.uint16) * 257)
    elif kind == "cmyk-jpeg":
        path = folder / "cmyk.jpg"
        Image.fromarray(frame).convert("CMYK").save(path, quality=95)
        assert Image.open(path).mode == "CMYK"
    elif kind == "exif-rotated":
        # Pixels stored turned 90° counter-clockwise, with Orientation 6 ("turn 90° clockwise to view").
        path = folder / "phone.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(np.ascontiguousarray(np.rot90(frame, 1))).save(path, quality=95, exif=exif.tobytes())
    else:
        raise ValueError(kind)
    return path


def models_copy(folder: Path, name: str, damage: str) -> Path:
    """A copy of the shipped models/ with ``name`` removed or damaged."""
    folder.mkdir()
    for path in MODELS.iterdir():
        if path.is_file() and not path.name.endswith(".md"):
            shutil.copyfile(path, folder / path.name)
    target = folder / name
    if damage == "missing":
        target.unlink()
    else:  # "truncated", "truncated-unchecked" (without its .sha256 file)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
        if damage == "truncated-unchecked":
            (folder / f"{name}.sha256").unlink()
    return folder


def make_clip(path: Path, frames: list[np.ndarray], fps: int = 30, pts: list[int] | None = None,
              time_base: Fraction | None = None, rotation: int | None = None, faststart: bool = False) -> Path:
    """An H.264 MP4 of ``frames`` (RGB), written with PyAV directly (not with frnet's writer).

    ``pts`` (in ``time_base``) gives irregular frame times; ``rotation`` sets the display matrix
    (degrees counter-clockwise); ``faststart`` puts the index before the frames.
    """
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p" if stream.width % 2 == 0 and stream.height % 2 == 0 else "yuv444p"
        stream.codec_context.options = {"threads": "1"}
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i if pts is None else pts[i]
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def faststart_copy(source: Path, target: Path) -> Path:
    """Remux with the index (moov) first, as streamed files have it (no re-encoding)."""
    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "+faststart"}) as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    return target


def mp4_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: name → (offset, size)."""
    boxes, offset = {}, 0
    while offset + 8 <= len(data):
        size, name = struct.unpack(">I4s", data[offset: offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8: offset + 16])[0]
        boxes[name.decode("latin-1")] = (offset, size)
        if size < 8:
            break
        offset += size
    return boxes


def damage_middle(data: bytes, places: int, length: int = 300, seed: int = 0) -> bytes:
    """Overwrite ``places`` runs of ``length`` random bytes in the middle third of the frame data."""
    start, size = mp4_boxes(data)["mdat"]
    rng = np.random.default_rng(seed)
    damaged = bytearray(data)
    for offset in np.linspace(start + size // 3, start + 2 * size // 3, places).astype(int):
        damaged[offset: offset + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    return bytes(damaged)


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        sound = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.int16), format="s16", layout="mono")
        sound.sample_rate, sound.pts = 16000, 0
        container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return path


def make_bad_video(kind: str, folder: Path) -> tuple[Path, str]:
    """A file given as a video that is none: (path, what the error line says)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        path = folder / "empty.mp4"
        path.write_bytes(b"")
        return path, "cannot read video"
    if kind == "random-bytes":
        path = folder / "noise.mp4"
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes())
        return path, "cannot read video"
    if kind == "cut-index-last":
        data = SAMPLE.read_bytes()  # index (moov) after the frames, as most cameras write it
        assert list(mp4_boxes(data))[-1] == "moov"
        path = folder / "cut.mp4"
        path.write_bytes(data[: len(data) // 2])
        return path, "cannot read video"
    if kind == "no-video-stream":
        return _audio_only(folder / "sound.m4a"), "no video stream"
    raise ValueError(kind)


def drop(window: MainWindow, paths: list[Path]) -> None:
    """Drag ``paths`` onto the live view and drop them, as a file manager would."""
    from PyQt6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PyQt6.QtGui import QDragEnterEvent, QDropEvent
    from PyQt6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = window.view.mapTo(window, window.view.rect().center())
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(pos), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(window, event)
    assert event.isAccepted(), "the window refused the drop"


def drop_and_wait(qtbot, window: MainWindow, paths: list[Path]) -> None:
    before = window.batches_finished
    drop(window, paths)
    qtbot.waitUntil(lambda: window.batches_finished > before, timeout=WAIT_MS)


def wait_frames(qtbot, window: MainWindow, count: int) -> None:
    target = window.frames_shown + count
    qtbot.waitUntil(lambda: window.frames_shown >= target, timeout=WAIT_MS)


# -- shared by the reliability tests ---------------------------------------------------------------
# The detector's box of the face in SAMPLE's first frame (x0, y0, x1, y1), measured once.
FACE_BOX = (179, 77, 356, 254)


def face_tile(frame: np.ndarray, side: int, margin: float = 0.25) -> np.ndarray:
    """The sample face with ``margin`` × its width around it, resized to ``side``×``side``."""
    x0, y0, x1, y1 = FACE_BOX
    pad = round(margin * (x1 - x0))
    crop = frame[max(0, y0 - pad): y1 + pad, max(0, x0 - pad): x1 + pad]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def out_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def no_temp_files(*folders: Path) -> bool:
    return not [name for folder in folders for name in out_files(folder) if ".tmp" in name]


def interrupt_when(process: subprocess.Popen, ready, timeout_s: float = 300) -> tuple[str, str]:
    """Send SIGINT once ``ready()`` is true; return the process's stdout and stderr."""
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None and not ready():
            time.sleep(0.05)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()


# Both Ctrl-C runs first give SIGINT Python's usual handler, as in a terminal: where the test itself
# was started with SIGINT ignored (a background job, nohup), the child would inherit that and never
# see the test's Ctrl-C.
FAKE_CAMERA_RUN = textwrap.dedent("""
    import signal, sys, time
    import cv2
    from frnet import cli

    signal.signal(signal.SIGINT, signal.default_int_handler)

    frame = cv2.imread(sys.argv[1])
    class Camera:  # a webcam that never stops: 30 fps of one frame
        def __init__(self, index):
            self.frames = 0
        def isOpened(self):
            return True
        def read(self):
            time.sleep(1 / 30)
            self.frames += 1
            if self.frames == 15:
                open(sys.argv[2], "w").close()  # tells the test that frames are flowing
            return True, frame
        def get(self, prop):
            return 30.0
        def release(self):
            pass
    cv2.VideoCapture = Camera
    sys.exit(cli.main(sys.argv[3:]))
""")
