"""The "Access log" view (issue 7): entries paged from the vault, filters, chain status, exports, and the lock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.audit.chain import AuditEntry
from app.audit.events import AuditEvent
from app.core.lock import LockConfig
from app.services.access_log import PAGE_SIZE
from app.services.profile import unlock
from app.ui.lock_screen import attach_lock
from app.ui.models.access_log import AccessLogModel, LogColumn
from app.ui.windows.access_log import AccessLogWindow
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, plain_message


def _profile(tmp_path: Path) -> Path:
    messages = [plain_message(f"Note {n}", "Potassium normal.", sender="Lab <lab@clinic.example>") for n in range(3)]
    return make_profile(tmp_path / "p", {"INBOX": messages, "Referrals": []})


def _open_log(window: MainWindow, qtbot: QtBot) -> AccessLogWindow:
    QTest.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.access_log is not None and window.access_log.isVisible(), timeout=5_000)
    log = window.access_log
    assert log is not None
    qtbot.waitUntil(lambda: log.model.rowCount() > 0 and "Checking" not in log.chain.text(), timeout=15_000)
    return log


def _column(log: AccessLogWindow, column: LogColumn) -> list[str]:
    return [str(log.model.index(r, column).data()) for r in range(log.model.rowCount())]


def _open_first_message(window: MainWindow, qtbot: QtBot) -> None:
    window.message_view.setCurrentIndex(window.messages.index(0, 0))
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)


def test_access_log_model_passes_the_model_tester(qtmodeltester: ModelTester) -> None:
    model = AccessLogModel()
    entries = tuple(AuditEntry(n, "2026-01-01T10:00:00.000000+00:00", "me", "search", "", "{}") for n in (3, 2, 1))
    model.set_entries(entries[:2])
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    model.append_entries(entries[2:])
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    assert model.index(2, LogColumn.SEQ).data() == "1"
    model.clear()
    assert model.rowCount() == 0


def test_shortcut_opens_the_log_newest_first_with_a_verified_chain(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    _open_first_message(window, qtbot)
    log = _open_log(window, qtbot)
    events = _column(log, LogColumn.EVENT)
    assert events[0] == AuditEvent.MESSAGE_READ
    assert events[-1] == AuditEvent.PROFILE_CREATED
    assert AuditEvent.UNLOCK_SUCCEEDED in events
    seqs = [int(s) for s in _column(log, LogColumn.SEQ)]
    assert seqs == sorted(seqs, reverse=True)
    assert log.chain.text().startswith("Chain verified: all ")


def test_filters_by_event_and_by_message(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    _open_first_message(window, qtbot)
    log = _open_log(window, qtbot)
    log.event_choice.setCurrentIndex(log.event_choice.findData(AuditEvent.MESSAGE_READ.value))
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        log.apply_button.click()
    assert _column(log, LogColumn.EVENT) == [AuditEvent.MESSAGE_READ]
    target = _column(log, LogColumn.TARGET)[0]
    assert target.startswith("Local/INBOX/")
    log.event_choice.setCurrentIndex(0)
    log.text.setText("inbox/")  # case-insensitive, matched against the entry's object
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        QTest.keyClick(log.text, Qt.Key.Key_Return)
    assert _column(log, LogColumn.TARGET) == [target]
    log.text.setText("no such message")
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        log.apply_button.click()
    assert log.model.rowCount() == 0


def test_date_range_before_today_shows_nothing(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    log = _open_log(window, qtbot)
    log.until.setDate(log.until.date().addDays(-2))
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        log.apply_button.click()
    assert log.model.rowCount() == 0


def test_older_entries_are_paged_in_without_repeats(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    session = unlock(profile, PASSPHRASE)
    try:
        for n in range(PAGE_SIZE + 50):
            session.audit.record(AuditEvent.SEARCH, datetime.now(UTC), detail={"query": f"q{n}", "results": 0})
    finally:
        session.close()
    window = make_window(profile, PASSPHRASE)
    log = _open_log(window, qtbot)
    assert log.model.rowCount() == PAGE_SIZE and log.more_button.isEnabled()
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        QTest.keyClick(log, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    seqs = [int(s) for s in _column(log, LogColumn.SEQ)]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs, reverse=True)
    assert seqs[-1] == 1 and not log.more_button.isEnabled()


def test_export_json_and_csv_write_the_log_and_are_audited(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = _profile(tmp_path)
    window = make_window(profile, PASSPHRASE)
    log = _open_log(window, qtbot)
    target = tmp_path / "log.json"
    window.dialogs.choose_save_path = lambda _parent, _suggested: target
    with qtbot.waitSignal(log.exported, timeout=15_000):
        QTest.keyClick(log, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    document = json.loads(target.read_text("utf-8"))
    assert document["entries"][-1]["event"] == AuditEvent.AUDIT_EXPORTED
    assert document["entries"][-1]["detail"] == {"format": "json"}
    assert target.stat().st_mode & 0o077 == 0
    csv_target = tmp_path / "log.csv"
    window.dialogs.choose_save_path = lambda _parent, _suggested: csv_target
    with qtbot.waitSignal(log.exported, timeout=15_000):
        log.csv_button.click()
    assert csv_target.read_text("utf-8").startswith("seq,at,actor,event,target,detail,mac")


def test_export_to_a_missing_folder_is_a_clear_error_and_leaves_no_entry(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = _profile(tmp_path)
    window = make_window(profile, PASSPHRASE)
    log = _open_log(window, qtbot)
    window.dialogs.choose_save_path = lambda _parent, _suggested: tmp_path / "missing" / "log.json"
    log.json_button.click()
    qtbot.waitUntil(lambda: "does not exist" in log.notice.text(), timeout=15_000)
    with qtbot.waitSignal(log.page_loaded, timeout=15_000):
        log.event_choice.setCurrentIndex(log.event_choice.findData(AuditEvent.AUDIT_EXPORTED.value))
        log.apply_button.click()
    assert log.model.rowCount() == 0


def test_tampered_entry_shows_the_chain_broken_there(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    session = unlock(profile, PASSPHRASE)
    try:
        with session.vault.transaction():
            session.vault.execute("DROP TRIGGER audit_log_no_update")
            session.vault.execute("UPDATE audit_log SET detail = '{}' WHERE seq = 2")
    finally:
        session.close()
    window = make_window(profile, PASSPHRASE)
    log = _open_log(window, qtbot)
    assert log.chain.text().startswith("Chain broken at entry 2:")


def test_lock_closes_the_log_and_drops_its_entries(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    config = LockConfig(idle_timeout_seconds=600.0, warning_seconds=10.0, max_failures=3)
    lock = attach_lock(window, make_window.bridge, config, tick_seconds=0.05)
    log = _open_log(window, qtbot)
    model = log.model
    window.actions_by_name[Act.LOCK].trigger()  # the log has the focus; the menu's Lock now still works
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    assert model.rowCount() == 0
    assert window.access_log is None
    lock.stop()
