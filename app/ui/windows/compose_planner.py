"""Planning for the composer: asks the engine thread how each recipient can be reached, never the Qt thread.

Typing is debounced (300 ms); `now()` replans at once (the escalation toggle). Only the newest plan is reported:
a plan asked for before the latest request is dropped when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.planning import PlanOutcome
from app.ui.bridge import Bridge, Ticket
from app.ui.models.recipients import blocked_text, is_address
from app.ui.windows.compose_flow import ComposerService

DEBOUNCE_MS = 300


@dataclass(frozen=True, slots=True)
class PlanKey:
    """What a plan depends on; a plan on show is current only while this is what the window holds."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    escalate: bool

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone planned, once each (a Bcc recipient is planned like any other; send.py hides them)."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))

    @property
    def plannable(self) -> bool:
        return bool(self.recipients) and all(is_address(a) for a in self.recipients)


def not_ready_reason(key: PlanKey, outcome: PlanOutcome | None) -> str:
    """Why the message cannot be sent yet, in words ("" when it can); `outcome` is the plan for `key`, if any."""
    if not key.recipients:
        return "Add a recipient."
    if bad := [a for a in key.recipients if not is_address(a)]:
        return f"Not an email address: {bad[0]}"
    return blocked_text(outcome.plan.decisions, outcome.planned_at) if outcome else ""


class Planner(QObject):
    started = Signal()
    finished = Signal(object, object)  # PlanKey, PlanOutcome
    failed = Signal(str)
    skipped = Signal()  # nothing to plan: no recipient, or one that is not an address

    def __init__(
        self, bridge: Bridge, service: ComposerService, current: Callable[[], PlanKey],
        reply_to_encrypted: Callable[[], bool], parent: QObject | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self._bridge = bridge
        self._service = service
        self._current = current
        self._reply_to_encrypted = reply_to_encrypted
        self._ticket: Ticket | None = None
        self._generation = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.now)

    def later(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        """Drops the pending and the running request (closing or locking the window)."""
        self._timer.stop()
        if self._ticket is not None:
            self._ticket.cancel()
            self._ticket = None

    def now(self) -> None:
        self.stop()
        self._generation += 1
        key = self._current()
        if not key.plannable:
            self.skipped.emit()
            return
        generation = self._generation
        self.started.emit()
        self._ticket = self._bridge.submit(
            self._service.plan(
                key.recipients, key.subject, key.escalate, reply_to_encrypted=self._reply_to_encrypted()
            ),
            lambda outcome: self._on_service_plan_finished(generation, key, outcome),
            lambda message: self._on_service_plan_failed(generation, message),
        )

    def _on_service_plan_finished(self, generation: int, key: PlanKey, outcome: PlanOutcome) -> None:
        if generation != self._generation:
            return  # something was typed since: a newer plan is on its way
        self._ticket = None
        self.finished.emit(key, outcome)

    def _on_service_plan_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._ticket = None
        self.failed.emit(message)
