"""``frnet-app doctor``: what this machine gives frnet, and how to fix what is missing.

One line per check, each with a status — ``ok``, ``warn`` (frnet works around it, e.g. the OpenCV
renderer without OpenGL) or ``FAIL`` (the command line or the desktop app cannot run) — and, when
something is missing, the command that fixes it:

* ``python``: the interpreter and platform;
* ``packages``: frnet's runtime dependencies and their versions; exactly one OpenCV distribution;
  ``onnxruntime`` and ``onnxruntime-gpu`` never both;
* ``onnxruntime``: each execution provider the installed build lists, tried on the shipped graph
  (ONNX Runtime silently drops a provider whose libraries fail to load, so it is read back);
* ``models``: every shipped model file against ``models/SHA256SUMS``;
* ``engine``: the detector and the network run on the bundled sample's first frame;
* ``opengl``: the headless OpenGL context the renderer uses (EGL vendor and renderer, or why not);
* ``display``: the Qt platform the desktop app would use, the shared libraries its xcb plugin
  lacks (with the Debian packages that hold them) and a real ``QApplication`` started in a child
  process;
* ``cameras``: the video devices found.

Exit code 0 when the command line and the desktop app can both run, 1 otherwise; ``--json`` prints
the same as one JSON document. Checks take an ``environ`` mapping so that tests can break a setup
without touching the real environment.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import FrnetError

OK, WARN, FAIL = "ok", "warn", "fail"
# What each check is needed by: the command-line jobs, the desktop app, or neither (information).
NEEDED_BY: dict[str, tuple[str, ...]] = {
    "python": ("cli", "gui"),
    "packages": ("cli", "gui"),
    "onnxruntime": ("cli", "gui"),
    "models": ("cli", "gui"),
    "engine": ("cli", "gui"),
    "opengl": (),
    "display": ("gui",),
    "cameras": (),
}
QT_START_TIMEOUT_S = 30
APT_FILE = "debian-packages.txt"


@dataclass
class Check:
    """One finding: ``status`` is :data:`OK`, :data:`WARN` or :data:`FAIL`; ``fix`` says what to run."""

    name: str
    status: str
    summary: str
    details: list[str] = field(default_factory=list)  # shown when it is not ok, and with -v
    fix: str | None = None
    inventory: list[str] = field(default_factory=list)  # shown with -v only (e.g. package versions)

    @property
    def needed_by(self) -> tuple[str, ...]:
        return NEEDED_BY.get(self.name, ())


@dataclass
class Report:
    checks: list[Check]

    def can_run(self, part: str) -> bool:
        return not any(c.status == FAIL and part in c.needed_by for c in self.checks)

    @property
    def ok(self) -> bool:
        return self.can_run("cli") and self.can_run("gui")

    def to_dict(self) -> dict:
        return {"ok": self.ok, "cli_ok": self.can_run("cli"), "gui_ok": self.can_run("gui"),
                "checks": [asdict(c) | {"needed_by": list(c.needed_by)} for c in self.checks]}


# ------------------------------------------------------------------------------------------ checks


def check_python(environ: Mapping[str, str]) -> Check:
    version = platform.python_version()
    return Check("python", OK, f"{platform.python_implementation()} {version} on {platform.system()} "
                               f"{platform.machine()}", [sys.executable])


def _frnet_requirements() -> list[str]:
    """Names of frnet's runtime requirements (no extras), from the installed metadata."""
    try:
        requires = importlib.metadata.requires("frnet") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r]


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _distribution_names() -> set[str]:
    names = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def check_packages(environ: Mapping[str, str]) -> Check:
    frnet_version = _installed("frnet")
    if frnet_version is None:
        from . import __version__

        frnet_version = f"{__version__} (not installed: run from a source folder)"
    wanted = _frnet_requirements() or ["numpy", "opencv-contrib-python", "onnxruntime", "mediapipe", "PyQt6",
                                       "moderngl", "av", "trimesh", "platformdirs", "tqdm", "mat4py"]
    installed = _distribution_names()
    inventory = [f"frnet {frnet_version}"]
    missing = []
    for name in wanted:
        if name == "onnxruntime" and "onnxruntime-gpu" in installed:
            name = "onnxruntime-gpu"  # the GPU build replaces the CPU one
        version = _installed(name)
        if version is None:
            missing.append(name)
        else:
            inventory.append(f"{name} {version}")
    opencvs = sorted(n for n in installed if n.startswith("opencv-"))
    problems, fixes = [], []
    if missing:
        problems.append(f"missing: {', '.join(missing)}")
        fixes.append(f"pip install {' '.join(missing)}  (or reinstall frnet: pip install --force-reinstall frnet)")
    if len(opencvs) > 1:
        keep = "opencv-contrib-python"
        others = [n for n in opencvs if n != keep]
        problems.append(f"{len(opencvs)} OpenCV distributions ({', '.join(opencvs)}) overwrite each other's cv2/ files")
        pinned = f"{keep}=={_installed(keep)}" if _installed(keep) else keep
        fixes.append(f"pip uninstall -y {' '.join(others)} && pip install --force-reinstall --no-deps {pinned}")
    if {"onnxruntime", "onnxruntime-gpu"} <= installed:
        problems.append("onnxruntime and onnxruntime-gpu are both installed and overwrite each other's files")
        fixes.append("pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu  "
                     "(or onnxruntime without a GPU)")
    if problems:
        return Check("packages", FAIL, "; ".join(problems), fix=" ; ".join(fixes), inventory=inventory)
    return Check("packages", OK, f"frnet {frnet_version.split()[0]}, {len(inventory) - 1} dependencies, "
                                 f"one OpenCV ({', '.join(opencvs) or 'none'})", inventory=inventory)


