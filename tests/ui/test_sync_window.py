"""The window against a real Dovecot: sync with progress, mark read written back to the server, cancelling."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.models import Endpoint, Security
from app.services.accounts import AccountSettings, add_account
from app.services.profile import create_profile, unlock
from app.ui.models.messages import Column
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer, MailUser
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE

pytestmark = pytest.mark.integration


def profile_with_account(directory: Path, endpoint: Endpoint, user: str, password: str, ca: Path | None) -> Path:
    session = create_profile(directory, PASSPHRASE)
    try:
        settings = AccountSettings("work", endpoint, Endpoint(endpoint.host, 1, Security.TLS), user, ca)
        add_account(session, settings, password)
    finally:
        session.close()
    return directory


def synced_window(window: MainWindow, qtbot: QtBot, expected_rows: int) -> None:
    window.actions_by_name[Act.SYNC].trigger()
    qtbot.waitUntil(lambda: window.sync_status.label.text().startswith("Sync finished"), timeout=20_000)
    qtbot.waitUntil(lambda: window.messages.rowCount() == expected_rows, timeout=5_000)


def test_sync_fetches_new_mail_with_progress_and_mark_read_reaches_the_server(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, dovecot: DovecotServer, mail_user: MailUser
) -> None:
    dovecot.seed(mail_user, "INBOX", [make_message(subject=f"Lab {i}", body=f"Result {i}") for i in range(30)])
    endpoint = Endpoint(dovecot.host, dovecot.imaps_port, Security.TLS)
    profile = profile_with_account(tmp_path / "p", endpoint, mail_user.name, mail_user.password, dovecot.ca_file)
    window = make_window(profile, PASSPHRASE)
    progress: list[tuple[str, int, int]] = []
    window.controller.sync_progressed.connect(lambda f, d, t: progress.append((f, d, t)))
    synced_window(window, qtbot, 30)
    assert window.sync_status.label.text() == "Sync finished: 30 new messages."
    assert progress and progress[-1] == ("INBOX", 30, 30)
    assert window.folders.first_inbox().data() == "Inbox (30)"

    window.message_view.setCurrentIndex(window.messages.index(0, Column.SUBJECT))
    subject = window.messages.summary(0).subject
    qtbot.waitUntil(lambda: window.messages.summary(0).seen, timeout=10_000)
    client = dovecot.client(mail_user)
    try:
        client.select_folder("INBOX", readonly=True)
        seen = client.search(["SEEN"])
        subjects = client.fetch(seen, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    finally:
        client.logout()
    assert [d[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip() for d in subjects.values()] == [f"Subject: {subject}"]


class SilentServer:
    """Accepts connections and never says a word, like a server that hangs during the TLS handshake."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()  # lets the blocked IMAP thread fail at once instead of at its timeout


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_hanging_sync_can_be_cancelled_and_the_window_stays_usable(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, silent_server: SilentServer
) -> None:
    endpoint = Endpoint("127.0.0.1", silent_server.port, Security.TLS)
    profile = profile_with_account(tmp_path / "p", endpoint, "user", "password", None)
    window = make_window(profile, PASSPHRASE)
    window.actions_by_name[Act.SYNC].trigger()
    qtbot.waitUntil(
        lambda: window.sync_status.cancel_button.isVisible() and bool(silent_server.accepted), timeout=15_000
    )
    assert not window.actions_by_name[Act.SYNC].isEnabled()
    window.sync_status.cancel_button.click()
    qtbot.waitUntil(lambda: window.sync_status.label.text().startswith("Sync cancelled"), timeout=5_000)
    assert not window.sync_status.cancel_button.isVisible()
    assert window.actions_by_name[Act.SYNC].isEnabled()
    assert window.banner.text == ""  # cancelling is not an error
    window.actions_by_name[Act.GO_INBOX].trigger()  # the window still answers
    qtbot.waitUntil(lambda: _audited_cancel(profile, window), timeout=5_000)


def _audited_cancel(profile: Path, window: MainWindow) -> bool:
    session = unlock(profile, PASSPHRASE)
    try:
        return any(e.entry.event == "sync" and "cancelled" in e.entry.detail for e in session.audit.entries())
    finally:
        session.close()
