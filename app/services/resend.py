"""Resending a failed message by a stronger method (issue 5: "a permanent failure, for example a 5.7.30
REQUIRETLS bounce, is shown with a one-click resend by a stronger method").

Rules:
- Only a row that failed permanently can be resent, and only once: the original row records the send that
  replaced it (`resent_as`), so a second click cannot send the message twice.
- Only messages that travelled unencrypted (`tls`, `plain`) are resent: their queued bytes are the message
  itself, so the same subject, text, attachments and thread headers are recovered from the vault without the
  user retyping anything. An end-to-end message is already as strong as Salus can send; a portal notice is
  resent by sending the original again.
- The resend is planned afresh with escalation (the portal, or end-to-end where policy keeps it) and sent as
  a new message through the ordinary send path (queued durably, audited with every recipient's method); the
  audit log also records the resend itself, naming the original Message-ID and the new send.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import UsageError
from app.core.settings import Settings
from app.mime.compose import OutgoingAttachment
from app.mime.parse import ParsedMessage, parse_message
from app.services.profile import Session
from app.services.reader import attachment_bytes
from app.services.send import SendReport, SendRequest, send
from app.store import mail as store
from app.store import outbox
from app.store.outbox import OutgoingRow

RESENDABLE_METHODS = frozenset({"tls", "plain"})


@dataclass(frozen=True, slots=True)
class RefusedSend:
    """An outbox message refused for good that a resend could still deliver (what the main window offers)."""

    message_id: str
    method: str
    recipients: int
    error: str  # the server's words, e.g. "550 5.7.30 REQUIRETLS support required"


@dataclass(frozen=True, slots=True)
class ResendReport:
    original: str  # Message-ID of the failed message
    report: SendReport


def resendable(row: OutgoingRow, resent_as: str) -> str:
    """Why `row` cannot be resent by a stronger method ("" when it can)."""
    if row.state != "failed":
        return "Only a message that failed can be resent."
    if resent_as:
        return "This message was resent already."
    if row.method not in RESENDABLE_METHODS:
        return f"This message was sent by {row.method}, which is already as strong as a resend could be."
    return ""


def refused_sends(session: Session) -> tuple[RefusedSend, ...]:
    """Every failed tls/plain message not resent yet, whoever found the failure (a send, a retry, a flush)."""
    return tuple(
        RefusedSend(row.message_id, row.method, len(row.recipients), row.last_error)
        for row in outbox.all_rows(session.vault)
        if not resendable(row, outbox.resent_as(session.vault, row.id))
    )


async def resend_escalated(session: Session, settings: Settings, key: str) -> ResendReport:
    """Sends the failed outbox message `key` (number or Message-ID) again through the secure portal."""
    row = outbox.find(session.vault, key)
    if row is None:
        raise UsageError(f"No message {key!r} in the outbox.")
    problem = resendable(row, outbox.resent_as(session.vault, row.id))
    if problem:
        raise UsageError(problem)
    request = _request(session, row)
    report = await send(session, settings, request)
    now = utc_now()
    with session.vault.transaction():
        outbox.set_resent_in_transaction(session.vault, row.id, report.send_id)
        session.audit.record_in_transaction(
            AuditEvent.RESENT, now, target=row.message_id,
            detail={"resent_as": report.send_id, "escalated": True, "failure": row.last_error[:200]},
        )  # fmt: skip
    return ResendReport(row.message_id, report)


def _request(session: Session, row: OutgoingRow) -> SendRequest:
    message = parse_message(row.raw)
    accounts = {a.id: a.name for a in store.list_accounts(session.vault)}
    named = {a.addr.lower() for a in message.to}
    to = tuple(r for r in row.recipients if r.lower() in named) or row.recipients
    cc = tuple(r for r in row.recipients if r not in to)
    return SendRequest(
        to, message.subject, message.text, _attachments(row.raw, message), escalate=True,
        account=accounts.get(row.account_id), cc=cc, in_reply_to=message.in_reply_to, references=message.references,
    )  # fmt: skip


def _attachments(raw: bytes, message: ParsedMessage) -> tuple[OutgoingAttachment, ...]:
    found = []
    for attachment in message.attachments:
        data, content_type = attachment_bytes(raw, attachment.part)
        found.append(OutgoingAttachment(attachment.filename or "attachment", content_type, data))
    return tuple(found)
