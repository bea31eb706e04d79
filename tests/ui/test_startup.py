"""Start-up: unlocking with the right and the wrong passphrase, the first-run wizard, the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from app.services.demo import DEMO_PASSPHRASE
from app.services.policy import current_settings
from app.services.profile import unlock
from app.services.reader import Reader
from app.store import mail as store
from app.ui.app import Startup
from app.ui.bridge import Bridge
from app.ui.recent import recent_profiles, remember_profile
from app.ui.windows.first_run import FirstRunWizard
from app.ui.windows.unlock_dialog import UnlockDialog
from tests.ui.conftest import OpenReader
from tests.ui.support import run

SETTINGS = current_settings()[1]


def test_right_passphrase_unlocks_the_profile(bridge: Bridge, qtbot: QtBot, demo_profile: Path) -> None:
    dialog = UnlockDialog(bridge, [demo_profile], SETTINGS)
    qtbot.addWidget(dialog)
    dialog.passphrase.setText(DEMO_PASSPHRASE)
    with qtbot.waitSignal(dialog.unlocked, timeout=10_000) as unlocked:
        dialog.unlock_button.click()
    reader = unlocked.args[0]
    assert isinstance(reader, Reader) and reader.profile_dir == demo_profile
    assert dialog.passphrase.text() == ""  # not kept in the widget after use
    run(bridge, qtbot, reader.close())


def test_wrong_passphrase_says_so_and_lets_the_user_retry(bridge: Bridge, qtbot: QtBot, demo_profile: Path) -> None:
    dialog = UnlockDialog(bridge, [demo_profile], SETTINGS)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.passphrase.setText("not the passphrase")
    dialog.unlock_button.click()
    assert not dialog.unlock_button.isEnabled()  # busy while the key derivation runs on the engine thread
    qtbot.waitUntil(dialog.error.isVisible, timeout=10_000)
    assert "Wrong passphrase" in dialog.error.text()
    assert dialog.isVisible() and dialog.unlock_button.isEnabled() and dialog.passphrase.text() == ""
    dialog.passphrase.setText(DEMO_PASSPHRASE)
    with qtbot.waitSignal(dialog.unlocked, timeout=10_000) as unlocked:
        dialog.unlock_button.click()
    run(bridge, qtbot, unlocked.args[0].close())
    session = unlock(demo_profile, DEMO_PASSPHRASE)
    try:
        events = [entry.entry.event for entry in session.audit.entries()]
    finally:
        session.close()
    assert "unlock.failed" in events  # the failure reached the audit log at the next unlock


def fill_wizard(wizard: FirstRunWizard, directory: Path, *, account: bool) -> None:
    wizard.profile_page.location.setText(str(directory))
    wizard.profile_page.passphrase.setText("a long enough passphrase")
    wizard.profile_page.repeat.setText("a long enough passphrase")
    wizard.next()
    page = wizard.account_page
    page.enabled.setChecked(account)
    page.email.setText("dr.haddad@clinic.example")
    page._on_email_text_edited(page.email.text())
    page.password.setText("account password")


def test_first_run_creates_the_profile_and_its_account(bridge: Bridge, qtbot: QtBot, tmp_path: Path) -> None:
    wizard = FirstRunWizard(bridge, tmp_path / "default", SETTINGS)
    qtbot.addWidget(wizard)
    wizard.show()
    fill_wizard(wizard, tmp_path / "mine", account=True)
    assert wizard.account_page.imap_host.text() == "imap.clinic.example"  # proposed from the address
    with qtbot.waitSignal(wizard.created, timeout=15_000) as created:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    profile = created.args[0]
    assert profile.account_problem is None
    run(bridge, qtbot, profile.reader.close())
    session = unlock(tmp_path / "mine", "a long enough passphrase")
    try:
        accounts = store.list_accounts(session.vault)
    finally:
        session.close()
    assert [(a.name, a.imap.host, a.imap.port, a.username) for a in accounts] == [
        ("Work", "imap.clinic.example", 993, "dr.haddad@clinic.example")
    ]


def test_first_run_refuses_short_or_differing_passphrases_and_busy_directories(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path
) -> None:
    wizard = FirstRunWizard(bridge, tmp_path / "p", SETTINGS)
    qtbot.addWidget(wizard)
    page = wizard.profile_page
    page.passphrase.setText("short")
    page.repeat.setText("short")
    assert "at least" in page.problem()
    page.passphrase.setText("a long enough passphrase")
    page.repeat.setText("a different long passphrase")
    assert "differ" in page.problem()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    page.location.setText(str(tmp_path / "busy"))
    page.repeat.setText("a long enough passphrase")
    assert "not empty" in page.problem()


def test_startup_offers_the_last_profile_then_opens_the_window(
    bridge: Bridge, qtbot: QtBot, demo_profile: Path, open_reader: OpenReader
) -> None:
    remember_profile(demo_profile)
    assert recent_profiles()[0] == demo_profile.resolve()
    startup = Startup(bridge, SETTINGS, profile=None, demo=False, sync_on_start=False)
    startup.begin()
    assert startup.dialog is not None and startup.dialog.selected_profile() == demo_profile.resolve()
    startup.dialog.passphrase.setText(DEMO_PASSPHRASE)
    with qtbot.waitSignal(startup.window_opened, timeout=10_000):
        startup.dialog.unlock_button.click()
    assert startup.window is not None
    qtbot.addWidget(startup.window)
    qtbot.waitUntil(lambda: startup.window is not None and startup.window.messages.rowCount() > 0, timeout=15_000)
    assert not startup.dialog.isVisible()
    open_reader.readers.append(startup.window.controller.reader)  # closed at the end of the test


def test_demo_opens_a_working_window_without_a_passphrase(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_reader: OpenReader
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    startup = Startup(bridge, SETTINGS, profile=None, demo=True, sync_on_start=False)
    with qtbot.waitSignal(startup.window_opened, timeout=20_000):
        startup.begin()
    window = startup.window
    assert window is not None
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.messages.rowCount() > 100, timeout=10_000)
    assert [a.name for a in window.accounts] == ["Demo"]
    open_reader.readers.append(window.controller.reader)
