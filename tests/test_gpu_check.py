"""scripts/gpu_check.sh and scripts/bench_gpu.py without a GPU: the dry run's plan and the n/a rows
(syntax and shellcheck of every script: test_shell_scripts.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.sh"


def test_dry_run_plans_a_fresh_gpu_environment_without_running_anything(tmp_path):
    venv = tmp_path / "venv"
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--venv", str(venv), "--out", str(tmp_path / "out"),
                           "--clip", str(REPO / "assets" / "sample.mp4")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    commands = [line[2:] for line in done.stdout.splitlines() if line.startswith("+ ")]
    text = "\n".join(commands)
    assert not venv.exists()  # nothing ran
    order = [f"-m venv --clear {venv}", "install .[dev]", "uninstall -y onnxruntime", "install onnxruntime-gpu",
             "tests/test_gpu.py", "scripts/bench_gpu.py", "--device cuda", "--device tensorrt"]
    positions = [text.find(item) for item in order]
    assert -1 not in positions, (order, text)
    assert positions == sorted(positions)  # onnxruntime leaves before onnxruntime-gpu comes in
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "gpu_tests: (dry run)" in summary and "gpu_bench: (dry run)" in summary


@pytest.mark.parametrize("args", [["--bogus"], ["--clip", "/no/such/video.mp4"], ["--wheels", "/no/such/dir"]])
def test_bad_usage_exits_2(tmp_path, args):
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run", "--out", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "gpu_check.sh:" in done.stderr


def test_bench_gpu_reports_gpu_rows_as_not_available_on_a_cpu_install(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a GPU build is installed: the real rows run in test_gpu.py / gpu_check.sh")
    out = tmp_path / "gpu.json"
    env = {**os.environ, "PYTHONPATH": str(REPO / "app"), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_gpu.py"), "--batches", "1", "8",
                           "--json", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["cuda fp32"]["reason"].startswith("n/a: CUDAExecutionProvider is not in this onnxruntime")
    assert "reason" in rows["tensorrt fp16"]
    cpu = rows["cpu int8 (1 thread)"]
    assert cpu["batch8_faces_per_s"] > 0 and cpu["vs_cpu_fp32"]["mean_px"] < 1.0
    assert "fp16: n/a" in done.stdout
    failed = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_gpu.py"), "--batches", "1", "--require-gpu"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert failed.returncode == 1 and "CUDAExecutionProvider" in failed.stderr
