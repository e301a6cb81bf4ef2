"""The command line's process policy: stop signals and the standard streams (docs/cli.md).

:func:`process_policy` is entered first thing in :func:`frnet.cli.main`, before any heavy import
(numpy, OpenCV, ONNX Runtime, Qt), and undone when ``main`` returns (so calling ``main`` from a
test or a script leaves the process as it was):

* **SIGINT, SIGTERM and SIGHUP** all raise :class:`Interrupted` in the main thread. It is a
  ``KeyboardInterrupt``, so every ``finally``, ``with`` and ``except KeyboardInterrupt`` runs:
  temporary files are deleted, a webcam recording is finished (Ctrl-C is its normal stop), and the
  CLI prints one line and exits with ``128 + the signal number``: **130** (SIGINT), **143**
  (SIGTERM), **129** (SIGHUP). The default SIGTERM/SIGHUP action would kill the process on the
  spot and leave its temporary files behind. Further signals during that clean-up are counted and
  ignored (SIGKILL still works).
* **Closed standard streams.** A descriptor 0, 1 or 2 that is closed at start (``2>&-``) is opened
  on ``/dev/null``: otherwise the next file opened (an output video) would get that number and
  native libraries' log lines would land in it. A missing ``sys.stdout``/``sys.stderr`` is
  replaced the same way.
* **A reader that goes away** (``frnet-app … | head -1``): writing to stdout after the pipe closed
  is not an error of the job. :data:`sys.stdout` is wrapped so that a ``BrokenPipeError`` sends
  the rest of the output to ``/dev/null`` and the job's exit code stands.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; :attr:`exit_code` is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(self.signal_name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: BaseException) -> int:
    """The exit code for an interruption: ``128 + signum``, 130 for a plain ``KeyboardInterrupt``."""
    return exc.exit_code if isinstance(exc, Interrupted) else 128 + signal.SIGINT


def describe(exc: BaseException) -> str:
    """``"interrupted"`` for Ctrl-C, ``"interrupted (SIGTERM)"`` for the others."""
    if isinstance(exc, Interrupted) and exc.signum != signal.SIGINT:
        return f"interrupted ({exc.signal_name})"
    return "interrupted"


class _Handler:
    """Raises :class:`Interrupted` on the first stop signal; later ones are only counted."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, frame) -> None:
        self.received.append(signum)
        if len(self.received) == 1:
            raise Interrupted(signum)


class _PipeSafeStream:
    """A text stream whose writes after the reader went away (``BrokenPipeError``) go nowhere."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.reader_gone = False

    def _gone(self) -> None:
        self.reader_gone = True
        with contextlib.suppress(AttributeError, OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # the final flush at exit lands in /dev/null too
            os.close(devnull)

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _open_closed_descriptors() -> None:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115


@contextlib.contextmanager
def process_policy() -> Iterator[None]:
    """Install the policy of the module doc for the duration of the block (the main thread only;
    elsewhere only the streams are looked after)."""
    _open_closed_descriptors()
    saved_stdout = sys.stdout
    if not isinstance(sys.stdout, _PipeSafeStream):
        sys.stdout = _PipeSafeStream(sys.stdout)
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        handler = _Handler()
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
        if sys.stdout is not saved_stdout and isinstance(sys.stdout, _PipeSafeStream):
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            sys.stdout = saved_stdout
