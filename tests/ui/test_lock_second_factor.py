"""The lock screen with an authenticator enrolled (issue 7): the code field appears, a wrong code counts as a
failed unlock and is audited, the right one unlocks, and a code is never accepted twice."""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.clock import utc_now
from app.core.totp import code_at
from app.services import second_factor
from app.services.profile import unlock
from app.services.second_factor import Enrolment
from app.ui.windows.actions import Act
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, run
from tests.ui.test_lock import _open, _profile, _wait_locked


def _secret(enrolment: Enrolment) -> bytes:
    import base64

    return base64.b32decode(enrolment.secret_base32 + "=" * (-len(enrolment.secret_base32) % 8))


def _click_unlock(qtbot: QtBot, screen: object, passphrase: str, code: str) -> None:
    from app.ui.lock_screen import LockScreen

    assert isinstance(screen, LockScreen)
    screen.passphrase.setText(passphrase)
    screen.code.setText(code)
    QTest.mouseClick(screen.unlock_button, Qt.MouseButton.LeftButton)


def test_lock_screen_asks_for_the_code_and_counts_a_wrong_one_as_a_failure(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = _profile(tmp_path)
    window, lock, _clock = _open(make_window, qtbot, profile)
    reader = window.controller.reader
    enrolment = run(make_window.bridge, qtbot, reader.in_vault(second_factor.enrol, "front-desk", utc_now()))
    secret = _secret(enrolment)
    assert lock.screen.code.isHidden()
    window.actions_by_name[Act.LOCK].trigger()
    _wait_locked(qtbot, window, lock)
    qtbot.waitUntil(lambda: not lock.screen.code.isHidden(), timeout=10_000)

    _click_unlock(qtbot, lock.screen, PASSPHRASE, "")
    assert "code from your authenticator" in lock.screen.message.text()  # nothing was sent to the engine

    good = code_at(secret, time.time())
    wrong = str((int(good) + 1) % 1_000_000).zfill(6)
    _click_unlock(qtbot, lock.screen, PASSPHRASE, wrong)
    qtbot.waitUntil(lambda: "passphrase or code is not right. 2 attempts" in lock.screen.message.text(), timeout=10_000)
    assert lock.is_locked and reader.locked and lock.screen.code.text() == ""

    _click_unlock(qtbot, lock.screen, PASSPHRASE, good)
    qtbot.waitUntil(lambda: not lock.is_locked, timeout=10_000)
    window.actions_by_name[Act.LOCK].trigger()
    _wait_locked(qtbot, window, lock)
    _click_unlock(qtbot, lock.screen, PASSPHRASE, good)  # the same code again: refused
    qtbot.waitUntil(lambda: "code is not right. 2 attempts" in lock.screen.message.text(), timeout=10_000)
    assert reader.locked

    session = unlock(profile, PASSPHRASE, totp_code=code_at(secret, time.time() + 30))
    try:
        entries = [(e.entry.event, json.loads(e.entry.detail)) for e in session.audit.entries()]
    finally:
        session.close()
    assert entries.count(("unlock.failed", {"factor": "totp"})) == 2
    assert ("unlock.succeeded", {"method": "passphrase", "factor": "totp"}) in entries
    assert wrong not in json.dumps(entries)
