"""The real portal server (app.portal, uvicorn, HTTPS from the test CA) on 127.0.0.1 for tests and benchmarks.

Rules this module keeps:
- The server runs in a thread of its own with its own event loop, on a socket bound before it starts, so the
  port is known at once and never raced for.
- Codes are emailed through a real SMTP server (tests.support.smtp_server) over implicit TLS, verified
  against the same test CA; `codes()` reads them back from what that server accepted.
- `clock` lets a test move the portal's time forward (expiry, lockout) without sleeping.
- Leaving the `with` block stops uvicorn (lifespan shutdown closes the storage) and joins the thread.
- Below the server: the steps `salus send` takes for a portal recipient (`escalate`), sample messages whose
  secret words can be searched for in storage, and HTTPS calls made the way the page makes them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.policy
import hashlib
import http.client
import json
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from app.crypto.portal_keys import ReplyKey, seal_message
from app.mime.addresses import Address
from app.mime.compose import Draft, OutgoingAttachment, build_message
from app.portal.client import PortalClient, PortalEndpoint, PortalReceipt, passphrase_verifier
from app.portal.mailer import SmtpMailer, SmtpSettings
from app.portal.main import uvicorn_server
from app.portal.notice import NoticeFacts, notice_bytes, portal_link
from app.portal.protocol import UploadMeta
from app.portal.rules import Limits
from app.portal.server import PortalApp, ServerSettings
from app.portal.storage import PortalStorage, SqliteStorage
from tests.support.pki import TestCA
from tests.support.smtp_server import SmtpServer

T = TypeVar("T")
UPLOAD_KEY = "test-organisation-upload-key"
_CODE = re.compile(r"Your one-time code is: ([0-9]{6})")


@dataclass
class Clock:
    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


class PortalServer:
    """A portal on https://127.0.0.1:<port>, storing under `directory / "data"`, mailing codes through `smtp`."""

    def __init__(
        self, directory: Path, ca: TestCA, smtp: SmtpServer, *, limits: Limits | None = None,
        storage: PortalStorage | None = None,
    ) -> None:  # fmt: skip
        cert = ca.issue_server_cert(directory / "tls", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.data_dir = directory / "data"
        self.smtp = smtp
        self.ca = ca
        self.clock = Clock()
        sender = Address("Secure portal", "portal@portal.test")
        settings = ServerSettings(
            public_url=self.url, upload_key_digests=frozenset({hashlib.sha256(UPLOAD_KEY.encode()).hexdigest()}),
            mail_sender=sender, limits=limits or Limits(),
        )  # fmt: skip
        mailer = SmtpMailer(SmtpSettings("127.0.0.1", smtp.port, sender, "tls", ca.cert_file))
        self.storage: PortalStorage = storage or SqliteStorage(self.data_dir)
        self.app = PortalApp(settings, self.storage, mailer, now=self.clock.now)
        self._server = uvicorn_server(self.app, "127.0.0.1", self.port, cert.chain_file, cert.key_file)
        self._thread = threading.Thread(target=self._run, name="portal-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def client(self) -> PortalClient:
        return PortalClient(PortalEndpoint(self.url, UPLOAD_KEY, self.ca.cert_file.read_text()))

    def codes(self, recipient: str) -> list[str]:
        """Every code the portal emailed to `recipient`, oldest first."""
        found = []
        for accepted in self.smtp.accepted:
            if recipient in accepted.rcpt_tos:
                message = email.message_from_bytes(accepted.data)
                payload = message.get_payload(decode=True)
                if isinstance(payload, bytes):
                    found += _CODE.findall(payload.decode("utf-8"))
        return found

    def stored_bytes(self) -> bytes:
        """Everything the portal has on disk (database, WAL, envelopes, replies), for scanning."""
        return b"".join(path.read_bytes() for path in sorted(self.data_dir.rglob("*")) if path.is_file())

    def __enter__(self) -> PortalServer:
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                return self
            if not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        raise RuntimeError("the portal server did not start")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@dataclass(frozen=True)
class Escalated:
    """What the send flow keeps after escalating one message for one recipient (see `escalate`)."""

    receipt: PortalReceipt
    reply_key: ReplyKey
    k1: bytes
    notice: bytes  # the notice email, ready for the outbox
    link: str  # the link with its fragment, as the notice shows it


async def escalate(
    client: PortalClient, portal_url: str, mime: bytes, recipient: str, sender: Address, now: datetime,
    *, days: int = 30, passphrase: str | None = None,
) -> Escalated:  # fmt: skip
    """The steps `salus send` takes for a portal recipient: seal, upload, build the notice."""
    reply_key = ReplyKey.generate()
    sealed = seal_message(mime, reply_key.public_point)
    verifier = passphrase_verifier(passphrase) if passphrase else None
    meta = UploadMeta(recipient, sealed.k2, now + timedelta(days=days), reply_key.public_point, verifier)
    receipt = await client.upload(meta, sealed.envelope)
    facts = NoticeFacts(
        sender=sender, recipient=recipient, portal_url=portal_url, message_id=receipt.message_id, k1=sealed.k1,
        expires_at=receipt.expires_at, method=meta.method, mail_message_id=f"notice.{receipt.message_id}@salus.test",
        now=now,
    )  # fmt: skip
    link = portal_link(portal_url, receipt.message_id, sealed.k1)
    return Escalated(receipt, reply_key, sealed.k1, notice_bytes(facts), link)


# Messages, notices and calls

SENDER = Address("Dr Ada Example", "ada@clinic.test")
_LINK = re.compile(r"https://\S+/m/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Sample:
    """A message whose every secret part is a word found nowhere else, so storage can be scanned for it."""

    recipient: str
    subject: str
    body: str
    attachment_name: str
    attachment: bytes
    mime: bytes


def sample(tag: str, recipient: str) -> Sample:
    subject = f"Biopsy results quasarnimbus{tag}"
    body = f"Dear patient,\nyour results are clear: zephyrlantern{tag}.\nKind regards"
    attachment = f"%PDF-1.4 fictional report marmaladeorbit{tag}\n".encode() * 50
    draft = Draft(
        sender=SENDER, to=(Address("", recipient),), cc=(), bcc=(), subject=subject, body_text=body,
        attachments=(OutgoingAttachment("results.pdf", "application/pdf", attachment),),
        message_id=f"{tag}.portal@clinic.test", date=datetime.now(UTC),
    )  # fmt: skip
    return Sample(recipient, subject, body, "results.pdf", attachment, build_message(draft))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a client coroutine on a thread of its own: Playwright's sync API keeps an event loop on this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, coroutine).result()


def send_escalated(portal: PortalServer, item: Sample, **options: Any) -> Escalated:
    client = portal.client()
    return run(escalate(client, portal.url, item.mime, item.recipient, SENDER, portal.clock.now(), **options))


def deliver_notice(portal: PortalServer, escalated: Escalated, recipient: str) -> str:
    """Submit the notice through the real SMTP server as the outbox would, report it, and return the link
    read back from the delivered email."""
    context = ssl.create_default_context(cafile=str(portal.ca.cert_file))
    with smtplib.SMTP_SSL("127.0.0.1", portal.smtp.port, context=context) as smtp:
        smtp.sendmail(SENDER.addr, [recipient], escalated.notice)
    run(portal.client().notice_delivered(escalated.receipt))
    delivered = next(a for a in reversed(portal.smtp.accepted) if b"Secure message from" in a.data)
    message = email.message_from_bytes(delivered.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    found = _LINK.search(body.get_content())
    assert found is not None, "the notice carries no portal link"
    return found.group(0)


def call(
    portal: PortalServer, method: str, path: str, body: Any = None, token: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One request to the portal, with JSON bodies as the page sends them."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps({"v": 1, **body}).encode()
    context = ssl.create_default_context(cafile=str(portal.ca.cert_file))
    connection = http.client.HTTPSConnection("127.0.0.1", portal.port, context=context, timeout=30)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def request_code(portal: PortalServer, message_id: str, recipient: str) -> str:
    before = len(portal.codes(recipient))
    status, _, _ = call(portal, "POST", f"/api/v1/open/{message_id}/code", {})
    assert status == 202
    codes = portal.codes(recipient)
    assert len(codes) == before + 1
    return codes[-1]
