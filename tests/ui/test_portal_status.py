"""The message list shows the state of portal messages on their Sent copies, follows the real portal after a
sync, and revokes and re-issues from the window. Real Dovecot, SMTP server, portal server and vault."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.crypto.portal_keys import reply_key_of, seal_reply
from app.store.portal import PortalState
from app.ui.models.messages import Column
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from tests.support.dovecot import DovecotServer
from tests.support.pki import TestCA
from tests.support.portal_server import call
from tests.support.portal_world import SENDER, World, portal_world
from tests.support.salus_cli import PASSPHRASE
from tests.ui.conftest import WindowFactory
from tests.ui.test_main_window import select_folder, select_row

RECIPIENT = "patient.window@example.org"


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ptu", dir="/tmp"))
    try:
        with portal_world(base, dovecot, test_ca, "window") as built:
            yield built
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _state(window: MainWindow) -> PortalState | None:
    mark = window.messages.portal_mark(0) if window.messages.rowCount() else None
    return None if mark is None else mark.state


def test_sent_portal_message_shows_its_state_and_is_revoked_and_reissued_from_the_window(
    world: World, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot, qtmodeltester: ModelTester
) -> None:
    old = world.send(RECIPIENT, "bronchoscopywren")
    world.salus.ok("sync")  # the Sent copy, appended to the server's Sent folder, comes into the vault
    monkeypatch.setenv("SALUS_POLICY_FILE", world.salus.env["SALUS_POLICY_FILE"])
    window = make_window(world.salus.profile, PASSPHRASE)
    select_folder(window, qtbot, "Sent")
    qtbot.waitUntil(lambda: _state(window) is PortalState.DELIVERED, timeout=15_000)
    qtmodeltester.check(window.messages)  # type: ignore[no-untyped-call]
    status = window.messages.index(0, Column.STATUS)
    assert "notice delivered" in status.data(Qt.ItemDataRole.ToolTipRole)
    assert RECIPIENT in status.data(Qt.ItemDataRole.ToolTipRole)
    assert "Secure portal message" in status.data(Qt.ItemDataRole.AccessibleTextRole)
    assert status.data(Qt.ItemDataRole.DecorationRole) is not None

    world.open_as_recipient(world.link(RECIPIENT), RECIPIENT)
    with qtbot.waitSignal(window.portal.refreshed, timeout=30_000):
        window.actions_by_name[Act.SYNC].trigger()
    qtbot.waitUntil(lambda: _state(window) is PortalState.OPENED, timeout=15_000)

    select_row(window, qtbot, 0)
    revoke, reissue = window.actions_by_name[Act.PORTAL_REVOKE], window.actions_by_name[Act.PORTAL_REISSUE]
    assert revoke.isEnabled() and not reissue.isEnabled()
    assert revoke.shortcut().toString() and revoke.whatsThis()
    with qtbot.waitSignal(window.portal.revoked, timeout=30_000):
        revoke.trigger()
    assert RECIPIENT in window.dialogs.asked[-1]  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: _state(window) is PortalState.REVOKED, timeout=15_000)
    assert call(world.portal, "GET", f"/api/v1/open/{old}")[0] == 410
    assert reissue.isEnabled() and not revoke.isEnabled()

    with qtbot.waitSignal(window.portal.reissued, timeout=60_000) as reissued:
        reissue.trigger()
    assert reissued.args is not None
    new = reissued.args[0].new
    assert world.status(old)["superseded_by"] == new
    qtbot.waitUntil(lambda: _state(window) is PortalState.DELIVERED, timeout=15_000)
    assert window.messages.portal_mark(0).portal_id == new  # type: ignore[union-attr]
    assert new in world.link(RECIPIENT)
    assert revoke.isEnabled()


def test_replies_arrive_with_a_sync_into_a_vault_only_folder_that_reads_but_stays_in_the_vault(
    world: World, make_window: WindowFactory, monkeypatch: pytest.MonkeyPatch, qtbot: QtBot
) -> None:
    recipient = "patient.replier@example.org"
    portal_id = world.send(recipient, "replywindow")
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = recipient, SENDER, "Re: Results replywindow"
    reply.set_content("Reply word lapwingmosaic.")
    world.portal.storage.add_reply(
        portal_id, world.portal.clock.now(),
        seal_reply(reply.as_bytes(), reply_key_of(world.portal.storage.envelope(portal_id))),
    )  # fmt: skip
    monkeypatch.setenv("SALUS_POLICY_FILE", world.salus.env["SALUS_POLICY_FILE"])
    window = make_window(world.salus.profile, PASSPHRASE)
    with qtbot.waitSignal(window.portal.refreshed, timeout=30_000):
        window.actions_by_name[Act.SYNC].trigger()
    qtbot.waitUntil(lambda: "Portal replies" in _folder_names(window), timeout=15_000)
    select_folder(window, qtbot, "Portal replies")
    (row,) = [r for r in range(window.messages.rowCount()) if "replywindow" in window.messages.summary(r).subject]
    select_row(window, qtbot, row)
    assert "lapwingmosaic" in window.reader.shown.opened.message.text  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.messages.summary(row).seen, timeout=15_000)  # marked read in the vault only

    window.dialogs.folder = next(n.id for n in window.accounts[0].folders if n.name == "INBOX")  # type: ignore[attr-defined]
    window.actions_by_name[Act.MOVE].trigger()
    qtbot.waitUntil(lambda: "exist only in this vault" in window.banner.text, timeout=15_000)
    assert window.messages.rowCount() > row and "replywindow" in window.messages.summary(row).subject


def _folder_names(window: MainWindow) -> list[str]:
    return [n.name for a in window.accounts for n in a.folders]
