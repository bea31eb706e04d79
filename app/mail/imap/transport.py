"""Connecting to an IMAP server under the transport rules of DESIGN.md §4.

Rules:
- TLS 1.2 or newer, certificate chain and host name always verified; a private CA can be *added*, never used to
  switch verification off.
- Implicit TLS (993) is the default. STARTTLS (RFC 9051 §6.2.1) is used only when configured, and then it is
  mandatory: no STARTTLS capability, a refused STARTTLS, a failed handshake or a PREAUTH greeting on a plaintext
  connection (RFC 9051 §7.1.4: a client that needs TLS must close such a connection) ends the attempt with
  `TransportSecurityRefused`. There is no path that sends a credential without TLS.
- Everything the server said before the handshake is discarded after it (RFC 2595 §3.1, RFC 9051 §6.2.1): the
  cached capabilities and any untagged responses, so bytes injected behind the STARTTLS OK cannot reach us.
- Safety limits on what a server may send: literal size, line length (imaplib's own limit), response nesting
  (imapclient's parser recurses; `RecursionError` becomes a protocol error).
"""

from __future__ import annotations

import contextlib
import imaplib
import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient import tls as imapclient_tls
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imapclient import seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

from app.core.errors import MailError, ServerProtocolError, TransportSecurityRefused
from app.core.models import Endpoint, Security
from app.mail.tls import never_resolves, tls_context

# The largest literal we accept in one response. Messages bigger than this are refused rather than letting a
# server make us allocate whatever it announces (BufferedReader.read(n) allocates n up front).
MAX_LITERAL_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


class _BoundedReads:
    """Mixin for imaplib connections that refuses absurd literals before allocating them."""

    def read(self, size: int) -> bytes:
        if size > MAX_LITERAL_BYTES:
            raise imaplib.IMAP4.abort(f"server announced a {size}-byte literal; the limit is {MAX_LITERAL_BYTES}")
        return super().read(size)  # type: ignore[misc, no-any-return]


class _BoundedTLS(_BoundedReads, imapclient_tls.IMAP4_TLS):  # type: ignore[misc]
    pass


class _BoundedPlain(_BoundedReads, IMAP4WithTimeout):  # type: ignore[misc]
    pass


class SafeIMAPClient(IMAPClient):  # type: ignore[misc]
    """imapclient with our size limits and a STARTTLS that forgets everything said before the handshake."""

    def _create_IMAP4(self) -> imaplib.IMAP4:
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _BoundedTLS(self.host, self.port, self.ssl_context, connect_timeout)
        return _BoundedPlain(self.host, self.port, connect_timeout)

    def starttls(self, ssl_context: ssl.SSLContext | None = None) -> Any:
        result = super().starttls(ssl_context)
        imap = self._imap
        # RFC 2595 §3.1: forget any knowledge obtained before TLS, then ask again over the protected channel.
        imap.untagged_responses = {}
        self._cached_capabilities = None
        imap.capabilities = ()
        typ, data = imap._simple_command("CAPABILITY")
        if typ != "OK":
            raise TransportSecurityRefused("The server did not answer CAPABILITY after STARTTLS.")
        imap.capabilities = tuple(imap._untagged_response(typ, data, "CAPABILITY")[1][-1].upper().split())
        imap.untagged_responses = {}
        return result

    def uid_fetch(self, uid_set: str, items: list[str], modifiers: list[str] | None = None) -> dict[int, Any]:
        """UID FETCH over a UID *set* such as "1:500,700:*". imapclient's own `fetch` only accepts single UIDs
        or lists of them, which for a 20,000-message folder means a 120 KB command line."""
        modifier_text = seq_to_parenstr_upper(modifiers) if modifiers else None
        tag = self._imap._command("UID", "FETCH", uid_set, seq_to_parenstr_upper(items), modifier_text)
        typ, data = self._imap._command_complete("FETCH", tag)
        self._checkok("fetch", typ, data)
        typ, data = self._imap._untagged_response(typ, data, "FETCH")
        return dict(parse_fetch_response(data, self.normalise_times, True))


def open_connection(endpoint: Endpoint, ca_pem: str = "", timeout: float = DEFAULT_TIMEOUT) -> SafeIMAPClient:
    """Returns a connection that is protected by verified TLS and not yet authenticated."""
    if never_resolves(endpoint.host):
        raise MailError(f"Cannot connect to {endpoint.host}: it is not a real server (a demo account).")
    context = tls_context(ca_pem)
    try:
        if endpoint.security is Security.TLS:
            return SafeIMAPClient(endpoint.host, endpoint.port, ssl=True, ssl_context=context, timeout=timeout)
        return _upgrade_with_starttls(endpoint, context, timeout)
    except ssl.SSLCertVerificationError as exc:
        raise TransportSecurityRefused(
            f"Refused {endpoint.host}:{endpoint.port}: its certificate is not trusted ({exc.verify_message})."
        ) from exc
    except ssl.SSLError as exc:
        raise TransportSecurityRefused(
            f"Refused {endpoint.host}:{endpoint.port}: no acceptable TLS connection ({exc.reason or exc})."
        ) from exc
    except imaplib.IMAP4.error as exc:
        if endpoint.security is Security.STARTTLS:
            raise ServerProtocolError(_PLAINTEXT_WORDS.format(endpoint.host, endpoint.port)) from exc
        raise protocol_error(exc) from exc
    except OSError as exc:
        raise MailError(f"Cannot connect to {endpoint.host}:{endpoint.port}: {exc.strerror or exc}.") from exc


# "Why TLS is better without STARTTLS" (Poddebniak et al. 2021, UI spoofing): before TLS anyone on the path can
# write the server's words, e.g. an [ALERT] telling the user to call a number or visit a page. Nothing the server
# says before the handshake is ever quoted to the user.
_PLAINTEXT_WORDS = (
    "Cannot connect to {}:{}: the server sent a response Salus cannot accept before TLS was set up; its text is not "
    "shown, since anyone on the network could have written it."
)


def _upgrade_with_starttls(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> SafeIMAPClient:
    client = SafeIMAPClient(endpoint.host, endpoint.port, ssl=False, timeout=timeout)
    try:
        if client._imap.state != "NONAUTH":
            raise TransportSecurityRefused(
                f"Refused {endpoint.host}:{endpoint.port}: the server authenticated the session before TLS "
                "(PREAUTH), so it cannot be protected with STARTTLS."
            )
        if "STARTTLS" not in client._imap.capabilities:
            raise TransportSecurityRefused(
                f"Cannot connect to {endpoint.host}:{endpoint.port}: the server does not offer STARTTLS, "
                "and this account never falls back to plaintext."
            )
        try:
            client.starttls(context)
        except (imaplib.IMAP4.error, IMAPClient.Error) as exc:
            # The refusal's text arrived before TLS, so it is not quoted (see _PLAINTEXT_WORDS).
            raise TransportSecurityRefused(
                f"Cannot connect to {endpoint.host}:{endpoint.port}: the server refused STARTTLS, "
                "and this account never falls back to plaintext."
            ) from exc
    except BaseException:
        _drop(client)
        raise
    return client


def _drop(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        client.shutdown()


def protocol_error(exc: BaseException) -> ServerProtocolError:
    return ServerProtocolError(f"The IMAP server sent a response Salus cannot accept: {exc}")
