"""The audit chain after a full session in the window (issue 7): every event of DESIGN.md §8 that such a
session can produce is in the chain, `python -m app audit verify` passes on it, and after one row is edited
with SQLCipher it fails naming that entry.

Events of §8 this session does not produce, and where they are covered: send and escalation
(tests/integration/test_send_cli.py, test_send_portal.py), portal revoke (test_send_portal.py), key imports
(test_openpgp_store.py); print does not exist yet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.core.lock import LockConfig
from app.services.profile import Session, unlock
from app.ui.lock_screen import WindowLock, attach_lock
from app.ui.os_session import LogindWatcher
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from app.ui.windows.settings_dialog import SettingsDialog
from tests.support.dbus_bus import FakeLogind, PrivateBus
from tests.support.salus_cli import Salus
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, with_attachment
from tests.ui.test_lock import FakeClock

CONFIG = LockConfig(idle_timeout_seconds=120.0, warning_seconds=0.0, max_failures=5)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    private = PrivateBus(tmp_path)
    yield private
    private.stop()


def _wait_locked(qtbot: QtBot, window: MainWindow, lock: WindowLock) -> None:
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)


def _unlock(qtbot: QtBot, window: MainWindow, lock: WindowLock, passphrase: str) -> None:
    lock.screen.passphrase.setText(passphrase)
    QTest.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    if passphrase == PASSPHRASE:
        qtbot.waitUntil(lambda: not lock.is_locked and not window.controller.reader.locked, timeout=15_000)
    else:
        qtbot.waitUntil(lambda: "not right" in lock.screen.message.text(), timeout=15_000)


def _session_in_the_window(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, profile: Path, bus: PrivateBus
) -> None:
    logind = FakeLogind(bus.connect("logind"))
    window = make_window(profile, PASSPHRASE)
    watcher = LogindWatcher(bus.connect("salus"))
    with qtbot.waitSignal(watcher.session_found, timeout=10_000):
        watcher.start()
    clock = FakeClock()
    lock = attach_lock(window, make_window.bridge, CONFIG, clock_fn=clock, tick_seconds=0.02, os_session=watcher)
    dialogs = make_window.dialogs
    window.message_view.setCurrentIndex(window.messages.index(0, 0))  # message.read
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)
    window.actions_by_name[Act.SAVE_ATTACHMENT].trigger()  # attachment.saved
    qtbot.waitUntil(dialogs.save_to.exists, timeout=15_000)
    window.reader.open_button.click()  # attachment.opened
    qtbot.waitUntil(lambda: bool(dialogs.opened), timeout=15_000)
    window.actions_by_name[Act.LOCK].trigger()  # lock (manual)
    _wait_locked(qtbot, window, lock)
    _unlock(qtbot, window, lock, "not the passphrase")  # unlock.failed
    _unlock(qtbot, window, lock, PASSPHRASE)  # unlock.succeeded
    logind.emit_lock()  # lock (os)
    _wait_locked(qtbot, window, lock)
    _unlock(qtbot, window, lock, PASSPHRASE)
    window.actions_by_name[Act.SETTINGS].trigger()  # settings.changed
    settings = next(d for d in window.findChildren(SettingsDialog) if d.isVisible())
    settings.warning.setValue(10)
    with qtbot.waitSignal(settings.saved, timeout=15_000):
        settings.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    log = window.open_access_log()  # audit.verified
    qtbot.waitUntil(lambda: log.chain.text().startswith("Chain verified"), timeout=15_000)
    dialogs.choose_save_path = lambda _parent, _suggested: tmp_path / "access-log.csv"
    with qtbot.waitSignal(log.exported, timeout=15_000):  # audit.exported
        log.csv_button.click()
    clock.now += 400  # lock (idle; the saved settings set 5 minutes), which also closes the vault
    _wait_locked(qtbot, window, lock)
    lock.stop()


def test_full_window_session_is_in_a_chain_that_verifies_and_detects_tampering(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, bus: PrivateBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"unlock_max_failures": 5}), "utf-8")
    monkeypatch.setenv("SALUS_POLICY_FILE", str(policy))  # policy.changed, at the first unlock under it
    profile = make_profile(tmp_path / "p", {"INBOX": [with_attachment("Report", "labs.pdf", b"%PDF-1.4 data")]})
    _session_in_the_window(make_window, qtbot, tmp_path, profile, bus)

    salus = Salus(profile, env={"SALUS_POLICY_FILE": str(policy)})
    report = salus.json("audit", "verify")
    assert report["ok"] is True and report["problems"] == []
    entries = salus.json("audit", "export", "--format", "json")["entries"]
    seen = {(e["event"], e["detail"].get("reason")) for e in entries}
    expected = {
        ("profile.created", None), ("unlock.succeeded", None), ("unlock.failed", None), ("policy.changed", None),
        ("message.read", None), ("attachment.saved", None), ("attachment.opened", None),
        ("lock", "manual"), ("lock", "os"), ("lock", "idle"), ("settings.changed", None),
        ("audit.verified", None), ("audit.exported", None),
    }  # fmt: skip
    assert expected <= seen, expected - seen

    read = next(e["seq"] for e in entries if e["event"] == "message.read")
    session = unlock(profile, PASSPHRASE)
    try:
        _edit_row(session, read)
    finally:
        session.close()
    result = salus.run("audit", "verify", "--json")
    assert result.code == 1
    assert [p["seq"] for p in result.json()["problems"]] == [read]
    assert f"entry {read} was altered" in result.stdout


def _edit_row(session: Session, seq: int) -> None:
    """What someone holding the key could do: bypass the append-only trigger and change the entry's target."""
    with session.vault.transaction():
        session.vault.execute("DROP TRIGGER audit_log_no_update")
        session.vault.execute("UPDATE audit_log SET target = 'Local/INBOX/999' WHERE seq = ?", (seq,))