def _graph_for(provider: str) -> Path:
    from .regressor import DEVICES, INT8_ONNX_FILE, ONNX_FILE
    from .resources import resource_path

    return resource_path("models", INT8_ONNX_FILE if provider == DEVICES["cpu"] else ONNX_FILE)


def check_onnxruntime(environ: Mapping[str, str]) -> Check:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return Check("onnxruntime", FAIL, f"onnxruntime does not import ({exc})",
                     fix="pip install --force-reinstall onnxruntime")
    listed = [p for p in ort.get_available_providers() if p != "AzureExecutionProvider"]
    loadable, details = [], []
    for provider in listed:
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 4
            session = ort.InferenceSession(str(_graph_for(provider)), sess_options=options, providers=[provider])
            got = session.get_providers()[0]
        except Exception as exc:  # onnxruntime's own exception types, or a missing graph
            details.append(f"{provider}: cannot create a session ({str(exc).splitlines()[0] if str(exc) else exc!r})")
            continue
        if got == provider:
            loadable.append(provider)
            details.append(f"{provider}: loads")
        else:
            details.append(f"{provider}: listed, but its libraries do not load (ONNX Runtime fell back to {got})")
    summary = f"onnxruntime {ort.__version__}: {', '.join(loadable) or 'no provider'} loadable"
    if "CPUExecutionProvider" not in loadable:
        return Check("onnxruntime", FAIL, summary, details,
                     "pip install --force-reinstall onnxruntime  (then: frnet-app doctor)")
    unusable = [p for p in listed if p not in loadable]
    if unusable:
        return Check("onnxruntime", WARN, summary + f"; {', '.join(unusable)} listed but not usable", details,
                     "install the CUDA/cuDNN (and TensorRT) libraries of your onnxruntime-gpu version "
                     "(see ONNX Runtime's install matrix); frnet runs on the CPU meanwhile")
    return Check("onnxruntime", OK, summary, details)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_models(environ: Mapping[str, str]) -> Check:
    from .resources import resource_path, shipped_checksums

    try:
        expected = shipped_checksums()
    except FrnetError as exc:
        return Check("models", FAIL, str(exc), fix="pip install --force-reinstall frnet")
    override = environ.get("FRNET_MODELS_DIR")
    details, missing, changed = [], [], []
    for name, digest in sorted(expected.items()):
        try:
            path = _with_environ(environ, lambda: resource_path("models", name))
        except FrnetError:
            missing.append(name)
            details.append(f"{name}: missing")
            continue
        actual = _sha256(path)
        if actual == digest:
            details.append(f"{name}: sha256 {actual[:12]}… as shipped ({path})")
        else:
            changed.append(name)
            details.append(f"{name}: sha256 {actual[:12]}… differs from the shipped {digest[:12]}… ({path})")
    where = f" (FRNET_MODELS_DIR={override})" if override else ""
    if missing:
        fix = (f"copy the missing files into {override} or unset FRNET_MODELS_DIR" if override
               else "pip install --force-reinstall frnet  (in a source checkout: git checkout -- models/)")
        return Check("models", FAIL, f"missing{where}: {', '.join(missing)}", details, fix)
    if changed and not override:
        return Check("models", FAIL, f"changed since shipping: {', '.join(changed)}", details,
                     "pip install --force-reinstall frnet  (in a source checkout: git checkout -- models/, "
                     "or after rebuilding a model: python scripts/model_checksums.py)")
    if changed:
        return Check("models", WARN, f"{len(changed)} file(s) differ from the shipped ones{where}", details)
    return Check("models", OK, f"{len(expected)} files, all as shipped{where}", details)


