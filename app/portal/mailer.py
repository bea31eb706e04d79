"""How the portal server emails one-time codes: SMTP submission with the standard library's smtplib.

Rules (DESIGN.md §4 applied to the portal's own connection):
- Implicit TLS (RFC 8314 §3) or STARTTLS (RFC 3207); never plaintext. If STARTTLS is not offered, refuse.
- Certificates and host names are always verified, TLS 1.2 or newer; a private CA is added, never a bypass.
- Credentials only after TLS. smtplib is blocking, so the server runs `send` on a worker thread.
- aiosmtplib is app.mail's library (DESIGN §2 rule 4) and adapters do not import each other, hence smtplib.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from app.mime.addresses import Address
from app.portal.errors import PortalUnavailable


class CodeMailer(Protocol):
    def send(self, recipient: str, message: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: Address
    security: Literal["tls", "starttls"] = "tls"
    ca_file: Path | None = None
    username: str = ""
    password: str = ""
    timeout: float = 20.0


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._context = _tls_context(settings.ca_file)

    def send(self, recipient: str, message: bytes) -> None:
        s = self._settings
        try:
            with self._connect() as smtp:
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.sendmail(s.sender.addr, [recipient], message)
        except (smtplib.SMTPException, OSError) as exc:
            raise PortalUnavailable(f"The portal could not email a code: {type(exc).__name__}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise PortalUnavailable("The portal's mail server does not offer STARTTLS; no code was sent.")
            # smtplib discards what the server sent before the handshake and says EHLO again (RFC 3207 §4.2).
            smtp.starttls(context=self._context)
        except BaseException:
            smtp.close()
            raise
        return smtp


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context
