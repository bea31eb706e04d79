"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: implicit TLS, STARTTLS or plaintext, advertising
REQUIRETLS and DSN on request, and keeping every message it accepts for the test to inspect."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.pki import ServerCert

HOST = "127.0.0.1"


@dataclass
class Accepted:
    mail_from: str
    mail_options: list[str]
    rcpt_tos: list[str]
    data: bytes
    over_tls: bool


@dataclass
class _Handler:
    extensions: tuple[str, ...]
    accepted: list[Accepted] = field(default_factory=list)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        extra = [f"250-{name}" for name in self.extensions]
        return [*responses[:-1], *extra, responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        over_tls = session.ssl is not None
        self.accepted.append(
            Accepted(str(envelope.mail_from), list(envelope.mail_options), list(envelope.rcpt_tos), content, over_tls)
        )
        return "250 OK"


class SmtpServer:
    """`mode`: "tls" (implicit, like port 465), "starttls" (like 587) or "plain" (no TLS offered at all)."""

    def __init__(self, cert: ServerCert, *, mode: str = "tls", requiretls: bool = False, dsn: bool = False) -> None:
        extensions = tuple(name for name, on in (("REQUIRETLS", requiretls), ("DSN", dsn)) if on)
        self.handler = _Handler(extensions)
        self.port = _free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert.chain_file, cert.key_file)
        kwargs: dict[str, Any] = {"hostname": HOST, "port": self.port, "server_hostname": "mail.test"}
        if mode == "tls":
            kwargs["ssl_context"] = context
        elif mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = Controller(self.handler, **kwargs)

    @property
    def accepted(self) -> list[Accepted]:
        return self.handler.accepted

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _free_port() -> int:
    # aiosmtpd's Controller cannot bind port 0, so a free port is found first.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
