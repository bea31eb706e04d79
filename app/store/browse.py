"""Typed queries behind the main window: folder counts, pages of message summaries, flag and removal writes.

Rules:
- A page is one query, never one query per row. Pages are read by keyset (the sort value and row id of the
  last row already shown), so page 500 of a 100,000-message folder costs what page 1 costs: every order is
  backed by an index whose key is exactly the sort expression (`messages_by_folder_date`, and migration 9's
  `messages_by_folder_sender` / `messages_by_folder_subject` with their NOCASE collation).
- Every order ends with the row id, so equal sort values still give one total order and no row is shown
  twice or skipped between pages.
- Writes run in one transaction each and report exactly the rows they changed, so the window can refresh
  only those.
- SQL text is assembled from constants only (the `_ORDERS` table); every value is a bound parameter.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from app.core.errors import StoreError
from app.core.models import AccountId, FolderId, MessageRowId
from app.core.query import SearchQuery
from app.store.search import NEWEST_FIRST, search_filter
from app.store.vault import Vault


class SortField(StrEnum):
    DATE = "date"
    SENDER = "sender"
    SUBJECT = "subject"


@dataclass(frozen=True, slots=True)
class Order:
    field: SortField = SortField.DATE
    descending: bool = True


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where the previous page ended: the sort value and row id of its last row."""

    value: str
    row_id: int


@dataclass(frozen=True, slots=True)
class MessageSummary:
    """One row of the message list. `sender` is "Name <addr>" (or "addr"), as sync stored it."""

    id: MessageRowId
    folder_id: FolderId
    uid: int
    date: datetime | None
    sender: str
    subject: str
    seen: bool
    flagged: bool
    has_attachments: bool
    is_encrypted: bool
    is_signed: bool
    size: int


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[MessageSummary, ...]
    cursor: PageCursor | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class FolderCount:
    account_id: AccountId
    account: str
    folder_id: FolderId
    server_name: str
    display_name: str
    delimiter: str
    total: int
    unread: int


@dataclass(frozen=True, slots=True)
class MessageLocation:
    """Where a message lives on its server: what an IMAP write-back needs."""

    id: MessageRowId
    account_id: AccountId
    account: str
    folder_id: FolderId
    folder: str  # server name
    folder_display: str
    uid: int
    flags: tuple[str, ...]


_SUMMARY_COLUMNS = (
    "m.id, m.folder_id, m.uid, m.date, m.sender, m.subject, m.seen, m.flagged, m.has_attachments, "
    "m.is_encrypted, m.is_signed, m.size"
)
# The sort expression of each field. NOCASE folds ASCII only, which is what SQLite can do without an ICU build;
# it keeps "bob" next to "Bob", the common case in sender names.
_ORDERS = {
    SortField.DATE: "m.date",
    SortField.SENDER: "m.sender COLLATE NOCASE",
    SortField.SUBJECT: "m.subject COLLATE NOCASE",
}
_VALUE_INDEX = {SortField.DATE: 3, SortField.SENDER: 4, SortField.SUBJECT: 5}


def folder_counts(vault: Vault) -> list[FolderCount]:
    # Two grouped scans instead of correlated subqueries: the totals come from the (folder_id, uid) index
    # alone; only the unread count has to read the table.
    totals = dict(vault.execute("SELECT folder_id, count(*) FROM messages GROUP BY folder_id").fetchall())
    unread = dict(
        vault.execute("SELECT folder_id, count(*) FROM messages WHERE seen = 0 GROUP BY folder_id").fetchall()
    )
    rows = vault.execute(
        "SELECT a.id, a.name, f.id, f.server_name, f.display_name, f.delimiter "
        "FROM folders f JOIN accounts a ON a.id = f.account_id ORDER BY a.name, f.server_name"
    ).fetchall()
    return [
        FolderCount(AccountId(aid), str(an), FolderId(fid), str(sn), str(dn), str(dl), int(totals.get(fid, 0)),
                    int(unread.get(fid, 0)))
        for aid, an, fid, sn, dn, dl in rows
    ]  # fmt: skip


def page(vault: Vault, folder_id: FolderId, order: Order, after: PageCursor | None, limit: int) -> Page:
    expression = _ORDERS[order.field]
    direction, compare = ("DESC", "<") if order.descending else ("ASC", ">")
    where = "m.folder_id = ?"
    params: list[object] = [folder_id]
    if after is not None:
        # Written as a range on the sort value plus a tie-break, so SQLite can seek in the date index
        # instead of filtering every entry before the cursor.
        where += f" AND {expression} {compare}= ? AND ({expression} {compare} ? OR m.id {compare} ?)"
        params += [after.value, after.value, after.row_id]
    sql = (
        f"SELECT {_SUMMARY_COLUMNS} FROM messages m WHERE {where} "  # noqa: S608 - constants only
        f"ORDER BY {expression} {direction}, m.id {direction} LIMIT ?"
    )
    rows = vault.execute(sql, (*params, limit)).fetchall()
    cursor = None
    if len(rows) == limit:
        last = rows[-1]
        cursor = PageCursor(str(last[_VALUE_INDEX[order.field]]), int(last[0]))
    return Page(tuple(_summary(row) for row in rows), cursor)


