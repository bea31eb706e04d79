"""The "Access log" view (DESIGN.md §8): the profile's audit entries, filtered by date, event and message, the
verification status of the hash chain, and exports to CSV or JSON.

Rules:
- Every read runs on the engine thread through the bridge (`Reader.in_vault`); the table holds a snapshot.
- Answers to an older request (the filter changed meanwhile) are dropped, so the table never mixes two filters.
- It is a dialog, so a lock closes it (`app.ui.lock_screen` rejects every dialog); closing drops the snapshot.
- Verifying and exporting are audited by the service; the entries they add show after the next refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.audit.events import AuditEvent
from app.audit.query import AuditFilter, AuditPage
from app.services import access_log
from app.services.access_log import ChainStatus, ExportFormat
from app.services.reader import Reader
from app.ui.bridge import Bridge
from app.ui.models.access_log import AccessLogModel, LogColumn
from app.ui.windows.dialogs import Dialogs

T = TypeVar("T")
DEFAULT_DAYS = 30


class AccessLogWindow(QDialog):
    page_loaded = Signal()
    chain_checked = Signal(object)  # ChainStatus
    exported = Signal(str)  # path

    def __init__(self, bridge: Bridge, reader: Reader, dialogs: Dialogs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._reader, self._dialogs = bridge, reader, dialogs
        self._generation = 0
        self._before: int | None = None
        self.model = AccessLogModel(self)
        self.setWindowTitle("Access log")
        self.setAccessibleName("Access log of this profile")
        self.resize(980, 600)
        self._build()
        self.refresh()
        self.verify()

    def _build(self) -> None:
        today = QDate.currentDate()
        self.since = _date_edit("From date", today.addDays(-DEFAULT_DAYS))
        self.until = _date_edit("To date (included)", today)
        self.event_choice = QComboBox()
        self.event_choice.setAccessibleName("Event")
        self.event_choice.addItem("All events", "")
        for event in AuditEvent:
            self.event_choice.addItem(event.value, event.value)
        self.text = QLineEdit()
        self.text.setAccessibleName("Message, folder or file")
        self.text.setPlaceholderText("Message, folder or file")
        self.text.setClearButtonEnabled(True)
        self.apply_button = _button("&Filter", "Ctrl+Return", "Show the entries matching the filter")
        self.table = QTableView()
        self.table.setAccessibleName("Access log entries")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(LogColumn.DETAIL, QHeaderView.ResizeMode.Stretch)
        self.more_button = _button("&Older entries", "Ctrl+O", "Load the next page of older entries")
        self.verify_button = _button("&Verify chain", "Ctrl+Shift+V", "Check the hash chain of the access log")
        self.csv_button = _button("Export &CSV…", "Ctrl+E", "Export the whole access log as CSV")
        self.json_button = _button("Export &JSON…", "Ctrl+J", "Export the whole access log as JSON")
        self.chain = QLabel("Checking the chain…")
        self.chain.setObjectName("chain_status")
        self.chain.setAccessibleName("Chain verification status")
        self.chain.setTextFormat(Qt.TextFormat.PlainText)
        self.notice = QLabel()
        self.notice.setAccessibleName("Access log message")
        self.notice.setTextFormat(Qt.TextFormat.PlainText)
        self.notice.setWordWrap(True)
        self._lay_out()
        self.apply_button.clicked.connect(self.refresh)
        self.text.returnPressed.connect(self.refresh)
        self.more_button.clicked.connect(self.load_older)
        self.verify_button.clicked.connect(self.verify)
        self.csv_button.clicked.connect(lambda: self.export(ExportFormat.CSV))
        self.json_button.clicked.connect(lambda: self.export(ExportFormat.JSON))

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        for label, widget in (("From", self.since), ("to", self.until), ("Event", self.event_choice)):
            filters.addWidget(QLabel(label))
            filters.addWidget(widget)
        filters.addWidget(self.text, 1)
        filters.addWidget(self.apply_button)
        actions = QHBoxLayout()
        actions.addWidget(self.chain, 1)
        for button in (self.verify_button, self.more_button, self.csv_button, self.json_button):
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notice)
        layout.addLayout(actions)

    def current_filter(self) -> AuditFilter:
        since = _local_midnight(self.since.date())
        until = _local_midnight(self.until.date().addDays(1))
        return AuditFilter(since, until, self.event_choice.currentData() or None, self.text.text())

    def refresh(self) -> None:
        self._generation += 1
        self.model.clear()
        self._before = None
        self._load(None, replace=True)

    def load_older(self) -> None:
        if self._before is not None:
            self._load(self._before, replace=False)

    def _load(self, before: int | None, *, replace: bool) -> None:
        generation = self._generation
        self.more_button.setEnabled(False)
        coroutine = self._reader.in_vault(access_log.page, self.current_filter(), before)
        self._submit(coroutine, lambda found: self._on_engine_page(generation, found, replace))

    def _on_engine_page(self, generation: int, found: AuditPage, replace: bool) -> None:
        if generation != self._generation:
            return  # the filter changed while this page was read
        if replace:
            self.model.set_entries(found.entries)
        else:
            self.model.append_entries(found.entries)
        self._before = found.before
        self.more_button.setEnabled(found.before is not None)
        self.notice.setText(f"{self.model.rowCount()} entries shown" + (", more are older." if found.before else "."))
        self.page_loaded.emit()

    def verify(self) -> None:
        self.chain.setText("Checking the chain…")
        self._submit(self._reader.in_vault(access_log.check_chain), self._on_engine_chain_checked)

    def _on_engine_chain_checked(self, status: ChainStatus) -> None:
        self.chain.setText(status.text)
        self.chain.setStyleSheet("" if status.ok else "color: #b91c1c; font-weight: 600;")
        self.chain_checked.emit(status)

    def export(self, fmt: ExportFormat) -> None:
        suggested = Path.home() / f"salus-access-log.{fmt.value}"
        destination = self._dialogs.choose_save_path(self, suggested)
        if destination is None:
            return
        coroutine = self._reader.in_vault(access_log.export, fmt, destination)
        self._submit(coroutine, lambda _size: self._on_engine_exported(destination))

    def _on_engine_exported(self, destination: Path) -> None:
        self.notice.setText(f"The access log was exported to {destination}.")
        self.exported.emit(str(destination))

    def _on_engine_failed(self, message: str) -> None:
        self.notice.setText(message)

    def _submit(self, coroutine: Coroutine[Any, Any, T], on_done: Callable[[T], None]) -> None:
        self._bridge.submit(coroutine, on_done, self._on_engine_failed)

    def done(self, result: int) -> None:
        self._generation += 1  # answers still on their way are dropped
        self.model.clear()
        super().done(result)


def _date_edit(accessible: str, value: QDate) -> QDateEdit:
    edit = QDateEdit(value)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat("yyyy-MM-dd")
    edit.setAccessibleName(accessible)
    return edit


def _button(text: str, shortcut: str, description: str) -> QPushButton:
    button = QPushButton(text)
    button.setShortcut(QKeySequence(shortcut))
    button.setAccessibleName(description)
    button.setToolTip(f"{description} ({shortcut})")
    button.setAutoDefault(False)
    return button


def _local_midnight(day: QDate) -> datetime:
    local = datetime.combine(date(day.year(), day.month(), day.day()), time.min).astimezone()
    return local.astimezone(UTC)
