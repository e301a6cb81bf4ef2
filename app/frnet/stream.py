"""Stream helpers: overlap decoding and encoding with processing, one worker thread each.

* :class:`Prefetcher` iterates a frame source (a :class:`~frnet.video.VideoReader`, a camera, any
  iterable) in a worker thread, a few items ahead.
* :class:`BackgroundWriter` feeds a :class:`~frnet.video.VideoWriter` through a worker thread
  (PyAV releases the GIL while x264 works).

Both hand an error of their worker to the caller's thread and time each item (``decode_ms``,
``encode_ms``), which is what ``frnet-app bench`` reports as the decode and encode stages. They know
nothing of faces: the jobs (:mod:`frnet.jobs`) and the benchmark put them around the engine.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass

import numpy as np


class BackgroundWriter:
    """A :class:`~frnet.video.VideoWriter` fed through a worker thread, so that encoding overlaps
    with processing the next frame.

    Same ``write``/``close``/``abort`` and ``with`` behaviour as the writer it wraps; an error in the
    worker is raised by the next ``write`` or by ``close``. ``encode_ms`` holds each frame's time.
    """

    def __init__(self, writer, depth: int = 3) -> None:
        self.writer = writer
        self.encode_ms: list[float] = []
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="frnet-encoder", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            image = self._queue.get()
            if image is None:
                return
            if self._error is not None:
                continue  # failed: drop the rest
            try:
                start = time.perf_counter()
                self.writer.write(image)
                self.encode_ms.append((time.perf_counter() - start) * 1e3)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc

    @property
    def frames_written(self) -> int:
        return self.writer.frames_written

    @property
    def audio_mode(self) -> str | None:
        return self.writer.audio_mode

    def write(self, image_rgb: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(image_rgb)

    def _finish_worker(self, drop_pending: bool) -> None:
        if drop_pending:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Encode what is queued, then finish the file (see ``VideoWriter.close``)."""
        self._finish_worker(drop_pending=False)
        if self._error is not None:
            self.writer.abort()
            raise self._error
        self.writer.close()

    def abort(self) -> None:
        """Drop queued frames and delete the partial file (see ``VideoWriter.abort``)."""
        self._finish_worker(drop_pending=True)
        self.writer.abort()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class Prefetcher:
    """Iterates ``frames`` in a worker thread, up to ``depth`` items ahead, so decoding overlaps
    with processing. Iterate once; :meth:`close` (or leaving ``with``) stops the worker — do that
    before closing the source. ``decode_ms`` holds each item's time."""

    _END = object()

    def __init__(self, frames, depth: int = 3) -> None:
        self.decode_ms: list[float] = []
        self._source = iter(frames)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="frnet-decoder", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                start = time.perf_counter()
                item = next(self._source, self._END)
                if item is self._END:
                    break
                self.decode_ms.append((time.perf_counter() - start) * 1e3)
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller's thread
            self._put(_Failure(exc))
            return
        self._put(self._END)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
