"""A send the server refuses for good (5.7.30, REQUIRETLS cannot be honoured) stays in the composer with the
server's words and a "Resend via secure portal" button; one click sends it through the real portal."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.services.profile import unlock
from app.services.resend import ResendReport
from app.store import drafts
from app.ui.bridge import Bridge
from app.ui.windows.composer import ComposerWindow, composer_service
from tests.support.pki import TestCA
from tests.support.refusing_world import PARTNER, RefusingWorld, refusing_world, sending_profile
from tests.support.salus_cli import PASSPHRASE
from tests.ui.conftest import OpenReader


def _draft_exists(profile: Path, draft_id: str) -> bool:
    session = unlock(profile, PASSPHRASE)
    try:
        return drafts.load(session.vault, draft_id) is not None
    finally:
        session.close()


@pytest.fixture
def servers(test_ca: TestCA) -> Iterator[tuple[Path, RefusingWorld]]:
    base = Path(tempfile.mkdtemp(prefix="rsu", dir="/tmp"))  # GnuPG's socket path must stay short
    try:
        with refusing_world(base, test_ca) as world:
            yield base, world
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_refused_send_offers_a_one_click_resend_through_the_portal(
    servers: tuple[Path, RefusingWorld], test_ca: TestCA, bridge: Bridge, open_reader: OpenReader, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, world = servers
    monkeypatch.setenv("SALUS_POLICY_FILE", str(world.policy))
    salus = sending_profile(base, world.policy, test_ca, world.smtp.port)
    window = ComposerWindow(bridge, composer_service(open_reader(salus.profile, PASSPHRASE)))
    qtbot.addWidget(window)
    window.show()
    window.to.edit.setText(PARTNER)
    window.subject.setText("Referral")
    window.body.setPlainText("Please see the patient this week.")
    qtbot.waitUntil(lambda: window.to.badge_methods() == {PARTNER: "tls"}, timeout=30_000)
    assert not window.resend_button.isVisible()
    window.save_draft()
    qtbot.waitUntil(lambda: _draft_exists(salus.profile, window.draft_id), timeout=15_000)

    QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.resend_button.isVisible, timeout=60_000)
    assert "5.7.30" in window.banner.label.text()
    assert window.isVisible() and not window.send_button.isEnabled()
    assert world.smtp.accepted == []
    assert not _draft_exists(salus.profile, window.draft_id)  # the message is in the outbox: no draft is kept

    with qtbot.waitSignal(window.resent, timeout=60_000) as resent:
        QTest.mouseClick(window.resend_button, Qt.MouseButton.LeftButton)
    (report,) = resent.args[0]
    assert isinstance(report, ResendReport)
    assert [(d.method, d.state) for d in report.report.deliveries] == [("portal", "submitted")]
    (notice,) = [a for a in world.smtp.accepted if a.rcpt_tos == [PARTNER]]
    assert b"Please see the patient" not in notice.data
    assert "REQUIRETLS" not in notice.mail_options
