"""The attachments of the message being read: a list over a snapshot of the parser's `Attachment` values."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtWidgets import QApplication, QStyle

from app.mime.parse import Attachment
from app.ui.formatting import rich_tooltip, size_text

AnyIndex = QModelIndex | QPersistentModelIndex
ATTACHMENT_ROLE = Qt.ItemDataRole.UserRole + 1


class AttachmentListModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: tuple[Attachment, ...] = ()

    def set_attachments(self, items: tuple[Attachment, ...]) -> None:
        self.beginResetModel()
        self._items = items
        self.endResetModel()

    def attachment(self, row: int) -> Attachment:
        return self._items[row]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        label = f"{display_name(item)} ({size_text(item.size)})"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return label
        if role == Qt.ItemDataRole.ToolTipRole:
            return rich_tooltip(f"{label}, {item.content_type}")
        if role == Qt.ItemDataRole.DecorationRole:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        if role == ATTACHMENT_ROLE:
            return item
        return None


def display_name(item: Attachment) -> str:
    return item.filename or f"unnamed {item.content_type} (part {item.part})"