def summaries(vault: Vault, ids: Sequence[MessageRowId]) -> list[MessageSummary]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = vault.execute(
        f"SELECT {_SUMMARY_COLUMNS} FROM messages m WHERE m.id IN ({marks}) ORDER BY m.id",  # noqa: S608
        tuple(ids),
    ).fetchall()
    return [_summary(row) for row in rows]


def search(vault: Vault, query: SearchQuery, limit: int) -> list[MessageSummary]:
    """Up to `limit` matching messages from every folder, newest first (see `app.store.search` for the plan)."""
    chosen = search_filter(vault, query, limit)
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM {chosen.source} WHERE {chosen.where}{NEWEST_FIRST}"  # noqa: S608
    return [_summary(row) for row in vault.execute(sql, (*chosen.params, limit)).fetchall()]


def locations(vault: Vault, ids: Sequence[MessageRowId]) -> list[MessageLocation]:
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = vault.execute(
        "SELECT m.id, a.id, a.name, f.id, f.server_name, f.display_name, m.uid, m.flags FROM messages m "  # noqa: S608
        f"JOIN folders f ON f.id = m.folder_id JOIN accounts a ON a.id = f.account_id WHERE m.id IN ({marks}) "
        "ORDER BY a.id, f.id, m.uid",
        tuple(ids),
    ).fetchall()
    return [
        MessageLocation(MessageRowId(i), AccountId(aid), str(an), FolderId(fid), str(sn), str(dn), int(uid),
                        tuple(str(flags).split()))
        for i, aid, an, fid, sn, dn, uid, flags in rows
    ]  # fmt: skip


def raw_message(vault: Vault, message_id: MessageRowId) -> bytes:
    row = vault.execute("SELECT raw FROM message_raw WHERE message_id = ?", (message_id,)).fetchone()
    if row is None:
        raise StoreError("This message is no longer in the vault; it may have been deleted by a sync.")
    return zlib.decompress(row[0])


def set_flag(vault: Vault, ids: Sequence[MessageRowId], flag: str, present: bool) -> list[MessageSummary]:
    """Adds or removes one IMAP flag on the given messages; returns the summaries of those that changed."""
    changed: list[MessageRowId] = []
    with vault.transaction():
        for location in locations(vault, ids):
            flags = _with_flag(location.flags, flag, present)
            if flags == location.flags:
                continue
            lowered = {f.lower() for f in flags}
            vault.execute(
                "UPDATE messages SET flags = ?, seen = ?, flagged = ? WHERE id = ?",
                (" ".join(flags), "\\seen" in lowered, "\\flagged" in lowered, location.id),
            )
            changed.append(location.id)
    return summaries(vault, changed)


def _with_flag(flags: tuple[str, ...], flag: str, present: bool) -> tuple[str, ...]:
    # IMAP flags are case-insensitive (RFC 9051 §2.3.2); keep the server's spelling of the others.
    others = tuple(f for f in flags if f.lower() != flag.lower())
    return (*others, flag) if present else others


def remove(vault: Vault, ids: Sequence[MessageRowId]) -> int:
    """Forgets messages that were moved or deleted on the server; the next sync of their new folder fetches
    them there."""
    removed = 0
    with vault.transaction():
        for message_id in ids:
            removed += max(vault.execute("DELETE FROM messages WHERE id = ?", (message_id,)).rowcount, 0)
    return removed


def relocate(vault: Vault, ids: Sequence[MessageRowId], target: FolderId) -> int:
    """Moves messages to another folder of the vault, for accounts that have no server to ask for UIDs: each
    gets the next UID of the target folder."""
    with vault.transaction():
        first = int(vault.scalar("SELECT coalesce(max(uid), 0) + 1 FROM messages WHERE folder_id = ?", (target,)))
        for offset, message_id in enumerate(ids):
            vault.execute(
                "UPDATE messages SET folder_id = ?, uid = ? WHERE id = ?", (target, first + offset, message_id)
            )
    return len(ids)


def _summary(row: Sequence[object]) -> MessageSummary:
    mid, fid, uid, date, sender, subject, seen, flagged, attach, enc, sig, size = row
    return MessageSummary(
        id=MessageRowId(int(str(mid))),
        folder_id=FolderId(int(str(fid))),
        uid=int(str(uid)),
        date=_date(str(date)),
        sender=str(sender),
        subject=str(subject),
        seen=bool(seen),
        flagged=bool(flagged),
        has_attachments=bool(attach),
        is_encrypted=bool(enc),
        is_signed=bool(sig),
        size=int(str(size)),
    )


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
