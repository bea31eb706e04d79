"""Portal messages the sender follows (status, revoke, re-issue, replies).

Rules:
- `sender_token` and `reply_key` are secrets and `content` is the plaintext message that was sealed: all three
  stay in the vault and are never part of a repr.
- `state` is the last portal state the client knows (PortalState); `checked_at` says when the portal last
  confirmed it. A re-issued message keeps its row, pointing at its successor through `superseded_by`.
- A reply is recorded in `portal_replies` in the same transaction that stores it as a message, so a reply is
  stored exactly once however often, or however interrupted, the fetch runs.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from app.core.models import AccountId, FolderId, MessageRowId
from app.store.mail import VAULT_ONLY_PREFIX, MessageRecord, insert_in_transaction
from app.store.vault import Vault

REPLY_FOLDER = "Portal replies"


class PortalState(StrEnum):
    """What the sender knows of a portal message, in the order it normally moves through them."""

    UPLOADED = "uploaded"
    DELIVERED = "delivered"  # the notice email was accepted by the sender's submission server
    OPENED = "opened"
    REPLIED = "replied"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class PortalRecord:
    portal_id: str
    send_id: str
    notice_message_id: str
    recipient: str
    sender_token: str
    reply_key: bytes
    expires_at: datetime
    state: str
    content_message_id: str = ""  # the sealed message's Message-ID, which its Sent copy carries
    superseded_by: str = ""  # the portal id of the re-issued message that replaced this one

    def __repr__(self) -> str:  # the token and the key are secrets
        return f"PortalRecord({self.portal_id}, {self.state})"


@dataclass(frozen=True, slots=True)
class PortalMark:
    """What the message list shows on a Sent copy: the state of the portal message it was the content of."""

    content_message_id: str
    portal_id: str
    recipient: str
    state: PortalState
    superseded: bool


def save(vault: Vault, record: PortalRecord, now: datetime, content: bytes = b"") -> None:
    with vault.transaction():
        vault.execute(
            "INSERT INTO portal_messages (portal_id, send_id, notice_message_id, recipient, sender_token, reply_key, "
            "expires_at, created_at, state, content, content_message_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (record.portal_id, record.send_id, record.notice_message_id, record.recipient, record.sender_token,
             record.reply_key, record.expires_at.isoformat(), now.isoformat(), record.state,
             zlib.compress(content, 6) if content else b"", record.content_message_id),
        )  # fmt: skip


def by_notice(vault: Vault, notice_message_id: str) -> PortalRecord | None:
    rows = _select(vault, "WHERE notice_message_id = ?", (notice_message_id,))
    return rows[0] if rows else None


def by_id(vault: Vault, portal_id: str) -> PortalRecord | None:
    rows = _select(vault, "WHERE portal_id = ?", (portal_id,))
    return rows[0] if rows else None


def all_records(vault: Vault) -> list[PortalRecord]:
    return _select(vault, "ORDER BY created_at", ())


def set_state(vault: Vault, portal_id: str, state: str, checked_at: datetime | None = None) -> None:
    with vault.transaction():
        if checked_at is None:
            vault.execute("UPDATE portal_messages SET state = ? WHERE portal_id = ?", (state, portal_id))
        else:
            vault.execute(
                "UPDATE portal_messages SET state = ?, checked_at = ? WHERE portal_id = ?",
                (state, checked_at.isoformat(), portal_id),
            )


def content(vault: Vault, portal_id: str) -> bytes:
    """The plaintext MIME message that was sealed (b"" for messages sent before Salus kept it)."""
    stored = vault.scalar("SELECT content FROM portal_messages WHERE portal_id = ?", (portal_id,))
    return zlib.decompress(stored) if stored else b""


def account_of(vault: Vault, portal_id: str) -> AccountId | None:
    """The account whose outbox carried the message's notice."""
    found = vault.scalar(
        "SELECT o.account_id FROM outbox o JOIN portal_messages p ON p.notice_message_id = o.message_id "
        "WHERE p.portal_id = ?",
        (portal_id,),
    )
    return None if found is None else AccountId(int(found))


