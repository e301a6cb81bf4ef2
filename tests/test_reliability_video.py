"""Damaged and unusual videos through ``frnet-app --video``: rows of docs/reliability.md.

Clips are made here with PyAV from frames of the bundled sample clip (one face, found on every
frame), in ``tmp_path``: irregular timestamps, rotation metadata, an odd frame size, damaged packets
in the middle, a file cut in half with its index at the end or at the start, and files that are not
videos at all. tests/test_video.py checks the same cases one level down, on ``VideoReader``; here
they go through the whole job (decode → pipeline → overlay → encode), and the exit code, the
messages and the output file are checked. Ctrl-C during ``--video`` is
``tests/test_cli.py::test_ctrl_c_leaves_no_output_and_exits_130``.
"""

from __future__ import annotations

import json
import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from frnet.video import MAX_DECODE_WARNINGS, VideoReader
from test_cli import SAMPLE, assert_one_error_line, run_cli

FAST = ("--renderer", "cpu", "--preset", "ultrafast")  # the overlay and encoder settings do not matter here


@pytest.fixture(scope="module")
def sample_frames() -> list[np.ndarray]:
    """The first 60 frames of the sample clip (RGB 640×480, 30 fps)."""
    with VideoReader(SAMPLE) as reader:
        frames = []
        for frame in reader:
            frames.append(frame.image_rgb)
            if len(frames) == 60:
                return frames
    raise AssertionError("the sample clip has fewer than 60 frames")


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


def video_job(capsys, source: Path, out: Path, *options) -> tuple[int, str, str, list[dict]]:
    """``--video source --out out --landmarks-out`` → code, stdout, stderr and the per-frame JSON."""
    sidecar = out.with_suffix(".jsonl")
    capsys.readouterr()  # drop what the test printed or logged before (frnet's log handler outlives a job)
    code, stdout, stderr = run_cli(capsys, "--video", source, "--out", out, "--landmarks-out", sidecar, *FAST,
                                   *options)
    frames = [json.loads(line) for line in sidecar.read_text().splitlines()] if sidecar.is_file() else []
    return code, stdout, stderr, frames


def frames_of(path: Path) -> tuple[VideoReader, list[np.ndarray]]:
    with VideoReader(path) as reader:
        return reader, [f.image_rgb for f in reader]


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("frnet-app: warning:")]


# -------------------------------------------------------------------------------- not a (whole) video


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


@pytest.mark.parametrize("kind", ["empty", "random-bytes", "cut-index-last", "no-video-stream"])
def test_not_a_readable_video_is_one_error_and_no_output(capsys, tmp_path, kind):
    source, fragment = make_bad_video(kind, tmp_path / "in")
    out = tmp_path / "out"
    code, stdout, stderr, _ = video_job(capsys, source, out / "o.mp4")
    assert code == 2
    assert_one_error_line(stderr, fragment, source.name)
    assert stdout == ""
    assert not out.exists()  # refused before the output is even opened


# ----------------------------------------------------------------------------------- damaged videos


