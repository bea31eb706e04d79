"""The composer's "Insert link" dialog: asks for the target and refuses anything but http, https and mailto.

Non-modal to the program (it is opened with `open()`), modal to its window; an unacceptable target keeps the
dialog open with the reason in words, so nothing the user typed is lost.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from app.ui.compose_html import link_allowed

REFUSED_TEXT = "Only web (http, https) and mailto links can be sent."


class LinkDialog(QDialog):
    chosen = Signal(str, str)  # target, text (the text is empty when the link goes on the selected words)

    def __init__(self, selected: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Insert link")
        self.setAccessibleName("Insert link")
        self.url = QLineEdit()
        self.url.setAccessibleName("Link address")
        self.url.setPlaceholderText("https://example.org/page")
        self.text = QLineEdit(selected)
        self.text.setAccessibleName("Link text")
        self.text.setEnabled(not selected)  # a selection is linked as it stands
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setAccessibleName("Why the link was refused")
        self.error.setStyleSheet("color: #b91c1c;")
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        form = QFormLayout()
        form.addRow("&Address:", self.url)
        form.addRow("&Text:", self.text)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.setWindowModality(Qt.WindowModality.WindowModal)

    def accept(self) -> None:
        target = self.url.text().strip()
        if not link_allowed(target):
            self.error.setText(REFUSED_TEXT)
            self.error.show()
            self.url.setFocus()
            return
        self.chosen.emit(target, "" if not self.text.isEnabled() else self.text.text())
        super().accept()
