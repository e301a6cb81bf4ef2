"""scripts/bench_graphs.py: graphs timed against the shared yardstick (as frnet-app bench does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frnet.bench import yardstick_path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench_graphs.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "app"), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=env)


def test_shipped_graph_against_the_yardstick():
    if yardstick_path()[0] is None:
        pytest.skip(yardstick_path()[1])
    done = _run(f"int8={REPO / 'models' / 'mobilefrnet_v2_int8.onnx'}", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.strip().startswith("int8:"))
    ratio = float(line.split(":")[1].split("×")[0])
    assert 0.2 < ratio < 5.0 and "2 rounds" in line


def test_a_missing_graph_is_a_usage_error(tmp_path):
    if yardstick_path()[0] is None:
        pytest.skip(yardstick_path()[1])
    done = _run(f"x={tmp_path / 'missing.onnx'}")
    assert done.returncode == 2 and "existing file" in done.stderr
