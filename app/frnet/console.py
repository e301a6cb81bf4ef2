"""What the command-line tools print: ``frnet-app: …`` lines, log set-up, progress bars, ``-q``/``-v``.

Shared by ``frnet-app`` (:mod:`frnet.cli`) and its subcommands (``bench``, ``eval``), so they all
speak alike: errors are one ``frnet-app: error: …`` line on stderr, log messages
``frnet-app: warning: …``, results go to stdout, and native libraries' own chatter on file
descriptor 2 can be muted. Nothing here knows about faces or jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator

PROG = "frnet-app"
EXIT_OK = 0
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``-q``/``-v``, shared by the jobs and the subcommands."""
    group = parser.add_argument_group("messages")
    group.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary, errors only")
    group.add_argument("-v", "--verbose", action="count", default=0,
                       help="more messages (-vv: debug), tracebacks with errors, native libraries' own logs")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, the muted-native set-up)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.levelname_lower = record.levelname.lower()
        return super().format(record)


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Messages of frnet's loggers go to stderr as ``frnet-app: warning: …`` lines."""
    logger = logging.getLogger("frnet")
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(f"{PROG}: %(levelname_lower)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    if quiet:
        logger.setLevel(logging.ERROR)
    else:
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG))


def error_line(message: object) -> None:
    """One ``frnet-app: error: …`` line on stderr."""
    text = " ".join(str(message).split()) or type(message).__name__
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def say(quiet: bool, message: str) -> None:
    """A result line on stdout (nothing with ``-q``)."""
    if not quiet:
        print(message, flush=True)


def progress_bar(quiet: bool):
    """A progress-bar factory for :mod:`frnet.jobs`: ``factory(total, unit)`` gives a tqdm bar on
    stderr, shown only when stderr is a terminal and ``quiet`` is off."""

    def factory(total: int | None, unit: str):
        from tqdm import tqdm

        return tqdm(total=total, unit=f" {unit}s", file=sys.stderr, dynamic_ncols=True, leave=False,
                    disable=quiet or not sys.stderr.isatty(), smoothing=0.1)

    return factory


@contextlib.contextmanager
def native_stderr_muted(enabled: bool) -> Iterator[None]:
    """Silence what native libraries write straight to file descriptor 2.

    MediaPipe's LiteRT runtime prints several INFO lines whenever a detector is created, first run
    or closed; they cannot be switched off from Python. Python's own ``sys.stderr`` (errors, log
    messages, the progress bar) is moved to a duplicate of the real stderr, and descriptor 2 to
    ``/dev/null``, for the duration. Nothing happens when ``sys.stderr`` is not descriptor 2
    (e.g. under pytest's ``capsys``).
    """
    try:
        use = enabled and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        use = False
    if not use:
        yield
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    python_stderr = os.fdopen(saved_fd, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                              errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    previous, sys.stderr = sys.stderr, python_stderr
    try:
        yield
    finally:
        python_stderr.flush()
        sys.stderr = previous
        os.dup2(saved_fd, 2)
        python_stderr.close()
