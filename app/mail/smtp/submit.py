"""Submitting one message (RFC 6409) under the transport rules of DESIGN.md §4.

Rules:
- `requiretls` adds REQUIRETLS to MAIL FROM (RFC 8689 §4.1); a server that does not offer it gets nothing:
  the message is refused here rather than sent without the requirement (never a silent downgrade).
- DSN (RFC 3461) is requested where offered: failures and delays come back to the sender.
- Any refused recipient stops the transaction before DATA, so a message never reaches some of a method group
  and not others (the group is retried or failed as one).
- `before_data` runs after every recipient was accepted and before DATA: the caller records there that the
  message may from now on have been delivered.
- A 5xx reply is permanent (`SubmissionRejected.permanent`), a 4xx or a lost connection temporary.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosmtplib

from app.core.errors import MailError
from app.core.models import Endpoint
from app.mail.smtp.connection import submission


class SubmissionRejected(MailError):
    def __init__(self, message: str, *, code: int, permanent: bool) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    recipients: tuple[str, ...]
    requiretls: bool
    envelope_id: str  # ENVID for DSN, our outbox Message-ID


async def submit(
    endpoint: Endpoint,
    ca_pem: str,
    credentials: tuple[str, str] | None,
    envelope: Envelope,
    raw: bytes,
    *,
    before_data: Callable[[], Awaitable[None]],
    timeout: float = 60.0,
) -> None:
    async with submission(endpoint, ca_pem, timeout) as client:
        try:
            # A relay that authorises by address offers no AUTH; credentials are only ever sent over TLS.
            if credentials is not None and client.supports_extension("auth"):
                await client.login(*credentials)
            await _envelope(client, envelope)
            await before_data()
            await client.data(raw)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SubmissionRejected(
                f"The submission server rejected the user name or password ({exc.code}).", code=exc.code, permanent=True
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _rejected(exc) from exc


async def _envelope(client: aiosmtplib.SMTP, envelope: Envelope) -> None:
    mail_options: list[str] = []
    rcpt_options: list[str] = []
    if envelope.requiretls:
        if not client.supports_extension("requiretls"):
            raise SubmissionRejected(
                "The submission server does not offer REQUIRETLS, so this message cannot be sent as TLS-only.",
                code=0,
                permanent=True,
            )
        mail_options.append("REQUIRETLS")
    if client.supports_extension("dsn"):
        mail_options += ["RET=HDRS", f"ENVID={_xtext(envelope.envelope_id)}"]
        rcpt_options.append("NOTIFY=FAILURE,DELAY")
    await client.mail(envelope.mail_from, options=mail_options)
    for recipient in envelope.recipients:
        await client.rcpt(recipient, options=rcpt_options)


def _rejected(exc: aiosmtplib.SMTPResponseException) -> SubmissionRejected:
    code = exc.code
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        what = "refused a recipient"
    elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
        what = "refused the sender"
    elif isinstance(exc, aiosmtplib.SMTPDataError):
        what = "refused the message"
    else:
        what = "failed"
    return SubmissionRejected(
        f"The submission server {what}: {code} {exc.message}", code=code, permanent=500 <= code < 600
    )


def _xtext(value: str) -> str:
    """RFC 3461 §4: xtext encodes '+', '=', controls and non-ASCII as +HH."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else f"+{ord(c):02X}" for c in value)
