"""The engine-side driver of the idle lock: the `LockController` on the engine thread, its effects reported as
signals on the GUI thread (moved out of `app.ui.lock_screen`, which keeps the widgets).

Rules:
- The `LockController` belongs to the engine thread: every call into it runs in a coroutine on the engine loop,
  one at a time, and its effects are acted on in order there. The engine ticks it from a coroutine that loops
  on the engine's own loop (`asyncio.sleep`), not from a Qt timer, so a busy GUI cannot delay a lock.
- The audit entry of a lock is written before the vault closes (`Reader.audit_lock`, then `Reader.lock`).
- So is every open composer's draft: the `before_lock` hooks run on the engine thread before the vault closes;
  each asks the GUI thread for the composers' content, saves it encrypted in the vault, and only then has the
  window emptied. A draft that could not be saved stays in its (hidden) window rather than being lost, and a
  failing hook never stops the lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from PySide6.QtCore import QObject, Signal

from app.core.errors import AppError
from app.core.lock import (
    AuditLockEvent,
    Effects,
    HideWarning,
    Lock,
    LockConfig,
    LockEvent,
    LockPhase,
    ManualLock,
    Minimised,
    OsLocked,
    OsSleep,
    Restored,
    ShowWarning,
    Unlock,
    UnlockFailed,
    UnlockRejected,
    UnlockSucceeded,
)
from app.services.lock import Clock, LockController
from app.services.reader import Reader
from app.ui.bridge import Bridge, Ticket

T = TypeVar("T")
GUI_ANSWER_SECONDS = 5.0  # how long a lock waits for the GUI thread to hand over the composers' content


class Locker(QObject):
    """Drives the `LockController` on the engine thread and reports its effects as signals on the GUI thread."""

    warning_shown = Signal(int)  # seconds left
    warning_hidden = Signal()
    locked = Signal(str)  # the reason, as audited
    unlocked = Signal()
    unlock_rejected = Signal(int)  # attempts left
    code_needed = Signal(bool)  # after a lock: whether unlocking also needs an authenticator code
    profile_closed = Signal()
    failed = Signal(str)
    before_lock_failed = Signal(str)  # a hook (a draft's save) failed; the lock went ahead

    def __init__(
        self,
        bridge: Bridge,
        reader: Reader,
        config: LockConfig,
        *,
        clock_fn: Clock = time.time,
        tick_seconds: float = 1.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._reader = reader
        self._tick_seconds = tick_seconds
        self.controller = LockController(config, clock_fn)
        self._serial = asyncio.Lock()  # binds to the engine loop on first use
        # Coroutines run on the engine thread before the vault closes for a lock (the composers' drafts).
        self.before_lock: list[Callable[[], Awaitable[None]]] = []
        self._ticker: Ticket | None = bridge.submit(self._tick_forever(), _ignore, self.failed.emit)

    def note_activity(self) -> None:
        self.controller.note_activity()

    def lock_now(self) -> None:
        self._send(ManualLock)

    def note_os_locked(self) -> None:
        self._send(OsLocked)

    def note_sleep(self) -> None:
        self._send(OsSleep)

    def note_minimised(self) -> None:
        self._send(Minimised)

    def note_restored(self) -> None:
        self._send(Restored)

    def try_unlock(self, passphrase: str, code: str = "") -> None:
        self._bridge.submit(self._try_unlock(passphrase, code), _ignore, self.failed.emit)

    def reconfigure(self, config: LockConfig) -> None:
        self._bridge.submit(self._reconfigure(config), _ignore, self.failed.emit)

    async def _reconfigure(self, config: LockConfig) -> None:
        async with self._serial:
            self.controller.reconfigure(config)

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _send(self, kind: Callable[[float], LockEvent]) -> None:
        self._bridge.submit(self._feed(lambda: self.controller.send(kind)), _ignore, self.failed.emit)

    # --- on the engine thread -----------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await self._feed(self.controller.tick)
            await asyncio.sleep(self._tick_seconds)

    async def _feed(self, call: Callable[[], Effects]) -> None:
        async with self._serial:
            await self._act(call())

    async def _try_unlock(self, passphrase: str, code: str) -> None:
        async with self._serial:
            if self.controller.phase is not LockPhase.LOCKED:
                return
            reopened = await self._reader.unlock_again(passphrase, code or None)
            effects = self.controller.send(UnlockSucceeded if reopened else UnlockFailed)
            if reopened and not any(isinstance(e, Unlock) for e in effects):
                await self._reader.lock()  # the machine did not accept it: the vault must not stay open
            await self._act(effects)

    async def _act(self, effects: Effects) -> None:
        for effect in effects:
            match effect:
                case ShowWarning(seconds_left=seconds):
                    self._post(partial(self.warning_shown.emit, seconds))
                case HideWarning():
                    self._post(self.warning_hidden.emit)
                case AuditLockEvent(reason=reason):
                    await self._reader.audit_lock(reason.value)
                case Lock(reason=reason):
                    await self._run_before_lock()
                    self._post(partial(self.locked.emit, reason.value))
                    await self._reader.lock()
                    self._post(partial(self.code_needed.emit, self._reader.needs_code))
                case Unlock():
                    self._post(self.unlocked.emit)
                case UnlockRejected(attempts_left=left):
                    self._post(partial(self.unlock_rejected.emit, left))
                case _:  # CloseProfile
                    self._post(self.profile_closed.emit)

    async def _run_before_lock(self) -> None:
        for hook in self.before_lock:
            try:
                await hook()
            except (AppError, TimeoutError) as exc:
                # The lock goes ahead: security first. What was not saved stays in its hidden window.
                self._post(partial(self.before_lock_failed.emit, str(exc)))

    def _post(self, callback: Callable[[], None]) -> None:
        self._bridge.post(callback)

    async def on_gui(self, call: Callable[[], T]) -> T:
        """Runs `call` on the GUI thread and waits (bounded) for its result; for engine-side coroutines."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def run() -> None:
            result = call()
            loop.call_soon_threadsafe(lambda: None if future.done() else future.set_result(result))

        self._post(run)
        return await asyncio.wait_for(future, GUI_ANSWER_SECONDS)


def _ignore(_result: object) -> None:
    pass
