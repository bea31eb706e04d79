"""The one place where Qt meets asyncio (DESIGN.md §2).

Rules:
- The engine is a stock asyncio loop on a thread of its own, with the `Engine`'s executors for blocking work.
  Qt never runs a coroutine and the loop never touches a widget.
- The GUI submits coroutines with `submit`; their outcome (result, user-facing error, or cancellation) comes
  back as a call on the GUI thread, through one queued Qt signal. `post` carries domain events (progress,
  warnings) from the engine thread the same way.
- A cancelled `Ticket` delivers nothing but its `on_cancelled`, even when the coroutine had already finished and
  its outcome was on its way to the GUI thread: a window that cancels as it closes is never called back after
  its widgets are gone.
- Only `AppError` text reaches the user. Any other exception is a bug: its traceback goes to stderr and the
  user is told that the action failed, never what the traceback says.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError, Future
from functools import partial
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal

from app.core.errors import AppError
from app.services.engine import Engine

T = TypeVar("T")
ErrorHandler = Callable[[str], None]


class Ticket:
    """A submitted coroutine, which the GUI may cancel."""

    def __init__(self, future: Future[Any]) -> None:
        self._future = future
        self.withdrawn = False  # set on the GUI thread, read there by `_deliver`

    @classmethod
    def withdrawn_already(cls) -> Ticket:
        future: Future[Any] = Future()
        future.cancel()
        ticket = cls(future)
        ticket.withdrawn = True
        return ticket

    def cancel(self) -> None:
        self.withdrawn = True
        self._future.cancel()

    @property
    def done(self) -> bool:
        return self._future.done()


class Bridge(QObject):
    _arrived = Signal(object)  # a callable to run on the GUI thread

    def __init__(self, engine: Engine | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine or Engine()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="salus-engine", daemon=True)
        # Queued even when emitted on the GUI thread, so a callback never runs inside the call that caused it.
        self._arrived.connect(self._on_self_arrived, Qt.ConnectionType.QueuedConnection)
        self._thread.start()
        self._closed = False

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(
        self,
        coroutine: Coroutine[Any, Any, T],
        on_done: Callable[[T], None],
        on_error: ErrorHandler,
        on_cancelled: Callable[[], None] | None = None,
    ) -> Ticket:
        if self._closed:
            # After shutdown nothing runs: a late timer's request is dropped, not left pending forever.
            coroutine.close()
            return Ticket.withdrawn_already()
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        ticket = Ticket(future)
        future.add_done_callback(lambda f: self.post(partial(_deliver, f, ticket, on_done, on_error, on_cancelled)))
        return ticket

    def post(self, callback: Callable[[], None]) -> None:
        """Runs `callback` on the GUI thread; callable from any thread."""
        self._arrived.emit(callback)

    def _on_self_arrived(self, callback: Callable[[], None]) -> None:
        callback()

    def shutdown(self, last: Coroutine[Any, Any, Any] | None = None, timeout: float = 10.0) -> None:
        """Runs `last` (closing the profile), cancels whatever is still running, and stops the engine."""
        if self._closed:
            if last is not None:
                last.close()
            return
        self._closed = True
        if last is not None:
            try:
                asyncio.run_coroutine_threadsafe(last, self._loop).result(timeout)
            except Exception:  # noqa: BLE001 - closing must go on; the cause is a bug worth a trace
                traceback.print_exc(file=sys.stderr)
        asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop).result(timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self.engine.shutdown()
        self._loop.close()


def _deliver(
    future: Future[T],
    ticket: Ticket,
    on_done: Callable[[T], None],
    on_error: ErrorHandler,
    on_cancelled: Callable[[], None] | None,
) -> None:
    if ticket.withdrawn and not future.cancelled():
        # Finished before the cancel reached it, but the GUI has withdrawn since: the outcome is not wanted.
        if on_cancelled is not None:
            on_cancelled()
        return
    try:
        result = future.result()
    except CancelledError:
        if on_cancelled is not None:
            on_cancelled()
        return
    except AppError as exc:
        on_error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - a bug must not take the window down; it is reported below
        traceback.print_exception(exc, file=sys.stderr)
        on_error(f"The action failed because of an error in Salus ({type(exc).__name__}).")
        return
    on_done(result)


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
