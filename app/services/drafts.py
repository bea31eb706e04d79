"""Drafts: what the composer autosaves, kept encrypted in the vault (DESIGN.md §3, issue 5).

Rules:
- Attachments the user picked as files are read when the draft is saved, on a worker thread, and their bytes
  go into the vault; from then on the draft no longer needs the file. Nothing is written outside the vault.
- A draft is deleted once its message was handed to the outbox (send.py queues before it submits), so a sent
  message leaves no draft behind and an unsent one keeps its draft.
"""

from __future__ import annotations

import mimetypes
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.core.clock import utc_now
from app.core.errors import UsageError
from app.mime.compose import OutgoingAttachment
from app.services.engine import Engine
from app.services.profile import Session
from app.store import drafts as store
from app.store.drafts import DraftAttachment, DraftSummary, StoredDraft

AttachmentSource = Path | OutgoingAttachment


@dataclass(frozen=True, slots=True)
class DraftContent:
    """The composer's state at one moment; attachments are files not read yet, or bytes already in memory."""

    draft_id: str
    to: tuple[str, ...]
    subject: str
    body: str
    escalate: bool
    attachments: tuple[AttachmentSource, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    reply_to_encrypted: bool = False
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    body_html: str | None = None  # rich text, already cleaned by the composer; `body` is its plain text

    def __repr__(self) -> str:  # never print the content
        return f"DraftContent({self.draft_id})"

    @property
    def is_empty(self) -> bool:
        return not (self.to or self.cc or self.bcc or self.subject.strip() or self.body.strip() or self.attachments)


def new_draft_id() -> str:
    return secrets.token_hex(8)


def read_attachments(items: tuple[AttachmentSource, ...]) -> tuple[OutgoingAttachment, ...]:
    """The bytes of every attachment; files are read here (call it off the GUI thread)."""
    found = []
    for item in items:
        if isinstance(item, OutgoingAttachment):
            found.append(item)
            continue
        try:
            data = item.read_bytes()
        except OSError as exc:
            raise UsageError(f"Cannot read the attachment {item.name}: {exc.strerror}") from exc
        content_type = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        found.append(OutgoingAttachment(item.name, content_type, data))
    return tuple(found)


def stored(content: DraftContent, attachments: tuple[OutgoingAttachment, ...]) -> StoredDraft:
    return StoredDraft(
        draft_id=content.draft_id, to=content.to, cc=content.cc, bcc=content.bcc, subject=content.subject,
        body=content.body, escalate=content.escalate, in_reply_to=content.in_reply_to, references=content.references,
        reply_to_encrypted=content.reply_to_encrypted, body_html=content.body_html,
        attachments=tuple(DraftAttachment(a.filename, a.content_type, a.data) for a in attachments),
    )  # fmt: skip


def outgoing(draft: StoredDraft) -> tuple[OutgoingAttachment, ...]:
    return tuple(OutgoingAttachment(a.filename, a.content_type, a.data) for a in draft.attachments)


async def save_draft(session: Session, engine: Engine, content: DraftContent) -> StoredDraft:
    """Saves the draft whole (attachments read first); returns what was stored.

    One step on the vault's thread, files read included: steps there run in the order they were asked for, so
    a save asked for before the profile closes (closing Salus, a lock) is written before the vault closes.
    """
    return await engine.db(_save, session, content)


def _save(session: Session, content: DraftContent) -> StoredDraft:
    draft = stored(content, read_attachments(content.attachments))
    store.save(session.vault, draft, utc_now())
    return draft


async def load_draft(session: Session, engine: Engine, draft_id: str) -> StoredDraft:
    draft = await engine.db(store.load, session.vault, draft_id)
    if draft is None:
        raise UsageError("That draft no longer exists.")
    return draft


async def delete_draft(session: Session, engine: Engine, draft_id: str) -> bool:
    return await engine.db(store.delete, session.vault, draft_id)


def list_drafts(session: Session) -> list[DraftSummary]:
    return store.listing(session.vault)


def remove_draft(session: Session, draft_id: str) -> None:
    if not store.delete(session.vault, draft_id):
        raise UsageError(f"No draft {draft_id!r} in this profile.")
