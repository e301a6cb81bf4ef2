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
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from frnet.video import MAX_DECODE_WARNINGS, VideoReader
from support import (
    SAMPLE,
    assert_one_error_line,
    damage_middle,
    faststart_copy,
    make_bad_video,
    make_clip,
    run_cli,
)

FAST = ("--renderer", "cpu", "--preset", "ultrafast")  # the overlay and encoder settings do not matter here


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
