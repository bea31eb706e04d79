"""The composer's bottom bar: why the message cannot be sent (in words), a status line, the Send button (which
names the delivery methods once a plan is on show) and, after a permanent refusal, a resend through the portal."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class SendBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.blocked_label = QLabel()
        self.blocked_label.setTextFormat(Qt.TextFormat.PlainText)
        self.blocked_label.setWordWrap(True)
        self.blocked_label.setStyleSheet("color: #b91c1c;")
        self.blocked_label.setAccessibleName("Why the message cannot be sent")
        self.blocked_label.hide()
        self.status_label = QLabel()
        self.status_label.setAccessibleName("Composer status")
        self.resend_button = QPushButton("Resend via secure &portal")
        self.resend_button.setAccessibleName("Resend via secure portal")
        self.resend_button.setToolTip("Send the refused message again through the secure portal (Ctrl+Shift+P)")
        self.resend_button.setShortcut(QKeySequence("Ctrl+Shift+P"))
        self.resend_button.hide()
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send the message (Ctrl+Enter)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.blocked_label)
        row = QHBoxLayout()
        row.addWidget(self.status_label, 1)
        row.addWidget(self.resend_button)
        row.addWidget(self.send_button)
        layout.addLayout(row)

    def show_reason(self, reason: str) -> None:
        """Why Send is disabled, in words beside it; an empty reason hides the line."""
        self.blocked_label.setText(reason)
        self.blocked_label.setVisible(bool(reason))
