"""The unlock dialog and the TOTP second factor (issue 7): the code field is there when policy asks for one,
appears when an enrolled profile needs it, and a profile without an authenticator is told how to enrol."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.clock import utc_now
from app.core.totp import code_at
from app.services import second_factor
from app.services.policy import current_settings
from app.services.profile import unlock
from app.ui.bridge import Bridge
from app.ui.windows.unlock_dialog import UnlockDialog
from tests.ui.support import PASSPHRASE, make_profile, run


def _enrolled(tmp_path: Path) -> tuple[Path, bytes]:
    profile = make_profile(tmp_path / "p", {"INBOX": []})
    session = unlock(profile, PASSPHRASE, enrolling=True)
    try:
        enrolment = second_factor.enrol(session, "p", utc_now())
    finally:
        session.close()
    secret = enrolment.secret_base32
    return profile, base64.b32decode(secret + "=" * (-len(secret) % 8))


def _require_totp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"unlock_requires_totp": True}), "utf-8")
    monkeypatch.setenv("SALUS_POLICY_FILE", str(path))


def _dialog(bridge: Bridge, qtbot: QtBot, profile: Path) -> UnlockDialog:
    dialog = UnlockDialog(bridge, [profile], current_settings()[1])
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _failed(qtbot: QtBot, dialog: UnlockDialog) -> str:
    dialog.unlock_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible() and dialog.unlock_button.isEnabled(), timeout=15_000)
    return dialog.error.text()


def test_policy_shows_the_code_field_and_a_wrong_code_is_refused(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile, secret = _enrolled(tmp_path)
    _require_totp(monkeypatch, tmp_path)
    dialog = _dialog(bridge, qtbot, profile)
    assert dialog.code.isVisible()
    good = code_at(secret, time.time())
    dialog.passphrase.setText(PASSPHRASE)
    dialog.code.setText(str((int(good) + 1) % 1_000_000).zfill(6))
    assert "Wrong authenticator code" in _failed(qtbot, dialog)
    assert dialog.code.text() == "" and dialog.passphrase.text() == ""
    dialog.passphrase.setText(PASSPHRASE)
    dialog.code.setText(good)
    with qtbot.waitSignal(dialog.unlocked, timeout=15_000) as unlocked:
        dialog.unlock_button.click()
    run(bridge, qtbot, unlocked.args[0].close())


def test_enrolled_profile_reveals_the_code_field_when_the_code_is_missing(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path
) -> None:
    profile, secret = _enrolled(tmp_path)
    dialog = _dialog(bridge, qtbot, profile)
    assert not dialog.code.isVisible()
    dialog.passphrase.setText(PASSPHRASE)
    assert "code from your authenticator app" in _failed(qtbot, dialog)
    assert dialog.code.isVisible()
    dialog.passphrase.setText(PASSPHRASE)
    dialog.code.setText(code_at(secret, time.time()))
    with qtbot.waitSignal(dialog.unlocked, timeout=15_000) as unlocked:
        dialog.unlock_button.click()
    run(bridge, qtbot, unlocked.args[0].close())


def test_policy_without_enrolment_says_how_to_enrol(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "p", {"INBOX": []})
    _require_totp(monkeypatch, tmp_path)
    dialog = _dialog(bridge, qtbot, profile)
    dialog.passphrase.setText(PASSPHRASE)
    dialog.code.setText("123456")
    assert "salus profile totp enrol" in _failed(qtbot, dialog)
