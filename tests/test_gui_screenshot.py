"""A picture of the real window under Xvfb (Qt's xcb platform), checked by pixel statistics.

The app runs in a subprocess through its driver entry point (``python -m frnet.gui.app --video …
--images … --screenshot OUT``): it plays the bundled sample clip, reconstructs the shared photos
into the gallery, saves a picture of the whole window and quits. With ``FRNET_UPDATE_SCREENSHOT=1``
the picture goes to ``docs/img/gui_screenshot.png`` (the one docs/gui.md and the README show).

Needs ``Xvfb`` and the xcb libraries Qt's platform plugin loads: the system packages of
``debian-packages.txt`` (the README's apt-get line; ``.ci/run`` installs them). The X server is the
``xvfb_display`` fixture of ``conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from frnet.datasets import shared_data_dir
from frnet.render.overlay import LANDMARK_COLOUR
from frnet.video import read_image

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "assets" / "sample.mp4"
DOCS_SCREENSHOT = REPO / "docs" / "img" / "gui_screenshot.png"
needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None,
                                reason="Xvfb is not installed (Debian: apt-get install xvfb xauth)")


def shared_photos() -> list[Path]:
    data = shared_data_dir()
    if data is None:
        return []
    names = ("emma.jpg", "trump_hillary.jpg", "JianzhuGuo.jpg")
    return [p for p in (data / "images" / n for n in names) if p.is_file()]


def near_colour(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return np.all(np.abs(image.astype(np.int16) - np.array(colour, np.int16)) <= tolerance, axis=2)


def qt_platform_plugin_failed(stderr: str) -> bool:
    """Whether Qt's output says it could not load its platform plugin (Qt writes "Could not load the Qt …")."""
    return "could not load the qt platform plugin" in stderr.lower()


def test_platform_plugin_hint_recognises_qts_message():
    # Qt 6.11's message when libxcb-cursor0 (or another xcb library) is missing.
    message = ('qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform plugin.\n'
               'qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.\n')
    assert qt_platform_plugin_failed(message)
    assert not qt_platform_plugin_failed("saved the window's picture")


@needs_xvfb
def test_window_screenshot_under_xvfb(xvfb_display, tmp_path):
    out = DOCS_SCREENSHOT if os.environ.get("FRNET_UPDATE_SCREENSHOT") == "1" else tmp_path / "gui_screenshot.png"
    photos = shared_photos()
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "FRNET_GUI_VIEW")}
    env |= {"DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb", "XDG_RUNTIME_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "frnet.gui.app", "--video", str(SAMPLE_VIDEO),
               "--settings", str(tmp_path / "settings.ini"), "--screenshot", str(out),
               "--screenshot-after-ms", "4000", "--select-all"]
    if photos:
        command += ["--images", *map(str, photos)]
    run = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    log = (run.stdout + run.stderr)[-4000:]
    if qt_platform_plugin_failed(run.stderr):
        pytest.fail("Qt's xcb platform plugin does not load: install the system packages the README lists "
                    "(debian-packages.txt); `frnet-app doctor` names the missing libraries\n" + log)
    assert run.returncode == 0, log
    assert "saved the window's picture" in log

    image = read_image(out)
    height, width = image.shape[:2]
    assert width >= 1000 and height >= 600, f"window is only {width}×{height}"
    # Not blank: a real window has widgets, text and a picture.
    assert image.std() > 25, f"the picture is nearly uniform (std {image.std():.1f})"
    # The live view (upper left: right of it is the controls dock, below it the gallery) shows the
    # sample clip with the overlay: the landmarks' light cyan dots are there.
    view = image[int(0.08 * height):int(0.65 * height), : int(0.75 * width)]
    assert view.std() > 30
    landmark_pixels = int(near_colour(view, LANDMARK_COLOUR).sum())
    assert landmark_pixels > 40, f"no landmark overlay in the live view ({landmark_pixels} cyan pixels)"
    # The window's chrome is there: a dark UI around it with light text.
    assert np.median(image) < 140
    assert (image.max(axis=2) > 200).mean() > 0.01
    if photos:
        # The gallery (bottom strip) holds the photos' thumbnails: a varied, not empty, strip.
        gallery = image[int(0.72 * height):int(0.92 * height), : int(0.6 * width)]
        assert gallery.std() > 25, "the gallery looks empty"
