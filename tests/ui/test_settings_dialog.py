"""The settings dialog (issue 7): the person's settings persist in the vault and are audited; keys set by policy
are shown disabled as "Set by your organisation"; the idle timeout may only go below the policy's; the lock
follows a saved timeout at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.core.lock import LockConfig
from app.core.settings import Source
from app.services import user_settings
from app.services.policy import current_settings
from app.services.profile import unlock
from app.services.reader import unlock_reader
from app.ui.app import Startup
from app.ui.bridge import Bridge
from app.ui.lock_screen import attach_lock
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from app.ui.windows.settings_dialog import SettingsDialog
from tests.ui.conftest import OpenReader, WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, plain_message, run
from tests.ui.test_lock import FakeClock


def _profile(tmp_path: Path) -> Path:
    return make_profile(tmp_path / "p", {"INBOX": [plain_message("Lab", "Normal.", sender="lab@clinic.example")]})


def _policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, document: dict[str, object]) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), "utf-8")
    monkeypatch.setenv("SALUS_POLICY_FILE", str(path))


def _open_settings(window: MainWindow, qtbot: QtBot) -> SettingsDialog:
    window.actions_by_name[Act.SETTINGS].trigger()
    dialogs = [d for d in window.findChildren(SettingsDialog) if d.isVisible()]
    assert len(dialogs) == 1
    return dialogs[0]


def _save(dialog: SettingsDialog, qtbot: QtBot) -> None:
    with qtbot.waitSignal(dialog.saved, timeout=15_000):
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()


def _settings_changes(profile: Path) -> list[dict[str, object]]:
    session = unlock(profile, PASSPHRASE)
    try:
        return [json.loads(e.entry.detail) for e in session.audit.entries() if e.entry.event == "settings.changed"]
    finally:
        session.close()


def test_changed_settings_persist_in_the_vault_and_are_audited(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = _profile(tmp_path)
    window = make_window(profile, PASSPHRASE)
    dialog = _open_settings(window, qtbot)
    assert dialog.notes == {} and all(dialog.widget_for(k).isEnabled() for k in user_settings.USER_KEYS)
    dialog.idle.setValue(2)
    dialog.warning.setValue(20)
    dialog.remote.setChecked(True)
    _save(dialog, qtbot)
    assert window.controller.reader.settings["idle_timeout_minutes"] == 2
    reopened = run(
        make_window.bridge, qtbot, unlock_reader(make_window.bridge.engine, profile, PASSPHRASE, current_settings()[1])
    )
    try:
        assert reopened.settings.values["idle_timeout_minutes"].value == 2
        assert reopened.settings.values["idle_timeout_minutes"].source is Source.USER
        assert reopened.settings["lock_warning_seconds"] == 20 and reopened.settings["remote_content_allowed"] is True
    finally:
        run(make_window.bridge, qtbot, reopened.close())
    assert _settings_changes(profile) == [
        {"key": "idle_timeout_minutes", "old": 5, "new": 2, "source": "user"},
        {"key": "lock_warning_seconds", "old": 30, "new": 20, "source": "user"},
        {"key": "remote_content_allowed", "old": False, "new": True, "source": "user"},
    ]


def test_policy_keys_are_disabled_and_the_idle_timeout_may_only_be_lowered(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(
        monkeypatch, tmp_path, {"idle_timeout_minutes": 10, "lock_warning_seconds": 15, "remote_content_allowed": False}
    )
    profile = _profile(tmp_path)
    window = make_window(profile, PASSPHRASE)
    dialog = _open_settings(window, qtbot)
    assert not dialog.warning.isEnabled() and not dialog.remote.isEnabled()
    assert dialog.notes["lock_warning_seconds"].text() == "Set by your organisation."
    assert dialog.notes["remote_content_allowed"].text() == "Set by your organisation."
    assert dialog.idle.isEnabled() and dialog.idle.maximum() == 10
    assert "at most 10 minutes" in dialog.notes["idle_timeout_minutes"].text()
    dialog.idle.setValue(30)  # the field itself stops at the policy's value
    assert dialog.idle.value() == 10
    dialog.idle.setValue(4)
    assert dialog.changes() == {"idle_timeout_minutes": 4, "compose_rich_text": False}  # unchanged: not saved
    _save(dialog, qtbot)
    assert window.controller.reader.settings.values["idle_timeout_minutes"].source is Source.USER
    assert _settings_changes(profile) == [{"key": "idle_timeout_minutes", "old": 10, "new": 4, "source": "user"}]


def test_engine_refuses_what_policy_fixes_even_without_the_dialog(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _policy(monkeypatch, tmp_path, {"idle_timeout_minutes": 10, "remote_content_allowed": False})
    window = make_window(_profile(tmp_path), PASSPHRASE)
    reader = window.controller.reader
    for changes, problem in (
        ({"idle_timeout_minutes": 20}, "allows at most 10"),
        ({"remote_content_allowed": True}, "set by your organisation"),
        ({"allow_plain": True}, "not a setting you can change"),
        ({"idle_timeout_minutes": 0}, "must be between 1 and 480"),
    ):
        with pytest.raises(AssertionError, match=problem):
            run(make_window.bridge, qtbot, reader.in_vault(user_settings.save, reader.policy, changes))
    assert reader.settings["idle_timeout_minutes"] == 10


def test_refused_save_keeps_the_dialog_open_with_the_reason(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    dialog = _open_settings(window, qtbot)
    # The policy changes while the dialog is open: the engine judges by the policy the profile opened with.
    window.controller.reader.policy = {"remote_content_allowed": False}
    dialog.remote.setChecked(True)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=15_000)
    assert "set by your organisation" in dialog.error.text()
    assert dialog.isVisible()


def test_lock_follows_a_shorter_saved_timeout_at_once(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(_profile(tmp_path), PASSPHRASE)
    clock = FakeClock()
    config = LockConfig(idle_timeout_seconds=300.0, warning_seconds=0.0, max_failures=3)
    lock = attach_lock(window, make_window.bridge, config, clock_fn=clock, tick_seconds=0.02)
    dialog = _open_settings(window, qtbot)
    dialog.idle.setValue(1)
    dialog.warning.setValue(0)
    _save(dialog, qtbot)
    qtbot.waitUntil(lambda: lock.locker.controller.config.idle_timeout_seconds == 60.0, timeout=10_000)
    clock.now += 61
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    lock.stop()


def test_the_window_opens_with_the_lock_set_by_the_saved_timeout(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path, open_reader: OpenReader
) -> None:
    profile = _profile(tmp_path)
    session = unlock(profile, PASSPHRASE)
    try:
        user_settings.save(session, {}, {"idle_timeout_minutes": 2, "lock_warning_seconds": 5})
    finally:
        session.close()
    startup = Startup(bridge, current_settings()[1], profile=profile, demo=False, sync_on_start=False)
    startup.begin()
    assert startup.dialog is not None
    startup.dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(startup.window_opened, timeout=15_000):
        startup.dialog.unlock_button.click()
    assert startup.window is not None and startup.lock is not None
    open_reader.readers.append(startup.window.controller.reader)
    qtbot.addWidget(startup.window)
    config = startup.lock.locker.controller.config
    assert (config.idle_timeout_seconds, config.warning_seconds) == (120.0, 5.0)
    startup.lock.stop()
