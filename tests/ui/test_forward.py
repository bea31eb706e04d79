"""Forward carries the original's attachments as bytes in memory (issue 5), for plain and for OpenPGP-encrypted
mail, and the bytes reach the draft in the vault without any file being written."""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from pytestqt.qtbot import QtBot

from app.crypto.openpgp_ops import OpenPgpOps
from app.mime.addresses import Address
from app.mime.compose import Draft, Hp, OutgoingAttachment, outer_headers, pgp_encrypted, protected_body
from app.services.keys import GNUPG_DIR
from app.services.profile import unlock
from app.services.sync import build_records
from app.store import drafts
from app.store import mail as store
from app.ui.windows.actions import Act
from app.ui.windows.composer import ComposerWindow
from app.ui.windows.main_window import MainWindow
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, fetched, make_profile, with_attachment
from tests.ui.test_main_window import select_row

PDF = b"%PDF-1.4 fictional lab report\n" * 40


def _encrypted_with_attachment(profile: Path, secret: bytes) -> None:
    """Adds, as UID 2 of INBOX, an OpenPGP message encrypted to the profile's own key with a PDF attached."""
    session = unlock(profile, PASSPHRASE)
    try:
        with OpenPgpOps(session.profile_dir / GNUPG_DIR, session.openpgp_passphrase) as ops:
            own = ops.ensure_own_key("me@clinic.example", "Me")
            draft = Draft(
                sender=Address("", "lab@clinic.example"), to=(Address("", "me@clinic.example"),), cc=(), bcc=(),
                subject="Encrypted results", body_text="See the attachment.",
                attachments=(OutgoingAttachment("secret.pdf", "application/pdf", secret),),
                message_id="enc@clinic.example", date=datetime(2025, 1, 8, tzinfo=UTC),
            )  # fmt: skip
            armored = ops.encrypt(protected_body(draft, Hp.CIPHER), [own])
        raw = pgp_encrypted(outer_headers(draft, encrypted=True), armored)
        folder = store.folders(session.vault, store.list_accounts(session.vault)[0].id)["INBOX"]
        store.store_messages(session.vault, folder.id, build_records(fetched([raw], first_uid=2)))
    finally:
        session.close()


def _forward(window: MainWindow, qtbot: QtBot, row: int) -> ComposerWindow:
    select_row(window, qtbot, row)
    before = len(window.composers)
    window.actions_by_name[Act.FORWARD].trigger()
    qtbot.waitUntil(lambda: len(window.composers) == before + 1, timeout=15_000)
    return window.composers[-1]


def _row_of(window: MainWindow, subject: str) -> int:
    return next(r for r in range(window.messages.rowCount()) if window.messages.summary(r).subject == subject)


def test_forward_carries_plain_and_encrypted_attachments_in_memory_into_the_draft(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    started = time.time()
    secret = f"%PDF-1.4 {secrets.token_hex(12)}\n".encode() * 30
    profile = make_profile(tmp_path / "p", {"INBOX": [with_attachment("Lab report", "report.pdf", PDF)]})
    _encrypted_with_attachment(profile, secret)
    window = make_window(profile, PASSPHRASE)
    qtbot.waitUntil(lambda: window.messages.rowCount() == 2, timeout=15_000)

    plain = _forward(window, qtbot, _row_of(window, "Lab report"))
    assert plain.subject.text() == "Fwd: Lab report"
    assert plain.attachments == [OutgoingAttachment("report.pdf", "application/pdf", PDF)]
    assert [plain.attachment_list.item(i).text() for i in range(plain.attachment_list.count())] == ["report.pdf"]

    encrypted = _forward(window, qtbot, 1 - _row_of(window, "Lab report"))  # its subject is hidden ("[...]")
    assert encrypted.subject.text() == "Fwd: Encrypted results"
    assert encrypted.attachments == [OutgoingAttachment("secret.pdf", "application/pdf", secret)]
    # Its content was encrypted, so the forward is never planned weaker (like a reply): portal at the least.
    assert encrypted.draft_content().reply_to_encrypted and not plain.draft_content().reply_to_encrypted
    with qtbot.waitSignal(encrypted.draft_saved, timeout=15_000):
        encrypted.to.edit.setText("colleague@clinic.example")  # an edit starts the autosave
    session = unlock(profile, PASSPHRASE)
    try:
        saved = drafts.load(session.vault, encrypted.draft_id)
    finally:
        session.close()
    assert saved is not None and [a.data for a in saved.attachments] == [secret]
    for directory, _dirs, names in os.walk(tmp_path):
        for name in names:
            path = Path(directory, name)
            if path.stat().st_mtime >= started:
                assert secret[:30] not in path.read_bytes(), path
