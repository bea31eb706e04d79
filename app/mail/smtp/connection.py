"""Opening an SMTP submission connection under the transport rules of DESIGN.md §4.

Rules:
- Implicit TLS (465) by default; STARTTLS (587) only when configured and then mandatory (RFC 3207): a server that
  does not offer it, or fails it, is refused; there is no plaintext path.
- aiosmtplib upgrades opportunistically when `start_tls` is left to its default and silently stays in
  plaintext when a server hides STARTTLS, so `start_tls=False` is always passed and the upgrade done here.
- After STARTTLS everything learned before it is discarded and EHLO is sent again (RFC 3207 §4.2).
- Nothing the server says before TLS is quoted in an error (it may be an attacker's [ALERT]).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib

from app.core.errors import MailError, TransportSecurityRefused
from app.core.models import Endpoint, Security
from app.mail.tls import never_resolves, tls_context


@asynccontextmanager
async def submission(endpoint: Endpoint, ca_pem: str = "", timeout: float = 30.0) -> AsyncIterator[aiosmtplib.SMTP]:
    """An SMTP client that has said EHLO over verified TLS, and is not yet authenticated."""
    if never_resolves(endpoint.host):
        raise MailError(f"Cannot connect to {endpoint.host}: it is not a real server (a demo account).")
    context = tls_context(ca_pem)
    client = aiosmtplib.SMTP(
        hostname=endpoint.host,
        port=endpoint.port,
        use_tls=endpoint.security is Security.TLS,
        start_tls=False,
        tls_context=context,
        timeout=timeout,
    )
    try:
        await _open(client, endpoint, context)
        yield client
    except ssl.SSLCertVerificationError as exc:
        raise TransportSecurityRefused(
            f"Refused {endpoint.host}:{endpoint.port}: its certificate is not trusted ({exc.verify_message})."
        ) from exc
    except ssl.SSLError as exc:
        raise TransportSecurityRefused(f"Refused {endpoint.host}:{endpoint.port}: no acceptable TLS ({exc}).") from exc
    except aiosmtplib.SMTPConnectError as exc:
        # aiosmtplib wraps a failed handshake in its connect error; a TLS failure is a refusal, not an outage.
        if isinstance(exc.__cause__, ssl.SSLError):
            raise TransportSecurityRefused(
                f"Refused {endpoint.host}:{endpoint.port}: its TLS certificate is not trusted or TLS failed "
                f"({exc.__cause__})."
            ) from exc
        raise MailError(f"Cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailError(f"The SMTP server {endpoint.host}:{endpoint.port} failed: {exc}") from exc
    finally:
        if client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def _open(client: aiosmtplib.SMTP, endpoint: Endpoint, context: ssl.SSLContext) -> None:
    """Greeting, EHLO and, for STARTTLS, the upgrade. "Why TLS is better without STARTTLS" (Poddebniak et al.
    2021, UI spoofing): before TLS anyone on the path writes the server's words, so a refusal then is reported
    without them (an "[ALERT] call this number" must never reach the user as if the server had said it)."""
    if endpoint.security is Security.TLS:
        await client.connect()
        await client.ehlo()
        return
    try:
        await client.connect()
        await client.ehlo()
    except aiosmtplib.SMTPResponseException as exc:
        raise MailError(
            f"Cannot connect to {endpoint.host}:{endpoint.port}: the server refused the connection ({exc.code}) before "
            "TLS was set up; its text is not shown, since anyone on the network could have written it."
        ) from exc
    await _upgrade(client, endpoint, context)


async def _upgrade(client: aiosmtplib.SMTP, endpoint: Endpoint, context: ssl.SSLContext) -> None:
    if not client.supports_extension("starttls"):
        raise TransportSecurityRefused(
            f"Cannot connect to {endpoint.host}:{endpoint.port}: the server does not offer STARTTLS, "
            "and this account never falls back to plaintext."
        )
    try:
        await client.starttls(tls_context=context)
    except aiosmtplib.SMTPResponseException as exc:
        raise TransportSecurityRefused(
            f"Cannot connect to {endpoint.host}:{endpoint.port}: the server refused STARTTLS ({exc.code})."
        ) from exc
    await client.ehlo()
