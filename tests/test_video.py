"""Video and image I/O: round trips, audio copy, atomic writes, damaged and odd inputs."""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from frnet.datasets import shared_data_dir
from frnet.errors import InputError, OutputError
from frnet.video import VideoReader, VideoWriter, atomic_write, read_image, write_image_atomic
from support import _audio_only, faststart_copy

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = (shared_data_dir() or REPO.parent / "shared" / "data") / "videos"
SHARED_CLIP = SHARED_VIDEOS / "short_hamilton_clip.mp4"  # 640×360, 29.97 fps, 275 frames, AAC audio

needs_shared_clip = pytest.mark.skipif(
    not SHARED_CLIP.is_file(), reason=f"shared clip not found at {SHARED_CLIP}"
)


def _pattern(width: int, height: int, index: int) -> np.ndarray:
    """A smooth colour frame with a white marker in the top-left corner."""
    yy, xx = np.mgrid[:height, :width]
    red = xx * 255 // max(width - 1, 1)
    green = yy * 255 // max(height - 1, 1)
    blue = np.full_like(xx, (index * 8) % 256)
    image = np.stack([red, green, blue], -1).astype(np.uint8)
    image[: height // 4, : width // 4] = 255
    return image


def _make_clip(path: Path, frames: int = 15, fps: int = 30, size=(64, 48), audio_codec=None, rotation=None,
               tone_hz: float = 440.0, sample_rate: int = 16000) -> None:
    """A short clip made with PyAV directly (independent of VideoWriter), optionally with a sine tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = None
        if audio_codec:
            audio = container.add_stream(audio_codec, rate=sample_rate)
            audio.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_pattern(*size, i), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        if audio is not None:
            t = np.arange(round(sample_rate * frames / fps)) / sample_rate
            samples = (0.3 * 32767 * np.sin(2 * np.pi * tone_hz * t)).astype(np.int16)[None, :]
            sound = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            sound.sample_rate, sound.pts = sample_rate, 0
            container.mux(audio.encode(sound))
            container.mux(audio.encode(None))
        container.mux(video.encode(None))


def _read_all(path: Path) -> tuple[VideoReader, list]:
    with VideoReader(path) as reader:
        return reader, list(reader)


def _audio_of(path: Path) -> tuple[str, float, np.ndarray, int]:
    """(codec, duration s, mono samples, sample rate) of a file's first audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        codec, rate = stream.codec_context.name, stream.codec_context.sample_rate
        duration = float(stream.duration * stream.time_base)
        # First channel of each frame (planar formats are channels × samples).
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
    return codec, duration, samples.astype(np.float64), rate


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("size", [(640, 480), (641, 479)], ids=["even", "odd"])
def test_round_trip_keeps_count_fps_size_and_pixels(tmp_path, size):
    path = tmp_path / "clip.mp4"
    frames = [_pattern(*size, i) for i in range(12)]
    with VideoWriter(path, 25, size) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 12
    reader, decoded = _read_all(path)
    assert reader.size == size and reader.fps == 25 and reader.frame_count == 12
    assert not reader.frame_count_is_estimate and reader.rotation == 0
    assert reader.duration == pytest.approx(12 / 25, abs=0.01)
    assert [f.index for f in decoded] == list(range(12))
    assert [f.timestamp_ms for f in decoded] == [i * 40 for i in range(12)]
    for original, frame in zip(frames, decoded):
        assert frame.image_rgb.shape == (size[1], size[0], 3) and frame.image_rgb.dtype == np.uint8
        assert np.abs(frame.image_rgb.astype(int) - original).mean() < 3
    assert _no_temp_files(tmp_path)


def test_ntsc_rate_is_kept_exactly(tmp_path):
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, Fraction(30000, 1001), (64, 48)) as writer:
        for i in range(5):
            writer.write(_pattern(64, 48, i))
    reader, decoded = _read_all(path)
    assert reader.frame_rate == Fraction(30000, 1001)
    assert decoded[-1].timestamp_ms == round(4 * 1001 / 30)


def test_writer_checks_frames(tmp_path):
    with VideoWriter(tmp_path / "x.mp4", 30, (64, 48)) as writer:
        with pytest.raises(ValueError, match="64x48"):
            writer.write(np.zeros((48, 63, 3), np.uint8))
        with pytest.raises(ValueError):
            writer.write(np.zeros((48, 64, 3), np.float32))
        writer.write(_pattern(64, 48, 0))
    assert (tmp_path / "x.mp4").is_file()


@pytest.mark.parametrize(
    "fps, size", [(0, (64, 48)), (30, (0, 48)), (30, (64.5, 48)), (float("nan"), (64, 48))]
)
def test_writer_rejects_bad_arguments(tmp_path, fps, size):
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "x.mp4", fps, size)
    assert not list(tmp_path.iterdir())


