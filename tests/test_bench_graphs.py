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


def test_loop_parts_script_compares_old_and_new_forms():
    """scripts/bench_loop_parts.py: every row timed (warm / cold), the two dense forms agree (it
    exits otherwise), and bad usage is one error line."""
    script = REPO / "scripts" / "bench_loop_parts.py"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), "--repeats", "3"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("| ") and "µs" not in line]
    assert len(table) == 7  # 4 crop factors, dense mesh, smoothing, Euler angles
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        now_warm, now_cold = (float(v) for v in cells[2].split(" / "))
        assert now_warm > 0 and now_cold > 0
    bad = subprocess.run([sys.executable, str(script), "--repeats", "0"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "--repeats" in bad.stderr


def test_per_round_report_splits_rounds_by_the_hosts_speed():
    if yardstick_path()[0] is None:
        pytest.skip(yardstick_path()[1])
    done = _run(f"int8={REPO / 'models' / 'mobilefrnet_v2_int8.onnx'}", "--rounds", "4", "--per-round")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    rounds = [line for line in lines if line.strip().startswith("round ")]
    assert len(rounds) == 4 and all("yardstick" in r and "int8" in r for r in rounds)
    halves = [line for line in lines if "half (" in line]
    assert [h.split()[0] for h in halves] == ["faster", "slower"]
    assert sum(int(h.split("(")[1].split()[0]) for h in halves) == 4


def test_split_rules_select_the_layers_they_name():
    """--splits: the node selections behind the variants (Layer1; the multi-scale filters)."""
    import importlib.util

    import onnx

    spec = importlib.util.spec_from_file_location("bench_graphs", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    graph = onnx.load(str(REPO / "models" / "mobilefrnet_v2.onnx")).graph
    layer1 = bench._stages(graph, (0,))
    assert layer1 and all(name.startswith("/net/stages/stages.0/") for name in layer1)
    filters = bench._stages(graph, (3,), "/body/body.1/")
    convs = [n for n in graph.node if n.name in set(filters) and n.op_type == "Conv"]
    # Layer4: one stride-2 block (its four groups fused into one depthwise conv at export) and three
    # stride-1 blocks of four hierarchical groups.
    assert len(convs) == 1 + 3 * 4 and all(n.name.startswith("/net/stages/stages.3/") for n in convs)
    assert all(any(a.name == "group" and a.i > 1 for a in n.attribute) for n in convs)
