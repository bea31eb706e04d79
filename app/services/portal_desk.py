"""The sender's portal actions on the engine thread: the list's status marks, revoke, and re-issue.

Rules:
- Vault work runs on the engine's vault thread, portal calls on worker threads (app.portal.client), so the
  window and the command line share one implementation.
- Only a message the portal reports as revoked or expired can be re-issued, and only once: its successor is a
  fresh upload (fresh K, K1, K2, reply key and portal id) of the same MIME message, kept in the vault when it was
  first sent, with a new notice queued in the durable outbox. The old row points at its successor.
- Re-issue order: upload, then the new record (and the old one marked superseded) in one transaction, then the
  notice in the outbox. A crash between the last two leaves a new message nobody was told about: it shows as
  "uploaded" and can itself be revoked and re-issued, since its content is kept too. Nothing is ever lost.
- Revoke and re-issue are audited; neither audit entry names the recipient's address or the content.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError, UsageError
from app.core.models import MessageRowId
from app.core.settings import Settings
from app.mime.addresses import Address
from app.policy import Method
from app.services import portal
from app.services.engine import Engine
from app.services.mailbox import accounts_to_sync
from app.services.outbox import Delivery, work_outbox
from app.services.portal_replies import FollowUp, derive_state, follow_up
from app.services.profile import Session
from app.store import outbox
from app.store import portal as store
from app.store.outbox import NewOutgoing
from app.store.portal import PortalMark, PortalRecord, PortalState

_REISSUABLE = frozenset({PortalState.REVOKED, PortalState.EXPIRED})


@dataclass(frozen=True, slots=True)
class Reissued:
    old: str  # portal id of the revoked or expired message
    new: str  # portal id of its successor
    notice: Delivery  # how the new notice fared in the outbox


async def revoke(session: Session, settings: Settings, engine: Engine, portal_id: str) -> PortalRecord:
    record = await _record(session, engine, portal_id)
    await portal.client(settings).revoke(record.portal_id, record.sender_token)
    await engine.db(store.set_state, session.vault, record.portal_id, PortalState.REVOKED.value, utc_now())
    await engine.db(session.audit.record, AuditEvent.PORTAL_REVOKED, utc_now(), target=record.portal_id)
    return record


async def reissue(
    session: Session, settings: Settings, engine: Engine, portal_id: str, now: datetime | None = None
) -> Reissued:
    moment = now or utc_now()
    record = await _record(session, engine, portal_id)
    if record.superseded_by:
        raise AppError(f"Portal message {portal_id} was already re-issued as {record.superseded_by}.")
    state = await _current_state(settings, record)
    if state not in _REISSUABLE:
        raise AppError(
            f"Portal message {portal_id} is still {state.value}: only a revoked or expired message can be re-issued "
            "(revoke it first)."
        )
    content = await engine.db(store.content, session.vault, portal_id)
    if not content:
        raise AppError(f"Salus did not keep the content of portal message {portal_id}, so it cannot re-issue it.")
    account_id = await engine.db(store.account_of, session.vault, portal_id)
    account = next((a for a in await engine.db(accounts_to_sync, session, None) if a.id == account_id), None)
    if account is None:
        raise AppError("The account that sent this portal message is no longer in this profile.")
    send_id = secrets.token_hex(8)
    sender = Address("", account.sender_address)
    escalated = await portal.escalate(
        session, settings, content, record.recipient, sender, send_id, moment, record.content_message_id
    )
    new = escalated.record
    await engine.db(store.supersede, session.vault, record.portal_id, new, utc_now(), content)
    notice = NewOutgoing(
        message_id=new.notice_message_id, send_id=send_id, account_id=account.id, method=Method.PORTAL.value,
        mail_from=sender.addr, recipients=(record.recipient,), raw=escalated.notice, sent_copy=b"", requiretls=False,
    )  # fmt: skip  # no new Sent copy: the one of the first issue carries the same content and Message-ID
    await engine.db(outbox.enqueue, session.vault, [notice], utc_now())
    await engine.db(
        session.audit.record, AuditEvent.PORTAL_REISSUED, utc_now(), target=record.portal_id,
        detail={"new": new.portal_id, "previous_state": state.value},
    )  # fmt: skip
    (delivery,) = await work_outbox(session, engine, send_id=send_id, settings=settings)
    return Reissued(record.portal_id, new.portal_id, delivery)


async def marks(session: Session, engine: Engine, ids: Sequence[MessageRowId]) -> dict[MessageRowId, PortalMark]:
    """The portal state shown on each listed message that is the Sent copy of a portal message."""
    return await engine.db(store.marks_for_rows, session.vault, list(ids))


async def refresh(session: Session, settings: Settings, engine: Engine) -> FollowUp | None:
    """States and replies brought up to date; None when no portal is configured."""
    if not portal.portal_configured(settings):
        return None
    return await follow_up(session, settings, engine)


def run_reissue(session: Session, settings: Settings, portal_id: str) -> Reissued:
    """`reissue` for the command line: its own engine threads and event loop."""
    engine = Engine(parse_in_process=False)
    try:
        return asyncio.run(reissue(session, settings, engine, portal_id))
    finally:
        engine.shutdown()


def run_revoke(session: Session, settings: Settings, portal_id: str) -> PortalRecord:
    """`revoke` for the command line."""
    engine = Engine(parse_in_process=False)
    try:
        return asyncio.run(revoke(session, settings, engine, portal_id))
    finally:
        engine.shutdown()


async def _record(session: Session, engine: Engine, portal_id: str) -> PortalRecord:
    record = await engine.db(store.by_id, session.vault, portal_id)
    if record is None:
        raise UsageError(f"There is no portal message {portal_id!r} in this profile.")
    return record


async def _current_state(settings: Settings, record: PortalRecord) -> PortalState:
    status = await portal.client(settings).status(record.portal_id, record.sender_token)
    return derive_state(status)
