"""The frnet desktop app (PyQt6): a shell of widgets over a Qt-free core, frames processed in workers.

* :mod:`frnet.gui.core` — Qt-free logic: dropped paths, overlay toggles, HUD numbers, still-image
  processing and export of gallery entries.
* :mod:`frnet.gui.workers` — ``QObject`` workers in ``QThread`` s running the shared engine
  (:mod:`frnet.engine`) on frames from :mod:`frnet.sources` (the camera code the CLI uses too).
* :mod:`frnet.gui.view`, :mod:`frnet.gui.gallery`, :mod:`frnet.gui.panels` (the side panels),
  :mod:`frnet.gui.actions` (actions, menus, toolbar), :mod:`frnet.gui.main_window` — the widgets.
* :mod:`frnet.gui.settings` — saved settings (``QSettings``).
* :mod:`frnet.gui.app` — ``run_app()``, the entry point of ``frnet-app`` (see docs/gui.md).

Importing this package imports no Qt module; :func:`run_app` does.
"""

from __future__ import annotations


def run_app(*args, **kwargs) -> int:
    """See :func:`frnet.gui.app.run_app`."""
    from .app import run_app as _run_app

    return _run_app(*args, **kwargs)


__all__ = ["run_app"]
