"""Typed reads and writes of accounts, folders and messages in the vault.

Rules:
- One writer: every function that writes runs inside a transaction it opens itself, so each is atomic.
- Messages of a batch are stored together with their raw bytes, attachments and index entries in one
  transaction; `UNIQUE (folder_id, uid)` makes storing the same message twice a no-op, never a duplicate.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.errors import StoreError
from app.core.models import Account, AccountId, Endpoint, FolderId, FolderStats, Security
from app.store.vault import DatabaseError, Vault


@dataclass(frozen=True, slots=True)
class NewAccount:
    name: str
    imap: Endpoint
    smtp: Endpoint
    username: str
    password: str
    ca_pem: str
    address: str = ""


@dataclass(frozen=True, slots=True)
class FolderRow:
    id: FolderId
    server_name: str
    display_name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    part: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """Everything the vault keeps of one message in one folder."""

    uid: int
    modseq: int
    flags: tuple[str, ...]
    size: int
    internal_date: str
    date: str
    message_id: str
    subject: str
    sender: str
    recipients: str
    snippet: str
    body_text: str
    attachments: tuple[AttachmentRow, ...]
    is_encrypted: bool
    is_signed: bool
    problems: str
    raw: bytes


def add_account(vault: Vault, account: NewAccount, created_at: datetime) -> AccountId:
    try:
        with vault.transaction():
            cursor = vault.execute(
                "INSERT INTO accounts (name, imap_host, imap_port, imap_security, smtp_host, smtp_port, "
                "smtp_security, username, password, ca_pem, created_at, address) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    account.name,
                    account.imap.host,
                    account.imap.port,
                    account.imap.security.value,
                    account.smtp.host,
                    account.smtp.port,
                    account.smtp.security.value,
                    account.username,
                    account.password,
                    account.ca_pem,
                    created_at.isoformat(),
                    account.address,
                ),
            )
    except StoreError as exc:
        if isinstance(exc.__cause__, DatabaseError) and "UNIQUE" in str(exc.__cause__):
            raise StoreError(f"An account named {account.name!r} already exists in this profile.") from exc
        raise
    return AccountId(int(cursor.lastrowid))


_ACCOUNT_COLUMNS = (
    "id, name, imap_host, imap_port, imap_security, smtp_host, smtp_port, smtp_security, username, ca_pem, address"
)


def list_accounts(vault: Vault) -> list[Account]:
    rows = vault.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY name").fetchall()  # noqa: S608 - constant
    return [_account(row) for row in rows]


def account_password(vault: Vault, account_id: AccountId) -> str:
    return str(vault.scalar("SELECT password FROM accounts WHERE id = ?", (account_id,)))


def _account(row: Sequence[object]) -> Account:
    aid, name, ihost, iport, isec, shost, sport, ssec, user, ca, address = row
    return Account(
        id=AccountId(int(str(aid))),
        name=str(name),
        imap=Endpoint(str(ihost), int(str(iport)), Security(str(isec))),
        smtp=Endpoint(str(shost), int(str(sport)), Security(str(ssec))),
        username=str(user),
        ca_pem=str(ca),
        address=str(address),
    )


def folders(vault: Vault, account_id: AccountId) -> dict[str, FolderRow]:
    rows = vault.execute(
        "SELECT id, server_name, display_name, uidvalidity, uidnext, highestmodseq FROM folders WHERE account_id = ? "
        "AND id NOT IN (SELECT folder_id FROM local_folders)",  # vault-only folders are never the server's
        (account_id,),
    ).fetchall()
    return {str(r[1]): FolderRow(FolderId(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows}


# Vault-only folders (table local_folders) get a server name no IMAP server can send, so they never collide with
# a real mailbox of the same display name: a NUL cannot occur in a mailbox name (RFC 3501 §5.1, §4.3).
VAULT_ONLY_PREFIX = "\x00"


def vault_only(server_name: str) -> bool:
    return server_name.startswith(VAULT_ONLY_PREFIX)


def add_folder(vault: Vault, account_id: AccountId, server_name: str, display_name: str, delimiter: str) -> None:
    with vault.transaction():
        vault.execute(
            "INSERT OR IGNORE INTO folders (account_id, server_name, display_name, delimiter) VALUES (?,?,?,?)",
            (account_id, server_name, display_name, delimiter),
        )


def remove_folder(vault: Vault, folder_id: FolderId) -> int:
    with vault.transaction():
        count = int(vault.scalar("SELECT count(*) FROM messages WHERE folder_id = ?", (folder_id,)))
        vault.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
    return count


def folder_content(vault: Vault, folder_id: FolderId) -> tuple[int, int]:
    """(highest stored UID, number of stored messages)."""
    row = vault.execute(
        "SELECT coalesce(max(uid), 0), count(*) FROM messages WHERE folder_id = ?", (folder_id,)
    ).fetchone()
    return int(row[0]), int(row[1])


def reset_folder(vault: Vault, folder_id: FolderId, uidvalidity: int) -> int:
    """Forgets every cached message of a folder whose UIDVALIDITY changed, and records the new one."""
    with vault.transaction():
        count = int(vault.execute("DELETE FROM messages WHERE folder_id = ?", (folder_id,)).rowcount)
        vault.execute(
            "UPDATE folders SET uidvalidity = ?, uidnext = 0, highestmodseq = 0 WHERE id = ?",
            (uidvalidity, folder_id),
        )
    return count


def complete_folder(vault: Vault, folder_id: FolderId, uidnext: int, highestmodseq: int) -> None:
    with vault.transaction():
        vault.execute(
            "UPDATE folders SET uidnext = ?, highestmodseq = ? WHERE id = ?",
            (uidnext, highestmodseq, folder_id),
        )


def local_uids(vault: Vault, folder_id: FolderId) -> list[int]:
    return [int(r[0]) for r in vault.execute("SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid", (folder_id,))]


def store_messages(vault: Vault, folder_id: FolderId, records: Sequence[MessageRecord]) -> int:
    """Stores a batch atomically; returns how many were new."""
    stored = 0
    with vault.transaction():
        for record in records:
            stored += _insert_message(vault, folder_id, record)
    return stored


def insert_in_transaction(vault: Vault, folder_id: FolderId, record: MessageRecord) -> int:
    """Stores one message inside a transaction the caller holds; 1 if it is new, 0 if its UID is taken."""
    return _insert_message(vault, folder_id, record)


def _insert_message(vault: Vault, folder_id: FolderId, r: MessageRecord) -> int:
    flags = " ".join(r.flags)
    lowered = {f.lower() for f in r.flags}
    cursor = vault.execute(
        "INSERT OR IGNORE INTO messages (folder_id, uid, modseq, flags, seen, flagged, size, internal_date, date, "
        "message_id, subject, sender, recipients, snippet, has_attachments, is_encrypted, is_signed, problems) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            folder_id, r.uid, r.modseq, flags, "\\seen" in lowered, "\\flagged" in lowered, r.size,
            r.internal_date, r.date, r.message_id, r.subject, r.sender, r.recipients, r.snippet,
            bool(r.attachments), r.is_encrypted, r.is_signed, r.problems,
        ),
    )  # fmt: skip
    if cursor.rowcount == 0:
        return 0
    row_id = cursor.lastrowid
    vault.execute("INSERT INTO message_raw (message_id, raw) VALUES (?, ?)", (row_id, zlib.compress(r.raw, 1)))
    vault.executemany(
        "INSERT INTO attachments (message_id, part, filename, content_type, size) VALUES (?,?,?,?,?)",
        [(row_id, a.part, a.filename, a.content_type, a.size) for a in r.attachments],
    )
    vault.execute(
        "INSERT INTO messages_fts (rowid, subject, sender, recipients, body, attachments) VALUES (?,?,?,?,?,?)",
        (row_id, r.subject, r.sender, r.recipients, r.body_text, " ".join(a.filename for a in r.attachments)),
    )
    return 1


def apply_flags(vault: Vault, folder_id: FolderId, updates: Iterable[tuple[int, tuple[str, ...], int]]) -> int:
    """Writes changed flags; returns how many messages actually changed."""
    changed = 0
    with vault.transaction():
        for uid, flags, modseq in updates:
            lowered = {f.lower() for f in flags}
            cursor = vault.execute(
                "UPDATE messages SET flags = ?, seen = ?, flagged = ?, modseq = max(modseq, ?) "
                "WHERE folder_id = ? AND uid = ? AND flags != ?",
                (" ".join(flags), "\\seen" in lowered, "\\flagged" in lowered, modseq, folder_id, uid,
                 " ".join(flags)),
            )  # fmt: skip
            changed += max(cursor.rowcount, 0)
    return changed


def delete_uids(vault: Vault, folder_id: FolderId, uids: Iterable[int]) -> int:
    deleted = 0
    with vault.transaction():
        for uid in uids:
            cursor = vault.execute("DELETE FROM messages WHERE folder_id = ? AND uid = ?", (folder_id, uid))
            deleted += max(cursor.rowcount, 0)
    return deleted


def raw_by_uid(vault: Vault, folder_id: FolderId, uid: int) -> bytes | None:
    row = vault.execute(
        "SELECT r.raw FROM message_raw r JOIN messages m ON m.id = r.message_id WHERE m.folder_id = ? AND m.uid = ?",
        (folder_id, uid),
    ).fetchone()
    return None if row is None else zlib.decompress(row[0])


def reindex(vault: Vault, folder_id: FolderId, uid: int, *, subject: str, body: str, attachments: str) -> None:
    """Replaces what the index and the list know of a message with its decrypted content (RFC 9788: the
    protected subject instead of the outer "[...]"). The vault is the only place this text is written."""
    with vault.transaction():
        row = vault.execute(
            "SELECT id, sender, recipients FROM messages WHERE folder_id = ? AND uid = ?", (folder_id, uid)
        ).fetchone()
        if row is None:
            return
        message_id, sender, recipients = row
        snippet = " ".join(body[:400].split())[:200]
        vault.execute("UPDATE messages SET subject = ?, snippet = ? WHERE id = ?", (subject, snippet, message_id))
        vault.execute("DELETE FROM messages_fts WHERE rowid = ?", (message_id,))
        vault.execute(
            "INSERT INTO messages_fts (rowid, subject, sender, recipients, body, attachments) VALUES (?,?,?,?,?,?)",
            (message_id, subject, sender, recipients, body[:1_000_000], attachments),
        )


def message_count(vault: Vault) -> int:
    return int(vault.scalar("SELECT count(*) FROM messages"))


def folder_stats(vault: Vault) -> list[FolderStats]:
    rows = vault.execute(
        "SELECT a.name, f.display_name, count(m.id), coalesce(sum(m.seen = 0), 0) "
        "FROM folders f JOIN accounts a ON a.id = f.account_id LEFT JOIN messages m ON m.folder_id = f.id "
        "GROUP BY f.id ORDER BY a.name, f.display_name"
    ).fetchall()
    return [FolderStats(str(a), str(f), int(n), int(u)) for a, f, n, u in rows]


def raw_message(vault: Vault, account: str, folder: str, uid: int) -> bytes:
    row = vault.execute(
        "SELECT r.raw FROM message_raw r JOIN messages m ON m.id = r.message_id JOIN folders f ON f.id = m.folder_id "
        "JOIN accounts a ON a.id = f.account_id WHERE a.name = ? AND f.display_name = ? AND m.uid = ?",
        (account, folder, uid),
    ).fetchone()
    if row is None:
        raise StoreError(f"No message with UID {uid} in folder {folder!r} of account {account!r}.")
    return zlib.decompress(row[0])
