"""The live view: shows the worker's rendered RGB frames, fitted to the widget, with a HUD on top.

Two interchangeable widgets with the same methods (``set_frame``, ``set_hud``, ``clear_frame``,
``current_frame``):

* :class:`GLFrameView` — a ``QOpenGLWidget``: Qt uploads the frame as a texture and composites it
  on the GPU (smooth scaling for free, no full-window CPU blit per frame);
* :class:`ImageFrameView` — a plain ``QWidget`` painting the ``QImage`` with the raster engine,
  used where OpenGL is missing (no GL driver, ``offscreen`` platform, ``FRNET_GUI_VIEW=image``).

The face overlay itself is drawn by the shared renderer inside the frame worker (see
:mod:`frnet.gui.workers`), so both views show the same pixels.
"""

from __future__ import annotations

import logging
import os

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QImage, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

log = logging.getLogger(__name__)

VIEW_BACKENDS = ("auto", "gl", "image")
BACKGROUND = QColor(24, 25, 28)
PLACEHOLDER = ("Drop a video, photos or a folder here\n"
               "or open a video (Ctrl+O), images (Ctrl+I) or a webcam")
_NO_GL_PLATFORMS = ("offscreen", "minimal", "vnc")


def rgb_to_qimage(image_rgb: np.ndarray) -> QImage:
    """A ``QImage`` viewing ``image_rgb`` (H×W×3 uint8, C-contiguous): keep the array alive with it."""
    height, width = image_rgb.shape[:2]
    return QImage(image_rgb.data, width, height, image_rgb.strides[0], QImage.Format.Format_RGB888)


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """An H×W×3 uint8 RGB copy of ``image``."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), dtype=np.uint8)
    return data.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()


def fitted_rect(image_w: int, image_h: int, area_w: float, area_h: float) -> QRectF:
    """The largest rectangle with the image's aspect ratio centred in ``area``."""
    scale = min(area_w / image_w, area_h / image_h)
    width, height = image_w * scale, image_h * scale
    return QRectF((area_w - width) / 2, (area_h - height) / 2, width, height)


class _FramePainting:
    """The state and painting shared by both views (mixed into a ``QWidget`` subclass)."""

    backend = "image"

    def _init_frame_state(self) -> None:
        self._frame: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._hud_lines: list[str] = []
        self._hud_visible = True
        self.setAcceptDrops(False)  # drops go up to the main window
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._hud_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self._hud_font.setPointSizeF(max(8.0, self._hud_font.pointSizeF()))

    # -- API -------------------------------------------------------------------------------------
    def set_frame(self, image_rgb: np.ndarray) -> None:
        """Show ``image_rgb`` (H×W×3 uint8); the array is kept, not copied — do not modify it."""
        self._frame = np.ascontiguousarray(image_rgb)
        self._qimage = rgb_to_qimage(self._frame)
        self.update()

    def current_frame(self) -> np.ndarray | None:
        """The frame on show (``None`` before the first)."""
        return self._frame

    def clear_frame(self) -> None:
        self._frame = self._qimage = None
        self._hud_lines = []
        self.update()

    def set_hud(self, lines: list[str]) -> None:
        self._hud_lines = list(lines)
        self.update()

    def set_hud_visible(self, visible: bool) -> None:
        self._hud_visible = bool(visible)
        self.update()

    @property
    def hud_lines(self) -> list[str]:
        return list(self._hud_lines)

    # -- painting --------------------------------------------------------------------------------
    def _paint(self, painter: QPainter) -> None:
        width, height = self.width(), self.height()
        painter.fillRect(0, 0, width, height, BACKGROUND)
        if self._qimage is None:
            self._paint_placeholder(painter, width, height)
            return
        target = fitted_rect(self._qimage.width(), self._qimage.height(), width, height)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(target, self._qimage)
        if self._hud_visible and self._hud_lines:
            self._paint_hud(painter, target)

    def _paint_placeholder(self, painter: QPainter, width: int, height: int) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        box = QRectF(width * 0.12, height * 0.2, width * 0.76, height * 0.6)
        pen = QPen(QColor(90, 94, 102), 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRoundedRect(box, 14, 14)
        painter.setPen(QColor(160, 164, 172))
        font = QFont(painter.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        painter.setFont(font)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, PLACEHOLDER)

    def _paint_hud(self, painter: QPainter, image_rect: QRectF) -> None:
        painter.setFont(self._hud_font)
        metrics = painter.fontMetrics()
        line_h = metrics.height()
        text_w = max(metrics.horizontalAdvance(line) for line in self._hud_lines)
        box = QRectF(image_rect.left() + 8, image_rect.top() + 8, text_w + 16, line_h * len(self._hud_lines) + 10)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 6, 6)
        painter.setPen(QColor(235, 240, 245))
        for i, line in enumerate(self._hud_lines):
            painter.drawText(int(box.left() + 8), int(box.top() + 5 + metrics.ascent() + i * line_h), line)


class ImageFrameView(_FramePainting, QWidget):
    """The raster view (no OpenGL needed)."""

    backend = "image"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._init_frame_state()
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()


def _gl_view_class():
    from PyQt6.QtOpenGLWidgets import QOpenGLWidget

    class GLFrameView(_FramePainting, QOpenGLWidget):
        """The OpenGL view: a ``QOpenGLWidget`` painted with ``QPainter`` (GL paint engine)."""

        backend = "opengl"

        def __init__(self, parent: QWidget | None = None) -> None:
            super().__init__(parent)
            self._init_frame_state()

        def paintGL(self) -> None:  # noqa: N802 - Qt's name
            painter = QPainter(self)
            try:
                self._paint(painter)
            finally:
                painter.end()

    return GLFrameView


def opengl_available() -> bool:
    """Whether Qt can make an OpenGL context current here (checked once per call; cheap)."""
    if QGuiApplication.platformName() in _NO_GL_PLATFORMS:
        return False
    try:
        from PyQt6.QtGui import QOffscreenSurface, QOpenGLContext

        context = QOpenGLContext()
        if not context.create():
            return False
        surface = QOffscreenSurface()
        surface.setFormat(context.format())
        surface.create()
        ok = surface.isValid() and context.makeCurrent(surface)
        if ok:
            context.doneCurrent()
        return bool(ok)
    except Exception as exc:  # noqa: BLE001 - any failure means: use the raster view
        log.info("OpenGL view unavailable: %s", exc)
        return False


def create_frame_view(parent: QWidget | None = None, backend: str = "auto") -> QWidget:
    """The live view widget: ``"gl"`` (``QOpenGLWidget``), ``"image"`` (raster) or ``"auto"``
    (OpenGL when a context can be made, else raster). ``FRNET_GUI_VIEW`` overrides ``"auto"``.

    Raises:
        ValueError: unknown ``backend``.
    """
    if backend not in VIEW_BACKENDS:
        raise ValueError(f"view backend must be one of {VIEW_BACKENDS}, not {backend!r}")
    if backend == "auto":
        backend = os.environ.get("FRNET_GUI_VIEW", "auto").strip().lower() or "auto"
        if backend not in VIEW_BACKENDS:
            log.warning("FRNET_GUI_VIEW=%s is not one of %s; choosing automatically", backend, VIEW_BACKENDS)
            backend = "auto"
    if backend == "auto":
        backend = "gl" if opengl_available() else "image"
    if backend == "gl":
        view = _gl_view_class()(parent)
    else:
        view = ImageFrameView(parent)
    log.info("live view: %s", view.backend)
    return view
