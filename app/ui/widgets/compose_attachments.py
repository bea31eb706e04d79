"""The composer's attachments: the list, and buttons to attach files (a file chooser) and remove one.

Files are only named here; they are read on the engine thread when the message is sent or the draft saved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QListWidget, QPushButton, QVBoxLayout, QWidget

from app.services.drafts import AttachmentSource


def _choose_files(parent: QWidget) -> list[str]:
    names, _ = QFileDialog.getOpenFileNames(parent, "Attach files")
    return names


class ComposeAttachments(QWidget):
    edited = Signal()  # the user added or removed an attachment

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choose_files: Callable[[QWidget], list[str]] = _choose_files
        self.sources: list[AttachmentSource] = []
        self.list = QListWidget()
        self.list.setAccessibleName("Attachments")
        self.list.setMaximumHeight(80)
        self.attach_button = QPushButton("&Attach files…")
        self.attach_button.setAccessibleName("Attach files")
        self.attach_button.setToolTip("Attach files (Ctrl+Shift+A); you can also drop files on this window")
        self.attach_button.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.remove_button = QPushButton("&Remove attachment")
        self.remove_button.setAccessibleName("Remove the selected attachment")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.list, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.attach_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        row.addLayout(buttons)
        self.attach_button.clicked.connect(self._on_attach_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)

    def set_sources(self, sources: list[AttachmentSource]) -> None:
        """Replaces what is attached (the program filling the window: not an edit)."""
        self.sources.clear()
        self.list.clear()
        self._add(sources)

    def add_files(self, paths: list[Path]) -> None:
        self._add([path for path in paths if path.is_file()])
        self.edited.emit()

    def _add(self, sources: list[AttachmentSource]) -> None:
        for source in sources:
            if source not in self.sources:
                self.sources.append(source)
                self.list.addItem(source.name if isinstance(source, Path) else source.filename)

    def _on_attach_button_clicked(self) -> None:
        self.add_files([Path(name) for name in self.choose_files(self)])

    def _on_remove_button_clicked(self) -> None:
        row = self.list.currentRow()
        if 0 <= row < len(self.sources):
            self.list.takeItem(row)
            del self.sources[row]
            self.edited.emit()
