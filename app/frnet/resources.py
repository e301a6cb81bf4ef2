"""One place that finds the files frnet ships (``models/``, ``shaders/``).

In a source checkout they sit at the top of the repository, next to ``app/``; in an installed wheel
they are copied into the package as ``frnet/models`` and ``frnet/shaders`` (see pyproject.toml).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ResourceMissingError

_PACKAGE_DIR = Path(__file__).resolve().parent
# Order matters: an installed wheel's own copy first, then the source checkout.
_SEARCH_ROOTS = (_PACKAGE_DIR, _PACKAGE_DIR.parent.parent)
_KINDS = ("models", "shaders")


def resource_path(kind: str, name: str) -> Path:
    """Return the path of a shipped file, e.g. ``resource_path("models", "frnet_face_model_v1.npz")``.

    ``FRNET_MODELS_DIR`` / ``FRNET_SHADERS_DIR`` override the search (useful for alternative builds).

    Raises:
        ValueError: ``kind`` is not one of ``models`` or ``shaders``.
        ResourceMissingError: the file is nowhere to be found.
    """
    if kind not in _KINDS:
        raise ValueError(f"resource kind must be one of {_KINDS}, not {kind!r}")
    override = os.environ.get(f"FRNET_{kind.upper()}_DIR")
    roots = [Path(override)] if override else [root / kind for root in _SEARCH_ROOTS]
    for root in roots:
        candidate = root / name
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(r) for r in roots)
    raise ResourceMissingError(
        f"shipped file {kind}/{name} not found (searched {searched}); reinstall frnet "
        f"or rebuild it with the script named in models/README.md"
    )
