"""The stream helpers (frnet.stream): the decoder and encoder threads of the video jobs and the bench."""

from __future__ import annotations

import numpy as np
import pytest

from frnet.stream import BackgroundWriter, Prefetcher


def test_prefetcher_yields_in_order_and_forwards_errors():
    with Prefetcher(range(10), depth=2) as frames:
        assert list(frames) == list(range(10))

    def broken():
        yield 1
        raise OSError("damaged file")

    with Prefetcher(broken()) as frames, pytest.raises(OSError, match="damaged"):
        list(frames)
    with Prefetcher(iter(range(10_000)), depth=2) as frames:  # closing early stops the worker
        assert next(iter(frames)) == 0


def test_background_writer_finishes_or_discards(tmp_path):
    from frnet.errors import OutputError
    from frnet.video import VideoReader, VideoWriter

    frame = np.zeros((48, 64, 3), np.uint8)
    with BackgroundWriter(VideoWriter(tmp_path / "ok.mp4", 25, (64, 48))) as writer:
        for _ in range(5):
            writer.write(frame)
    with VideoReader(tmp_path / "ok.mp4") as reader:
        assert sum(1 for _ in reader) == 5
    assert len(writer.encode_ms) == 5

    writer = BackgroundWriter(VideoWriter(tmp_path / "bad.mp4", 25, (64, 48)))
    writer.write(np.zeros((10, 10, 3), np.uint8))  # wrong size: fails in the worker
    with pytest.raises((ValueError, OutputError)):
        writer.close()
    with pytest.raises(KeyboardInterrupt), BackgroundWriter(VideoWriter(tmp_path / "stop.mp4", 25, (64, 48))) as w:
        w.write(frame)
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]
