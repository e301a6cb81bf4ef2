"""Qt's environment for frnet's windows: the variables OpenCV sets for its own Qt 5 plugins, removed.

The ``opencv-contrib-python`` wheel (the OpenCV distribution MediaPipe requires, and so frnet's one
OpenCV) points ``QT_QPA_PLATFORM_PLUGIN_PATH`` and ``QT_QPA_FONTDIR`` at folders inside ``cv2/qt``
when ``cv2`` is first imported. Those hold Qt 5 plugins for OpenCV's own ``cv2.imshow`` windows;
PyQt6's Qt 6 would search them first for its platform plugin, and when its own plugin cannot load,
its error names OpenCV's folder. :func:`drop_opencv_qt_variables` removes the two variables when they
point into OpenCV's package and leaves any other value alone; the desktop app calls it before it
creates its ``QApplication``. Importing this module imports neither OpenCV nor Qt.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import MutableMapping
from pathlib import Path

OPENCV_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")


def opencv_package_dir() -> Path | None:
    """The folder of the installed ``cv2`` package (found without importing it), or ``None``."""
    try:
        spec = importlib.util.find_spec("cv2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def opencv_qt_variables(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """The variables of :data:`OPENCV_QT_VARIABLES` in ``environ`` (default ``os.environ``) that point
    into OpenCV's package."""
    environ = os.environ if environ is None else environ
    package = opencv_package_dir()
    if package is None:
        return {}
    found = {}
    for name in OPENCV_QT_VARIABLES:
        value = environ.get(name)
        if value and Path(value).resolve().is_relative_to(package):
            found[name] = value
    return found


def drop_opencv_qt_variables(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Remove OpenCV's Qt variables from ``environ`` (default ``os.environ``); returns what was removed."""
    environ = os.environ if environ is None else environ
    found = opencv_qt_variables(environ)
    for name in found:
        del environ[name]
    return found
