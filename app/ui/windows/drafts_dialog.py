"""The saved drafts: a list to reopen one in a composer, or delete it. A snapshot, fetched when the dialog opens."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.store.drafts import DraftSummary
from app.ui.bridge import Bridge
from app.ui.windows.composer import ComposerService

_ID_ROLE = Qt.ItemDataRole.UserRole


class DraftsDialog(QDialog):
    open_requested = Signal(str)  # draft id

    def __init__(self, bridge: Bridge, service: ComposerService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._service = bridge, service
        self.setWindowTitle("Salus — drafts")
        self.setAccessibleName("Saved drafts")
        self.list = QListWidget()
        self.list.setAccessibleName("Drafts")
        self.message = QLabel("Loading drafts…")
        self.message.setAccessibleName("Drafts status")
        self.open_button = QPushButton("&Open")
        self.open_button.setAccessibleName("Open the selected draft")
        self.open_button.setShortcut(QKeySequence("Return"))
        self.delete_button = QPushButton("&Delete")
        self.delete_button.setAccessibleName("Delete the selected draft")
        self.delete_button.setShortcut(QKeySequence("Delete"))
        close = QPushButton("&Close")
        close.setAccessibleName("Close the drafts list")
        close.setShortcut(QKeySequence("Escape"))
        buttons = QHBoxLayout()
        for button in (self.open_button, self.delete_button, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.list.itemActivated.connect(lambda _item: self._on_open_button_clicked())
        close.clicked.connect(self.reject)
        self.refresh()

    def refresh(self) -> None:
        self._bridge.submit(self._service.list_drafts(), self._on_service_listed, self.message.setText)

    def _on_service_listed(self, found: list[DraftSummary]) -> None:
        self.list.clear()
        for draft in found:
            when = draft.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            item = QListWidgetItem(f"{draft.subject or '(no subject)'} — {when}")
            item.setData(_ID_ROLE, draft.draft_id)
            self.list.addItem(item)
        self.message.setText("" if found else "No saved drafts.")
        if found:
            self.list.setCurrentRow(0)

    def _selected(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(_ID_ROLE))

    def _on_open_button_clicked(self) -> None:
        draft_id = self._selected()
        if draft_id is not None:
            self.open_requested.emit(draft_id)
            self.accept()

    def _on_delete_button_clicked(self) -> None:
        draft_id = self._selected()
        if draft_id is not None:
            self._bridge.submit(self._service.delete_draft(draft_id), lambda _r: self.refresh(), self.message.setText)
