"""Locking when the OS session locks or the machine sleeps (issue 7), against a real private dbus-daemon with a
stand-in logind on it (tests/support/dbus_bus.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.lock import LockConfig
from app.services.profile import unlock
from app.ui.lock_screen import WindowLock, attach_lock
from app.ui.os_session import LogindWatcher, OsSessionWatcher
from app.ui.windows.main_window import MainWindow
from tests.support.dbus_bus import FakeLogind, PrivateBus
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, plain_message

CONFIG = LockConfig(idle_timeout_seconds=600.0, warning_seconds=10.0, max_failures=3)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    private = PrivateBus(tmp_path)
    yield private
    private.stop()


@pytest.fixture
def logind(bus: PrivateBus) -> FakeLogind:
    return FakeLogind(bus.connect("logind"))


def _open(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus
) -> tuple[Path, MainWindow, WindowLock]:
    profile = make_profile(tmp_path / "p", {"INBOX": [plain_message("Lab", "Normal.", sender="lab@clinic.example")]})
    window = make_window(profile, PASSPHRASE)
    watcher = LogindWatcher(bus.connect("salus"))
    with qtbot.waitSignal(watcher.session_found, timeout=10_000):
        watcher.start()
    lock = attach_lock(window, make_window.bridge, CONFIG, tick_seconds=0.05, os_session=watcher)
    return profile, window, lock


def _lock_reasons(profile: Path) -> list[object]:
    session = unlock(profile, PASSPHRASE)
    try:
        return [json.loads(e.entry.detail)["reason"] for e in session.audit.entries() if e.entry.event == "lock"]
    finally:
        session.close()


def _wait_locked(qtbot: QtBot, window: MainWindow, lock: WindowLock) -> None:
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)


def test_logind_session_lock_locks_salus(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, logind: FakeLogind
) -> None:
    profile, window, lock = _open(make_window, qtbot, tmp_path, bus)
    assert isinstance(lock.os_session, LogindWatcher) and lock.os_session.session_path == logind.session_path
    assert logind.asked and logind.asked[0][0]  # it named a session: $XDG_SESSION_ID or logind's "auto"
    logind.emit_lock()
    _wait_locked(qtbot, window, lock)
    lock.stop()
    assert _lock_reasons(profile) == ["os"]


def test_desktop_locker_setting_locked_hint_locks_salus(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, logind: FakeLogind
) -> None:
    profile, window, lock = _open(make_window, qtbot, tmp_path, bus)
    logind.emit_locked_hint(False)
    qtbot.wait(300)
    assert not lock.is_locked
    logind.emit_locked_hint(True)
    _wait_locked(qtbot, window, lock)
    lock.stop()
    assert _lock_reasons(profile) == ["os"]


def test_prepare_for_sleep_locks_and_waking_does_not(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, logind: FakeLogind
) -> None:
    profile, window, lock = _open(make_window, qtbot, tmp_path, bus)
    logind.emit_prepare_for_sleep(False)
    qtbot.wait(300)
    assert not lock.is_locked
    logind.emit_prepare_for_sleep(True)
    _wait_locked(qtbot, window, lock)
    lock.stop()
    assert _lock_reasons(profile) == ["sleep"]


def test_another_sessions_lock_is_ignored(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, logind: FakeLogind
) -> None:
    _profile, _window, lock = _open(make_window, qtbot, tmp_path, bus)
    logind.emit_lock("/org/freedesktop/login1/session/c99")
    qtbot.wait(500)
    assert not lock.is_locked
    lock.stop()


def test_lock_signal_from_anyone_but_logind_is_ignored(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, logind: FakeLogind
) -> None:
    _profile, _window, lock = _open(make_window, qtbot, tmp_path, bus)
    impostor = FakeLogind(bus.connect("impostor"), logind.session_path.rsplit("/", 1)[1], owns_name=False)
    impostor.emit_lock()
    qtbot.wait(500)
    assert not lock.is_locked
    lock.stop()


def test_without_logind_the_watcher_says_why(qtbot: QtBot, bus: PrivateBus) -> None:
    watcher = LogindWatcher(bus.connect("salus"))
    with qtbot.waitSignal(watcher.unavailable, timeout=30_000) as why:
        watcher.start()
    assert "logind does not know this session" in str(why.args[0])


def test_windows_session_lock_and_suspend_messages_are_told_apart() -> None:
    # Only the message decoding can run here; WTS registration and the message loop need Windows.
    from app.ui.os_session_windows import (
        PBT_APMSUSPEND,
        WM_POWERBROADCAST,
        WM_WTSSESSION_CHANGE,
        WTS_SESSION_LOCK,
        classify,
    )

    assert classify(WM_WTSSESSION_CHANGE, WTS_SESSION_LOCK) == "os"
    assert classify(WM_WTSSESSION_CHANGE, 0x8) is None  # WTS_SESSION_UNLOCK
    assert classify(WM_POWERBROADCAST, PBT_APMSUSPEND) == "sleep"
    assert classify(WM_POWERBROADCAST, 0x12) is None  # PBT_APMRESUMEAUTOMATIC
    assert classify(0x0010, WTS_SESSION_LOCK) is None  # WM_CLOSE


def test_a_platform_salus_cannot_hear_says_so_and_leaves_the_idle_lock_in_charge(qtbot: QtBot) -> None:
    watcher = OsSessionWatcher()
    with qtbot.waitSignal(watcher.unavailable, timeout=1_000) as said:
        watcher.start()
    assert "idle lock" in said.args[0]
    watcher.stop()
