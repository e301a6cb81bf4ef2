"""The gallery of processed still images: overlay thumbnails with their face count, multi-select."""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PyQt6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from .core import ImageEntry
from .view import rgb_to_qimage

ICON_SIZE = QSize(150, 112)
_ENTRY_ROLE = Qt.ItemDataRole.UserRole


def thumbnail_pixmap(entry: ImageEntry, size: QSize = ICON_SIZE) -> QPixmap:
    """The entry's overlay thumbnail letterboxed into ``size`` (so the grid stays even)."""
    image = rgb_to_qimage(entry.thumbnail_rgb).copy()  # own the pixels
    scaled = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    canvas = QImage(size, QImage.Format.Format_RGB888)
    canvas.fill(QColor(24, 25, 28))
    painter = QPainter(canvas)
    painter.drawImage((size.width() - scaled.width()) // 2, (size.height() - scaled.height()) // 2, scaled)
    painter.end()
    return QPixmap.fromImage(canvas)


class Gallery(QListWidget):
    """Icon grid of :class:`~frnet.gui.core.ImageEntry`; ``entry_activated`` on double-click/Enter."""

    entry_activated = pyqtSignal(object)  # ImageEntry

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(ICON_SIZE)
        self.setGridSize(QSize(ICON_SIZE.width() + 24, ICON_SIZE.height() + 46))
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setSpacing(4)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAcceptDrops(False)  # drops go up to the main window
        self.setDragEnabled(False)
        self.setToolTip("Processed images — select several with Ctrl/Shift, then “Export selected…”")
        self.itemActivated.connect(lambda item: self.entry_activated.emit(item.data(_ENTRY_ROLE)))

    def add_entry(self, entry: ImageEntry) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(thumbnail_pixmap(entry)), entry.label)
        item.setData(_ENTRY_ROLE, entry)
        item.setToolTip(f"{entry.path}\n{entry.face_count} face(s) — double-click to view")
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.addItem(item)
        return item

    def entries(self) -> list[ImageEntry]:
        return [self.item(row).data(_ENTRY_ROLE) for row in range(self.count())]

    def selected_entries(self) -> list[ImageEntry]:
        """The selected entries in gallery order."""
        rows = sorted(self.row(item) for item in self.selectedItems())
        return [self.item(row).data(_ENTRY_ROLE) for row in rows]
