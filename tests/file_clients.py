"""Real clients for the files frnet writes, shared by the tests: the Khronos glTF validator (npm
``gltf-validator`` run by node) and Blender (``bpy`` from PyPI, in its own environment).

Both are optional on a developer's machine: :func:`gltf_validator` and :func:`blender_python`
return the reason they are missing, and tests skip with it. ``make tools`` installs the validator
into ``.cache/gltf-validator``, ``make blender-env`` creates ``.venv-blender``; ``.ci/run`` does both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VALIDATOR_DIR = Path(os.environ.get("FRNET_GLTF_VALIDATOR_DIR", REPO / ".cache" / "gltf-validator"))
BLENDER_PYTHON = Path(os.environ.get("FRNET_BLENDER_PYTHON", REPO / ".venv-blender" / "bin" / "python"))


def gltf_validator() -> tuple[list[str] | None, str]:
    """``(command prefix, "")`` to run the validator, or ``(None, why not)``."""
    node = shutil.which("node")
    if node is None:
        return None, "node is not installed (apt-get install nodejs npm; then make tools)"
    if not (VALIDATOR_DIR / "node_modules" / "gltf-validator").is_dir():
        return None, f"npm gltf-validator is not installed in {VALIDATOR_DIR} (run: make tools)"
    return [node, str(REPO / "scripts" / "validate_gltf.mjs")], ""


def validate_gltf(*paths: Path) -> list[dict]:
    """The validator's report for each file: ``numErrors``, ``numWarnings``, ``numInfos``, ``numHints``, ``messages``."""
    command, why = gltf_validator()
    if command is None:
        raise RuntimeError(why)
    env = dict(os.environ, NODE_PATH=str(VALIDATOR_DIR / "node_modules"))
    done = subprocess.run([*command, *map(str, paths)], capture_output=True, text=True, timeout=300, env=env,
                          check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def blender_python() -> tuple[Path | None, str]:
    """``(python with bpy, "")`` or ``(None, why not)``."""
    if not BLENDER_PYTHON.is_file():
        return None, f"no Blender environment at {BLENDER_PYTHON.parent.parent} (run: make blender-env; bpy from PyPI)"
    probe = subprocess.run([str(BLENDER_PYTHON), "-c", "import bpy"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        return None, f"bpy does not import in {BLENDER_PYTHON}: {probe.stderr.strip().splitlines()[-1:]}"
    return BLENDER_PYTHON, ""


def blender_inspect(path: Path, fps: float, sample_frames: list[int] = ()) -> dict:
    """What Blender's glTF importer makes of ``path`` (see scripts/blender_inspect.py)."""
    python, why = blender_python()
    if python is None:
        raise RuntimeError(why)
    done = subprocess.run([str(python), str(REPO / "scripts" / "blender_inspect.py"), str(path), "--fps", str(fps),
                           "--sample-frames", ",".join(map(str, sample_frames))],
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