def test_cut_in_half_with_the_index_first_processes_the_frames_it_has(capsys, tmp_path):
    fast = faststart_copy(SAMPLE, tmp_path / "fast.mp4").read_bytes()
    source = tmp_path / "cut.mp4"
    source.write_bytes(fast[: len(fast) // 2])
    out = tmp_path / "out" / "o.mp4"
    code, stdout, stderr, frames = video_job(capsys, source, out, "--no-mesh")
    assert code == 0, stderr
    with VideoReader(source) as reader:
        readable = sum(1 for _ in reader)
    assert 60 < readable < 240
    warnings = warnings_in(stderr)
    assert len(warnings) == 1 and f"ended after {readable} of 240 frames" in warnings[0]
    assert "truncated" in warnings[0] and "error" not in stderr
    result, decoded = frames_of(out)
    assert len(decoded) == len(frames) == readable and result.size == (640, 480)
    assert f"; {readable} frames, faces in" in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["o.jsonl", "o.mp4"]


@pytest.mark.parametrize("places", [4, 12], ids=["a-few", "many"])
def test_damaged_packets_mid_stream_are_skipped_counted_and_reported(capsys, tmp_path, sample_frames, places):
    clean = make_clip(tmp_path / "clean.mp4", sample_frames)
    source = tmp_path / "damaged.mp4"
    source.write_bytes(damage_middle(clean.read_bytes(), places))
    with VideoReader(source) as reader:
        decodable = sum(1 for _ in reader)
        errors = reader.decode_errors
    assert errors >= 1 and decodable < len(sample_frames)
    out = tmp_path / "out" / "o.mp4"
    code, stdout, stderr, frames = video_job(capsys, source, out)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "error:" not in stderr
    # Skip: every frame that decodes is processed and written; count and report: a few warnings
    # (at most MAX_DECODE_WARNINGS, then one with the total) and the count in the summary line.
    _, decoded = frames_of(out)
    assert len(decoded) == len(frames) == decodable
    warnings = warnings_in(stderr)
    assert 2 <= len(warnings) <= MAX_DECODE_WARNINGS + 1
    assert f"{errors} damaged packet(s) skipped; {decodable} of 60 frames decoded" in warnings[-1]
    assert f"; {errors} damaged packet(s) of the input skipped" in stdout
    timestamps = [f["timestamp_ms"] for f in frames]
    assert timestamps == sorted(timestamps) and len(set(timestamps)) == len(timestamps)


# ---------------------------------------------------------------------------------- unusual videos


def test_variable_frame_rate(capsys, tmp_path, sample_frames):
    """Every frame is processed once at its own time (the JSON lines carry the input's timestamps);
    the output is constant-rate at the input's average rate, with the same frame count and length."""
    gaps_ms = np.random.default_rng(2).integers(15, 70, len(sample_frames) - 1)  # 15–70 ms apart
    pts = [0, *np.cumsum(gaps_ms).tolist()]
    source = make_clip(tmp_path / "vfr.mp4", sample_frames, pts=pts, time_base=Fraction(1, 1000))
    with VideoReader(source) as reader:
        input_rate, input_duration = reader.frame_rate, reader.duration
        assert [f.timestamp_ms for f in reader] == pts
    out = tmp_path / "out" / "o.mp4"
    code, _, stderr, frames = video_job(capsys, source, out)
    assert code == 0 and "Traceback" not in stderr
    assert [f["timestamp_ms"] for f in frames] == pts
    assert all(f["faces"] for f in frames)
    result, decoded = frames_of(out)
    assert len(decoded) == len(sample_frames)
    assert result.fps == pytest.approx(float(input_rate), rel=1e-4)  # the rate, to a denominator ≤ 1001
    assert result.duration == pytest.approx(input_duration, abs=1.5 / float(input_rate))


@pytest.mark.parametrize("degrees", [90, 180])
def test_rotation_metadata_gives_an_upright_output(capsys, tmp_path, sample_frames, degrees):
    """A phone video: pixels stored turned, with a display matrix saying how to turn them back."""
    stored = [np.ascontiguousarray(np.rot90(f, -degrees // 90)) for f in sample_frames[:20]]
    source = make_clip(tmp_path / "phone.mp4", stored, rotation=degrees)
    out = tmp_path / "out" / "o.mp4"
    code, stdout, stderr, frames = video_job(capsys, source, out, "--no-mesh", "--no-landmarks")
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out}: 640x480 at 30.000 fps")
    result, decoded = frames_of(out)
    assert result.rotation == 0 and result.size == (640, 480)  # upright pixels, no metadata needed
    assert np.abs(decoded[0].astype(int) - sample_frames[0]).mean() < 6  # the picture the right way up
    assert len(frames) == 20 and all(len(f["faces"]) == 1 for f in frames)


def test_odd_frame_size_is_kept_exactly(capsys, tmp_path, sample_frames):
    odd = [np.ascontiguousarray(cv2.resize(f, (641, 479), interpolation=cv2.INTER_AREA)) for f in sample_frames[:20]]
    source = make_clip(tmp_path / "odd.mp4", odd)
    out = tmp_path / "out" / "o.mp4"
    code, stdout, stderr, frames = video_job(capsys, source, out)
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {out}: 641x479 at 30.000 fps")
    result, decoded = frames_of(out)
    assert result.size == (641, 479) and len(decoded) == 20
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"  # docs/cli.md: odd sizes
    assert all(len(f["faces"]) == 1 for f in frames) and {(f["width"], f["height"]) for f in frames} == {(641, 479)}
