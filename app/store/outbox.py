"""The outbox table: typed reads and state changes, each its own transaction (so each is durable on return)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.models import AccountId
from app.store.vault import Vault


@dataclass(frozen=True, slots=True)
class OutgoingRow:
    id: int
    message_id: str
    send_id: str
    account_id: AccountId
    method: str
    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes
    sent_copy: bytes
    requiretls: bool
    state: str
    sent_copy_state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class NewOutgoing:
    message_id: str
    send_id: str
    account_id: AccountId
    method: str
    mail_from: str
    recipients: tuple[str, ...]
    raw: bytes
    sent_copy: bytes  # what goes to the Sent folder (encrypted to the sender where the message is encrypted)
    requiretls: bool


_COLUMNS = (
    "id, message_id, send_id, account_id, method, mail_from, recipients, raw, sent_copy, requiretls, state, "
    "sent_copy_state, attempts, next_attempt_at, last_error"
)


def enqueue(vault: Vault, items: Sequence[NewOutgoing], now: datetime) -> None:
    """Queues every message of one send atomically: all of them are durable, or none."""
    with vault.transaction():
        for item in items:
            vault.execute(
                "INSERT INTO outbox (message_id, send_id, account_id, method, mail_from, recipients, raw, sent_copy, "
                "requiretls, sent_copy_state, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (item.message_id, item.send_id, item.account_id, item.method, item.mail_from,
                 json.dumps(list(item.recipients)), item.raw, item.sent_copy, item.requiretls,
                 "pending" if item.sent_copy else "none", now.isoformat(), now.isoformat()),
            )  # fmt: skip


def pending(vault: Vault, now: datetime, *, send_id: str | None = None) -> list[OutgoingRow]:
    """Rows with work left (submission or the Sent copy) whose retry time has come, oldest first."""
    sql = (
        f"SELECT {_COLUMNS} FROM outbox WHERE (state IN ('queued', 'submitting') "  # noqa: S608 - constant columns
        "OR (state = 'submitted' AND sent_copy_state = 'pending')) AND next_attempt_at <= ?"
    )
    params: list[object] = [now.isoformat()]
    if send_id is not None:
        sql += " AND send_id = ?"
        params.append(send_id)
    return [_row(r) for r in vault.execute(sql + " ORDER BY id", params).fetchall()]


def all_rows(vault: Vault) -> list[OutgoingRow]:
    return [_row(r) for r in vault.execute(f"SELECT {_COLUMNS} FROM outbox ORDER BY id").fetchall()]  # noqa: S608


def find(vault: Vault, key: str) -> OutgoingRow | None:
    """One row by its number (as `salus outbox list` shows it) or its Message-ID."""
    clause, param = ("id = ?", int(key)) if key.isdigit() else ("message_id = ?", key.strip("<>"))
    row = vault.execute(f"SELECT {_COLUMNS} FROM outbox WHERE {clause}", (param,)).fetchone()  # noqa: S608
    return None if row is None else _row(row)


def resent_as(vault: Vault, row_id: int) -> str:
    """The send that replaced this failed row by a stronger method ("" while it has not been resent)."""
    return str(vault.scalar("SELECT resent_as FROM outbox WHERE id = ?", (row_id,)) or "")


def set_resent_in_transaction(vault: Vault, row_id: int, send_id: str) -> None:
    """Records the send that replaced a failed row; the caller's transaction also holds the audit entry."""
    vault.execute("UPDATE outbox SET resent_as = ? WHERE id = ?", (send_id, row_id))


def mark_submitting(vault: Vault, row_id: int) -> None:
    _update(vault, row_id, "state = 'submitting', attempts = attempts + 1")


def mark_submitted(vault: Vault, row_id: int, now: datetime) -> None:
    _update(vault, row_id, "state = 'submitted', last_error = '', submitted_at = ?", now.isoformat())


def mark_sent_copy_stored(vault: Vault, row_id: int) -> None:
    _update(vault, row_id, "sent_copy_state = 'stored'")


def mark_failed(vault: Vault, row_id: int, error: str) -> None:
    _update(vault, row_id, "state = 'failed', last_error = ?", error)


def postpone(vault: Vault, row_id: int, error: str, until: datetime, *, back_to_queue: bool) -> None:
    """A temporary failure: try again at `until`. A submission that never reached DATA goes back to queued."""
    state = ", state = 'queued'" if back_to_queue else ""
    _update(vault, row_id, f"last_error = ?, next_attempt_at = ?{state}", error, until.isoformat())


def _update(vault: Vault, row_id: int, assignments: str, *params: object) -> None:
    with vault.transaction():
        vault.execute(f"UPDATE outbox SET {assignments} WHERE id = ?", (*params, row_id))  # noqa: S608 - constants


def _row(r: Sequence[Any]) -> OutgoingRow:
    return OutgoingRow(
        id=int(r[0]), message_id=r[1], send_id=r[2], account_id=AccountId(int(r[3])), method=r[4], mail_from=r[5],
        recipients=tuple(json.loads(r[6])), raw=bytes(r[7]), sent_copy=bytes(r[8]), requiretls=bool(r[9]),
        state=r[10], sent_copy_state=r[11], attempts=int(r[12]), next_attempt_at=datetime.fromisoformat(r[13]),
        last_error=r[14],
    )  # fmt: skip
