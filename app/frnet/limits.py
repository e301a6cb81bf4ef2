"""The bounds frnet puts on what a user can ask for, in one place (docs/reliability.md, "Bounds").

Each bound keeps a request that would otherwise crash, hang or exhaust the machine from reaching
the library that would choke on it, and each check raises an error that says what the bound is:

* :func:`check_threads` — worker threads: 1 to :func:`max_threads` (twice the CPU cores this
  process may use). ``--threads 10000`` would start thousands of ONNX Runtime, OpenCV and x264
  threads and never finish.
* :func:`check_camera_index` — camera numbers 0 to :data:`MAX_CAMERA_INDEX`. OpenCV reads a
  negative number as "any camera" (and segfaults on some builds) and 100 or more as a backend
  code plus a camera number; numbers past a C ``int`` raise ``OverflowError``.
* :func:`check_image_pixels` — decoded images up to :data:`MAX_IMAGE_PIXELS` pixels: a small
  file can decode to gigabytes (a "decompression bomb").
* :func:`check_frame_rate` — frame rates from :data:`MIN_FPS` (one frame a day: time-lapses) to
  :data:`MAX_FPS`.
* :data:`AAC_MAX_SAMPLE_RATE` / :data:`AAC_SAMPLE_RATE` — AAC (the audio of MP4/MOV outputs)
  stores at most 96 kHz; faster audio is resampled to 48 kHz (:class:`frnet.video.VideoWriter`).
"""

from __future__ import annotations

import os
from fractions import Fraction

from .errors import CameraError, InputError

THREADS_PER_CORE = 2
MAX_CAMERA_INDEX = 99
MAX_IMAGE_PIXELS = 100_000_000  # 10,000 × 10,000; an 8000 × 8000 photo peaks at 1.0–1.6 GB
MIN_FPS = Fraction(1, 86_400)
MAX_FPS = Fraction(10_000)
AAC_MAX_SAMPLE_RATE = 96_000
AAC_SAMPLE_RATE = 48_000


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def max_threads() -> int:
    """The most worker threads frnet accepts: :data:`THREADS_PER_CORE` × :func:`usable_cores`."""
    return THREADS_PER_CORE * usable_cores()


def check_threads(threads: int, option: str = "--threads") -> int:
    """``threads`` if it is 1 … :func:`max_threads`.

    Raises:
        ValueError: outside the bound (the message names ``option`` and the bound).
    """
    limit = max_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= limit:
        raise ValueError(f"{option} must be 1 to {limit} ({THREADS_PER_CORE}x the {usable_cores()} CPU "
                         f"cores this process may use), not {threads}")
    return threads


def check_camera_index(index: int) -> int:
    """``index`` if it is a camera number OpenCV reads as one (0 … :data:`MAX_CAMERA_INDEX`).

    Raises:
        CameraError: outside the bound.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_CAMERA_INDEX:
        raise CameraError(f"camera number must be 0 to {MAX_CAMERA_INDEX} (the N of /dev/videoN), not {index}")
    return index


def check_image_pixels(pixels: int, path: object, size: tuple[int, int] | None = None) -> None:
    """Refuse an image of more than :data:`MAX_IMAGE_PIXELS` pixels before it is decoded.

    Raises:
        InputError: too many pixels (the message names ``path``, its size and the bound).
    """
    if pixels > MAX_IMAGE_PIXELS:
        dimensions = f"{size[0]}x{size[1]} is " if size else ""
        raise InputError(
            f"cannot read image {path}: {dimensions}{pixels / 1e6:.0f} megapixels, over frnet's "
            f"limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (it would need "
            f"{3 * pixels / 2**30:.1f} GiB decoded); scale it down first"
        )


def check_frame_rate(fps: Fraction | float, what: str = "frame rate") -> Fraction:
    """``fps`` as a ``Fraction`` if it is within :data:`MIN_FPS` … :data:`MAX_FPS`.

    Raises:
        ValueError: not a number in that range.
    """
    try:
        rate = Fraction(fps)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} must be a finite number of frames per second (fps), not {fps!r}") from None
    if not MIN_FPS <= rate <= MAX_FPS:
        raise ValueError(f"{what} {float(rate):.6g} fps is outside {float(MIN_FPS):.3g}–{float(MAX_FPS):g} fps "
                         f"(one frame a day to {MAX_FPS} a second)")
    return rate
