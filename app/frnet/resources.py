"""One place that finds the files frnet ships (``models/``, ``shaders/``, ``assets/``, ``docs/`` and
the top-level ``debian-packages.txt``).

In a source checkout they sit at the top of the repository, next to ``app/``; in an installed wheel
they are copied into the package as ``frnet/models``, ``frnet/shaders``, … (see pyproject.toml).
``models/SHA256SUMS`` lists the SHA-256 of every shipped model file (``sha256sum`` format, written by
``scripts/model_checksums.py``); :func:`shipped_checksums` reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ResourceMissingError

_PACKAGE_DIR = Path(__file__).resolve().parent
# Order matters: an installed wheel's own copy first, then the source checkout.
_SEARCH_ROOTS = (_PACKAGE_DIR, _PACKAGE_DIR.parent.parent)
# "top": files at the top of the repository (the package folder itself in a wheel).
_KINDS = ("models", "shaders", "assets", "docs", "top")
CHECKSUMS_FILE = "SHA256SUMS"


def resource_path(kind: str, name: str) -> Path:
    """Return the path of a shipped file, e.g. ``resource_path("models", "frnet_face_model_v1.npz")``.

    ``FRNET_MODELS_DIR`` / ``FRNET_SHADERS_DIR`` override the search (useful for alternative builds).

    Raises:
        ValueError: ``kind`` is not one of ``models``, ``shaders``, ``assets``, ``docs`` or ``top``.
        ResourceMissingError: the file is nowhere to be found.
    """
    if kind not in _KINDS:
        raise ValueError(f"resource kind must be one of {_KINDS}, not {kind!r}")
    override = os.environ.get(f"FRNET_{kind.upper()}_DIR") if kind in ("models", "shaders") else None
    roots = [Path(override)] if override else shipped_dirs(kind)
    for root in roots:
        candidate = root / name
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(r) for r in roots)
    raise ResourceMissingError(
        f"shipped file {kind}/{name} not found (searched {searched}); reinstall frnet "
        f"or rebuild it with the script named in models/README.md"
    )


def shipped_dirs(kind: str) -> list[Path]:
    """Where the package's own copies of ``kind`` may be (ignoring ``FRNET_*_DIR``), first match first."""
    if kind not in _KINDS:
        raise ValueError(f"resource kind must be one of {_KINDS}, not {kind!r}")
    return [root if kind == "top" else root / kind for root in _SEARCH_ROOTS]


def shipped_checksums() -> dict[str, str]:
    """``{model file name: sha256 hex}`` from the package's own ``models/SHA256SUMS``.

    Raises:
        ResourceMissingError: the package has no ``SHA256SUMS``.
    """
    for root in shipped_dirs("models"):
        path = root / CHECKSUMS_FILE
        if path.is_file():
            checksums = {}
            for line in path.read_text(encoding="utf-8").splitlines():
                digest, _, name = line.strip().partition("  ")
                if digest and name:
                    checksums[name.lstrip("*")] = digest.lower()
            return checksums
    raise ResourceMissingError(f"models/{CHECKSUMS_FILE} not found; reinstall frnet")
