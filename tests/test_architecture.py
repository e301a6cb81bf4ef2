"""The architecture's rules, checked: no module imports a shell, the ground floor imports no video
library, and every shell's frame goes through the one engine step (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "app" / "frnet"
SHELLS = ("frnet.cli", "frnet.gui", "frnet.entry", "frnet.__main__")  # entry: the console script


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_shell(module: str) -> bool:
    return any(module == shell or module.startswith(shell + ".") for shell in SHELLS)


def test_no_module_imports_a_shell_except_the_shells():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        if _is_shell(name):
            continue
        shells = sorted(m for m in _imports(path) if _is_shell(m))
        if shells:
            offenders[name] = shells
    assert offenders == {}


def test_every_module_says_its_job_in_a_docstring():
    missing = [_module_name(p) for p in sorted(PACKAGE.rglob("*.py"))
               if not (ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or "").strip()]
    assert missing == []


def test_ground_floor_and_mesh_export_import_no_video_library():
    code = "import sys, frnet.files, frnet.export; print('av' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [np.zeros((0, 8, 3), np.uint8), np.zeros((8, 0, 3), np.uint8),
                                 np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), [[0, 0, 0]]])
def test_one_frame_check_everywhere(bad):
    from frnet.files import check_rgb_image
    from frnet.render import CPURenderer

    with pytest.raises(ValueError):
        check_rgb_image(bad)
    with pytest.raises(ValueError):
        CPURenderer().render(bad, [])


def test_engine_run_times_every_stage_and_returns_the_picture():
    from frnet.engine import STAGES, Engine, EngineOptions
    from frnet.pipeline import PipelineOptions

    frame = np.random.default_rng(0).integers(90, 110, (120, 160, 3), dtype=np.uint8)
    with Engine.create(EngineOptions(pipeline=PipelineOptions(mode="video"), renderer="cpu")) as engine:
        result, picture = engine.run(frame, 0)
        with pytest.raises(ValueError):
            engine.run(np.zeros((0, 160, 3), np.uint8), 33)  # the pipeline's check is the shared one
    assert result.faces == [] and set(STAGES) <= set(result.timings_ms)
    assert picture.shape == frame.shape and np.array_equal(picture, frame)  # nothing to draw
