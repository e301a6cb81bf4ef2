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


def _fake_nvidia_smi(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'Fake GPU, 580.00, 1 MiB'\n")
    smi.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def _carried(tmp_path: Path, package_dir: Path) -> dict:
    """What scripts/device_gpu_prepare.sh leaves on a lent machine, with ``package_dir`` packed in
    place of onnxruntime-gpu: parts in the carry folder, the manifest and crops beside them."""
    import hashlib
    import tarfile

    import numpy as np

    carry, devcarry = tmp_path / "carry", tmp_path / "devcarry"
    carry.mkdir()
    devcarry.mkdir()
    packed = tmp_path / "site.tar.xz"
    with tarfile.open(packed, "w:xz", preset=0) as tar:
        tar.add(package_dir, arcname=package_dir.name)
    data = packed.read_bytes()
    lines = ["# wheel onnxruntime_gpu-test.whl 0"]
    for i in range(0, 3):  # three parts, as the prepare script splits them
        part = data[i * len(data) // 3:(i + 1) * len(data) // 3]
        (carry / f"part.{i:02d}").write_bytes(part)
        lines.append(f"{hashlib.sha256(part).hexdigest()}  part.{i:02d}")
    (devcarry / "carry.sha256").write_text("\n".join(lines) + "\n")
    crops = np.random.default_rng(0).integers(0, 256, (8, 120, 120, 3), dtype=np.uint8)
    np.savez_compressed(devcarry / "crops.npz", crops=crops, source=np.array("8 test crops"))
    return {"FRNET_CARRY_DIR": str(carry), "FRNET_SITE_DIR": str(tmp_path / "site"), "FRNET_DEVCARRY": str(devcarry)}


def _carried_stand_in(tmp_path: Path, init_source: str) -> dict:
    """The environment of a --device-machine run whose carried "onnxruntime" is a one-file package
    with ``init_source`` as its ``__init__.py``."""
    package = tmp_path / "pkg" / "onnxruntime"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(init_source)
    return {**os.environ, **_fake_nvidia_smi(tmp_path / "bin"), "PYTHON": sys.executable,
            **_carried(tmp_path, package)}


def _device_machine(env: dict, out: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--device-machine", "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_device_machine_mode_unpacks_checks_and_runs_the_carried_runtime(tmp_path):
    """The whole --device-machine path, with this machine's CPU onnxruntime carried in place of the
    GPU build: the parts are checked and unpacked, the carried package is the one imported, the GPU
    tests run (and skip), and the bench fails with --require-gpu, as it must without a GPU."""
    ort = pytest.importorskip("onnxruntime")
    env = {**os.environ, **_fake_nvidia_smi(tmp_path / "bin"), **_carried(tmp_path, Path(ort.__file__).parent),
           "PYTHON": sys.executable, "OPENBLAS_NUM_THREADS": "1"}
    (Path(env["FRNET_CARRY_DIR"]) / "part.99").write_bytes(b"left by an earlier prepare")  # not in the manifest
    out = tmp_path / "out"
    done = _device_machine(env, out, timeout=600)
    summary = (out / "summary.txt").read_text()
    assert "gpu: Fake GPU" in summary
    assert f"providers: {ort.__version__}" in summary, summary  # the carried package was imported
    assert "gpu_tests: passed" in summary, (summary, done.stdout[-3000:])
    assert "gpu_bench: FAILED" in summary  # --require-gpu without a CUDA provider
    assert "video: n/a on the lent machine" in summary
    assert done.returncode == 1
    assert (tmp_path / "site" / "onnxruntime" / "__init__.py").is_file()


def test_device_machine_mode_refuses_damaged_or_missing_parts(tmp_path):
    env = _carried_stand_in(tmp_path, "raise ImportError('not a real build')\n")
    (Path(env["FRNET_CARRY_DIR"]) / "part.01").write_bytes(b"damaged")
    out = tmp_path / "out"
    done = _device_machine(env, out)
    assert done.returncode == 1 and "missing or damaged" in (out / "summary.txt").read_text()

    (Path(env["FRNET_DEVCARRY"]) / "crops.npz").unlink()
    missing = _device_machine(env, out)
    assert missing.returncode == 2 and "was not carried" in missing.stderr


def test_device_machine_mode_says_when_the_carried_runtime_does_not_import(tmp_path):
    env = _carried_stand_in(tmp_path, "raise ImportError('libcudart.so.13: cannot open shared object file')\n")
    out = tmp_path / "out"
    done = _device_machine(env, out)
    assert done.returncode == 1
    assert "does not import" in (out / "summary.txt").read_text()
    assert "libcudart.so.13" in (out / "providers.log").read_text()


def test_device_prepare_rejects_unknown_options():
    done = subprocess.run(["bash", str(REPO / "scripts" / "device_gpu_prepare.sh"), "--bogus"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unknown option --bogus" in done.stderr
    helped = subprocess.run(["bash", str(REPO / "scripts" / "device_gpu_prepare.sh"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "device tool" in helped.stdout


def test_bench_gpu_refuses_a_file_that_holds_no_crops(tmp_path):
    import numpy as np

    env = {**os.environ, "PYTHONPATH": str(REPO / "app"), "OPENBLAS_NUM_THREADS": "1"}
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, crops=np.zeros((2, 64, 64, 3), np.uint8), source=np.array("x"))
    for path in (wrong, tmp_path / "missing.npz"):
        done = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_gpu.py"), "--crops", str(path)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr, done.stderr
