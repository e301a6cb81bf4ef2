"""``frnet-app doctor`` on this machine and on deliberately broken setups: a missing model file, no
OpenGL, no display, two OpenCVs, both ONNX Runtime builds. Also: the shipped checksums match the
model files, and OpenCV's Qt 5 variables never reach the desktop app's Qt."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frnet import doctor
from frnet.cli import main as cli_main
from frnet.render import GLUnavailableError

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"


def base_environ(**changes: str | None) -> dict[str, str]:
    """``os.environ`` without display variables, plus ``changes`` (``None`` removes a variable)."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "FRNET_MODELS_DIR")}
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


def by_name(report: doctor.Report) -> dict[str, doctor.Check]:
    return {check.name: check for check in report.checks}


# ------------------------------------------------------------------------------------ the verdict


def test_exit_code_follows_what_the_cli_and_the_gui_need():
    healthy = [doctor.Check(name, doctor.OK, "fine") for name in doctor.NEEDED_BY]
    assert doctor.Report(healthy).ok
    # Information-only checks never fail the verdict; a GUI-only failure leaves the CLI usable.
    warned = [*healthy[:-1], doctor.Check("cameras", doctor.WARN, "no camera")]
    assert doctor.Report(warned).ok
    no_display = [c if c.name != "display" else doctor.Check("display", doctor.FAIL, "no display") for c in healthy]
    report = doctor.Report(no_display)
    assert report.can_run("cli") and not report.can_run("gui") and not report.ok
    assert "the command line can run; the desktop app cannot" in doctor.format_report(report)


