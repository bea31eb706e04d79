"""What the vault keeps for portal messages (migration 8), on a real SQLCipher vault: the replies folder exists
only in the vault and survives sync's folder reconciliation, a reply is stored once, and Sent copies get their
portal mark through the sealed message's Message-ID."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.models import AccountId, Endpoint, FolderId, MessageRowId, Security
from app.mail.imap.session import FetchedMessage
from app.services.sync import build_records
from app.store import mail
from app.store import portal as store
from app.store.outbox import NewOutgoing, enqueue
from app.store.portal import PortalRecord, PortalState
from app.store.vault import Vault

NOW = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Vault]:
    opened = Vault.open(tmp_path / "vault.db", os.urandom(32), create=True)
    yield opened
    opened.close()


def _account(vault: Vault) -> AccountId:
    endpoint = Endpoint("imap.example.org", 993, Security.TLS)
    return mail.add_account(vault, mail.NewAccount("work", endpoint, endpoint, "doc", "pw", ""), NOW)


def _record(portal_id: str, content_id: str = "c1@clinic.test") -> PortalRecord:
    return PortalRecord(portal_id, "send1", f"notice.{portal_id}@clinic.test", "pat@example.org", "token",
                        b"pkcs8", NOW + timedelta(days=30), "delivered", content_id)  # fmt: skip


def _message(uid: int, message_id: str, text: str) -> mail.MessageRecord:
    raw = f"Message-ID: <{message_id}>\r\nFrom: a@b.test\r\nSubject: s\r\n\r\n{text}\r\n".encode()
    (record,) = build_records([FetchedMessage(uid, (), 0, NOW, len(raw), raw)])
    return record


def _sent(vault: Vault, account: AccountId, portal_id: str) -> None:
    notice = NewOutgoing(f"notice.{portal_id}@clinic.test", "send1", account, "portal", "doc@clinic.test",
                         ("pat@example.org",), b"notice", b"", False)  # fmt: skip
    enqueue(vault, [notice], NOW)


def test_the_replies_folder_is_vault_only_and_is_made_once(vault: Vault) -> None:
    account = _account(vault)
    mail.add_folder(vault, account, "INBOX", "INBOX", "/")
    folder = store.reply_folder(vault, account)
    assert store.reply_folder(vault, account) == folder
    assert list(mail.folders(vault, account)) == ["INBOX"], "sync must neither list nor drop it"
    assert mail.vault_only(vault.scalar("SELECT server_name FROM folders WHERE id = ?", (folder,)))


def test_a_reply_is_stored_once_and_found_by_search_and_its_number_outlives_its_deletion(vault: Vault) -> None:
    account = _account(vault)
    store.save(vault, _record("P1"), NOW, b"MIME")
    _sent(vault, account, "P1")
    assert store.account_of(vault, "P1") == account
    folder = store.reply_folder(vault, account)
    assert store.store_reply(vault, "P1", 1, folder, _message(1, "r1@x", "amberfinch"), NOW)
    assert not store.store_reply(vault, "P1", 1, folder, _message(2, "r1@x", "amberfinch"), NOW)
    assert store.store_reply(vault, "P1", 2, folder, _message(1, "r2@x", "second"), NOW), "the vault picks the UID"
    assert mail.local_uids(vault, folder) == [1, 2]
    assert store.fetched_replies(vault, "P1") == {1, 2}
    hits = vault.execute("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'amberfinch'").fetchall()
    assert len(hits) == 1
    vault.execute("DELETE FROM messages WHERE folder_id = ?", (folder,))
    assert store.fetched_replies(vault, "P1") == {1, 2}, "a reply the user deleted is not fetched again"


def test_sent_copies_carry_the_mark_of_the_newest_issue_of_their_content(vault: Vault) -> None:
    account = _account(vault)
    mail.add_folder(vault, account, "Sent", "Sent", "/")
    sent = mail.folders(vault, account)["Sent"].id
    mail.store_messages(vault, FolderId(sent), [_message(1, "c1@clinic.test", "x"), _message(2, "other@x", "y")])
    rows = [MessageRowId(r[0]) for r in vault.execute("SELECT id FROM messages ORDER BY uid").fetchall()]
    store.save(vault, _record("OLD"), NOW, b"MIME")
    store.set_state(vault, "OLD", PortalState.REVOKED.value, NOW)
    assert store.marks_for_rows(vault, rows)[rows[0]].state is PortalState.REVOKED
    assert rows[1] not in store.marks_for_rows(vault, rows)
    store.supersede(vault, "OLD", _record("NEW"), NOW + timedelta(seconds=1), b"MIME")
    mark = store.marks_for_rows(vault, rows)[rows[0]]
    assert (mark.portal_id, mark.state, mark.superseded) == ("NEW", PortalState.DELIVERED, False)
    assert store.by_id(vault, "OLD").superseded_by == "NEW"  # type: ignore[union-attr]
    assert store.content(vault, "NEW") == b"MIME"
