"""The app's saved settings: a typed wrapper over ``QSettings``.

By default they live where Qt keeps an application's native settings for organisation ``frnet``,
application ``frnet-app`` (Linux: ``~/.config/frnet/frnet-app.conf``; macOS:
``~/Library/Preferences/com.frnet.frnet-app.plist``; Windows: the registry under
``HKEY_CURRENT_USER\\Software\\frnet\\frnet-app``). Tests and the screenshot driver pass their own
INI file instead (:meth:`AppSettings.from_file`).
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSettings

from ..smoothing import DEFAULT_SMOOTHING, SMOOTHING_LEVELS
from .core import CAMERA_INDICES, EXPORT_FORMATS, OVERLAY_NAMES, OverlayToggles

ORGANISATION = "frnet"
APPLICATION = "frnet-app"
DIR_KINDS = ("video", "images", "export", "snapshot", "record")
SMOOTHING_ON_LEVELS = tuple(name for name, preset in SMOOTHING_LEVELS.items() if preset is not None)


class AppSettings:
    """Typed access to the saved settings; every setter writes through at once.

    Args:
        qsettings: the store; ``None`` uses the native one of ``frnet``/``frnet-app``.
    """

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings if qsettings is not None else QSettings(ORGANISATION, APPLICATION)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> AppSettings:
        """Settings kept in the INI file ``path`` (created when first written)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def location(self) -> str:
        """Where the settings are stored (a file path, or a registry key on Windows)."""
        return self.qsettings.fileName()

    def _bool(self, key: str, default: bool) -> bool:
        value = self.qsettings.value(key, default)
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self.qsettings.value(key, default))
        except (TypeError, ValueError):
            return default

    def _str(self, key: str, default: str) -> str:
        value = self.qsettings.value(key, default)
        return value if isinstance(value, str) else default

    # -- overlay and processing --------------------------------------------------------------------
    @property
    def overlay(self) -> OverlayToggles:
        default = OverlayToggles()
        return OverlayToggles(**{name: self._bool(f"overlay/{name}", getattr(default, name))
                                 for name in OVERLAY_NAMES})

    @overlay.setter
    def overlay(self, toggles: OverlayToggles) -> None:
        for name in OVERLAY_NAMES:
            self.qsettings.setValue(f"overlay/{name}", bool(getattr(toggles, name)))

    @property
    def smoothing(self) -> bool:
        return self._bool("processing/smoothing", True)

    @smoothing.setter
    def smoothing(self, on: bool) -> None:
        self.qsettings.setValue("processing/smoothing", bool(on))

    @property
    def smoothing_level(self) -> str:
        """The smoothing preset used when smoothing is on (``light`` or ``strong``, as ``--smoothing``)."""
        level = self._str("processing/smoothing_level", DEFAULT_SMOOTHING)
        return level if level in SMOOTHING_ON_LEVELS else DEFAULT_SMOOTHING

    @smoothing_level.setter
    def smoothing_level(self, level: str) -> None:
        if level not in SMOOTHING_ON_LEVELS:
            raise ValueError(f"smoothing level must be one of {SMOOTHING_ON_LEVELS}, not {level!r}")
        self.qsettings.setValue("processing/smoothing_level", level)

    @property
    def effective_smoothing(self) -> str:
        """What the pipeline runs with: ``none`` when smoothing is off, else :attr:`smoothing_level`."""
        return self.smoothing_level if self.smoothing else "none"

    @property
    def hud_visible(self) -> bool:
        return self._bool("view/hud", True)

    @hud_visible.setter
    def hud_visible(self, on: bool) -> None:
        self.qsettings.setValue("view/hud", bool(on))

    # -- sources and export ----------------------------------------------------------------------
    @property
    def camera_index(self) -> int:
        index = self._int("camera/index", 0)
        return index if index in CAMERA_INDICES else 0

    @camera_index.setter
    def camera_index(self, index: int) -> None:
        self.qsettings.setValue("camera/index", int(index))

    @property
    def export_format(self) -> str:
        fmt = self._str("export/format", EXPORT_FORMATS[0])
        return fmt if fmt in EXPORT_FORMATS else EXPORT_FORMATS[0]

    @export_format.setter
    def export_format(self, fmt: str) -> None:
        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"export format must be one of {EXPORT_FORMATS}, not {fmt!r}")
        self.qsettings.setValue("export/format", fmt)

    def last_dir(self, kind: str) -> str:
        """The folder last used for ``kind`` (one of :data:`DIR_KINDS`); the home folder at first,
        or when the saved one is gone."""
        if kind not in DIR_KINDS:
            raise ValueError(f"folder kind must be one of {DIR_KINDS}, not {kind!r}")
        saved = self._str(f"folders/{kind}", "")
        return saved if saved and Path(saved).is_dir() else str(Path.home())

    def set_last_dir(self, kind: str, path: str | os.PathLike) -> None:
        """Remember the folder of ``path`` (a folder itself, or a file in it) for ``kind``."""
        if kind not in DIR_KINDS:
            raise ValueError(f"folder kind must be one of {DIR_KINDS}, not {kind!r}")
        path = Path(path)
        self.qsettings.setValue(f"folders/{kind}", str(path if path.is_dir() else path.parent))

    # -- window ------------------------------------------------------------------------------------
    @property
    def window_geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_geometry.setter
    def window_geometry(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/state", value)

    def sync(self) -> None:
        """Write pending changes to the store now (Qt also does it on exit)."""
        self.qsettings.sync()