def _with_environ(environ: Mapping[str, str], call: Callable):
    """Run ``call`` with ``FRNET_MODELS_DIR`` as in ``environ`` (resource lookups read ``os.environ``)."""
    name = "FRNET_MODELS_DIR"
    saved = os.environ.get(name)
    try:
        if environ.get(name) is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = environ[name]
        return call()
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def check_engine(environ: Mapping[str, str]) -> Check:
    from .resources import resource_path

    def run() -> Check:
        from .pipeline import Pipeline, PipelineOptions
        from .video import VideoReader

        try:
            sample = resource_path("assets", "sample.mp4")
        except FrnetError:
            sample = None
        start = time.perf_counter()
        with Pipeline(PipelineOptions(mode="image", device="cpu", threads=1)) as pipeline:
            if sample is None:
                return Check("engine", OK, "detector and network load (no bundled sample to run them on)")
            with VideoReader(sample) as reader:
                frame = next(iter(reader)).image_rgb
            result = pipeline.process(frame)
        seconds = time.perf_counter() - start
        return Check("engine", OK, f"detector and network ran on the bundled sample: {len(result.faces)} face(s), "
                                   f"{seconds:.1f} s with loading", [str(sample)])

    try:
        return _with_environ(environ, run)
    except Exception as exc:  # anything that stops the pipeline is what this check reports
        return Check("engine", FAIL, f"the pipeline does not run: {exc}", [type(exc).__name__],
                     "fix the checks above first; then reinstall frnet: pip install --force-reinstall frnet")


def check_opengl(environ: Mapping[str, str]) -> Check:
    fix = f"sudo apt-get install {' '.join(_apt_packages('libEGL.so.1', 'libGL.so.1', 'libgbm.so.1'))} libgl1-mesa-dri"
    try:
        from .render import gl

        ctx = gl.create_headless_context()
    except Exception as exc:  # GLUnavailableError, or moderngl/glcontext missing altogether
        return Check("opengl", WARN, "no OpenGL 3.3 context: frames are drawn by the slower OpenCV renderer",
                     [str(exc)], fix)
    try:
        info = ctx.info
        renderer, vendor, version = (str(info.get(k, "?")) for k in ("GL_RENDERER", "GL_VENDOR", "GL_VERSION"))
    finally:
        ctx.release()
    software = "llvmpipe" in renderer.lower() or "softpipe" in renderer.lower()
    return Check("opengl", OK, f"{renderer} ({vendor})" + (", software rendering" if software else ""),
                 [f"GL_VERSION {version}"])


def _apt_table(with_bare: bool = False) -> dict[str, str]:
    """``{shared library: Debian package}`` from ``debian-packages.txt`` (shipped with frnet); with
    ``with_bare``, packages that name no library map from their own name."""
    from .resources import resource_path

    try:
        text = resource_path("top", APT_FILE).read_text(encoding="utf-8")
    except (FrnetError, OSError):
        return {}
    table = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and with_bare:
            table[words[0]] = words[0]
        for library in words[1:]:
            table[library] = words[0]
    return table


