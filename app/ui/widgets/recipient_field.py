"""An address field with a badge beside every recipient: the delivery method, and its reasons as a tool tip.

Completion: the field completes the recipient being typed (the text after the last comma or semicolon, so a
name with spaces matches too) from a snapshot of known contacts the composer loads on the engine thread. The
popup shows "Name <address>"; choosing one puts the bare address in the field.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QCompleter, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.policy import Method
from app.ui.models.recipients import RecipientBadge, pending_badge, split_addresses

# Colours per method: green for end-to-end, blue for the portal, amber for transport only, red for refused.
_COLOURS: dict[Method | None, tuple[str, str]] = {
    Method.PGP: ("#dcfce7", "#14532d"),
    Method.SMIME: ("#dcfce7", "#14532d"),
    Method.PORTAL: ("#dbeafe", "#1e3a8a"),
    Method.TLS: ("#fef3c7", "#78350f"),
    Method.PLAIN: ("#fed7aa", "#7c2d12"),
    Method.BLOCKED: ("#fee2e2", "#7f1d1d"),
    None: ("#e5e7eb", "#374151"),
}
_TOKEN_START = re.compile(r"[^,;]*$")  # the recipient being typed: everything after the last separator


class RecipientField(QWidget):
    addresses_edited = Signal(object)  # tuple[str, ...]: the addresses now typed

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("name@example.org, another@example.org")
        self.edit.setAccessibleName(f"{label} recipients")
        self.badges_row = QWidget()
        self.badges_row.setAccessibleName(f"{label} recipients' delivery methods")
        self._badge_layout = QHBoxLayout(self.badges_row)
        self._badge_layout.setContentsMargins(0, 0, 0, 0)
        self._badge_layout.addStretch(1)
        self.badges: list[QLabel] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.edit)
        layout.addWidget(self.badges_row)
        self.edit.textChanged.connect(self._on_edit_text_changed)
        self._addresses_by_entry: dict[str, str] = {}
        self._entries = QStringListModel(self)
        self.completer = QCompleter(self._entries, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)  # a surname or a domain finds the contact too
        self.completer.setWidget(self.edit)
        self._popup().setAccessibleName(f"{label} address suggestions")
        self.completer.activated.connect(self._on_completer_activated)  # the str overload
        self.edit.textEdited.connect(self._on_edit_text_edited)

    def set_completions(self, entries: tuple[tuple[str, str], ...]) -> None:
        """(shown text, address) pairs, best first; an empty tuple forgets them (a lock drops the snapshot)."""
        self._addresses_by_entry = dict(entries)
        self._entries.setStringList([shown for shown, _ in entries])
        if not entries:
            self._hide_popup()

    def _popup(self) -> QAbstractItemView:
        popup = self.completer.popup()
        assert popup is not None  # QCompleter makes its popup on first use and keeps it
        return popup

    def _hide_popup(self) -> None:
        self._popup().hide()

    def _typed(self) -> tuple[int, str]:
        before = self.edit.text()[: self.edit.cursorPosition()]
        match = _TOKEN_START.search(before)
        start = match.start() if match else len(before)
        return start, before[start:].strip()

    def _on_edit_text_edited(self, _text: str) -> None:
        _, token = self._typed()
        if not token or not self._addresses_by_entry:
            self._hide_popup()
            return
        self.completer.setCompletionPrefix(token)
        if self.completer.completionCount():
            self.completer.complete()
        else:
            self._hide_popup()

    def _on_completer_activated(self, entry: str) -> None:
        address = self._addresses_by_entry.get(entry, entry)
        start, _ = self._typed()
        text, cursor = self.edit.text(), self.edit.cursorPosition()
        head = text[:start] + (" " if start else "") + address + ", "
        self.edit.setText(head + text[cursor:].lstrip(" ,;"))
        self.edit.setCursorPosition(len(head))

    def addresses(self) -> tuple[str, ...]:
        return split_addresses(self.edit.text())

    def set_addresses(self, addresses: tuple[str, ...]) -> None:
        self.edit.setText(", ".join(addresses))

    def show_badges(self, badges: tuple[RecipientBadge, ...]) -> None:
        for label in self.badges:
            self._badge_layout.removeWidget(label)
            label.deleteLater()
        self.badges = []
        for badge in badges:
            label = QLabel(f"{badge.address}  [{badge.text}]{badge.marker}")
            background, colour = _COLOURS[badge.method]
            label.setStyleSheet(f"background: {background}; color: {colour}; border-radius: 3px; padding: 1px 4px;")
            label.setToolTip(badge.tooltip)
            label.setAccessibleName(f"{badge.address}: {badge.text}")
            label.setAccessibleDescription(badge.tooltip)
            label.setProperty("method", badge.text)
            label.setProperty("flags", ",".join(badge.flags))
            self._badge_layout.insertWidget(self._badge_layout.count() - 1, label)
            self.badges.append(label)

    def badge_methods(self) -> dict[str, str]:
        """What each badge says, by address (for tests and screen readers' summaries)."""
        return {label.accessibleName().split(": ")[0]: str(label.property("method")) for label in self.badges}

    def _on_edit_text_changed(self, _text: str) -> None:
        addresses = self.addresses()
        self.show_badges(tuple(pending_badge(a) for a in addresses))
        self.addresses_edited.emit(addresses)
