"""Working the durable outbox: submit each queued message once, then store its Sent copy once.

Rules (issue: compose and send, "Durable outbox"):
- A message is in the vault, encrypted as it will travel, before any network step (see send.py).
- Submission moves queued -> submitting just before DATA, and -> submitted as soon as the server accepts it.
  A crash before DATA leaves it queued: it is sent later, once. A crash after the server's acceptance was
  recorded leaves it submitted: it is never sent again, only its Sent copy is completed. The one window that
  cannot be closed from the client is between the server's "250" and our commit: such a row is found in
  `submitting`, is sent again with the *same* Message-ID (so receiving clients and the portal can drop the
  duplicate), and the ambiguity is written to the audit log.
- One process works a profile's outbox at a time (an OS lock on `outbox.lock` beside the vault, released by the
  OS even when the holder is killed). Without it, a `salus outbox flush` started while the window is sending
  would find the same row in `submitting` and submit it a second time. A pass that cannot get the lock within
  `OUTBOX_WAIT_SECONDS` leaves its rows as they are and says another process is sending them.
- A temporary failure (4xx, lost connection) is retried with exponential back-off; a permanent one (5xx, for
  example 5.7.30 "REQUIRETLS needed") is marked failed with the server's words, for a resend by a stronger
  method.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import AppError, MailError, TransportSecurityRefused
from app.core.models import Account
from app.core.settings import Settings
from app.mail.imap.session import ImapSession
from app.mail.smtp.submit import Envelope, SubmissionRejected, submit
from app.services import portal
from app.services.engine import Engine
from app.services.mailbox import accounts_to_sync
from app.services.profile import Session
from app.store import contacts, outbox
from app.store import mail as store
from app.store.locks import FileLock
from app.store.outbox import OutgoingRow

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1))
OUTBOX_LOCK_FILE = "outbox.lock"
OUTBOX_WAIT_SECONDS = 10.0  # how long a pass waits for another process's pass before leaving its rows to it
BUSY = "Another Salus process is sending this profile's mail; it will deliver this message."


@dataclass(frozen=True, slots=True)
class Delivery:
    message_id: str
    method: str
    recipients: tuple[str, ...]
    state: str  # submitted, queued (will retry), failed
    sent_copy: str  # stored, pending, none
    error: str


def listing(session: Session) -> list[OutgoingRow]:
    return outbox.all_rows(session.vault)


async def flush(session: Session, settings: Settings | None = None) -> list[Delivery]:
    """Everything waiting, now: `salus outbox flush` is the user's "try again", after a crash or when the
    network is back, so it does not wait out the back-off."""
    engine = Engine(parse_in_process=False)
    try:
        return await work_outbox(session, engine, ignore_backoff=True, settings=settings)
    finally:
        engine.shutdown()


async def work_outbox(
    session: Session,
    engine: Engine,
    *,
    send_id: str | None = None,
    ignore_backoff: bool = False,
    settings: Settings | None = None,
    wait_seconds: float = OUTBOX_WAIT_SECONDS,
) -> list[Delivery]:
    """Processes every row whose time has come (or only those of one send); returns their final states."""
    horizon = datetime.max.replace(tzinfo=UTC) if ignore_backoff else utc_now()
    lock = FileLock(session.profile_dir / OUTBOX_LOCK_FILE)
    if not await _acquire(lock, wait_seconds):
        rows = await engine.db(outbox.pending, session.vault, horizon, send_id=send_id)
        return [_delivery(row, error=BUSY) for row in rows]
    try:
        # Read under the lock: a pass that finished while this one waited has changed the rows.
        rows = await engine.db(outbox.pending, session.vault, horizon, send_id=send_id)
        accounts = {a.id: a for a in accounts_to_sync(session, None)}
        return [await _work_row(session, engine, accounts[row.account_id], row, settings) for row in rows]
    finally:
        lock.release()


async def _acquire(lock: FileLock, wait_seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while not lock.try_acquire():
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _work_row(
    session: Session, engine: Engine, account: Account, row: OutgoingRow, settings: Settings | None
) -> Delivery:
    if row.state in ("queued", "submitting"):
        row = await _submit(session, engine, account, row, settings)
    if row.state == "submitted" and row.sent_copy_state == "pending":
        row = await _store_sent_copy(session, engine, account, row)
    return _delivery(row)


def _delivery(row: OutgoingRow, *, error: str = "") -> Delivery:
    return Delivery(row.message_id, row.method, row.recipients, row.state, row.sent_copy_state, error or row.last_error)


async def _submit(
    session: Session, engine: Engine, account: Account, row: OutgoingRow, settings: Settings | None
) -> OutgoingRow:
    if row.state == "submitting":
        await engine.db(
            session.audit.record, AuditEvent.SENT, utc_now(), target=row.message_id,
            detail={"retry_after_interruption": True, "note": "the previous attempt may have been delivered"},
        )  # fmt: skip
    password = await engine.db(store.account_password, session.vault, account.id)
    envelope = Envelope(row.mail_from, row.recipients, row.requiretls, row.message_id)

    async def before_data() -> None:
        await engine.db(outbox.mark_submitting, session.vault, row.id)

    try:
        await submit(
            account.smtp, account.ca_pem, (account.username, password), envelope, row.raw, before_data=before_data
        )
    except SubmissionRejected as exc:
        return await _failed(session, engine, row, str(exc), permanent=exc.permanent)
    except TransportSecurityRefused as exc:
        return await _failed(session, engine, row, str(exc), permanent=False)
    except MailError as exc:
        return await _failed(session, engine, row, str(exc), permanent=False)
    now = utc_now()
    await engine.db(outbox.mark_submitted, session.vault, row.id, now)
    # What was actually sent is the baseline of the next plan's WEAKER_THAN_PREVIOUS flag.
    await engine.db(contacts.record_sent, session.vault, row.recipients, row.method, now)
    if row.method == "portal" and settings is not None:
        # The sender's status view shows "notice delivered"; a failure here costs that event, not the send.
        with contextlib.suppress(AppError):
            await portal.notice_delivered(session, settings, row.message_id)
    return _with(row, state="submitted", last_error="")


async def _failed(session: Session, engine: Engine, row: OutgoingRow, error: str, *, permanent: bool) -> OutgoingRow:
    if permanent:
        await engine.db(outbox.mark_failed, session.vault, row.id, error)
        return _with(row, state="failed", last_error=error)
    # Only a row that never reached DATA is certainly undelivered; one that did stays "submitting".
    fresh = await engine.db(_state_of, session, row.id)
    until = utc_now() + BACKOFF[min(row.attempts, len(BACKOFF) - 1)]
    await engine.db(outbox.postpone, session.vault, row.id, error, until, back_to_queue=fresh == "queued")
    return _with(row, state="queued" if fresh == "queued" else fresh, last_error=error)


def _state_of(session: Session, row_id: int) -> str:
    return str(session.vault.scalar("SELECT state FROM outbox WHERE id = ?", (row_id,)))


async def _store_sent_copy(session: Session, engine: Engine, account: Account, row: OutgoingRow) -> OutgoingRow:
    password = await engine.db(store.account_password, session.vault, account.id)
    try:
        imap = await engine.imap(
            lambda: ImapSession.login(account.imap, account.username, password, ca_pem=account.ca_pem)
        )
        try:
            await engine.imap(imap.append_sent, row.sent_copy, utc_now())
        finally:
            await engine.imap(imap.close)
    except AppError as exc:
        until = utc_now() + BACKOFF[0]
        await engine.db(outbox.postpone, session.vault, row.id, f"Sent copy: {exc}", until, back_to_queue=False)
        return _with(row, last_error=f"Sent copy: {exc}")
    await engine.db(outbox.mark_sent_copy_stored, session.vault, row.id)
    return _with(row, sent_copy_state="stored")


def _with(row: OutgoingRow, **changes: Any) -> OutgoingRow:
    return replace(row, **changes)
