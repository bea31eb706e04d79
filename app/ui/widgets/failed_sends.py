"""The main window's bar for messages the server refused for good (issue 5: "a permanent failure, for example a
5.7.30 REQUIRETLS bounce, is shown with a one-click resend by a stronger method").

Rules:
- It shows what the vault's outbox says, whoever found the failure: the send itself, a later retry, or
  `salus outbox flush` from another process. It is read on the engine thread through the bridge, never here.
- Non-modal: a bar above the message list, with "Resend via secure portal" (app/services/resend.py, audited
  there) and "Dismiss" (hides those messages until Salus restarts; the outbox keeps them for `salus outbox`).
- It names no recipient and no subject (counts and the server's reply only); a lock drops it like every other
  snapshot, and the next check after the unlock shows it again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.services.resend import RefusedSend, ResendReport
from app.ui.bridge import Bridge, Ticket
from app.ui.widgets.banner import BannerKind
from app.ui.windows.compose_flow import ComposerService

RESEND_SHORTCUT = "Ctrl+Alt+P"  # Ctrl+Shift+P is "Prefer plain text" in the main window


class FailedSendsBar(QFrame):
    resent = Signal(object)  # list[ResendReport]

    def __init__(self, bridge: Bridge, service: ComposerService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._service = service
        self._checking: Ticket | None = None
        self._dismissed: set[str] = set()
        self.refused: tuple[RefusedSend, ...] = ()
        self.setObjectName("failedSends")
        self.setAccessibleName("Messages not delivered")
        self._set_kind(BannerKind.ERROR)
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # the server's words are untrusted text
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Messages not delivered")
        self.resend_button = QPushButton("Resend via secure &portal")
        self.resend_button.setAccessibleName("Resend the refused messages via secure portal")
        self.resend_button.setToolTip(f"Send the refused messages again through the secure portal ({RESEND_SHORTCUT})")
        self.resend_button.setShortcut(QKeySequence(RESEND_SHORTCUT))
        self.dismiss_button = QPushButton("&Dismiss")
        self.dismiss_button.setAccessibleName("Dismiss the undelivered messages notice")
        self.dismiss_button.setToolTip("Hide this notice; `salus outbox list` still shows the messages")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.resend_button)
        layout.addWidget(self.dismiss_button)
        self.resend_button.clicked.connect(self._on_resend_button_clicked)
        self.dismiss_button.clicked.connect(self._on_dismiss_button_clicked)
        self.hide()

    def check(self) -> None:
        """Reads the outbox again (on the engine thread); a check still running is replaced."""
        self._cancel()
        self._checking = self._bridge.submit(self._service.refused(), self._on_service_refused, self._on_check_failed)

    @property
    def is_checking(self) -> bool:
        return self._checking is not None

    def drop(self) -> None:
        """Forgets what is shown (the lock screen and closing call this through the main window)."""
        self._cancel()
        self.refused = ()
        self.label.clear()
        self.hide()

    def _cancel(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            self._checking = None

    def _on_service_refused(self, refused: tuple[RefusedSend, ...]) -> None:
        self._checking = None
        self.refused = tuple(r for r in refused if r.message_id not in self._dismissed)
        if not self.refused:
            self.hide()
            return
        count = sum(r.recipients for r in self.refused)
        messages = len(self.refused)
        self._set_kind(BannerKind.ERROR)
        self.label.setText(
            f"{messages} message{'s' if messages != 1 else ''} could not be delivered to {count} recipient(s): "
            f"the server refused {'them' if messages != 1 else 'it'} for good ({self.refused[0].error}). "
            "You can send it again through the secure portal."
        )
        self.resend_button.setEnabled(True)
        self.resend_button.show()
        self.show()

    def _on_check_failed(self, _message: str) -> None:
        self._checking = None  # locked or closing: the next check after the unlock tries again

    def _on_resend_button_clicked(self) -> None:
        if not self.refused:
            return
        self.resend_button.setEnabled(False)
        self.label.setText("Resending through the secure portal…")
        ids = tuple(r.message_id for r in self.refused)
        self._bridge.submit(self._service.resend(ids), self._on_service_resent, self._on_service_resend_failed)

    def _on_service_resent(self, reports: list[ResendReport]) -> None:
        failed = [d for r in reports for d in r.report.deliveries if d.state != "submitted"]
        if failed:
            self._on_service_resend_failed(failed[0].error or "the portal message was not delivered yet")
            return
        self.refused = ()
        self._set_kind(BannerKind.GOOD)
        self.label.setText("Resent through the secure portal.")
        self.resend_button.hide()
        self.resent.emit(reports)

    def _on_service_resend_failed(self, message: str) -> None:
        self.resend_button.setEnabled(True)
        self.label.setText(f"The message was not resent: {message}")  # the next check shows what is left

    def _on_dismiss_button_clicked(self) -> None:
        self._dismissed.update(r.message_id for r in self.refused)
        self.refused = ()
        self.hide()

    def _set_kind(self, kind: BannerKind) -> None:
        background, text = kind.value
        self.setStyleSheet(
            f"#failedSends {{ background: {background}; border-radius: 4px; }} #failedSends QLabel {{ color: {text}; }}"
        )
