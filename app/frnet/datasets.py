"""Readers for the annotation formats frnet evaluates and trains on, and the shared data layout.

Pure numpy/stdlib so the evaluation command can use them without torch or the build tools.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from .errors import InputError

NUM_LANDMARKS = 68
LANDMARK_CSV_HEADER = ["image"] + [f"{axis}{i}" for i in range(NUM_LANDMARKS) for axis in "xy"]


def shared_data_dir() -> Path | None:
    """The read-only development data folder (``../shared/data`` beside the checkout), if present.

    ``FRNET_SHARED_DIR`` points elsewhere (to the folder that contains ``data/``).
    """
    override = os.environ.get("FRNET_SHARED_DIR")
    root = Path(override) if override else Path(__file__).resolve().parents[2].parent / "shared"
    data = root / "data"
    return data if data.is_dir() else None


def read_landmarks_csv(path: str | Path) -> dict[str, np.ndarray | None]:
    """Read ``image,x0,y0,…,x67,y67`` rows → ``{image: (68, 2) float array, or None if cells are empty}``.

    Raises:
        InputError: unreadable file, wrong header or a malformed row (the message names the line).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: e.g. a cell over 128 KiB
        raise InputError(f"cannot read landmark CSV {path}: {exc}") from exc
    if not rows or [c.strip() for c in rows[0]] != LANDMARK_CSV_HEADER:
        raise InputError(f"{path}: expected the header image,x0,y0,…,x67,y67")
    result: dict[str, np.ndarray | None] = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(LANDMARK_CSV_HEADER):
            raise InputError(f"{path}:{line_number}: expected {len(LANDMARK_CSV_HEADER)} cells, got {len(row)}")
        cells = [c.strip() for c in row[1:]]
        if all(c == "" for c in cells):
            result[row[0]] = None
            continue
        try:
            values = np.array([float(c) for c in cells], dtype=np.float64)
        except ValueError as exc:
            raise InputError(f"{path}:{line_number}: non-numeric landmark cell ({exc})") from exc
        if not np.all(np.isfinite(values)):
            raise InputError(f"{path}:{line_number}: landmark cells must be finite numbers")
        result[row[0]] = values.reshape(NUM_LANDMARKS, 2)
    return result


_PTS_BODY = re.compile(r"\{(.*?)\}", re.S)


def read_pts(path: str | Path) -> np.ndarray:
    """Read a menpo/iBUG ``.pts`` file → ``(n, 2)`` 0-based pixel coordinates.

    The format stores 1-based pixel centres, so 1 is subtracted.

    Raises:
        InputError: unreadable or malformed file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read .pts file {path}: {exc}") from exc
    header = re.search(r"n_points\s*:\s*([0-9]{1,9})(?![0-9])", text)  # bounded: int() refuses > 4300 digits
    body = _PTS_BODY.search(text)
    if header is None or body is None:
        raise InputError(f"{path}: not a .pts file (needs 'n_points:' and a {{ … }} block)")
    try:
        values = np.array(body.group(1).split(), dtype=np.float64)
    except ValueError as exc:
        raise InputError(f"{path}: non-numeric coordinates ({exc})") from exc
    count = int(header.group(1))
    if values.size != 2 * count or not np.all(np.isfinite(values)):
        raise InputError(f"{path}: n_points is {count} but the block holds {values.size} finite numbers")
    return values.reshape(count, 2) - 1.0


def ytf68_person(image_name: str) -> str:
    """Person of a ytf68 image: the file name minus ``training_``/``test_`` and the trailing ``_NN.jpg``."""
    stem = re.sub(r"^(training_|test_)", "", Path(image_name).name)
    return re.sub(r"_\d+\.(jpg|jpeg|png)$", "", stem, flags=re.I)


def split_persons(persons: list[str], validation_fraction: float = 0.15, seed: int = 0) -> set[str]:
    """Deterministic person-level validation split: returns the validation persons.

    Uses a hash of the name (not the list order), so adding persons never moves existing ones.
    """
    import hashlib

    chosen = set()
    for person in sorted(set(persons)):
        digest = hashlib.sha256(f"{seed}:{person}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 < validation_fraction:
            chosen.add(person)
    return chosen
