"""The composer's bottom bar: why the message cannot be sent (in words), a status line, the Send button (which
names the delivery methods once a plan is on show) and, after a permanent refusal, a resend through the portal."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.services.resend import ResendReport


class SendBar(QWidget):
    resent = Signal(object)  # list[ResendReport]: every refused message went out through the portal
    resend_failed = Signal(str)

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
        self._resend: Callable[[], object] = lambda: None
        self.resend_button.clicked.connect(self._on_resend_button_clicked)

    def show_reason(self, reason: str) -> None:
        """Why Send is disabled, in words beside it; an empty reason hides the line."""
        self.blocked_label.setText(reason)
        self.blocked_label.setVisible(bool(reason))

    def offer_resend(self, resend: Callable[[], object]) -> None:
        """After a permanent refusal: shows the resend button, which calls `resend`; that reports back through
        `on_service_resent` or `on_service_resend_failed`."""
        self._resend = resend
        self.resend_button.show()
        self.send_button.setEnabled(False)

    def _on_resend_button_clicked(self) -> None:
        self.resend_button.setEnabled(False)
        self.status_label.setText("Resending through the secure portal…")
        self._resend()

    def on_service_resent(self, reports: list[ResendReport]) -> None:
        failed = [d for r in reports for d in r.report.deliveries if d.state != "submitted"]
        if failed:
            self.on_service_resend_failed(failed[0].error or "the portal message was not delivered yet")
            return
        self.status_label.setText("Resent through the secure portal.")
        self.resent.emit(reports)

    def on_service_resend_failed(self, message: str) -> None:
        self.resend_button.setEnabled(True)
        self.status_label.setText("Not resent.")
        self.resend_failed.emit(message)
