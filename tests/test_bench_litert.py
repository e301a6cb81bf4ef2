"""scripts/bench_litert.py (LiteRT beside ONNX Runtime, docs/performance.md): the converted graph
matches the checkpoint and every graph gets a ratio. Needs ``make litert-env`` (skipped without)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from support import REPO

from frnet.bench import yardstick_path

PYTHON = REPO / ".venv-litert" / "bin" / "python"
YARDSTICK, WHY_NOT = yardstick_path()


@pytest.mark.skipif(not PYTHON.is_file(), reason="no .venv-litert (make litert-env): LiteRT is not part of frnet")
@pytest.mark.skipif(YARDSTICK is None, reason=str(WHY_NOT))
@pytest.mark.skipif(not (REPO / "checkpoints" / "mobilefrnet_v2_ft" / "best.pt").is_file(),
                    reason="the shipped network's checkpoint is missing")
def test_litert_conversion_matches_and_is_timed(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", FRNET_SHARED_DIR=str(YARDSTICK.parents[1]))
    done = subprocess.run([str(PYTHON), str(REPO / "scripts" / "bench_litert.py"), "--rounds", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "bench_litert.json").read_text())
    assert report["parity"] <= 1e-5
    assert set(report["ratios"]) == {"ONNX Runtime int8 (shipped)", "LiteRT float32", "LiteRT int8"}
    for ratio in report["ratios"].values():
        assert 0.05 < ratio["median"] < 20  # a real time, not a failed or skipped call
    assert (tmp_path / "mobilefrnet_v2_int8.tflite").stat().st_size < (tmp_path / "mobilefrnet_v2_fp32.tflite").stat().st_size / 2