def test_json_form_and_exit_code_agree(capsys, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    code = cli_main(["doctor", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == (0 if document["ok"] else 1)
    assert [c["name"] for c in document["checks"]] == list(doctor.NEEDED_BY)
    for check in document["checks"]:
        assert check["status"] in ("ok", "warn", "fail") and check["summary"]
        assert check["status"] == "ok" or check["fix"], check  # whatever is not ok comes with its fix
    checks = {c["name"]: c for c in document["checks"]}
    # This machine: the shipped models, a CPU provider that really loads, and the engine on the sample.
    assert checks["models"]["status"] == "ok", checks["models"]
    assert checks["onnxruntime"]["status"] in ("ok", "warn") and "CPUExecutionProvider: loads" in checks["onnxruntime"]["details"]
    assert checks["engine"]["status"] == "ok" and "1 face(s)" in checks["engine"]["summary"], checks["engine"]
    assert checks["display"]["status"] == "ok" and "offscreen" in checks["display"]["summary"]


# ----------------------------------------------------------------------------------------- faults


@pytest.fixture()
def models_without_int8(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for path in MODELS.iterdir():
        if path.is_file() and path.name != "mobilefrnet_v2_int8.onnx":
            shutil.copy2(path, folder / path.name)
    return folder


def test_missing_model_file_is_named_with_the_fix(models_without_int8, capsys, monkeypatch):
    report = doctor.run_checks(base_environ(FRNET_MODELS_DIR=str(models_without_int8), QT_QPA_PLATFORM="offscreen"))
    checks = by_name(report)
    assert checks["models"].status == doctor.FAIL
    assert "mobilefrnet_v2_int8.onnx" in checks["models"].summary and "FRNET_MODELS_DIR" in checks["models"].fix
    assert checks["engine"].status == doctor.FAIL  # the CPU graph cannot load
    assert not report.can_run("cli") and not report.ok
    # Through the command line: exit 1 and the same explanation.
    monkeypatch.setenv("FRNET_MODELS_DIR", str(models_without_int8))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL models" in out and "mobilefrnet_v2_int8.onnx" in out and "fix:" in out


def test_changed_model_file_fails_unless_deliberately_overridden(tmp_path, models_without_int8):
    (models_without_int8 / "mobilefrnet_v2_int8.onnx").write_bytes(b"not the shipped graph")
    check = doctor.check_models(base_environ(FRNET_MODELS_DIR=str(models_without_int8)))
    assert check.status == doctor.WARN and "differ" in check.summary  # a custom models folder: a warning


def test_no_opengl_is_explained_and_the_cpu_renderer_named(monkeypatch):
    from frnet.render import gl

    def no_context():
        raise GLUnavailableError("cannot create a headless OpenGL 3.3 context (egl: libEGL.so.1 not found)")

    monkeypatch.setattr(gl, "create_headless_context", no_context)
    report = doctor.run_checks(base_environ(QT_QPA_PLATFORM="offscreen"))
    check = by_name(report)["opengl"]
    assert check.status == doctor.WARN and "OpenCV renderer" in check.summary
    assert "libEGL.so.1 not found" in check.details[0] and "libegl1" in check.fix and "libgl1-mesa-dri" in check.fix
    assert report.can_run("cli") and report.can_run("gui") or by_name(report)["packages"].status == doctor.FAIL


def test_no_display_fails_the_gui_only():
    check = doctor.check_display(base_environ())
    assert check.status == doctor.FAIL and "no display" in check.summary
    assert "xvfb-run frnet-app" in check.fix and "command-line jobs work" in check.summary
    assert check.needed_by == ("gui",)


def test_offscreen_platform_starts_a_real_qapplication_without_opencvs_plugin_path():
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("OpenCV is not installed")
    from frnet.qt_env import opencv_package_dir

    leaked = str(opencv_package_dir() / "qt" / "plugins")
    check = doctor.check_display(base_environ(QT_QPA_PLATFORM="offscreen", QT_QPA_PLATFORM_PLUGIN_PATH=leaked))
    assert check.status == doctor.OK and "'offscreen'" in check.summary, check
    assert any("QT_QPA_PLATFORM_PLUGIN_PATH" in d for d in check.details)


def test_missing_xcb_libraries_name_their_debian_packages(monkeypatch):
    monkeypatch.setattr(doctor, "missing_libraries", lambda path: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    if doctor._pyqt_plugin("libqxcb.so") is None:
        pytest.skip("PyQt6's xcb plugin is not installed here")
    check = doctor.check_display(base_environ(DISPLAY=":99"))
    assert check.status == doctor.FAIL and "xcb" in check.summary
    assert check.fix == "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"


def test_two_opencvs_and_two_onnxruntimes_are_refused_with_the_fix(monkeypatch):
    names = doctor._distribution_names()
    monkeypatch.setattr(doctor, "_distribution_names",
                        lambda: names | {"opencv-python-headless", "opencv-contrib-python", "onnxruntime", "onnxruntime-gpu"})
    check = doctor.check_packages(base_environ())
    assert check.status == doctor.FAIL
    assert "OpenCV distributions" in check.summary and "pip uninstall -y opencv-python-headless" in check.fix
    assert "onnxruntime and onnxruntime-gpu" in check.summary


def test_no_camera_is_a_warning_only():
    check = doctor.check_cameras(base_environ())
    assert check.status in (doctor.OK, doctor.WARN) and check.needed_by == ()


# --------------------------------------------------------------------------------- shipped files


def test_shipped_checksums_match_the_model_files():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import model_checksums
    finally:
        sys.path.pop(0)
    assert (MODELS / "SHA256SUMS").read_text(encoding="utf-8") == model_checksums.checksums_text(), (
        "a model file changed: run `.venv/bin/python scripts/model_checksums.py` and commit models/SHA256SUMS")


def test_gui_drops_opencvs_qt_variables_before_qt_starts(tmp_path):
    """cv2 (opencv-contrib-python) points QT_QPA_PLATFORM_PLUGIN_PATH at its Qt 5 plugins on import;
    the desktop app's QApplication must not see it."""
    script = (
        "import os, cv2\n"
        "from pathlib import Path\n"
        "from frnet.qt_env import opencv_package_dir\n"
        "set_by_cv2 = os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH', '')\n"
        "from frnet.gui.app import make_application\n"
        "app = make_application()\n"
        "from PyQt6.QtCore import QCoreApplication\n"
        "cv2_dir = str(opencv_package_dir())\n"
        "print(repr(str(Path(set_by_cv2).resolve()).startswith(cv2_dir)), repr(os.environ.get('QT_QPA_PLATFORM_PLUGIN_PATH')),\n"
        "      any(str(Path(p).resolve()).startswith(cv2_dir) for p in QCoreApplication.libraryPaths()), app.platformName())\n"
    )
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("OpenCV is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")} | {
        "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": os.pathsep.join(sys.path), "XDG_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    set_by_cv2, left, in_library_paths, platform_name = run.stdout.split()
    if set_by_cv2 != "True":
        pytest.skip("this OpenCV build sets no Qt variables")
    assert left == "None" and in_library_paths == "False" and platform_name == "offscreen"