def test_reader_reads_once(tmp_path):
    _make_clip(tmp_path / "c.mp4", frames=3)
    with VideoReader(tmp_path / "c.mp4") as reader:
        assert len(list(reader)) == 3
        with pytest.raises(RuntimeError, match="already been read"):
            list(reader)


# ------------------------------------------------------------------------------------------- audio


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    "source_name, codec, expected_mode", [("tone.mp4", "aac", "copy"), ("tone.mkv", "pcm_s16le", "re-encode")]
)
def test_audio_is_copied(tmp_path, source_name, codec, expected_mode):
    source = tmp_path / source_name
    _make_clip(source, frames=30, audio_codec=codec, tone_hz=440)
    out = tmp_path / "out.mp4"
    with VideoReader(source) as reader:
        with VideoWriter(out, reader.fps, reader.size, audio_from=source) as writer:
            assert writer.audio_mode == expected_mode
            for frame in reader:
                writer.write(frame.image_rgb)
    out_codec, duration, samples, rate = _audio_of(out)
    assert out_codec == "aac"
    assert duration == pytest.approx(1.0, abs=0.1)
    assert np.abs(samples).max() > 0.2
    assert _dominant_hz(samples, rate) == pytest.approx(440, abs=10)
    reader, decoded = _read_all(out)
    assert len(decoded) == 30


def test_audio_is_cut_where_the_video_ends(tmp_path):
    source = tmp_path / "tone.mp4"
    _make_clip(source, frames=60, audio_codec="aac")
    out = tmp_path / "short.mp4"
    with VideoWriter(out, 30, (64, 48), audio_from=source) as writer:
        for i in range(15):
            writer.write(_pattern(64, 48, i))
    _, duration, _, _ = _audio_of(out)
    assert duration == pytest.approx(0.5, abs=0.1)


def test_audio_from_silent_file_writes_video_only(tmp_path):
    source = tmp_path / "silent.mp4"
    _make_clip(source, frames=3)
    with VideoWriter(tmp_path / "out.mp4", 30, (64, 48), audio_from=source) as writer:
        assert writer.audio_mode is None
        writer.write(_pattern(64, 48, 0))
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert not container.streams.audio


def test_unreadable_audio_source_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="missing.mp4"):
        VideoWriter(tmp_path / "out.mp4", 30, (64, 48), audio_from=tmp_path / "missing.mp4")
    assert not list(tmp_path.iterdir())


@needs_shared_clip
@pytest.mark.shared
def test_audio_of_shared_clip_is_remuxed(tmp_path):
    out = tmp_path / "hamilton.mp4"
    with VideoReader(SHARED_CLIP) as reader:
        assert reader.size == (640, 360) and reader.frame_count == 275
        with VideoWriter(out, reader.frame_rate, reader.size, audio_from=SHARED_CLIP) as writer:
            assert writer.audio_mode == "copy"
            for frame in reader:
                if frame.index == 60:
                    break
                writer.write(frame.image_rgb)
    codec, duration, samples, _ = _audio_of(out)
    assert codec == "aac" and duration == pytest.approx(60 / reader.fps, abs=0.1)
    assert np.abs(samples).max() > 0.01
    out_reader, decoded = _read_all(out)
    assert len(decoded) == 60 and out_reader.frame_rate == reader.frame_rate


# ---------------------------------------------------------------------------- atomic output, errors


