"""The access log's table: a snapshot of audit entries, newest first, with older pages appended at the end.

Like every model of the window it holds frozen values only and never reads the vault from `data()`; the window
drops the snapshot when it closes, which a lock forces.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.audit.chain import AuditEntry

AnyIndex = QModelIndex | QPersistentModelIndex
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1


class LogColumn(IntEnum):
    SEQ = 0
    TIME = 1
    EVENT = 2
    ACTOR = 3
    TARGET = 4
    DETAIL = 5


_HEADERS = {
    LogColumn.SEQ: "#",
    LogColumn.TIME: "Time",
    LogColumn.EVENT: "Event",
    LogColumn.ACTOR: "OS account",
    LogColumn.TARGET: "Object",
    LogColumn.DETAIL: "Details",
}


class AccessLogModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._entries: tuple[AuditEntry, ...] = ()

    def set_entries(self, entries: tuple[AuditEntry, ...]) -> None:
        self.beginResetModel()
        self._entries = entries
        self.endResetModel()

    def append_entries(self, entries: tuple[AuditEntry, ...]) -> None:
        if not entries:
            return
        first = len(self._entries)
        self.beginInsertRows(QModelIndex(), first, first + len(entries) - 1)
        self._entries = self._entries + entries
        self.endInsertRows()

    def clear(self) -> None:
        self.set_entries(())

    def entry(self, row: int) -> AuditEntry:
        return self._entries[row]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(LogColumn)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < 6:
            return _HEADERS[LogColumn(section)]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.ToolTipRole):
            return _text(entry, LogColumn(index.column()))
        if role == ENTRY_ROLE:
            return entry
        return None


def _text(entry: AuditEntry, column: LogColumn) -> str:
    match column:
        case LogColumn.SEQ:
            return str(entry.seq)
        case LogColumn.TIME:
            return _local_time(entry.at)
        case LogColumn.EVENT:
            return entry.event
        case LogColumn.ACTOR:
            return entry.actor
        case LogColumn.TARGET:
            return entry.target
        case _:
            return "" if entry.detail == "{}" else entry.detail


def _local_time(at: str) -> str:
    try:
        return datetime.fromisoformat(at).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return at  # shown as stored: a row the chain check will name anyway
