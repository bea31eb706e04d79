"""The window's side of the secure portal: status marks on Sent copies, the status poll, Revoke and Re-issue.

Rules:
- The message list only ever holds snapshots: marks are read from the vault on the engine thread for the rows
  the list shows (`app.services.portal_desk.marks`) and handed to the model as a dictionary.
- The portal is asked on the engine thread, every POLL_MINUTES and after each sync; that pass also fetches and
  stores replies. Nothing is polled while the profile is locked, and a poll still running when it locks ends in
  the engine's "Salus is locked" error, which is dropped here rather than shown.
- Revoke cannot be undone and re-issue sends mail, so both ask first.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QModelIndex, QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView

from app.core.models import MessageRowId
from app.services import portal_desk
from app.services.portal_desk import Reissued
from app.services.portal_replies import FollowUp
from app.services.reader import Reader
from app.store.portal import PortalMark, PortalRecord, PortalState
from app.ui.bridge import Ticket
from app.ui.controller import MailController
from app.ui.models.messages import MessageListModel

T = TypeVar("T")
POLL_MINUTES = 5
_ENDED = frozenset({PortalState.REVOKED, PortalState.EXPIRED})


class PortalFollower(QObject):
    refreshed = Signal(object)  # FollowUp
    marks_applied = Signal()
    revoked = Signal(str)  # portal id
    reissued = Signal(object)  # Reissued

    def __init__(
        self, controller: MailController, model: MessageListModel, view: QAbstractItemView, revoke: QAction,
        reissue: QAction, confirm: Callable[[str, str], bool], report: Callable[[str], None],
        poll_minutes: float = POLL_MINUTES,
    ) -> None:  # fmt: skip
        super().__init__(controller)
        self._controller, self._model, self._view = controller, model, view
        self._revoke, self._reissue = revoke, reissue
        self._confirm, self._report = confirm, report
        self._refreshing: Ticket | None = None
        self._again = False
        self._timer = QTimer(self)
        self._timer.setInterval(int(poll_minutes * 60_000))
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        model.modelReset.connect(self.refresh_marks)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        view.selectionModel().selectionChanged.connect(self._update_actions)
        controller.sync_finished.connect(self.refresh)
        revoke.triggered.connect(self.revoke_selected)
        reissue.triggered.connect(self.reissue_selected)
        self._update_actions()
        QTimer.singleShot(0, self.refresh)

    @property
    def _reader(self) -> Reader:
        return self._controller.reader

    # --- the poll and the marks ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Asks the portal about every message and fetches replies, then redraws the marks. A poll asked for
        while one runs is run once after it (a slow portal must not pile up requests, nor miss a sync)."""
        if self._refreshing is not None and not self._refreshing.done:
            self._again = True
            return
        if not self._reader.locked:
            self._refreshing = self._submit(_refresh(self._reader), self._on_desk_refreshed)

    def refresh_marks(self) -> None:
        ids = self._model.shown_ids()
        if ids and not self._reader.locked:
            self._submit(_marks(self._reader, ids), lambda marks: self._apply(marks, complete=True))

    def _on_model_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        ids = [self._model.summary(row).id for row in range(first, last + 1)]
        self._submit(_marks(self._reader, ids), lambda marks: self._apply(marks, complete=False))

    def _apply(self, marks: dict[MessageRowId, PortalMark], *, complete: bool) -> None:
        if not shiboken6.isValid(self._model):
            return  # the window closed while the vault was being read
        self._model.set_portal_marks(marks, complete=complete)
        self._update_actions()
        self.marks_applied.emit()

    def _on_desk_refreshed(self, done: FollowUp | None) -> None:
        if self._again:
            self._again = False
            QTimer.singleShot(0, self.refresh)
        if done is None:
            return  # no portal configured
        if done.replies:
            self._report(f"{done.replies} secure portal repl{'ies' if done.replies != 1 else 'y'} received.")
            self._controller.load_folders()
        elif done.problems:
            self._report(f"The secure portal could not be asked about {len(done.problems)} message(s).")
        self.refresh_marks()
        self.refreshed.emit(done)

    # --- revoke and re-issue ------------------------------------------------------------------------------

    def selected_mark(self) -> PortalMark | None:
        rows = {index.row() for index in self._view.selectionModel().selectedRows()}
        return self._model.portal_mark(rows.pop()) if len(rows) == 1 else None

    def _update_actions(self, *_args: object) -> None:
        mark = self.selected_mark()
        self._revoke.setEnabled(mark is not None and mark.state not in _ENDED)
        self._reissue.setEnabled(mark is not None and mark.state in _ENDED and not mark.superseded)

    def revoke_selected(self) -> None:
        mark = self.selected_mark()
        if mark is None or mark.state in _ENDED:
            return
        question = f"Withdraw the secure message to {mark.recipient}? The link stops working at once."
        if self._confirm("Revoke portal message", question):
            self._submit(_revoke(self._reader, mark.portal_id), self._on_desk_revoked)

    def reissue_selected(self) -> None:
        mark = self.selected_mark()
        if mark is None or mark.state not in _ENDED or mark.superseded:
            return
        question = f"Send this message to {mark.recipient} again, with a new link and a new notice?"
        if self._confirm("Re-issue portal message", question):
            self._submit(_reissue(self._reader, mark.portal_id), self._on_desk_reissued)

    def _on_desk_revoked(self, record: PortalRecord) -> None:
        self._report("The portal message was revoked; its link no longer opens.")
        self.refresh_marks()
        self.revoked.emit(record.portal_id)

    def _on_desk_reissued(self, done: Reissued) -> None:
        self._report(f"The portal message was re-issued; the new notice is {done.notice.state}.")
        self.refresh_marks()
        self.reissued.emit(done)

    def _submit(self, coroutine: Coroutine[Any, Any, T], on_done: Callable[[T], None]) -> Ticket:
        return self._controller.bridge.submit(coroutine, on_done, self._on_failed)

    def _on_failed(self, message: str) -> None:
        if not self._reader.locked:
            self._controller.error_reported.emit(message)


# Coroutines for the engine thread. `Reader` offers no public accessor for its session, settings and engine yet;
# the composer reaches them the same way (app.ui.windows.composer.composer_service). They are read when the
# coroutine runs, so a lock in between ends it with "Salus is locked" instead of using a closed vault.


async def _refresh(reader: Reader) -> FollowUp | None:
    return await portal_desk.refresh(reader._session, reader._settings, reader._engine)


async def _marks(reader: Reader, ids: list[MessageRowId]) -> dict[MessageRowId, PortalMark]:
    return await portal_desk.marks(reader._session, reader._engine, ids)


async def _revoke(reader: Reader, portal_id: str) -> PortalRecord:
    return await portal_desk.revoke(reader._session, reader._settings, reader._engine, portal_id)


async def _reissue(reader: Reader, portal_id: str) -> Reissued:
    return await portal_desk.reissue(reader._session, reader._settings, reader._engine, portal_id)
