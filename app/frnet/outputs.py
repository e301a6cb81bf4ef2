"""Where an output may be written, and how, so that nothing is replaced that is not ours.

The policy (docs/reliability.md, "Outputs"), by what the output path names:

* **a regular file, or nothing yet** — written to a temporary file next to it and renamed into
  place when complete (never half-written);
* **a symbolic link** — the file it points to is written, the same way, next to that file; the
  link stays a link (a rename over the link would have turned it into a regular file);
* **a character device or a FIFO** (``/dev/null``, ``/dev/stdout`` on a pipe or a terminal, a
  named pipe) — the output is made in a temporary file first and then copied into the node in one
  go: the node is written in place, never replaced (a rename would have put a regular file where
  a system node was);
* **a folder, a block device or a socket** — refused (a disk written by a mistyped output path
  would be lost);
* **an input of the same run** (the same file by device and inode, e.g. a hard link, or the same
  resolved path) — refused, before any work starts.

:func:`check_output` applies all of it before a job starts (and proves the folder writable);
:class:`OutputTarget` does the writing for :func:`frnet.video.atomic_write` and
:class:`frnet.video.VideoWriter`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import OutputError


def _kind(path: Path) -> str:
    """``"new"``, ``"file"``, ``"stream"`` (character device, FIFO) or a refused kind's name."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links
    except FileNotFoundError:
        return "new"
    except OSError:
        return "new"  # e.g. a path under a file: reported when the folder is made
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return "stream"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are the same file (device and inode), or resolve to the same path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return Path(os.path.realpath(a)) == Path(os.path.realpath(b))


class OutputTarget:
    """How one output path is written (see the module doc).

    Attributes:
        path: the path as given.
        destination: the file really written: ``path``, or the file a symbolic link points to.
        in_place: True for character devices and FIFOs (copied in, never renamed over).

    Raises:
        OutputError: ``path`` is a folder, a block device, a socket or another special file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        kind = _kind(self.path)
        if kind == "folder":
            raise OutputError(f"cannot write {self.path}: it is a folder; give a file name")
        if kind not in ("new", "file", "stream"):
            raise OutputError(f"cannot write {self.path}: it is a {kind}; frnet writes only regular files, "
                              f"character devices and named pipes")
        self.in_place = kind == "stream"
        self.destination = self.path if self.in_place or not self.path.is_symlink() \
            else Path(os.path.realpath(self.path))

    def temp(self) -> Path:
        """Create an empty, uniquely named temporary file with the destination's suffix; return it.

        Next to the destination (so the final rename is one step on one file system), or in the
        system's temporary folder for in-place outputs. Mode 0666 minus the umask, like any new file.

        Raises:
            OutputError: the folder cannot be created or written.
        """
        path = self.destination
        if self.in_place:
            fd, name = tempfile.mkstemp(prefix=".frnet-", suffix=path.suffix)
            os.close(fd)
            return Path(name)
        existing = next((p for p in path.parents if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise OutputError(f"cannot write {self.path}: {existing} is a file, not a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                temp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
                try:
                    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                except FileExistsError:
                    continue
                os.close(fd)
                return temp
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.path}: {exc.strerror or exc}; choose a folder you can write to"
            ) from exc

    def commit(self, temp: Path) -> None:
        """Move the finished ``temp`` into place (rename), or copy it into a device or FIFO.

        Raises:
            OutputError: the rename or the copy failed (``temp`` is removed either way).
        """
        try:
            if self.in_place:
                with open(temp, "rb") as source, open(self.path, "wb") as sink:
                    shutil.copyfileobj(source, sink)
            else:
                os.replace(temp, self.destination)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        finally:
            discard(temp)


def discard(temp: Path) -> None:
    """Delete a temporary file if it is still there."""
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), option: str = "output") -> Path:
    """Check an output path before a job starts: not an input, not a refused kind, folder writable.

    Nothing is left behind: the nearest existing folder on the way to the destination is proved
    writable with a probe file that is removed at once (missing folders are created only when the
    output is written). In-place outputs (devices, FIFOs) are not probed: opening a FIFO would block
    until a reader comes.

    Raises:
        OutputError: the message names ``option`` and ``path``.
    """
    path = Path(path)
    for source in inputs:
        if same_file(Path(source), path):
            raise OutputError(f"{option} {path} is an input of this run ({source}); choose another file name")
    target = OutputTarget(path)
    if target.in_place:
        return path
    folder = next((p for p in target.destination.parents if p.exists()), Path("."))
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".frnet-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}; choose a folder you can write to") from exc
    return path


def refuse_inputs_among_outputs(inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike,
                                is_output_name: Callable[[str], bool], option: str = "--out") -> None:
    """Refuse a run whose outputs in ``out_dir`` would overwrite one of its own ``inputs``.

    ``is_output_name(name)`` says whether the run may write a file of that name into ``out_dir``
    (e.g. ``a_overlay.png`` for an input ``a.jpg``).

    Raises:
        OutputError: naming the input, before any work starts.
    """
    out_dir = Path(out_dir)
    for source in inputs:
        source = Path(source)
        if is_output_name(source.name) and same_file(source.parent, out_dir):
            raise OutputError(f"{option} {out_dir}: the output {source.name} is an input of this run ({source}); "
                              f"choose a separate output folder")
