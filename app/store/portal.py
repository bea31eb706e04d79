"""Portal messages the sender follows (status, revoke, replies)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.store.vault import Vault


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

    def __repr__(self) -> str:  # the token and the key are secrets
        return f"PortalRecord({self.portal_id}, {self.state})"


def save(vault: Vault, record: PortalRecord, now: datetime) -> None:
    with vault.transaction():
        vault.execute(
            "INSERT INTO portal_messages (portal_id, send_id, notice_message_id, recipient, sender_token, reply_key, "
            "expires_at, created_at, state) VALUES (?,?,?,?,?,?,?,?,?)",
            (record.portal_id, record.send_id, record.notice_message_id, record.recipient, record.sender_token,
             record.reply_key, record.expires_at.isoformat(), now.isoformat(), record.state),
        )  # fmt: skip


def by_notice(vault: Vault, notice_message_id: str) -> PortalRecord | None:
    rows = _select(vault, "WHERE notice_message_id = ?", (notice_message_id,))
    return rows[0] if rows else None


def by_id(vault: Vault, portal_id: str) -> PortalRecord | None:
    rows = _select(vault, "WHERE portal_id = ?", (portal_id,))
    return rows[0] if rows else None


def all_records(vault: Vault) -> list[PortalRecord]:
    return _select(vault, "ORDER BY created_at", ())


def set_state(vault: Vault, portal_id: str, state: str) -> None:
    with vault.transaction():
        vault.execute("UPDATE portal_messages SET state = ? WHERE portal_id = ?", (state, portal_id))


def _select(vault: Vault, clause: str, params: tuple[object, ...]) -> list[PortalRecord]:
    rows = vault.execute(
        "SELECT portal_id, send_id, notice_message_id, recipient, sender_token, reply_key, expires_at, state "
        "FROM portal_messages " + clause,
        params,
    ).fetchall()
    return [PortalRecord(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), datetime.fromisoformat(r[6]), r[7]) for r in rows]
