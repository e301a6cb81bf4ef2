"""Fixtures shared by the test modules (pytest finds them here; helpers are in support.py).

* ``sample_frame`` / ``sample_frames`` — the first frame(s) of the bundled sample clip;
* ``settings``, ``dialogs``, ``window`` — the desktop app offscreen: an INI settings file in
  ``tmp_path``, error dialogs recorded instead of shown, a shown ``MainWindow`` (pytest-qt);
* ``torch_one_thread`` — torch on one thread for a test (the training-code tests use it);
* ``xvfb_display`` — a private X server (Xvfb) for tests that need a real display;
* (autouse) the ``frnet`` logger is put back before every test: ``frnet-app -q`` run in-process
  (``cli.main``) sets it to errors only, which hid later tests' warnings from ``caplog``.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess

import logging

import numpy as np
import pytest

from frnet.video import VideoReader
from support import SAMPLE

XVFB = shutil.which("Xvfb")
SCREEN = (1280, 800)


_FRNET_LOGGER = logging.getLogger("frnet")
_FRNET_LOGGER_STATE = (_FRNET_LOGGER.level, _FRNET_LOGGER.propagate, list(_FRNET_LOGGER.handlers))


@pytest.fixture(autouse=True)
def _restore_frnet_logger():
    """Before each test (module fixtures may have run the CLI already), as when the session began."""
    level, propagate, handlers = _FRNET_LOGGER_STATE
    _FRNET_LOGGER.setLevel(level)
    _FRNET_LOGGER.propagate = propagate
    _FRNET_LOGGER.handlers[:] = handlers


@pytest.fixture
def torch_one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def settings(tmp_path):
    from frnet.gui.settings import AppSettings

    return AppSettings.from_file(tmp_path / "settings" / "frnet-app.ini")


@pytest.fixture
def dialogs(monkeypatch) -> list[tuple[str, str]]:
    """``QMessageBox.critical`` calls as ``(title, message)``, instead of modal dialogs."""
    from PyQt6.QtWidgets import QMessageBox

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a, **k: calls.append((title, text)))
    return calls


@pytest.fixture
def window(qtbot, settings, dialogs):
    from frnet.gui.main_window import MainWindow

    win = MainWindow(settings=settings, view_backend="image")
    qtbot.addWidget(win)  # closed (workers stopped) at teardown
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture(scope="session")
def face_model():
    """The shipped face model (a module may override it, e.g. with a synthetic one)."""
    from frnet.facemodel import load_face_model

    return load_face_model()


@pytest.fixture(scope="session")
def uv_layout():
    """The shipped UV layout of the face topology."""
    from frnet.uv import load_uv_layout

    return load_uv_layout()


@pytest.fixture(scope="module")
def sample_frame() -> np.ndarray:
    """The first frame of the sample clip, RGB 640×480, one face (``FACE_BOX`` in test_reliability_cli)."""
    with VideoReader(SAMPLE) as reader:
        return next(iter(reader)).image_rgb


@pytest.fixture(scope="module")
def sample_frames() -> list[np.ndarray]:
    """The first 60 frames of the sample clip (RGB 640×480, 30 fps)."""
    with VideoReader(SAMPLE) as reader:
        frames = []
        for frame in reader:
            frames.append(frame.image_rgb)
            if len(frames) == 60:
                return frames
    raise AssertionError("the sample clip has fewer than 60 frames")


@pytest.fixture(scope="module")
def xvfb_display():
    """A private X server on a free display number (Xvfb picks it and reports it on a pipe); skips without Xvfb."""
    if XVFB is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb xauth)")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        [XVFB, "-displayfd", str(write_fd), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 20)
        number = os.read(read_fd, 32).decode().strip() if ready else ""
        if not number.isdigit():
            process.kill()
            pytest.fail(f"Xvfb did not start: {process.communicate(timeout=10)[1].decode(errors='replace')[-2000:]}")
        yield f":{number}"
    finally:
        os.close(read_fd)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
