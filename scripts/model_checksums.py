"""Write ``models/SHA256SUMS``: the SHA-256 of every shipped model file, in ``sha256sum`` format.

``frnet-app doctor`` compares the installed model files against it, and
``tests/test_doctor.py`` fails when a model file changes without it. Run after rebuilding a model::

    .venv/bin/python scripts/model_checksums.py      # then: cd models && sha256sum -c SHA256SUMS
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models"
# Documentation and checksum files are not model files.
NOT_MODELS = (".md", ".sha256")


def model_files(folder: Path = MODELS) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix not in NOT_MODELS and p.name != "SHA256SUMS")


def checksums_text(folder: Path = MODELS) -> str:
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in model_files(folder))


def main() -> int:
    (MODELS / "SHA256SUMS").write_text(checksums_text(), encoding="utf-8")
    print(f"wrote {MODELS / 'SHA256SUMS'}: {len(model_files())} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
