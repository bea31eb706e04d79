"""Drafts in the vault: the composer's autosaved state, attachments included (DESIGN.md §3).

Rules:
- A draft is saved whole in one transaction (the row and all its attachments), so a crash leaves the previous
  save or the new one, never a draft with half its attachments.
- Attachment bytes live only here, in the encrypted vault; nothing is ever written to a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.store.vault import Vault


@dataclass(frozen=True, slots=True)
class DraftAttachment:
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:  # the bytes are message content
        return f"DraftAttachment({self.content_type}, {len(self.data)} bytes)"


@dataclass(frozen=True, slots=True)
class StoredDraft:
    draft_id: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    body: str
    escalate: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    reply_to_encrypted: bool
    attachments: tuple[DraftAttachment, ...]
    updated_at: datetime | None = None
    body_html: str | None = None  # a rich text draft's cleaned HTML; `body` is its plain text

    def __repr__(self) -> str:  # subjects, bodies and addresses may concern patients
        return f"StoredDraft({self.draft_id}, {len(self.attachments)} attachment(s))"


@dataclass(frozen=True, slots=True)
class DraftSummary:
    """One line of the drafts list; the subject is shown to the person who wrote it, inside the app only."""

    draft_id: str
    subject: str
    recipients: int
    attachments: int
    updated_at: datetime


def save(vault: Vault, draft: StoredDraft, now: datetime) -> None:
    """Creates or replaces the draft `draft.draft_id`, attachments included, atomically."""
    thread = {"in_reply_to": draft.in_reply_to, "references": list(draft.references),
              "reply_to_encrypted": draft.reply_to_encrypted}  # fmt: skip
    with vault.transaction():
        vault.execute(
            "INSERT INTO drafts (draft_id, to_addrs, cc_addrs, bcc_addrs, subject, body, escalate, thread, created_at,"
            " updated_at, body_html) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (draft_id) DO UPDATE SET"
            " to_addrs = excluded.to_addrs,"
            " cc_addrs = excluded.cc_addrs, bcc_addrs = excluded.bcc_addrs, subject = excluded.subject,"
            " body = excluded.body, escalate = excluded.escalate, thread = excluded.thread,"
            " updated_at = excluded.updated_at, body_html = excluded.body_html",
            (draft.draft_id, json.dumps(list(draft.to)), json.dumps(list(draft.cc)), json.dumps(list(draft.bcc)),
             draft.subject, draft.body, draft.escalate, json.dumps(thread), now.isoformat(), now.isoformat(),
             draft.body_html),
        )  # fmt: skip
        vault.execute("DELETE FROM draft_attachments WHERE draft_id = ?", (draft.draft_id,))
        vault.executemany(
            "INSERT INTO draft_attachments (draft_id, position, filename, content_type, data) VALUES (?,?,?,?,?)",
            [(draft.draft_id, i, a.filename, a.content_type, a.data) for i, a in enumerate(draft.attachments)],
        )


def load(vault: Vault, draft_id: str) -> StoredDraft | None:
    row = vault.execute(
        "SELECT draft_id, to_addrs, cc_addrs, bcc_addrs, subject, body, escalate, thread, updated_at, body_html "
        "FROM drafts "
        "WHERE draft_id = ?",
        (draft_id,),
    ).fetchone()
    if row is None:
        return None
    attachments = vault.execute(
        "SELECT filename, content_type, data FROM draft_attachments WHERE draft_id = ? ORDER BY position", (draft_id,)
    ).fetchall()
    return _draft(row, tuple(DraftAttachment(a[0], a[1], bytes(a[2])) for a in attachments))


def listing(vault: Vault) -> list[DraftSummary]:
    rows = vault.execute(
        "SELECT d.draft_id, d.subject, d.to_addrs, d.cc_addrs, d.bcc_addrs, d.updated_at, "
        "(SELECT count(*) FROM draft_attachments a WHERE a.draft_id = d.draft_id) FROM drafts d "
        "ORDER BY d.updated_at DESC"
    ).fetchall()
    return [
        DraftSummary(r[0], r[1], sum(len(json.loads(r[i])) for i in (2, 3, 4)), int(r[6]), datetime.fromisoformat(r[5]))
        for r in rows
    ]


def delete(vault: Vault, draft_id: str) -> bool:
    """Removes the draft and its attachments; False when there was none."""
    with vault.transaction():
        return bool(vault.execute("DELETE FROM drafts WHERE draft_id = ?", (draft_id,)).rowcount)


def _draft(r: Sequence[Any], attachments: tuple[DraftAttachment, ...]) -> StoredDraft:
    thread = json.loads(r[7])
    return StoredDraft(
        draft_id=r[0], to=tuple(json.loads(r[1])), cc=tuple(json.loads(r[2])), bcc=tuple(json.loads(r[3])),
        subject=r[4], body=r[5], escalate=bool(r[6]), in_reply_to=thread.get("in_reply_to"),
        references=tuple(thread.get("references", ())), reply_to_encrypted=bool(thread.get("reply_to_encrypted")),
        attachments=attachments, updated_at=datetime.fromisoformat(r[8]), body_html=r[9],
    )  # fmt: skip
