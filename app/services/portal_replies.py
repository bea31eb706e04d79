"""Following portal messages from the client: their state, and the replies that come back (DESIGN.md §6).

Rules:
- Replies are decrypted with the reply key held in the vault (app.crypto.portal_keys.open_reply) and stored,
  in the clear, only inside the vault: as messages of the account's vault-only "Portal replies" folder, which
  sync never sends to or drops for the IMAP server. There they are indexed for search and open in the reader
  and with `salus show --folder "Portal replies"` like any message. Storing them on the IMAP server instead
  (e.g. in the Inbox) would hand the plaintext to a server the portal was chosen to avoid trusting.
- A reply is stored once: its number is recorded in the same transaction that stores it.
- A reply that fails to decrypt (altered, or not sealed to this key) is reported and audited and nothing of it
  is stored; it does not stop the other replies or messages. It is tried again at the next fetch.
- The portal verified the replier's address before accepting the reply; a reply whose From names someone else
  is kept with a problem note that says so, so the reader never shows the claim as fact.
- One unreachable or refusing message costs that message's update, never the others'.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError
from app.core.models import FolderId
from app.core.settings import Settings
from app.crypto.portal_keys import open_reply
from app.mail.imap.session import FetchedMessage
from app.mime.parse import parse_message
from app.portal.client import PortalClient, PortalStatus, ReplyRef
from app.portal.protocol import EventKind, MessageState
from app.services.engine import Engine
from app.services.portal import client
from app.services.profile import Session
from app.services.sync import build_records
from app.store import portal as store
from app.store.mail import MessageRecord
from app.store.portal import PortalRecord, PortalState

# The portal forgets a message and its replies this long after it expires (docs/portal-protocol.md §4).
PORTAL_RETENTION = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What one pass over the portal messages did."""

    replies: int  # replies newly stored in the vault
    states: dict[str, PortalState]  # portal id -> state as the portal reported it now
    statuses: dict[str, PortalStatus]  # portal id -> the portal's full answer
    problems: dict[str, str]  # portal id (or "id#n" for one reply) -> what went wrong, in a sentence


def derive_state(status: PortalStatus) -> PortalState:
    """The one state the sender sees, from the portal's state and events: the furthest the message got."""
    if status.state is MessageState.REVOKED:
        return PortalState.REVOKED
    if status.state is MessageState.EXPIRED:
        return PortalState.EXPIRED
    if status.replies or status.has(EventKind.REPLIED):
        return PortalState.REPLIED
    if status.has(EventKind.OPENED):
        return PortalState.OPENED
    if status.has(EventKind.NOTICE_DELIVERED):
        return PortalState.DELIVERED
    return PortalState.UPLOADED


async def follow_up(
    session: Session, settings: Settings, engine: Engine, *, fetch: bool = True, now: datetime | None = None
) -> FollowUp:
    """Asks the portal about every message it may still hold, records each state, and (with `fetch`) stores
    the replies not stored yet."""
    moment = now or utc_now()
    portal = client(settings)
    result = FollowUp(0, {}, {}, {})
    stored = 0
    for record in await engine.db(store.all_records, session.vault):
        if record.expires_at + PORTAL_RETENTION < moment:
            continue  # the portal has forgotten it; the last known state stays as it was
        try:
            status = await portal.status(record.portal_id, record.sender_token)
        except AppError as exc:
            result.problems[record.portal_id] = str(exc)
            continue
        state = derive_state(status)
        result.statuses[record.portal_id] = status
        result.states[record.portal_id] = state
        await engine.db(store.set_state, session.vault, record.portal_id, state.value, moment)
        if fetch:
            stored += await _fetch(session, engine, portal, record, status, result.problems)
    return replace(result, replies=stored)


async def _fetch(
    session: Session,
    engine: Engine,
    portal: PortalClient,
    record: PortalRecord,
    status: PortalStatus,
    problems: dict[str, str],
) -> int:
    known = await engine.db(store.fetched_replies, session.vault, record.portal_id)
    waiting = [r for r in status.replies if r.n not in known]
    if not waiting:
        return 0
    account = await engine.db(store.account_of, session.vault, record.portal_id)
    if account is None:
        problems[record.portal_id] = "Replies cannot be stored: the account that sent this message is gone."
        return 0
    folder = await engine.db(store.reply_folder, session.vault, account)
    stored = 0
    for ref in waiting:
        try:
            stored += await _store_one(session, engine, portal, record, ref, folder)
        except AppError as exc:
            problems[f"{record.portal_id}#{ref.n}"] = str(exc)
            await engine.db(
                session.audit.record, AuditEvent.PORTAL_REPLY_FETCHED, utc_now(), target=record.portal_id,
                detail={"n": ref.n, "ok": False, "error": str(exc)},
            )  # fmt: skip
    return stored


async def _store_one(
    session: Session, engine: Engine, portal: PortalClient, record: PortalRecord, ref: ReplyRef, folder: FolderId
) -> int:
    envelope = await portal.fetch_reply(record.portal_id, record.sender_token, ref.n)
    mime = await engine.crypto(open_reply, envelope, record.reply_key)
    message = reply_message(mime, 0, ref.at, record.recipient)  # the vault gives it its UID as it stores it

    now = utc_now()
    new = await engine.db(store.store_reply, session.vault, record.portal_id, ref.n, folder, message, now)
    if new:
        await engine.db(
            session.audit.record, AuditEvent.PORTAL_REPLY_FETCHED, now, target=record.portal_id,
            detail={"n": ref.n, "ok": True, "size": len(mime)},
        )  # fmt: skip
    return int(new)


def reply_message(mime: bytes, uid: int, received: datetime, verified_sender: str) -> MessageRecord:
    """The vault's record of a decrypted reply, parsed like a synced message."""
    fetched = FetchedMessage(uid=uid, flags=(), modseq=0, internal_date=received, size=len(mime), raw=mime)
    (message,) = build_records([fetched])
    claimed = [a.addr.lower() for a in parse_message(mime).sender]
    if claimed != [verified_sender.lower()]:
        note = f"This reply names {message.sender or 'nobody'} as its sender; the portal verified {verified_sender}."
        message = replace(message, problems="\n".join(p for p in (message.problems, note) if p))
    return message


def run_follow_up(session: Session, settings: Settings, *, fetch: bool = True) -> FollowUp:
    """`follow_up` for the command line: its own engine threads and event loop."""
    engine = Engine(parse_in_process=False)
    try:
        return asyncio.run(follow_up(session, settings, engine, fetch=fetch))
    finally:
        engine.shutdown()


def records(session: Session) -> list[PortalRecord]:
    """Every portal message of the profile with its last known state, oldest first."""
    return store.all_records(session.vault)