def supersede(vault: Vault, old: str, successor: PortalRecord, now: datetime, content: bytes) -> None:
    """Records a re-issued message and points the old one at it, in one transaction."""
    with vault.transaction():
        vault.execute(
            "INSERT INTO portal_messages (portal_id, send_id, notice_message_id, recipient, sender_token, reply_key, "
            "expires_at, created_at, state, content, content_message_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (successor.portal_id, successor.send_id, successor.notice_message_id, successor.recipient,
             successor.sender_token, successor.reply_key, successor.expires_at.isoformat(), now.isoformat(),
             successor.state, zlib.compress(content, 6), successor.content_message_id),
        )  # fmt: skip
        vault.execute("UPDATE portal_messages SET superseded_by = ? WHERE portal_id = ?", (successor.portal_id, old))


def fetched_replies(vault: Vault, portal_id: str) -> set[int]:
    rows = vault.execute("SELECT n FROM portal_replies WHERE portal_id = ?", (portal_id,)).fetchall()
    return {int(r[0]) for r in rows}


def reply_folder(vault: Vault, account_id: AccountId) -> FolderId:
    """The account's vault-only "Portal replies" folder, created on first use."""
    with vault.transaction():
        found = vault.scalar(
            "SELECT f.id FROM folders f JOIN local_folders l ON l.folder_id = f.id "
            "WHERE f.account_id = ? AND l.purpose = 'portal_replies'",
            (account_id,),
        )
        if found is not None:
            return FolderId(int(found))
        cursor = vault.execute(
            "INSERT INTO folders (account_id, server_name, display_name) VALUES (?, ?, ?)",
            (account_id, VAULT_ONLY_PREFIX + REPLY_FOLDER, REPLY_FOLDER),
        )
        folder_id = FolderId(int(cursor.lastrowid))
        vault.execute("INSERT INTO local_folders (folder_id, purpose) VALUES (?, 'portal_replies')", (folder_id,))
    return folder_id


def store_reply(
    vault: Vault, portal_id: str, n: int, folder_id: FolderId, record: MessageRecord, now: datetime
) -> bool:
    """Stores one decrypted reply as the next message of `folder_id` and remembers it; False if it was already
    stored. The UID is chosen inside the transaction, so two fetches running at once (the window's poll and a
    `salus sync`) can neither take the same UID nor store one reply twice."""
    with vault.transaction():
        if vault.scalar("SELECT 1 FROM portal_replies WHERE portal_id = ? AND n = ?", (portal_id, n)) is not None:
            return False
        uid = int(vault.scalar("SELECT coalesce(max(uid), 0) + 1 FROM messages WHERE folder_id = ?", (folder_id,)))
        insert_in_transaction(vault, folder_id, replace(record, uid=uid))
        row = vault.scalar("SELECT id FROM messages WHERE folder_id = ? AND uid = ?", (folder_id, uid))
        vault.execute(
            "INSERT INTO portal_replies (portal_id, n, message, fetched_at) VALUES (?,?,?,?)",
            (portal_id, n, row, now.isoformat()),
        )
    return True


def _state(text: str) -> PortalState:
    try:
        return PortalState(text)
    except ValueError:
        return PortalState.UPLOADED


def _select(vault: Vault, clause: str, params: tuple[object, ...]) -> list[PortalRecord]:
    # The clauses are constants of this module; every value is a bound parameter.
    rows = vault.execute(
        "SELECT portal_id, send_id, notice_message_id, recipient, sender_token, reply_key, expires_at, state, "  # noqa: S608
        "content_message_id, superseded_by FROM portal_messages " + clause,
        params,
    ).fetchall()
    return [
        PortalRecord(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), datetime.fromisoformat(r[6]), r[7], r[8], r[9])
        for r in rows
    ]


def marks_for_rows(vault: Vault, ids: list[MessageRowId]) -> dict[MessageRowId, PortalMark]:
    """The portal state of each listed message that is the Sent copy of a portal message. A re-issued message
    shares its Message-ID with the original, so the newest record wins."""
    found: dict[MessageRowId, PortalMark] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = vault.execute(
            "SELECT m.id, p.content_message_id, p.portal_id, p.recipient, p.state, p.superseded_by "  # noqa: S608
            "FROM messages m JOIN portal_messages p ON p.content_message_id = m.message_id "
            f"WHERE m.message_id != '' AND m.id IN ({','.join('?' * len(chunk))}) ORDER BY p.created_at",
            chunk,
        ).fetchall()
        for row_id, cid, pid, recipient, state, successor in rows:
            found[MessageRowId(int(row_id))] = PortalMark(
                str(cid), str(pid), str(recipient), _state(str(state)), bool(successor)
            )
    return found
