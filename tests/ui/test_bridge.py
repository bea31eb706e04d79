"""The bridge: coroutines run on the engine thread, outcomes arrive on the GUI thread as queued calls."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable

from pytestqt.qtbot import QtBot

from app.core.errors import StoreError
from app.ui.bridge import Bridge


def _collect(bridge: Bridge, coroutine: object) -> tuple[dict[str, object], Callable[[], bool]]:
    seen: dict[str, object] = {}

    def done(value: object) -> None:
        seen["value"] = value
        seen["thread"] = threading.current_thread()

    bridge.submit(coroutine, done, lambda m: seen.update(error=m), lambda: seen.update(cancelled=True))  # type: ignore[arg-type]
    return seen, lambda: bool(seen)


def test_result_arrives_on_the_gui_thread_from_the_engine_thread(bridge: Bridge, qtbot: QtBot) -> None:
    async def where() -> str:
        return threading.current_thread().name

    seen, arrived = _collect(bridge, where())
    assert not seen  # queued: never delivered inside submit()
    qtbot.waitUntil(arrived, timeout=15_000)
    assert seen["value"] == "salus-engine"
    assert seen["thread"] is threading.main_thread()


def test_app_errors_reach_the_user_as_their_own_text(bridge: Bridge, qtbot: QtBot) -> None:
    async def fails() -> None:
        raise StoreError("The vault could not be read.")

    seen, arrived = _collect(bridge, fails())
    qtbot.waitUntil(arrived, timeout=15_000)
    assert seen == {"error": "The vault could not be read."}


def test_bugs_are_reported_without_their_traceback(bridge: Bridge, qtbot: QtBot) -> None:
    async def buggy() -> None:
        raise KeyError("secret detail")

    seen, arrived = _collect(bridge, buggy())
    qtbot.waitUntil(arrived, timeout=15_000)
    assert "secret detail" not in str(seen["error"])
    assert "KeyError" in str(seen["error"])


def test_cancelling_a_running_coroutine_reports_cancellation(bridge: Bridge, qtbot: QtBot) -> None:
    started = threading.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    seen: dict[str, object] = {}
    ticket = bridge.submit(
        slow(),
        lambda _value: seen.update(value=1),
        lambda message: seen.update(error=message),
        lambda: seen.update(cancelled=True),
    )
    assert started.wait(5)
    ticket.cancel()
    qtbot.waitUntil(lambda: bool(seen), timeout=15_000)
    assert seen == {"cancelled": True}


def test_a_ticket_cancelled_after_its_coroutine_finished_delivers_no_result(bridge: Bridge, qtbot: QtBot) -> None:
    # The race behind a closed composer being handed contacts: the outcome was already queued for the GUI
    # thread when the window cancelled and deleted its widgets.
    async def quick() -> str:
        return "contacts"

    seen: dict[str, object] = {}
    ticket = bridge.submit(quick(), lambda v: seen.update(value=v), lambda m: seen.update(error=m))
    deadline = time.monotonic() + 15
    while not ticket.done and time.monotonic() < deadline:
        time.sleep(0.01)  # no Qt events processed: the delivery stays queued
    assert ticket.done
    ticket.cancel()
    qtbot.wait(200)
    assert seen == {}


def test_work_submitted_after_shutdown_is_dropped_without_running(qtbot: QtBot) -> None:
    stopped = Bridge()
    stopped.shutdown()
    ran: list[str] = []

    async def late() -> None:
        ran.append("ran")

    coroutine = late()
    ticket = stopped.submit(coroutine, lambda _v: ran.append("done"), lambda m: ran.append(m))
    qtbot.wait(100)
    assert ticket.done and ran == []
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED  # never reported as "never awaited"
