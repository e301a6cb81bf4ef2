"""The library API: ``import frnet`` stays light, the BLAS thread cap where stages are built, and
(after the library API lands) the docs/api.md example run as written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed (a dependency of frnet)")


def run_python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                               "MKL_NUM_THREADS")}
    environ |= {"PYTHONPATH": os.pathsep.join(sys.path)} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


BLAS_THREADS = ("import numpy, threadpoolctl\n"
                "def blas():\n"
                "    return sorted({p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas'})\n"
                "before = blas()\n"
                "from frnet.pipeline import Pipeline, PipelineOptions\n"
                "pipeline = Pipeline(PipelineOptions(mode='image'))\n"
                "print(before, blas())\n")


def test_pipeline_caps_blas_threads_even_after_numpy_loaded():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: BLAS runs one thread anyway")
    before, after = run_python(BLAS_THREADS).strip().split("] [")
    assert before.strip("[]") != "1", f"BLAS already ran one thread ({before}); the test would prove nothing"
    assert after.strip("[]") == "1"


def test_a_thread_count_the_user_chose_is_kept():
    before, after = run_python(BLAS_THREADS, OPENBLAS_NUM_THREADS="2").strip().split("] [")
    assert before.strip("[]") == after.strip("[]") == "2"
