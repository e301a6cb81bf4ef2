"""Bounded fuzzing of every loader a user's file reaches: images, videos, landmark CSV, ``.pts``, ``.mat``.

The contract (docs/reliability.md): a loader either returns data of the documented shape or raises
:class:`frnet.errors.InputError` naming the file; never any other exception, a crash or a hang.
Inputs are random bytes, and real files (made here, in a temporary folder) cut short or with bytes
overwritten. Each test has a fixed example budget and no deadline, so the whole file stays well
under a minute on a busy 2-core machine. The runs are derandomised (the same examples every time,
so CI is reproducible); a failure prints the smallest example found, and the known-nasty inputs
are pinned with ``@example``.
"""

from __future__ import annotations

import io
import itertools
import math
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[dev]')")
from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from frnet.datasets import LANDMARK_CSV_HEADER, NUM_LANDMARKS, read_landmarks_csv, read_pts  # noqa: E402
from frnet.errors import InputError  # noqa: E402
from frnet.video import VideoReader, read_image  # noqa: E402

_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                 derandomize=True, database=None)


def fuzz(max_examples: int) -> settings:
    """A fixed example budget, no deadline, the same examples on every run (reproducible CI)."""
    return settings(_BASE, max_examples=max_examples)
IMAGE_SUFFIXES = (".jpg", ".png", ".bmp", ".tif", ".webp")
_counter = itertools.count()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One folder for the module (hypothesis runs many examples per test function)."""
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def _mutate(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    """``data`` cut to the fraction ``cut`` of its length, with bytes overwritten at relative offsets."""
    out = bytearray(data[: max(0, round(len(data) * cut))])
    for where, value in flips:
        if out:
            out[min(len(out) - 1, int(where * len(out)))] = value
    return bytes(out)


mutations = st.tuples(
    st.one_of(st.just(1.0), st.floats(0.0, 1.0)),  # often whole, so the overwritten bytes get decoded
    st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=32),
)


# ------------------------------------------------------------------------------------------ images


def _pattern(width: int = 48, height: int = 40) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width]
    return np.stack([xx * 5 % 256, yy * 6 % 256, (xx + yy) % 256], -1).astype(np.uint8)


REAL_IMAGES = {suffix: cv2.imencode(suffix, _pattern())[1].tobytes() for suffix in IMAGE_SUFFIXES}


def _check_image(path: Path) -> None:
    try:
        image = read_image(path)
    except InputError as exc:
        assert path.name in str(exc)
        event("image: InputError")
        return
    event("image: decoded")
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and image.size > 0


@fuzz(300)
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(IMAGE_SUFFIXES))
@example(data=b"", suffix=".jpg")
@example(data=b"\x89PNG\r\n\x1a\n", suffix=".png")
@example(data=b"\xff\xd8\xff", suffix=".jpg")
def test_read_image_random_bytes(scratch, data, suffix):
    _check_image(_write(scratch, suffix, data))


@fuzz(600)
@given(kind=st.sampled_from(IMAGE_SUFFIXES), mutation=mutations, suffix=st.sampled_from(IMAGE_SUFFIXES))
def test_read_image_damaged_real_files(scratch, kind, mutation, suffix):
    """A real PNG/JPEG/BMP/TIFF/WebP cut short and/or with bytes overwritten (possibly misnamed)."""
    _check_image(_write(scratch, suffix, _mutate(REAL_IMAGES[kind], *mutation)))


# ------------------------------------------------------------------------------------------ videos


def _small_clip(path: Path, faststart: bool) -> bytes:
    options = {"movflags": "+faststart"} if faststart else {}  # faststart rewrites the file: not in memory
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = 48, 40
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"threads": "1"}
        for i in range(8):
            frame = av.VideoFrame.from_ndarray(np.roll(_pattern(), i * 3, axis=1), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path.read_bytes()


@pytest.fixture(scope="module")
def real_clips(scratch) -> dict[str, bytes]:
    return {"moov-last": _small_clip(scratch / "clip.mp4", False),
            "faststart": _small_clip(scratch / "clip_faststart.mp4", True)}


def _check_video(path: Path) -> None:
    try:
        reader = VideoReader(path)
    except InputError as exc:
        assert path.name in str(exc)
        event("video: InputError")
        return
    with reader:
        width, height = reader.size
        assert width > 0 and height > 0 and math.isfinite(reader.fps) and reader.fps > 0
        count = 0
        for frame in reader:  # nothing but frames (damaged packets are skipped and counted)
            assert frame.image_rgb.shape == (height, width, 3) and frame.image_rgb.dtype == np.uint8
            count += 1
            assert count <= 1000, "a small file yields a bounded number of frames"
        event("video: damaged packets skipped" if reader.decode_errors else f"video: {min(count, 8)}+ frames")


@fuzz(200)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".mp4", ".mov", ".mkv", ".avi"]))
@example(data=b"", suffix=".mp4")
@example(data=b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", suffix=".mp4")
def test_video_reader_random_bytes(scratch, data, suffix):
    _check_video(_write(scratch, suffix, data))


@fuzz(400)
@given(kind=st.sampled_from(["moov-last", "faststart"]), mutation=mutations)
def test_video_reader_damaged_real_files(scratch, real_clips, kind, mutation):
    """A real H.264 MP4 cut short and/or with bytes overwritten (index first or last)."""
    _check_video(_write(scratch, ".mp4", _mutate(real_clips[kind], *mutation)))


# ------------------------------------------------------------------------------- annotation readers


def _check_csv(path: Path) -> None:
    try:
        rows = read_landmarks_csv(path)
    except InputError as exc:
        assert path.name in str(exc)
        return
    for points in rows.values():
        assert points is None or (points.shape == (NUM_LANDMARKS, 2) and np.isfinite(points).all())


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.just(""),
    st.text(max_size=6),
)


@st.composite
def landmark_csvs(draw) -> str:
    """A header (usually right) and rows of 0–140 cells that are mostly numbers."""
    header = ",".join(LANDMARK_CSV_HEADER) if draw(st.booleans()) or draw(st.booleans()) else draw(st.text(max_size=40))
    lines = [header]
    for _ in range(draw(st.integers(0, 3))):
        width = draw(st.sampled_from([1 + 2 * NUM_LANDMARKS, 1 + 2 * NUM_LANDMARKS, 0, 5, 140]))
        values = draw(st.lists(cells, min_size=max(0, width - 1), max_size=max(0, width - 1)))
        lines.append(",".join([draw(st.text(max_size=8))] + values))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@fuzz(300)
@given(text=landmark_csvs())
def test_read_landmarks_csv_structured(scratch, text):
    _check_csv(_write(scratch, ".csv", text.encode("utf-8", "surrogatepass")))


@fuzz(200)
@given(data=st.binary(max_size=2048))
@example(data=b"\xff\xfe\x00")
@example(data=(",".join(LANDMARK_CSV_HEADER) + "\n\"" + "x" * 200_000 + "\"\n").encode())  # over csv's field limit
@example(data=(",".join(LANDMARK_CSV_HEADER) + "\na\x00b" + ",1" * 136 + "\n").encode())
def test_read_landmarks_csv_random_bytes(scratch, data):
    _check_csv(_write(scratch, ".csv", data))


def _check_pts(path: Path) -> None:
    try:
        points = read_pts(path)
    except InputError as exc:
        assert path.name in str(exc)
        return
    assert points.ndim == 2 and points.shape[1] == 2 and np.isfinite(points).all()


@st.composite
def pts_files(draw) -> str:
    count = draw(st.one_of(st.integers(0, 70), st.just(68), st.text("0123456789", min_size=1, max_size=5000)))
    numbers = draw(st.lists(cells, max_size=140))
    body = draw(st.sampled_from(["{\n%s\n}", "{%s", "%s}", "{ %s }"])) % "\n".join(numbers)
    head = draw(st.sampled_from(["version: 1\nn_points: %s\n", "n_points:%s", "%s", "n_points : %s\n"])) % count
    return head + body


@fuzz(300)
@given(text=pts_files())
@example(text="n_points: " + "9" * 5000 + "\n{\n1 2\n}")  # past Python's int-from-string digit limit
def test_read_pts_structured(scratch, text):
    _check_pts(_write(scratch, ".pts", text.encode("utf-8", "surrogatepass")))


@fuzz(200)
@given(data=st.binary(max_size=2048))
def test_read_pts_random_bytes(scratch, data):
    _check_pts(_write(scratch, ".pts", data))


# --------------------------------------------------------------------------------------------- .mat


def _read_mat():
    """``frnet.evaluate.read_mat`` (the AFLW2000-3D / 300W-LP reader), or skip if this build lacks it."""
    try:
        from frnet.evaluate import read_mat
    except ImportError:
        pytest.skip("frnet.evaluate.read_mat is not available in this build")
    pytest.importorskip("scipy.io", reason="scipy is not installed (it writes the .mat files fed to the reader)")
    return read_mat


def _check_mat(read_mat, path: Path) -> None:
    try:
        truth = read_mat(path)
    except InputError as exc:
        assert path.name in str(exc)
        return
    assert truth.landmarks68.shape == (NUM_LANDMARKS, 2) and np.isfinite(truth.landmarks68).all()
    assert truth.yaw_deg is None or math.isfinite(truth.yaw_deg)


mat_values = st.one_of(
    st.builds(lambda shape, fill: np.full(shape, fill), st.sampled_from([(3, 68), (68, 3), (68, 2), (2, 68), (7,),
                                                                        (1, 7), (0,), (68,), (3, 68, 1)]),
              st.floats(allow_nan=True, allow_infinity=True)),
    st.text(max_size=10),
    st.builds(lambda v: np.full((3, 68), v, dtype=complex), st.complex_numbers(allow_nan=False, max_magnitude=1e6)),
    st.builds(lambda n: np.array([[1.0, 2.0]] * n, dtype=object) if n else np.empty((0,), dtype=object),
              st.integers(0, 3)),
    st.builds(lambda s: {"a": s}, st.text(max_size=4)),  # a struct
    st.just(np.zeros((3, 68), dtype=bool)),
)


@fuzz(300)
@given(points=st.one_of(st.none(), mat_values), pose=st.one_of(st.none(), mat_values))
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")  # complex arrays: imaginary part dropped
def test_read_mat_structured(scratch, points, pose):
    from scipy.io import savemat

    read_mat = _read_mat()
    content = {"other": np.zeros(2)}
    if points is not None:
        content["pt3d_68"] = points
    if pose is not None:
        content["Pose_Para"] = pose
    path = scratch / f"f{next(_counter)}.mat"
    savemat(str(path), content)
    _check_mat(read_mat, path)


@fuzz(200)
@given(data=st.binary(max_size=2048), mutation=mutations)
def test_read_mat_damaged_and_random(scratch, data, mutation):
    from scipy.io import savemat

    read_mat = _read_mat()
    real = io.BytesIO()
    savemat(real, {"pt3d_68": np.arange(3 * 68, dtype=float).reshape(3, 68), "Pose_Para": np.zeros((1, 7))})
    _check_mat(read_mat, _write(scratch, ".mat", data))
    _check_mat(read_mat, _write(scratch, ".mat", _mutate(real.getvalue(), *mutation)))
