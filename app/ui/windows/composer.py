"""The composer: recipients with a delivery badge each, subject, the text (plain or rich), attachments, and Send.

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

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QVBoxLayout, QWidget

from app.services import drafts
from app.services.drafts import DraftContent
from app.services.planning import PlanOutcome
from app.services.resend import RESENDABLE_METHODS, ResendReport
from app.services.send import SendReport
from app.ui.bridge import Bridge, Ticket
from app.ui.models.recipients import badges_for, send_summary
from app.ui.widgets.banner import Banner, BannerKind
from app.ui.widgets.compose_attachments import ComposeAttachments
from app.ui.widgets.compose_editor import ComposeEditor
from app.ui.widgets.compose_header import ComposeHeader
from app.ui.widgets.recipient_field import RecipientField
from app.ui.widgets.send_bar import SendBar
from app.ui.windows.compose_flow import (
    ComposedMessage,
    ComposerService,
    DraftStart,
    composer_service,
    forward_start,
    reply_start,
    start_from_draft,
)
from app.ui.windows.compose_planner import PlanKey, Planner, not_ready_reason

AUTOSAVE_MS = 2000
SEND_SHORTCUTS = ("Ctrl+Return", "Ctrl+Enter")

__all__ = [
    "ComposedMessage", "ComposerService", "ComposerWindow", "DraftStart", "composer_service", "forward_start",
    "reply_start", "start_from_draft",
]  # fmt: skip


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
        self.outcome: PlanOutcome | None = None
        self._planned: PlanKey | None = None
        self._sending: Ticket | None = None
        self._completing: Ticket | None = None
        self._sent = False
        self._filling = False  # while the window is filled or emptied by the program, edits are not autosaved
        self.emptied_for_lock = False
        self._dirty = False  # edited since the last save: only then does closing the window save a draft
        self._thread = DraftStart()
        self.setWindowTitle("Salus — new message")
        self.setAccessibleName("Message composer")
        self.setAcceptDrops(True)
        self._planner = Planner(bridge, service, self._key, lambda: self._thread.reply_to_encrypted, self)
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
            # A new message starts as the user's setting says; a reply or forward quotes plain text (rich text is
            # never carried over from a message received); a draft comes back as it was saved.
            fresh = start.draft_id is None and not start.body
            rich = start.body_html is not None or (fresh and self._service.rich_text_default)
            self.editor.set_content(start.body, start.body_html, rich=rich)
            self.to.set_addresses(start.to)
            self.cc.set_addresses(start.cc)
            self.bcc.set_addresses(start.bcc)
            self.attachments_area.set_sources(list(start.attachments))
            self.escalate.setChecked(start.escalate)
        finally:
            self._filling = False
        if start.notice:
            self.notice.show_text(start.notice)
        self._refresh_send()

    # --- building -----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = Banner(BannerKind.ERROR, "Composer error", closable=True)
        self.notice = Banner(BannerKind.WARNING, "About this reply", closable=True)
        self.header = ComposeHeader()
        self.to, self.cc, self.bcc = self.header.fields
        self.subject, self.escalate = self.header.subject, self.header.escalate
        self.editor = ComposeEditor()
        self.body = self.editor.body
        self.attachments_area = ComposeAttachments()
        self.attachments = self.attachments_area.sources  # the same list: what the window holds
        self.attachment_list = self.attachments_area.list
        self.attach_button, self.remove_button = (
            self.attachments_area.attach_button,
            self.attachments_area.remove_button,
        )
        self.send_bar = SendBar()
        self.blocked_label, self.status_label = self.send_bar.blocked_label, self.send_bar.status_label
        self.send_button, self.resend_button = self.send_bar.send_button, self.send_bar.resend_button
        self.send_action = QAction("Send", self)
        self.send_action.setShortcuts([QKeySequence(s) for s in SEND_SHORTCUTS])
        self.send_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.send_action.setWhatsThis("Send the message")
        self.addAction(self.send_action)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.notice)
        layout.addWidget(self.header)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.attachments_area)
        layout.addWidget(self.send_bar)
        self.setCentralWidget(central)

    def _connect(self) -> None:
        for field in self.fields:
            field.addresses_edited.connect(self._on_to_addresses_edited)
        self.subject.textChanged.connect(self._on_subject_text_changed)
        self.escalate.toggled.connect(self._on_escalate_toggled)
        self._planner.started.connect(self._on_planner_started)
        self._planner.finished.connect(self._on_planner_finished)
        self._planner.failed.connect(self._on_planner_failed)
        self._planner.skipped.connect(self._refresh_send)
        self._autosave.timeout.connect(self._on_autosave_timeout)
        self.body.textChanged.connect(self._on_body_text_changed)
        self.editor.mode_changed.connect(self._on_editor_mode_changed)
        self.attachments_area.edited.connect(self._edited)
        self.send_button.clicked.connect(self._on_send_button_clicked)
        self.send_action.triggered.connect(self._on_send_action_triggered)
        self.send_bar.resent.connect(self._on_send_bar_resent)
        self.send_bar.resend_failed.connect(self._on_send_bar_resend_failed)

    # --- planning -----------------------------------------------------------------------------------------

    def _key(self) -> PlanKey:
        return PlanKey(
            self.to.addresses(), self.cc.addresses(), self.bcc.addresses(), self.subject.text(),
            self.escalate.isChecked(),
        )  # fmt: skip

    @property
    def fields(self) -> tuple[RecipientField, ...]:
        return self.header.fields

    def _on_to_addresses_edited(self, _addresses: tuple[str, ...]) -> None:
        self._planner.later()
        self._refresh_send()
        self._edited()

    def _on_subject_text_changed(self, _text: str) -> None:
        self._planner.later()
        self._refresh_send()
        self._edited()

    def _on_body_text_changed(self) -> None:
        self._edited()

    def _on_editor_mode_changed(self, _rich: bool) -> None:
        self._edited()

    def _on_escalate_toggled(self, _checked: bool) -> None:
        self._planner.now()
        self._edited()

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
        self._planner.now()

    def _on_planner_started(self) -> None:
        self.status_label.setText("Working out how each recipient can be reached…")

    def _on_planner_finished(self, key: PlanKey, outcome: PlanOutcome) -> None:
        self.outcome, self._planned = outcome, key
        for field, addresses in zip(self.fields, (key.to, key.cc, key.bcc), strict=True):
            field.show_badges(badges_for(addresses, outcome.plan.decisions, outcome.planned_at))
        self.status_label.setText("Escalated to the secure portal." if outcome.escalated else "")
        self._refresh_send()
        self.plan_shown.emit(outcome)

    def _on_planner_failed(self, message: str) -> None:
        self.status_label.setText("")
        self.banner.show_text(f"Could not work out how to deliver the message: {message}")

    def _refresh_send(self) -> None:
        key = self._key()
        current = self.outcome is not None and self._planned == key
        reason = not_ready_reason(key, self.outcome if current else None)
        self.send_bar.show_reason(reason)
        self.send_button.setText(send_summary(self.outcome.plan.summary()) if current and self.outcome else "Send")
        ready = current and not reason and self._sending is None
        self.send_button.setEnabled(ready)
        self.send_action.setEnabled(ready)

    # --- attachments --------------------------------------------------------------------------------------

    def add_attachments(self, paths: list[Path]) -> None:
        self.attachments_area.add_files(paths)

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
            key.to, key.subject, self.editor.plain_text(), tuple(self.attachments), key.escalate, self._thread,
            self.draft_id, cc=key.cc, bcc=key.bcc, body_html=self.editor.html(),
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
        count = sum(len(d.recipients) for d in refused)
        self.status_label.setText("Not delivered to every recipient.")
        self.banner.show_text(
            f"The server refused the message for {count} recipient(s): {refused[0].error}. "
            "You can send it again through the secure portal."
        )
        refused_ids = tuple(d.message_id for d in refused)
        self.send_bar.offer_resend(lambda: self._bridge.submit(
            self._service.resend(refused_ids), self.send_bar.on_service_resent, self.send_bar.on_service_resend_failed
        ))  # fmt: skip
        self.send_action.setEnabled(False)

    def _on_send_bar_resent(self, reports: list[ResendReport]) -> None:
        self.resent.emit(reports)
        self.close()

    def _on_send_bar_resend_failed(self, message: str) -> None:
        self.banner.show_text(f"The message was not resent: {message}")

    def _on_service_send_failed(self, message: str) -> None:
        self._sending = None
        self.status_label.setText("Not sent.")
        self.banner.show_text(f"The message was not sent: {message}")
        self._refresh_send()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._planner.stop()
        self._autosave.stop()
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
            self.draft_id, self.to.addresses(), self.subject.text(), self.editor.plain_text(),
            self.escalate.isChecked(), tuple(self.attachments), self._thread.in_reply_to, self._thread.references,
            self._thread.reply_to_encrypted, cc=self.cc.addresses(), bcc=self.bcc.addresses(),
            body_html=self.editor.html(),
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
        self._planner.stop()
        self._autosave.stop()
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
