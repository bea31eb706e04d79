"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: implicit TLS, STARTTLS or plaintext, advertising
REQUIRETLS and DSN on request, and keeping every message it accepts for the test to inspect."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from tests.support.pki import ServerCert

HOST = "127.0.0.1"


@dataclass
class Accepted:
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    rcpt_options: list[str]
    data: bytes
    over_tls: bool


# ESMTP parameters aiosmtpd does not know (it answers 555 to them); the server accepts them only when it
# advertises the extension, as a real server would: REQUIRETLS (RFC 8689 §4.1), DSN (RFC 3461 §4).
_MAIL_PARAMS = {"REQUIRETLS": ("REQUIRETLS",), "DSN": ("RET", "ENVID")}
_RCPT_PARAMS = {"DSN": ("NOTIFY", "ORCPT")}


def _strip(arg: str, names: tuple[str, ...]) -> tuple[str, list[str]]:
    kept: list[str] = []
    taken: list[str] = []
    for token in arg.split(" "):
        (taken if token.upper().split("=")[0] in names else kept).append(token)
    return " ".join(kept), taken


class _ExtendedSMTP(SMTP):
    extensions: tuple[str, ...] = ()

    async def smtp_MAIL(self, arg: str) -> None:
        names = tuple(n for ext in self.extensions for n in _MAIL_PARAMS.get(ext, ()))
        arg, taken = _strip(arg or "", names)
        refusal = getattr(self.event_handler, "refuse_requiretls", None)
        if refusal and "REQUIRETLS" in (t.upper() for t in taken):
            # A server that advertises REQUIRETLS but cannot honour it for this message (RFC 8689 §5: 5.7.30).
            await self.push(refusal)
            return
        await super().smtp_MAIL(arg)
        if self.envelope is not None and self.envelope.mail_from is not None:
            self.envelope.mail_options.extend(t.upper() for t in taken)

    async def smtp_RCPT(self, arg: str) -> None:
        names = tuple(n for ext in self.extensions for n in _RCPT_PARAMS.get(ext, ()))
        arg, taken = _strip(arg or "", names)
        await super().smtp_RCPT(arg)
        if self.envelope is not None:
            self.envelope.rcpt_options.extend(t.upper() for t in taken)


class _Controller(Controller):
    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._extensions = handler.extensions

    def factory(self) -> SMTP:
        server = _ExtendedSMTP(self.handler, **self.SMTP_kwargs)
        server.extensions = self._extensions
        return server


@dataclass
class _Handler:
    extensions: tuple[str, ...]
    accepted: list[Accepted] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> the reply RCPT gets
    refuse_requiretls: str | None = None  # the reply MAIL FROM ... REQUIRETLS gets, instead of 250
    # While set, DATA is taken in and kept, but the final reply waits: a server that accepted the message and
    # then fell silent, the one case a client cannot tell apart from a failure.
    hold_reply: threading.Event | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = [f"250-{name}" for name in self.extensions]
        return [*responses[:-1], *extra, responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        # Implicit TLS leaves session.ssl unset; the transport itself knows whether it is encrypted.
        transport = server.transport
        over_tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self._record(envelope, content, over_tls)
        while self.hold_reply is not None and self.hold_reply.is_set():
            await asyncio.sleep(0.05)
        return "250 OK"

    def _record(self, envelope: Envelope, content: bytes, over_tls: bool) -> None:
        self.accepted.append(
            Accepted(
                str(envelope.mail_from),
                list(envelope.mail_options),
                list(envelope.rcpt_tos),
                list(envelope.rcpt_options),
                content,
                over_tls,
            )
        )


class SmtpServer:
    """`mode`: "tls" (implicit, like port 465), "starttls" (like 587) or "plain" (no TLS offered at all)."""

    def __init__(
        self,
        cert: ServerCert,
        *,
        mode: str = "tls",
        requiretls: bool = False,
        dsn: bool = False,
        refuse: dict[str, str] | None = None,
        port: int | None = None,
        hold_reply: threading.Event | None = None,
        refuse_requiretls: str | None = None,
    ) -> None:
        extensions = tuple(name for name, on in (("REQUIRETLS", requiretls), ("DSN", dsn)) if on)
        self.handler = _Handler(
            extensions, refuse=dict(refuse or {}), hold_reply=hold_reply, refuse_requiretls=refuse_requiretls
        )
        self.port = port or _free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert.chain_file, cert.key_file)
        kwargs: dict[str, Any] = {
            "hostname": HOST,
            "port": self.port,
            "server_hostname": "mail.test",
            # AUTH PLAIN/LOGIN, only after TLS, as a submission server does (RFC 4954 §4).
            "authenticator": _accept_any_login,
            "auth_require_tls": True,
        }
        if mode == "tls":
            kwargs["ssl_context"] = context
        elif mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = _Controller(self.handler, **kwargs)

    @property
    def accepted(self) -> list[Accepted]:
        return self.handler.accepted

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=True)


def _free_port() -> int:
    # aiosmtpd's Controller cannot bind port 0, so a free port is found first.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
