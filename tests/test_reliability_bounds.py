"""Resource bounds (issue 16): threads, image pixels, audio sample rate, frame rates, camera numbers.

Each bound is in :mod:`frnet.limits`; these tests check the bound itself and what a user sees
through ``frnet-app`` (rows of docs/reliability.md, "Bounds").
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from frnet import limits
from frnet.errors import CameraError, InputError
from frnet.video import VideoReader, VideoWriter, read_image
from support import SAMPLE, assert_one_error_line, run_cli
from support import out_files
from test_reliability_eval import assert_one_bench_error


def bomb_png(path: Path, side: int) -> Path:
    """A valid grey PNG of ``side``×``side`` pixels whose file is small (zlib of zero rows)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------ pixels


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    """22000×22000 grey pixels in a ~0.5 MB PNG: 1.4 GB decoded as RGB. Refused before decoding."""
    path = bomb_png(tmp_path / "bomb.png", 22_000)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(InputError, match=r"484 megapixels, over frnet's limit of 100 megapixels"):
        read_image(path)


def test_bomb_under_twice_pillows_own_limit_is_caught_by_ours(tmp_path):
    """Pillow itself refuses only over 2 × 89.5 MP; 11000×11000 = 121 MP is refused by frnet's bound."""
    with pytest.raises(InputError, match=r"11000x11000 is 121 megapixels"):
        read_image(bomb_png(tmp_path / "bomb.png", 11_000))


def test_image_just_under_the_pixel_limit_is_read(tmp_path):
    side = 4000  # 16 MP: well under the bound, the same code path
    image = read_image(bomb_png(tmp_path / "ok.png", side))
    assert image.shape == (side, side, 3)


def test_decompression_bomb_through_the_cli_is_one_error_and_the_batch_goes_on(capsys, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bomb_png(folder / "bomb.png", 22_000)
    bomb_png(folder / "small.png", 64)
    out = tmp_path / "out"
    code, _, stderr = run_cli(capsys, "--image", folder, "--out", out, "--renderer", "cpu")
    assert code == 2
    assert_one_error_line(stderr, "bomb.png", "megapixels")
    assert "small_overlay.png" in out_files(out) and "bomb_overlay.png" not in out_files(out)


# ----------------------------------------------------------------------------------------- threads


def test_thread_bound_is_twice_the_usable_cores():
    assert limits.max_threads() == 2 * limits.usable_cores()
    assert limits.check_threads(1) == 1 and limits.check_threads(limits.max_threads()) == limits.max_threads()
    for bad in (0, -1, limits.max_threads() + 1, 10_000, True):
        with pytest.raises(ValueError, match="--threads must be 1 to"):
            limits.check_threads(bad)


@pytest.mark.parametrize("argv", [["--video", SAMPLE, "--out", "OUT/o.mp4"], ["bench", "--clips", SAMPLE]])
def test_threads_over_the_bound_are_a_usage_error(capsys, tmp_path, argv):
    """``--threads 10000`` started ~8,000 threads and never finished."""
    argv = [str(a).replace("OUT", str(tmp_path)) for a in argv]
    code, _, stderr = run_cli(capsys, *argv, "--threads", "10000")
    assert code == 2
    assert_one_bench_error(stderr, "--threads", f"1 to {limits.max_threads()}")
    assert out_files(tmp_path) == []


# ---------------------------------------------------------------------------------------- cameras


@pytest.mark.parametrize("index", [-1, 100, 2**40, True])
def test_camera_bound(index):
    with pytest.raises(CameraError, match="0 to 99"):
        limits.check_camera_index(index)
    assert limits.check_camera_index(0) == 0 and limits.check_camera_index(99) == 99


def test_gui_camera_source_applies_the_bound():
    from frnet.sources import CameraSource

    with pytest.raises(CameraError, match="0 to 99"):
        CameraSource(-1, open_capture=lambda i: pytest.fail("must not open"))


# ------------------------------------------------------------------------------------- frame rates


def test_frame_rate_bound():
    assert limits.check_frame_rate(Fraction(1, 5000)) == Fraction(1, 5000)
    assert limits.check_frame_rate(30) == 30
    for bad in (0, -1, Fraction(1, 100_000), 20_000, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fps"):
            limits.check_frame_rate(bad)


def test_writer_refuses_rates_outside_the_bound_and_keeps_slow_ones_exact(tmp_path):
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "a.mp4", 20_000, (64, 48))
    assert out_files(tmp_path) == []
    for rate, expected in ((Fraction(30000, 1001), Fraction(30000, 1001)), (29.97, Fraction(2997, 100)),
                           (Fraction(1, 5000), Fraction(1, 5000)), (Fraction(1, 86_400), Fraction(1, 86_400))):
        with VideoWriter(tmp_path / "b.mp4", rate, (64, 48), threads=1) as writer:
            assert writer.frame_rate == expected
            writer.write(np.zeros((48, 64, 3), np.uint8))


# ------------------------------------------------------------------------------------------- audio


def _clip_with_audio(path: Path, sample_rate: int, codec: str = "pcm_s16le", seconds: float = 1.0) -> Path:
    """A 1-second clip: 30 frames of H.264 and a 440 Hz tone at ``sample_rate``."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(codec, rate=sample_rate)
        audio.layout = "stereo"
        for i in range(round(30 * seconds)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        samples = round(sample_rate * seconds)
        t = np.arange(samples) / sample_rate
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        block = sample_rate // 10
        for start in range(0, samples, block):
            chunk = np.repeat(tone[start:start + block][None, :], 2, axis=0).T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="stereo")
            frame.sample_rate, frame.pts = sample_rate, start
            container.mux(audio.encode(frame))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return path


def test_192_khz_audio_is_resampled_to_48_khz_aac(tmp_path):
    """AAC stores at most 96 kHz: encoding 192 kHz audio failed (``avcodec_open2`` EINVAL)."""
    source = _clip_with_audio(tmp_path / "hi.mkv", 192_000)
    out = tmp_path / "out.mp4"
    with VideoWriter(out, 30, (64, 48), audio_from=source, threads=1) as writer:
        for _ in range(30):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    assert writer.audio_mode == "re-encode"
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.codec_context.sample_rate == limits.AAC_SAMPLE_RATE
        samples = sum(frame.samples for frame in container.decode(stream))
    assert abs(samples / limits.AAC_SAMPLE_RATE - 1.0) < 0.1  # one second of sound, as in the source


def test_192_khz_audio_through_the_cli(capsys, tmp_path):
    source = _clip_with_audio(tmp_path / "hi.mkv", 192_000)
    code, stdout, stderr = run_cli(capsys, "--video", source, "--out", tmp_path / "o.mp4", "--renderer", "cpu")
    assert code == 0, stderr
    assert "audio re-encoded" in stdout
    with VideoReader(tmp_path / "o.mp4") as reader:
        assert sum(1 for _ in reader) == 30