def _all_apt_packages() -> list[str]:
    """Every package of ``debian-packages.txt`` in its order (what the README's apt-get line lists)."""
    return list(dict.fromkeys(_apt_table(with_bare=True).values()))


def _apt_packages(*libraries: str) -> list[str]:
    table = _apt_table()
    return [table[name] for name in libraries if name in table]


def _pyqt_plugin(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec("PyQt6")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "Qt6" / "plugins" / "platforms" / name
    return path if path.is_file() else None


def missing_libraries(path: Path) -> list[str]:
    """Shared libraries ``path`` needs that the dynamic loader cannot find (``ldd``; Linux only)."""
    try:
        run = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return sorted({line.split()[0] for line in run.stdout.splitlines() if "not found" in line})


def _qt_platform(environ: Mapping[str, str]) -> str | None:
    """The platform plugin Qt would pick (``QT_QPA_PLATFORM`` or the display variables), or ``None``."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    if not sys.platform.startswith("linux"):
        return "native"
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    if environ.get("DISPLAY"):
        return "xcb"
    if environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return None


def gui_start_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Qt would abort when the desktop app starts (no display, or libraries its xcb plugin
    lacks), found without starting Qt; ``None`` when nothing is known to be wrong. Quick: no child
    process, one ``ldd``."""
    environ = os.environ if environ is None else environ
    platform_name = _qt_platform(environ)
    if platform_name is None:
        return "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set); run it in a desktop session or " \
               "under a virtual display (xvfb-run frnet-app)"
    if platform_name == "xcb" and sys.platform.startswith("linux"):
        plugin = _pyqt_plugin("libqxcb.so")
        lacking = missing_libraries(plugin) if plugin else []
        if lacking:
            packages = sorted(set(_apt_packages(*lacking)))
            fix = f"sudo apt-get install {' '.join(packages)}" if packages else "install the packages that hold them"
            return f"Qt's xcb platform plugin lacks {', '.join(lacking)}: {fix}"
    return None


_QT_PROBE = ("import sys\n"
             "from PyQt6.QtWidgets import QApplication\n"
             "app = QApplication(sys.argv[:1])\n"
             "print('platform=' + app.platformName())\n")


def check_display(environ: Mapping[str, str]) -> Check:
    from .qt_env import drop_opencv_qt_variables

    if importlib.util.find_spec("PyQt6") is None:
        return Check("display", FAIL, "PyQt6 is not installed: the desktop app cannot start", fix="pip install PyQt6")
    platform_name = _qt_platform(environ)
    details = []
    fix_libs = None
    if sys.platform.startswith("linux"):
        plugin = _pyqt_plugin("libqxcb.so")
        lacking = missing_libraries(plugin) if plugin else []
        if lacking:
            packages = sorted(set(_apt_packages(*lacking)))
            details.append(f"Qt's xcb plugin lacks: {', '.join(lacking)}")
            fix_libs = (f"sudo apt-get install {' '.join(packages)}" if packages
                        else f"install the packages holding {', '.join(lacking)}")
    if platform_name is None:
        fix = "run it in a desktop session, or under a virtual display: xvfb-run frnet-app"
        return Check("display", FAIL, "no display (neither DISPLAY nor WAYLAND_DISPLAY is set): the desktop app "
                                      "cannot open a window; the command-line jobs work",
                     details, fix + (f" ; {fix_libs}" if fix_libs else ""))
    if platform_name == "xcb" and fix_libs:
        return Check("display", FAIL, f"Qt's xcb platform plugin cannot load (DISPLAY={environ.get('DISPLAY')})",
                     details, fix_libs)
    child_env = dict(environ)
    dropped = drop_opencv_qt_variables(child_env)
    if dropped:
        details.append(f"OpenCV's Qt 5 variables ({', '.join(dropped)}) are removed before Qt starts")
    try:
        run = subprocess.run([sys.executable, "-c", _QT_PROBE], env=child_env, capture_output=True, text=True,
                             timeout=QT_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return Check("display", FAIL, f"Qt did not start within {QT_START_TIMEOUT_S} s on platform {platform_name}",
                     details, "check that the display server answers (e.g. xdpyinfo)")
    started = re.search(r"platform=(\S+)", run.stdout)
    if run.returncode != 0 or not started:
        tail = [line for line in run.stderr.strip().splitlines() if line.strip()][-4:]
        return Check("display", FAIL, f"Qt cannot start on platform {platform_name!r} (exit {run.returncode})",
                     details + tail, fix_libs or f"sudo apt-get install {' '.join(_all_apt_packages())}")
    name = started.group(1)
    if name in ("offscreen", "minimal"):
        return Check("display", OK, f"Qt starts on the {name!r} platform: windows are drawn but not shown", details)
    return Check("display", OK, f"Qt starts on {name}" + (f" (DISPLAY={environ['DISPLAY']})" if name == "xcb" else ""),
                 details)


def check_cameras(environ: Mapping[str, str]) -> Check:
    if not sys.platform.startswith("linux"):
        return Check("cameras", OK, "not listed on this system; try frnet-app --webcam 0")
    devices = sorted(Path("/dev").glob("video*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    if not devices:
        return Check("cameras", WARN, "no camera (/dev/video*) found: videos and photos work, the webcam source "
                                      "does not", fix="connect a camera; in a container pass it in (--device /dev/video0)")
    details = []
    for device in devices:
        name_file = Path("/sys/class/video4linux") / device.name / "name"
        try:
            label = name_file.read_text(encoding="utf-8").strip()
        except OSError:
            label = "?"
        details.append(f"{device} ({label})")
    return Check("cameras", OK, f"{len(devices)} video device(s): {', '.join(d.name for d in devices)}", details)


CHECKS: tuple[Callable[[Mapping[str, str]], Check], ...] = (
    check_python, check_packages, check_onnxruntime, check_models, check_engine, check_opengl, check_display,
    check_cameras,
)


def run_checks(environ: Mapping[str, str] | None = None) -> Report:
    """Every check of :data:`CHECKS` against ``environ`` (default: ``os.environ``)."""
    environ = dict(os.environ if environ is None else environ)
    return Report([check(environ) for check in CHECKS])


# -------------------------------------------------------------------------------------------- entry


def format_report(report: Report) -> str:
    lines = ["frnet doctor: what this machine gives frnet"]
    for check in report.checks:
        tag = {OK: "ok", WARN: "warn", FAIL: "FAIL"}[check.status]
        lines.append(f"  {tag:<5}{check.name:<12}{check.summary}")
        if check.status != OK:
            lines.extend(f"{'':17}{detail}" for detail in check.details)
        if check.fix:
            lines.append(f"{'':17}fix: {check.fix}")
    cli, gui = report.can_run("cli"), report.can_run("gui")
    verdict = {(True, True): "the command line and the desktop app can run",
               (True, False): "the command line can run; the desktop app cannot",
               (False, True): "the command-line jobs cannot run",
               (False, False): "neither the command line nor the desktop app can run"}[(cli, gui)]
    lines.append(f"verdict: {verdict} (details: frnet-app doctor -v)")
    return "\n".join(lines)


def format_details(report: Report) -> str:
    lines = []
    for check in report.checks:
        lines.append(f"{check.name}: {check.status}: {check.summary}")
        lines.extend(f"    {detail}" for detail in [*check.inventory, *check.details])
        if check.fix:
            lines.append(f"    fix: {check.fix}")
    return "\n".join(lines)


def main(argv: list[str], prog: str = "frnet-app doctor") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Check what this machine gives frnet (packages, ONNX Runtime providers, model "
                               "files, OpenGL, Qt and the display, cameras) and say how to fix what is missing.",
        epilog="Exit code 0: the command line and the desktop app can run; 1: something they need is missing.")
    parser.add_argument("--json", action="store_true", help="print the findings as one JSON document")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="every detail of every check")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the exit code and failures")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    report = run_checks()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif args.verbose:
        print(format_details(report))
        print(format_report(report).splitlines()[-1])
    elif not args.quiet or not report.ok:
        print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "python -m frnet.doctor"))