def test_unwritable_destination_raises_before_processing(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        VideoWriter(not_a_folder / "out.mp4", 30, (64, 48))
    with pytest.raises(OutputError, match="is a folder"):
        VideoWriter(tmp_path, 30, (64, 48))
    with pytest.raises(OutputError, match="unknown video type"):
        VideoWriter(tmp_path / "out.xyz", 30, (64, 48))
    with pytest.raises(OutputError, match="cannot hold H.264"):
        VideoWriter(tmp_path / "out.webm", 30, (64, 48))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_missing_folders_are_created(tmp_path):
    with VideoWriter(tmp_path / "a" / "b" / "out.mp4", 30, (64, 48)) as writer:
        writer.write(_pattern(64, 48, 0))
    assert (tmp_path / "a" / "b" / "out.mp4").is_file()


def test_abort_leaves_no_file(tmp_path):
    writer = VideoWriter(tmp_path / "out.mp4", 30, (64, 48))
    writer.write(_pattern(64, 48, 0))
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file, not out.mp4
    assert not (tmp_path / "out.mp4").exists()
    writer.abort()
    assert not list(tmp_path.iterdir())


def test_exception_inside_with_keeps_the_old_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")
    with pytest.raises(KeyError):
        with VideoWriter(out, 30, (64, 48)) as writer:
            writer.write(_pattern(64, 48, 0))
            raise KeyError("boom")
    assert out.read_bytes() == b"previous"
    assert _no_temp_files(tmp_path)


def test_close_replaces_an_existing_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous")
    with VideoWriter(out, 30, (64, 48)) as writer:
        writer.write(_pattern(64, 48, 0))
    assert VideoReader(out).frame_count == 1
    assert _no_temp_files(tmp_path)


# --------------------------------------------------------------------------------- damaged inputs


def test_random_bytes_raise_input_error(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="noise.mp4"):
        VideoReader(path)
    with pytest.raises(InputError, match="no such file"):
        VideoReader(tmp_path / "missing.mp4")


def test_file_without_video_raises_input_error(tmp_path):
    path = _audio_only(tmp_path / "sound.m4a")
    with pytest.raises(InputError, match="no video stream"):
        VideoReader(path)


@needs_shared_clip
@pytest.mark.shared
def test_truncated_clip_reads_the_frames_it_has(tmp_path, caplog):
    data = SHARED_CLIP.read_bytes()
    # The shared clip keeps its index at the end: cut, it is unreadable, which must say so clearly.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.mp4"):
        VideoReader(cut)
    # With the index first, a cut file yields the frames before the cut.
    faststart_copy(SHARED_CLIP, tmp_path / "fast.mp4")
    fast = (tmp_path / "fast.mp4").read_bytes()
    cut.write_bytes(fast[: len(fast) // 2])
    reader, decoded = _read_all(cut)
    assert 50 < len(decoded) < 275
    assert "truncated" in caplog.text


@needs_shared_clip
@pytest.mark.shared
def test_corrupt_packets_are_skipped_and_counted(tmp_path):
    data = bytearray(SHARED_CLIP.read_bytes())
    rng = np.random.default_rng(0)
    for offset in rng.integers(len(data) // 4, len(data) - 20_000, 40):
        data[offset : offset + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    reader, decoded = _read_all(path)
    assert len(decoded) > 200
    assert reader.decode_errors >= 1


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_rotation_metadata_is_applied(tmp_path, degrees):
    path = tmp_path / "rotated.mp4"
    _make_clip(path, frames=2, size=(64, 48), rotation=degrees)
    reader, decoded = _read_all(path)
    expected = np.rot90(_pattern(64, 48, 0), degrees // 90)
    assert reader.rotation == degrees
    assert reader.size == (expected.shape[1], expected.shape[0])
    assert decoded[0].image_rgb.shape == expected.shape
    assert np.abs(decoded[0].image_rgb.astype(int) - expected).mean() < 6


# ------------------------------------------------------------------------------------------ images


def test_read_image_converts_to_8_bit_rgb(tmp_path):
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((10, 12), 77, np.uint8))
    cv2.imwrite(str(tmp_path / "gray16.png"), np.full((10, 12), 40000, np.uint16))
    bgra = np.zeros((10, 12, 4), np.uint8)
    bgra[...] = (10, 20, 30, 0)
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    bgr16 = np.zeros((10, 12, 3), np.uint16)
    bgr16[..., 2] = 65535  # red
    cv2.imwrite(str(tmp_path / "color16.png"), bgr16)
    expected = {"gray": (77, 77, 77), "gray16": (156, 156, 156), "rgba": (30, 20, 10), "color16": (255, 0, 0)}
    for name, rgb in expected.items():
        image = read_image(tmp_path / f"{name}.png")
        assert image.shape == (10, 12, 3) and image.dtype == np.uint8, name
        assert tuple(image[0, 0]) == rgb, name


def test_read_image_applies_exif_orientation(tmp_path):
    image = np.zeros((20, 40, 3), np.uint8)
    image[:5, :10] = 255  # marker top-left
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    # A minimal EXIF block: one IFD entry, Orientation (0x0112) = 6, "rotate 90° clockwise to view".
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHH", 1, 0x0112, 3, 1, 6, 0) + b"\x00" * 4
    app1 = b"Exif\x00\x00" + tiff
    path = tmp_path / "rotated.jpg"
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    upright = read_image(path)
    assert upright.shape == (40, 20, 3)
    assert upright[:10, 15:].mean() > 200 and upright[30:, :5].mean() < 50  # marker now top-right


@pytest.mark.parametrize("content", [None, b"", b"not an image at all"], ids=["missing", "empty", "text"])
def test_read_image_errors_name_the_file(tmp_path, content):
    path = tmp_path / "picture.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match="picture.png"):
        read_image(path)


def test_write_image_atomic_round_trip(tmp_path):
    image = _pattern(32, 24, 3)
    write_image_atomic(tmp_path / "sub" / "out.png", image)
    assert np.array_equal(read_image(tmp_path / "sub" / "out.png"), image)
    with pytest.raises(OutputError, match="unknown image type"):
        write_image_atomic(tmp_path / "out.nope", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_atomic_write_all_or_nothing(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as temp:
            assert temp.parent == tmp_path and temp.suffix == ".json"
            temp.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    with atomic_write(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
