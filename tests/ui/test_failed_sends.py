"""Messages refused for good after Send, found by a later retry (`salus outbox flush`, another process), appear in
the main window's failed-sends bar with the server's reason and a one-click resend through the real portal."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.ui.windows.main_window import OUTBOX_CHECK_MS, MainWindow
from tests.support.pki import TestCA
from tests.support.refusing_world import PARTNER, REFUSAL, RefusingWorld, refusing_world, sending_profile
from tests.support.salus_cli import PASSPHRASE
from tests.support.smtp_server import SmtpServer
from tests.ui.conftest import WindowFactory

BODY = "Please see the patient this week."


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def servers(test_ca: TestCA) -> Iterator[tuple[Path, RefusingWorld]]:
    base = Path(tempfile.mkdtemp(prefix="fsb", dir="/tmp"))  # GnuPG's socket path must stay short
    try:
        with refusing_world(base, test_ca) as world:
            yield base, world
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _checked(qtbot: QtBot, window: MainWindow) -> None:
    window.failed_sends.check()  # what the outbox timer does every OUTBOX_CHECK_MS
    qtbot.waitUntil(lambda: not window.failed_sends.is_checking, timeout=15_000)


def test_a_refusal_found_by_a_later_flush_is_shown_in_the_main_window_and_resent_via_the_portal(
    servers: tuple[Path, RefusingWorld], test_ca: TestCA, make_window: WindowFactory, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, world = servers
    monkeypatch.setenv("SALUS_POLICY_FILE", str(world.policy))
    port = _free_port()
    salus = sending_profile(base, world.policy, test_ca, port)
    smtp_cert = test_ca.issue_server_cert(base / "smtp2")
    busy = {PARTNER: "451 4.3.0 Try again later"}  # a temporary refusal: the message waits in the outbox
    with SmtpServer(smtp_cert, requiretls=True, refuse=busy, port=port):
        later = salus.run("send", "--to", PARTNER, "--subject", "Referral", "--body", BODY)
    assert later.code == 1, later.stderr
    assert [(m["method"], m["state"]) for m in salus.json("outbox", "list")["messages"]] == [("tls", "queued")]

    window = make_window(salus.profile, PASSPHRASE)
    _checked(qtbot, window)
    assert window.failed_sends.isHidden()  # waiting for a retry is not a failure
    assert window._outbox_timer.isActive() and window._outbox_timer.interval() == OUTBOX_CHECK_MS

    with SmtpServer(smtp_cert, requiretls=True, refuse_requiretls=REFUSAL, port=port) as smtp:
        assert salus.run("outbox", "flush").code == 1  # the retry, in another process, meets 5.7.30
        assert [m["state"] for m in salus.json("outbox", "list")["messages"]] == ["failed"]
        _checked(qtbot, window)
        bar = window.failed_sends
        assert bar.isVisible() and "5.7.30" in bar.label.text() and "1 recipient" in bar.label.text()
        assert PARTNER not in bar.label.text()  # the bar names nobody
        with qtbot.waitSignal(bar.resent, timeout=60_000) as resent:
            QTest.mouseClick(bar.resend_button, Qt.MouseButton.LeftButton)
        ((report,),) = resent.args
        assert [(d.method, d.state) for d in report.report.deliveries] == [("portal", "submitted")]
        (notice,) = smtp.accepted
    assert notice.rcpt_tos == [PARTNER] and BODY.encode() not in notice.data
    assert "REQUIRETLS" not in notice.mail_options
    _checked(qtbot, window)
    assert window.failed_sends.isHidden()  # resent: nothing is offered twice
    audit = salus.run("audit", "export")
    assert audit.code == 0 and '"send.resend"' in audit.stdout  # audited by the resend, as from the composer


def test_dismissed_failures_stay_hidden_and_a_lock_drops_the_bar(
    servers: tuple[Path, RefusingWorld], test_ca: TestCA, make_window: WindowFactory, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, world = servers
    monkeypatch.setenv("SALUS_POLICY_FILE", str(world.policy))
    salus = sending_profile(base, world.policy, test_ca, world.smtp.port)
    assert salus.run("send", "--to", PARTNER, "--subject", "Referral", "--body", BODY).code == 1  # 5.7.30 at once
    window = make_window(salus.profile, PASSPHRASE)
    qtbot.waitUntil(window.failed_sends.isVisible, timeout=15_000)  # checked when the folders are first shown
    window.drop_snapshots()  # what the lock screen does
    assert window.failed_sends.isHidden() and window.failed_sends.label.text() == ""
    _checked(qtbot, window)
    assert window.failed_sends.isVisible()
    QTest.mouseClick(window.failed_sends.dismiss_button, Qt.MouseButton.LeftButton)
    _checked(qtbot, window)
    assert window.failed_sends.isHidden()
    assert world.smtp.accepted == []
