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

    A UTF-8 byte-order mark (spreadsheets save one) is accepted. An image named on two rows with
    the same cells counts once; with different cells it is an error.

    Raises:
        InputError: unreadable file, wrong header, a malformed row (the message names the line), or
            conflicting rows for one image (the message names the image and both lines).
    """
    path = Path(path)
    try:
        # surrogateescape: image names that are not UTF-8 (frnet.export writes them as their bytes)
        with open(path, newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # csv.Error: e.g. a cell over 128 KiB
        raise InputError(f"cannot read landmark CSV {path}: {exc}") from exc
    if not rows or [c.strip() for c in rows[0]] != LANDMARK_CSV_HEADER:
        raise InputError(f"{path}: expected the header image,x0,y0,…,x67,y67")
    result: dict[str, np.ndarray | None] = {}
    lines: dict[str, int] = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(LANDMARK_CSV_HEADER):
            raise InputError(f"{path}:{line_number}: expected {len(LANDMARK_CSV_HEADER)} cells, got {len(row)}")
        cells = [c.strip() for c in row[1:]]
        if row[0] in lines:
            first = lines[row[0]]
            if cells != [c.strip() for c in rows[first - 1][1:]]:
                raise InputError(f"{path}: image {row[0]!r} has two different rows (lines {first} and "
                                 f"{line_number}); keep one")
            continue
        lines[row[0]] = line_number
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


POSE_COLUMNS = ["yaw_deg", "pitch_deg", "roll_deg"]


def read_ground_truth_csv(path: str | Path) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
    """Ground-truth CSV ``image,x0,y0,…,x67,y67[,yaw_deg,pitch_deg,roll_deg]`` →
    ``{image: (landmarks (68, 2) with NaN for empty cells — e.g. self-occluded points — or None when
    every cell is empty, pose (3,) degrees with NaN for empty cells or None without pose columns)}``.

    Angles follow :mod:`frnet.geometry` (positive yaw turns the nose to the image's right).

    Raises:
        InputError: unreadable file, wrong header, a malformed row or a point with one coordinate.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read ground-truth CSV {path}: {exc}") from exc
    header = [c.strip() for c in rows[0]] if rows else []
    with_pose = header == LANDMARK_CSV_HEADER + POSE_COLUMNS
    if header != LANDMARK_CSV_HEADER and not with_pose:
        raise InputError(f"{path}: expected the header image,x0,y0,…,x67,y67 (optionally ,yaw_deg,pitch_deg,roll_deg)")
    result: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
    for line_number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path}:{line_number}: expected {len(header)} cells, got {len(row)}")
        try:
            values = np.array([float(c) if c.strip() else np.nan for c in row[1:]], dtype=np.float64)
        except ValueError as exc:
            raise InputError(f"{path}:{line_number}: non-numeric cell ({exc})") from exc
        if np.isinf(values).any():
            raise InputError(f"{path}:{line_number}: cells must be finite numbers or empty")
        points = values[:2 * NUM_LANDMARKS].reshape(NUM_LANDMARKS, 2)
        if (np.isnan(points).sum(axis=1) == 1).any():
            raise InputError(f"{path}:{line_number}: a point has only one coordinate")
        pose = values[2 * NUM_LANDMARKS:] if with_pose else None
        result[row[0]] = (None if np.isnan(points).all() else points, pose)
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
