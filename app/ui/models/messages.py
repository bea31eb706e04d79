"""The message list: a table over snapshots of `MessageSummary`, paged from the vault as the view scrolls.

Rules:
- `data()` reads the snapshot list only. Pages arrive through a `PageSource` (the controller, which asks the
  engine); the model never touches the store.
- A folder is shown page by page: `canFetchMore`/`fetchMore` ask for the next page (keyset cursor) when the view
  scrolls near the end, so a 100,000-message folder holds only the rows the user has scrolled past.
- Every request carries a generation number; a page that arrives after the user switched folder or order is
  dropped, so a slow answer can never show one folder's rows under another's name.
- Search results are one complete snapshot; sorting them happens in memory.
- Portal marks (the state of the portal message a Sent copy carried) are a second snapshot keyed by row id,
  set from outside (app.ui.portal_status) and dropped with the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Protocol

import shiboken6
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QFont

from app.core.models import FolderId, MessageRowId
from app.store.browse import MessageSummary, Order, Page, PageCursor, SortField
from app.store.portal import PortalMark
from app.ui.formatting import rich_tooltip, short_date, size_text
from app.ui.icons import status_icon
from app.ui.portal_marks import portal_icon, portal_text

AnyIndex = QModelIndex | QPersistentModelIndex
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1


class Column(IntEnum):
    STATUS = 0
    SENDER = 1
    SUBJECT = 2
    DATE = 3


_HEADERS = {Column.STATUS: "", Column.SENDER: "From", Column.SUBJECT: "Subject", Column.DATE: "Date"}
_SORT_FIELDS = {
    Column.STATUS: SortField.DATE,
    Column.SENDER: SortField.SENDER,
    Column.SUBJECT: SortField.SUBJECT,
    Column.DATE: SortField.DATE,
}
_EPOCH = datetime.min.replace(tzinfo=UTC)


class PageSource(Protocol):
    def request_page(
        self, folder: FolderId, order: Order, after: PageCursor | None, on_done: Callable[[Page], None]
    ) -> None: ...


class MessageListModel(QAbstractTableModel):
    folder_shown = Signal(object)  # FolderId: the first page of a folder is in
    loading_changed = Signal(bool)

    def __init__(self, source: PageSource, parent: Any = None) -> None:
        super().__init__(parent)
        self._source = source
        self._rows: list[MessageSummary] = []
        self._index: dict[MessageRowId, int] = {}
        self._portal: dict[MessageRowId, PortalMark] = {}
        self._folder: FolderId | None = None
        self._order = Order()
        self._cursor: PageCursor | None = None
        self._pending = False
        self._generation = 0
        self._now = datetime.now(UTC)
        self._bold = QFont()
        self._bold.setBold(True)
        self.fetch_gate: Callable[[], bool] | None = None  # set by the list view: is its last row in sight?

    # --- what is shown ------------------------------------------------------------------------------------

    @property
    def folder(self) -> FolderId | None:
        return self._folder

    @property
    def order(self) -> Order:
        return self._order

    @property
    def loading(self) -> bool:
        return self._pending

    def show_folder(self, folder: FolderId) -> None:
        """Replaces the rows with the first page of `folder` once it arrives."""
        self._folder = folder
        self._request(None, replace=True)

    def reload(self) -> None:
        if self._folder is not None:
            self._request(None, replace=True)

    def show_results(self, rows: Iterable[MessageSummary]) -> None:
        self._generation += 1
        self._folder = None
        self._set_pending(False)
        self._reset(sorted(rows, key=self._key(self._order), reverse=self._order.descending), None)

    def clear(self) -> None:
        """Drops every snapshot (the profile is locking or closing)."""
        self._generation += 1
        self._folder = None
        self._set_pending(False)
        self._reset([], None)

    def summary(self, row: int) -> MessageSummary:
        return self._rows[row]

    def shown_ids(self) -> list[MessageRowId]:
        return [summary.id for summary in self._rows]

    def portal_mark(self, row: int) -> PortalMark | None:
        return self._portal.get(self._rows[row].id)

    def set_portal_marks(self, marks: dict[MessageRowId, PortalMark], *, complete: bool = False) -> None:
        """New portal marks for rows shown; with `complete`, rows absent from `marks` lose theirs."""
        changed = {i for i in marks if i in self._index and self._portal.get(i) != marks[i]}
        if complete:
            changed |= {i for i in self._portal if i not in marks}
            self._portal = {i: m for i, m in marks.items() if i in self._index}
        else:
            self._portal.update({i: m for i, m in marks.items() if i in self._index})
        for message_id in changed:
            row = self._index.get(message_id)
            if row is not None:
                self.dataChanged.emit(self.index(row, Column.STATUS), self.index(row, Column.STATUS))

    def row_of(self, message_id: MessageRowId) -> int | None:
        return self._index.get(message_id)

    def update_rows(self, rows: Iterable[MessageSummary]) -> None:
        """New snapshots of rows already shown (flags changed); rows not shown are ignored."""
        for summary in rows:
            row = self._index.get(summary.id)
            if row is not None:
                self._rows[row] = summary
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def remove_rows(self, ids: Iterable[MessageRowId]) -> None:
        for row in sorted((r for i in ids if (r := self._index.get(i)) is not None), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        self._index = {summary.id: row for row, summary in enumerate(self._rows)}

    # --- paging -------------------------------------------------------------------------------------------

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._cursor is not None and not self._pending

    def fetchMore(self, parent: AnyIndex) -> None:
        # Every view of the model calls this, and QHeaderView does so whenever its geometry changes, judging
        # by its own sections whether "the last row" is visible; without the gate it pages the whole folder in.
        if self.canFetchMore(parent) and (self.fetch_gate is None or self.fetch_gate()):
            self._request(self._cursor, replace=False)

    def _request(self, after: PageCursor | None, *, replace: bool) -> None:
        if self._folder is None:
            return
        if replace:
            self._generation += 1
        generation = self._generation
        self._set_pending(True)
        self._source.request_page(
            self._folder, self._order, after, lambda page: self._on_source_page(generation, replace, page)
        )

    def _on_source_page(self, generation: int, replace: bool, page: Page) -> None:
        if not shiboken6.isValid(self) or generation != self._generation:
            return  # the window has closed, or the user has moved on to another folder or order
        self._set_pending(False)
        self._now = datetime.now(UTC)
        if replace:
            self._reset(list(page.rows), page.cursor)
            self.folder_shown.emit(self._folder)
            return
        # The cursor moves first: a view (or the model tester) may ask for more while the rows go in.
        self._cursor = page.cursor
        if page.rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(page.rows) - 1)
            for offset, summary in enumerate(page.rows):
                self._index[summary.id] = start + offset
            self._rows.extend(page.rows)
            self.endInsertRows()

    def _reset(self, rows: list[MessageSummary], cursor: PageCursor | None) -> None:
        self.beginResetModel()
        self._rows = rows
        self._index = {summary.id: row for row, summary in enumerate(rows)}
        self._portal = {i: m for i, m in self._portal.items() if i in self._index}
        self._cursor = cursor
        self.endResetModel()

    def _set_pending(self, pending: bool) -> None:
        if pending != self._pending:
            self._pending = pending
            self.loading_changed.emit(pending)

    # --- Qt's model interface -----------------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's default
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[Column(section)]
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return _HEADERS[Column(section)] or "Status"
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        summary = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(summary, column)
        mark = self._portal.get(summary.id) if column is Column.STATUS else None
        if mark is not None and role in (Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole):
            return portal_icon(mark.state) if role == Qt.ItemDataRole.DecorationRole else portal_text(mark)
        if role == Qt.ItemDataRole.DecorationRole and column is Column.STATUS:
            return status_icon(not summary.seen, summary.flagged, summary.has_attachments, summary.is_encrypted)
        if role == Qt.ItemDataRole.FontRole and not summary.seen:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column in (Column.SENDER, Column.SUBJECT):
            return rich_tooltip(self._text(summary, column))
        if role == Qt.ItemDataRole.AccessibleTextRole:
            if column is Column.STATUS:
                return _status_text(summary) + (f", {portal_text(mark)}" if mark else "")
            return self._text(summary, column)
        if role == Qt.ItemDataRole.TextAlignmentRole and column is Column.DATE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SUMMARY_ROLE:
            return summary
        return None

    def _text(self, summary: MessageSummary, column: Column) -> str:
        if column is Column.SENDER:
            return summary.sender or "(no sender)"
        if column is Column.SUBJECT:
            return summary.subject or "(no subject)"
        if column is Column.DATE:
            return short_date(summary.date, self._now)
        return ""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(Column):
            return
        wanted = Order(_SORT_FIELDS[Column(column)], order == Qt.SortOrder.DescendingOrder)
        if wanted == self._order:
            return
        self._order = wanted
        if self._folder is not None:
            self._request(None, replace=True)
        else:
            self._sort_in_memory(wanted)

    def _sort_in_memory(self, order: Order) -> None:
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        ids = [self._rows[index.row()].id for index in persistent]
        self._rows.sort(key=self._key(order), reverse=order.descending)
        self._index = {summary.id: row for row, summary in enumerate(self._rows)}
        moved = [self.index(self._index[i], index.column()) for i, index in zip(ids, persistent, strict=True)]
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    @staticmethod
    def _key(order: Order) -> Callable[[MessageSummary], Any]:
        if order.field is SortField.SENDER:
            return lambda s: (s.sender.lower(), s.id)
        if order.field is SortField.SUBJECT:
            return lambda s: (s.subject.lower(), s.id)
        return lambda s: (s.date or _EPOCH, s.id)


def _status_text(summary: MessageSummary) -> str:
    parts = ["unread" if not summary.seen else "read"]
    if summary.flagged:
        parts.append("flagged")
    if summary.has_attachments:
        parts.append("has attachments")
    if summary.is_encrypted:
        parts.append("encrypted")
    return ", ".join(parts) + f", {size_text(summary.size)}"
