"""The composer: recipients with a delivery badge each, subject, plain-text body, attachments, and Send.

Rules:
- The plan is computed on the engine thread through the bridge, never on the Qt thread: typing is debounced
  (300 ms); the escalation toggle replans at once. Only the newest plan is shown; older ones are dropped.
- Send is enabled only when the plan on show matches what is typed and no recipient is blocked; when one is,
  the reason is shown in words beside the button.
- Files are read on the engine thread when the message is sent or the draft saved, not when they are attached.
- The draft is autosaved into the vault (encrypted) 2 s after the last edit and, if edited since, when the window
  closes (an untouched reply leaves no draft behind); a lock
  saves it first and then empties the window, and the unlock fills it again from the vault (DESIGN.md §7: the
  lock drops decrypted data from the UI). A sent message's draft is deleted.
- Errors appear in the window's banner; nothing here opens a modal box except the file chooser the user asked for.
- Nothing about the message appears in the window title, which the operating system shows in task switchers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services import drafts
from app.services.drafts import AttachmentSource, DraftContent
from app.services.planning import PlanOutcome
from app.services.resend import RESENDABLE_METHODS, ResendReport
from app.services.send import SendReport
from app.ui.bridge import Bridge, Ticket
from app.ui.models.recipients import badges_for, blocked_text, is_address, send_summary
from app.ui.widgets.banner import Banner, BannerKind
from app.ui.widgets.recipient_field import RecipientField
from app.ui.windows.compose_flow import (
    ComposedMessage,
    ComposerService,
    DraftStart,
    composer_service,
    forward_start,
    reply_start,
    start_from_draft,
)

DEBOUNCE_MS = 300
AUTOSAVE_MS = 2000
SEND_SHORTCUTS = ("Ctrl+Return", "Ctrl+Enter")

__all__ = [
    "ComposedMessage", "ComposerService", "ComposerWindow", "DraftStart", "composer_service", "forward_start",
    "reply_start", "start_from_draft",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class _PlanKey:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    escalate: bool

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone planned, once each (a Bcc recipient is planned like any other; send.py hides them)."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


def _choose_files(parent: QWidget) -> list[str]:
    names, _ = QFileDialog.getOpenFileNames(parent, "Attach files")
    return names


class ComposerWindow(QMainWindow):
    plan_shown = Signal(object)  # PlanOutcome
    send_requested = Signal(object)  # ComposedMessage
    sent = Signal(object)  # SendReport
    closed = Signal()
    draft_saved = Signal()
    resent = Signal(object)  # list[ResendReport]
    draft_restored = Signal()

    def __init__(
        self, bridge: Bridge, service: ComposerService, start: DraftStart | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._service = service
        self.choose_files: Callable[[QWidget], list[str]] = _choose_files
        self.outcome: PlanOutcome | None = None
        self._planned: _PlanKey | None = None
        self._planning: Ticket | None = None
        self._generation = 0
        self._sending: Ticket | None = None
        self._completing: Ticket | None = None
        self.attachments: list[AttachmentSource] = []
        self._sent = False
        self._refused: tuple[str, ...] = ()  # outbox messages refused for good, which the user may resend
        self._filling = False  # while the window is filled or emptied by the program, edits are not autosaved
        self.emptied_for_lock = False
        self._dirty = False  # edited since the last save: only then does closing the window save a draft
        self.setWindowTitle("Salus — new message")
        self.setAccessibleName("Message composer")
        self.setAcceptDrops(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._build()
        self._connect()
        start = start or DraftStart()
        self.draft_id = start.draft_id or drafts.new_draft_id()
        self._fill(start)
        self._load_completions()
        self.resize(760, 620)

    def _fill(self, start: DraftStart) -> None:
        self._filling = True
        try:
            self._thread = start
            self.subject.setText(start.subject)
            self.body.setPlainText(start.body)
            self.to.set_addresses(start.to)
            self.cc.set_addresses(start.cc)
            self.bcc.set_addresses(start.bcc)
            self.attachments.clear()
            self.attachment_list.clear()
            self._add_sources(list(start.attachments))
            self.escalate.setChecked(start.escalate)
        finally:
            self._filling = False
        self._refresh_send()

    # --- building -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner(BannerKind.ERROR, "Composer error", closable=True)
        self.to = RecipientField("To")
        self.cc = RecipientField("Cc")
        self.bcc = RecipientField("Bcc")
        self.bcc.setToolTip("Each Bcc recipient gets a copy of their own; nobody else sees them named")
        self.subject = QLineEdit()
        self.subject.setAccessibleName("Subject")
        self.escalate = QCheckBox("Send via secure &portal")
        self.escalate.setAccessibleName("Send via secure portal")
        self.escalate.setToolTip("Every recipient gets the message through the secure portal (Ctrl+Shift+E)")
        self.escalate.setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.body = QPlainTextEdit()
        self.body.setAccessibleName("Message text")
        self.body.setAcceptDrops(False)  # a dropped file becomes an attachment (the window takes it), not its path
        self.attachment_list = QListWidget()
        self.attachment_list.setAccessibleName("Attachments")
        self.attachment_list.setMaximumHeight(80)
        self.attach_button = QPushButton("&Attach files…")
        self.attach_button.setAccessibleName("Attach files")
        self.attach_button.setToolTip("Attach files (Ctrl+Shift+A); you can also drop files on this window")
        self.attach_button.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.remove_button = QPushButton("&Remove attachment")
        self.remove_button.setAccessibleName("Remove the selected attachment")
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
        self.send_action = QAction("Send", self)
        self.send_action.setShortcuts([QKeySequence(s) for s in SEND_SHORTCUTS])
        self.send_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.send_action.setWhatsThis("Send the message")
        self.addAction(self.send_action)

        form = QFormLayout()
        form.addRow("&To:", self.to)
        form.addRow("&Cc:", self.cc)
        form.addRow("&Bcc:", self.bcc)
        form.addRow("&Subject:", self.subject)
        form.addRow("", self.escalate)
        for row, field in ((0, self.to.edit), (1, self.cc.edit), (2, self.bcc.edit), (3, self.subject)):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            label = item.widget() if item is not None else None
            if isinstance(label, QLabel):
                label.setBuddy(field)
        attach_row = QHBoxLayout()
        attach_row.addWidget(self.attachment_list, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.attach_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        attach_row.addLayout(buttons)
        send_row = QHBoxLayout()
        send_row.addWidget(self.status_label, 1)
        send_row.addWidget(self.resend_button)
        send_row.addWidget(self.send_button)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addLayout(form)
        layout.addWidget(self.body, 1)
        layout.addLayout(attach_row)
        layout.addWidget(self.blocked_label)
        layout.addLayout(send_row)
        self.setCentralWidget(central)

    def _connect(self) -> None:
        for field in self.fields:
            field.addresses_edited.connect(self._on_to_addresses_edited)
        self.subject.textChanged.connect(self._on_subject_text_changed)
        self.escalate.toggled.connect(self._on_escalate_toggled)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._autosave.timeout.connect(self._on_autosave_timeout)
        self.body.textChanged.connect(self._on_body_text_changed)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.send_action.triggered.connect(self._on_send_action_triggered)
        self.attach_button.clicked.connect(self._on_attach_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.resend_button.clicked.connect(self._on_resend_button_clicked)

    # --- planning -----------------------------------------------------------------------------------------

    def _key(self) -> _PlanKey:
        return _PlanKey(
            self.to.addresses(), self.cc.addresses(), self.bcc.addresses(), self.subject.text(),
            self.escalate.isChecked(),
        )  # fmt: skip

    @property
    def fields(self) -> tuple[RecipientField, ...]:
        return (self.to, self.cc, self.bcc)

    def _on_to_addresses_edited(self, _addresses: tuple[str, ...]) -> None:
        self._timer.start()
        self._refresh_send()
        self._edited()

    def _on_subject_text_changed(self, _text: str) -> None:
        self._timer.start()
        self._refresh_send()
        self._edited()

    def _on_body_text_changed(self) -> None:
        self._edited()

    def _on_escalate_toggled(self, _checked: bool) -> None:
        self._timer.stop()
        self._request_plan()
        self._edited()

    def _on_timer_timeout(self) -> None:
        self._request_plan()

    def _load_completions(self) -> None:
        self._completing = self._bridge.submit(
            self._service.completions(), self._on_service_completions_loaded, _ignore
        )

    def _on_service_completions_loaded(self, entries: tuple[tuple[str, str], ...]) -> None:
        self._completing = None
        if not self.emptied_for_lock:  # a lock that came meanwhile has dropped the snapshot: keep it dropped
            for field in self.fields:
                field.set_completions(entries)

    def _cancel_completions(self) -> None:
        """A closed (deleted) or locked window must not be handed contacts that arrive later."""
        if self._completing is not None:
            self._completing.cancel()
            self._completing = None

    def _request_plan(self) -> None:
        key = self._key()
        if self._planning is not None:
            self._planning.cancel()
            self._planning = None
        self._generation += 1
        if not key.recipients or not all(is_address(a) for a in key.recipients):
            self._refresh_send()
            return
        generation = self._generation
        self.status_label.setText("Working out how each recipient can be reached…")
        self._planning = self._bridge.submit(
            self._service.plan(
                key.recipients, key.subject, key.escalate, reply_to_encrypted=self._thread.reply_to_encrypted
            ),
            lambda outcome: self._on_service_plan_finished(generation, key, outcome),
            lambda message: self._on_service_plan_failed(generation, message),
        )

    def _on_service_plan_finished(self, generation: int, key: _PlanKey, outcome: PlanOutcome) -> None:
        if generation != self._generation:
            return  # something was typed since: a newer plan is on its way
        self._planning = None
        self.outcome, self._planned = outcome, key
        for field, addresses in zip(self.fields, (key.to, key.cc, key.bcc), strict=True):
            field.show_badges(badges_for(addresses, outcome.plan.decisions, outcome.planned_at))
        self.status_label.setText("Escalated to the secure portal." if outcome.escalated else "")
        self._refresh_send()
        self.plan_shown.emit(outcome)

    def _on_service_plan_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._planning = None
        self.status_label.setText("")
        self.banner.show_text(f"Could not work out how to deliver the message: {message}")

    def _refresh_send(self) -> None:
        key = self._key()
        reason = ""
        current = self.outcome is not None and self._planned == key
        blocked = blocked_text(self.outcome.plan.decisions, self.outcome.planned_at) if self.outcome else ""
        if not key.recipients:
            reason = "Add a recipient."
        elif bad := [a for a in key.recipients if not is_address(a)]:
            reason = f"Not an email address: {bad[0]}"
        elif current and blocked:
            reason = blocked
        self.blocked_label.setText(reason)
        self.blocked_label.setVisible(bool(reason))
        self.send_button.setText(send_summary(self.outcome.plan.summary()) if current and self.outcome else "Send")
        ready = current and not reason and self._sending is None
        self.send_button.setEnabled(ready)
        self.send_action.setEnabled(ready)

    # --- attachments --------------------------------------------------------------------------------------

    def add_attachments(self, paths: list[Path]) -> None:
        self._add_sources([path for path in paths if path.is_file()])
        self._edited()

    def _add_sources(self, sources: list[AttachmentSource]) -> None:
        for source in sources:
            if source not in self.attachments:
                self.attachments.append(source)
                self.attachment_list.addItem(source.name if isinstance(source, Path) else source.filename)

    def _on_attach_button_clicked(self) -> None:
        self.add_attachments([Path(name) for name in self.choose_files(self)])

    def _on_remove_button_clicked(self) -> None:
        row = self.attachment_list.currentRow()
        if 0 <= row < len(self.attachments):
            self.attachment_list.takeItem(row)
            del self.attachments[row]
            self._edited()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.add_attachments(paths)
            event.acceptProposedAction()
        else:
            event.ignore()

    # --- sending ------------------------------------------------------------------------------------------

    def _on_send_action_triggered(self) -> None:
        self.request_send()

    def _on_send_button_clicked(self) -> None:
        self.request_send()

    def request_send(self) -> None:
        self._refresh_send()
        if not self.send_button.isEnabled():
            return
        key = self._key()
        message = ComposedMessage(
            key.to, key.subject, self.body.toPlainText(), tuple(self.attachments), key.escalate, self._thread,
            self.draft_id, cc=key.cc, bcc=key.bcc,
        )  # fmt: skip
        self._autosave.stop()
        self.banner.hide()
        self.status_label.setText("Sending…")
        self._sending = self._bridge.submit(
            self._service.send(message), self._on_service_sent, self._on_service_send_failed
        )
        self._refresh_send()
        self.send_requested.emit(message)

    def _on_service_sent(self, report: SendReport) -> None:
        self._sending = None
        self._sent = True
        refused = [d for d in report.deliveries if d.state == "failed" and d.method in RESENDABLE_METHODS]
        if not refused:
            self.status_label.setText("Sent.")
            self.sent.emit(report)
            self.close()
            return
        # A permanent refusal (e.g. 5.7.30: REQUIRETLS cannot be honoured) is shown with a one-click resend.
        self._refused = tuple(d.message_id for d in refused)
        count = sum(len(d.recipients) for d in refused)
        self.status_label.setText("Not delivered to every recipient.")
        self.banner.show_text(
            f"The server refused the message for {count} recipient(s): {refused[0].error}. "
            "You can send it again through the secure portal."
        )
        self.resend_button.show()
        self.send_button.setEnabled(False)
        self.send_action.setEnabled(False)

    def _on_resend_button_clicked(self) -> None:
        self.resend_button.setEnabled(False)
        self.status_label.setText("Resending through the secure portal…")
        self._bridge.submit(
            self._service.resend(self._refused), self._on_service_resent, self._on_service_resend_failed
        )

    def _on_service_resent(self, reports: list[ResendReport]) -> None:
        failed = [d for r in reports for d in r.report.deliveries if d.state != "submitted"]
        if failed:
            self._on_service_resend_failed(failed[0].error or "the portal message was not delivered yet")
            return
        self.status_label.setText("Resent through the secure portal.")
        self.resent.emit(reports)
        self.close()

    def _on_service_resend_failed(self, message: str) -> None:
        self.resend_button.setEnabled(True)
        self.status_label.setText("Not resent.")
        self.banner.show_text(f"The message was not resent: {message}")

    def _on_service_send_failed(self, message: str) -> None:
        self._sending = None
        self.status_label.setText("Not sent.")
        self.banner.show_text(f"The message was not sent: {message}")
        self._refresh_send()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._timer.stop()
        self._autosave.stop()
        if self._planning is not None:
            self._planning.cancel()
        self._cancel_completions()
        if self._dirty and not self._sent and not self.emptied_for_lock and self._sending is None:
            self.save_draft(closing=True)
        self.closed.emit()
        event.accept()

    # --- drafts -------------------------------------------------------------------------------------------

    @property
    def service(self) -> ComposerService:
        return self._service

    def draft_content(self) -> DraftContent:
        """What the window holds now, as a draft (attachments not read yet)."""
        return DraftContent(
            self.draft_id, self.to.addresses(), self.subject.text(), self.body.toPlainText(),
            self.escalate.isChecked(), tuple(self.attachments), self._thread.in_reply_to, self._thread.references,
            self._thread.reply_to_encrypted, cc=self.cc.addresses(), bcc=self.bcc.addresses(),
        )  # fmt: skip

    def _edited(self) -> None:
        if not self._filling and not self._sent and self._sending is None:
            self._dirty = True
            self._autosave.start()

    def _on_autosave_timeout(self) -> None:
        self.save_draft()

    def save_draft(self, *, closing: bool = False) -> None:
        """Saves the draft now (an empty window removes its draft instead). A closing window is deleted before
        the save finishes, so nothing reports back to it."""
        self._autosave.stop()
        self._dirty = False
        content = self.draft_content()
        work = self._service.delete_draft(self.draft_id) if content.is_empty else self._service.save_draft(content)
        if closing:
            self._bridge.submit(work, _ignore, _ignore)
        else:
            self._bridge.submit(work, self._on_service_draft_saved, self._on_service_draft_failed)

    def _on_service_draft_saved(self, _result: None) -> None:
        self.draft_saved.emit()

    def _on_service_draft_failed(self, message: str) -> None:
        self.banner.show_text(f"The draft could not be saved: {message}")

    def empty_for_lock(self) -> None:
        """Forgets the content once the lock has saved it to the vault; `restore_after_unlock` brings it back."""
        self._timer.stop()
        self._autosave.stop()
        if self._planning is not None:
            self._planning.cancel()
            self._planning = None
        self.emptied_for_lock = True
        self._cancel_completions()
        self.outcome, self._planned = None, None
        self._fill(DraftStart(draft_id=self.draft_id))
        for field in self.fields:
            field.show_badges(())
            field.set_completions(())
        self.banner.hide()  # its text may name a recipient
        self.status_label.clear()

    def restore_after_unlock(self) -> None:
        if not self.emptied_for_lock:
            return
        self._bridge.submit(
            self._service.load_draft(self.draft_id), self._on_service_draft_loaded, self._on_service_draft_failed
        )

    def _on_service_draft_loaded(self, start: DraftStart) -> None:
        self.emptied_for_lock = False
        self._fill(start)
        self._request_plan()
        self._load_completions()
        self.draft_restored.emit()


def _ignore(_result: object) -> None:
    pass
