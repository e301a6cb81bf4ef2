"""Starting the desktop app: ``run_app()`` (used by ``frnet-app``) and a small driver entry point.

``python -m frnet.gui.app --video assets/sample.mp4 --images a.jpg b.jpg --screenshot out.png``
opens the window, plays the video, drops the photos, waits until frames are on show and the photos
are processed, saves a picture of the window and quits — how the README's screenshot is made (see
``tests/test_gui_screenshot.py``).

Without a display Qt aborts the whole process (``qFatal``: SIGABRT) when the application object is
made, so :func:`check_display` looks first and raises :class:`NoDisplayError` (the CLI's one
line and exit code 2).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..errors import FrnetError

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 120_000
SCREENSHOT_MIN_FRAMES = 8


def _dark_palette():
    from PyQt6.QtGui import QColor, QPalette

    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: QColor(45, 47, 51),
        QPalette.ColorRole.WindowText: QColor(225, 228, 232),
        QPalette.ColorRole.Base: QColor(32, 33, 36),
        QPalette.ColorRole.AlternateBase: QColor(45, 47, 51),
        QPalette.ColorRole.ToolTipBase: QColor(32, 33, 36),
        QPalette.ColorRole.ToolTipText: QColor(225, 228, 232),
        QPalette.ColorRole.Text: QColor(225, 228, 232),
        QPalette.ColorRole.Button: QColor(55, 58, 63),
        QPalette.ColorRole.ButtonText: QColor(225, 228, 232),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(88, 166, 255),
        QPalette.ColorRole.Highlight: QColor(45, 120, 210),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 144, 150),
    }
    for role, colour in colours.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 123, 128))
    return palette


class NoDisplayError(FrnetError):
    """The desktop app was started where there is no display to show it on."""


# Qt platform plugins that need a window system; others (offscreen, minimal, vnc, eglfs) do not.
_WINDOW_SYSTEM_PLATFORMS = ("", "xcb", "wayland", "wayland-egl")


def _x_display_reachable(display: str) -> bool | None:
    """Whether an X connection to ``display`` opens (libxcb, as Qt's xcb plugin does); None when
    libxcb is not installed (then Qt's xcb plugin cannot load either and says so itself)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return None
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(os.fsencode(display), None)
    try:
        return connection is not None and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection is not None:
            xcb.xcb_disconnect(connection)  # also frees a connection in the error state


def check_display(environ: dict[str, str] | None = None) -> None:
    """Make sure Qt will find a display, before it is asked to (it aborts the process otherwise).

    Only Linux and the other X11/Wayland systems are checked; ``QT_QPA_PLATFORM=offscreen`` (or
    any plugin without a window system) passes.

    Raises:
        NoDisplayError: neither a Wayland socket nor a reachable X display.
    """
    env = os.environ if environ is None else environ
    if sys.platform in ("win32", "darwin"):
        return
    platform = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip().lower()
    if platform not in _WINDOW_SYSTEM_PLATFORMS:
        return
    wayland = env.get("WAYLAND_DISPLAY", "")
    if wayland and platform != "xcb":
        socket = Path(wayland) if os.path.isabs(wayland) else Path(env.get("XDG_RUNTIME_DIR", "/nonexistent")) / wayland
        if socket.exists():
            return
    display = env.get("DISPLAY", "")
    hint = ("run it in a desktop session, or use the command-line jobs (frnet-app --video IN --out OUT, "
            "--image FILES --out DIR, --webcam N --out FILE; frnet-app --help)")
    if not display:
        raise NoDisplayError(f"the desktop app needs a display, and there is none (DISPLAY and WAYLAND_DISPLAY "
                             f"are not set); {hint}")
    if _x_display_reachable(display) is False:
        raise NoDisplayError(f"the desktop app cannot connect to the X display {display!r}; {hint}")


def make_application(argv: Sequence[str] | None = None):
    """The ``QApplication`` of frnet (Fusion style, dark palette), or the one already running."""
    from PyQt6.QtCore import QCoreApplication, Qt
    from PyQt6.QtWidgets import QApplication

    from ..qt_env import drop_opencv_qt_variables

    app = QApplication.instance()
    if app is not None:
        return app
    drop_opencv_qt_variables()  # OpenCV's Qt 5 plugin folder must not reach Qt 6 (frnet.qt_env)
    check_display()
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication(list(argv) if argv is not None else [sys.argv[0]])
    app.setOrganizationName("frnet")
    app.setApplicationName("frnet-app")
    app.setApplicationDisplayName("frnet")
    app.setStyle("Fusion")
    app.setPalette(_dark_palette())
    return app


def run_app(camera: int | None = None, video: str | os.PathLike | None = None, *,
            images: Sequence[str | os.PathLike] = (), settings_file: str | os.PathLike | None = None,
            view_backend: str = "auto", screenshot: str | os.PathLike | None = None,
            screenshot_after_ms: int = 4000, select_all: bool = False) -> int:
    """Open the main window and run until it is closed; return the exit code.

    Args:
        camera: open this webcam index at start.
        video: play this video file at start (wins over ``camera``).
        images: photos or folders to reconstruct at start (as if dropped).
        settings_file: keep the settings in this INI file instead of the native store.
        view_backend: ``"auto"``, ``"gl"`` or ``"image"`` for the live view.
        screenshot: save a PNG of the window here once it has something to show (at least
            ``screenshot_after_ms`` after start), then quit.
        select_all: select every gallery image before the screenshot.
    """
    from .main_window import MainWindow
    from .settings import AppSettings

    app = make_application()
    settings = AppSettings.from_file(settings_file) if settings_file else AppSettings()
    window = MainWindow(settings=settings, view_backend=view_backend)
    window.show()
    if video is not None:
        window.open_video(video)
    elif camera is not None:
        window.open_camera(int(camera))
    if images:
        window.handle_dropped_paths(images)
    if screenshot is not None:
        _schedule_screenshot(app, window, Path(screenshot), screenshot_after_ms,
                             wait_for_frames=video is not None or camera is not None, select_all=select_all)
    stopped_by = _quit_on_stop_signals(app, window)
    try:
        code = int(app.exec())
    finally:
        window.shutdown()
    return 128 + stopped_by[0] if stopped_by else code


def _quit_on_stop_signals(app, window) -> list[int]:
    """SIGINT, SIGTERM and SIGHUP close the window like its close button (a recording is finished
    and kept); the returned list gets the signal's number. Qt's event loop runs no Python code by
    itself, so a timer gives Python's signal handlers a chance every 200 ms. Only in the main
    thread (where Python delivers signals)."""
    import signal
    import threading

    from PyQt6.QtCore import QTimer

    from ..signals import STOP_SIGNALS

    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return received

    def stop(signum, frame) -> None:
        if not received:
            received.append(signum)
            log.info("%s: closing the window", signal.Signals(signum).name)
            window.close()
            app.quit()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)  # lets the interpreter run its signal handlers
    timer.start(200)
    return received


def save_png(path: Path, image_rgb) -> None:
    """Write an RGB image as a maximally compressed PNG, atomically (docs screenshots stay small).

    Raises:
        OutputError: the destination cannot be written.
    """
    import cv2

    from ..errors import OutputError
    from ..files import atomic_write

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise OutputError(f"cannot encode the screenshot {path} as PNG")
    with atomic_write(path) as temp:
        temp.write_bytes(encoded.tobytes())


def _schedule_screenshot(app, window, path: Path, after_ms: int, wait_for_frames: bool, select_all: bool) -> None:
    """After ``after_ms``, wait until the window has frames on show and no batch running (or an
    error was shown, or the timeout passed), then save its picture and quit."""
    from PyQt6.QtCore import QTimer

    from .view import qimage_to_rgb

    start = time.monotonic()

    def attempt() -> None:
        waited_ms = (time.monotonic() - start) * 1000
        frames_ok = not wait_for_frames or window.frames_shown >= SCREENSHOT_MIN_FRAMES
        ready = (frames_ok and not window.batch_running) or window.errors_shown
        if not ready and waited_ms < SCREENSHOT_TIMEOUT_MS:
            QTimer.singleShot(200, attempt)
            return
        if not ready:
            log.warning("taking the screenshot after %.0f s although the window is not ready", waited_ms / 1000)
        if select_all:
            window.gallery.selectAll()
        app.processEvents()
        code = 0
        try:
            save_png(path, qimage_to_rgb(window.grab().toImage()))
            log.info("saved the window's picture to %s", path)
        except Exception:  # noqa: BLE001 - report and exit non-zero
            log.exception("cannot save the screenshot")
            code = 1
        window.close()
        app.exit(code)

    QTimer.singleShot(max(0, int(after_ms)), attempt)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m frnet.gui.app", description="Run the frnet desktop app.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--video", type=Path, help="play this video file at start")
    source.add_argument("--webcam", type=int, metavar="INDEX", help="open this webcam at start")
    parser.add_argument("--images", type=Path, nargs="+", default=[], metavar="PATH",
                        help="photos or folders to reconstruct at start (as if dropped)")
    parser.add_argument("--settings", type=Path, help="keep the settings in this INI file")
    parser.add_argument("--view", choices=("auto", "gl", "image"), default="auto", help="live view widget")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the window, then quit")
    parser.add_argument("--screenshot-after-ms", type=int, default=4000, metavar="MS",
                        help="earliest time of the screenshot (default 4000)")
    parser.add_argument("--select-all", action="store_true", help="select all gallery images before the screenshot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_app(camera=args.webcam, video=args.video, images=args.images, settings_file=args.settings,
                   view_backend=args.view, screenshot=args.screenshot,
                   screenshot_after_ms=args.screenshot_after_ms, select_all=args.select_all)


if __name__ == "__main__":
    sys.exit(main())
