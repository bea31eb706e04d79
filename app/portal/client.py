"""The desktop engine's client of the portal: upload, report the notice, status, revoke, fetch replies.

Rules:
- HTTPS only, TLS 1.2 or newer, certificate and host name always verified (DESIGN.md §4); a private CA is
  added to what is trusted, never a bypass. A refused certificate is TransportSecurityRefused (exit 4).
- The standard library's http.client does the HTTP/1.1: the portal needs single requests with known bodies,
  no cookies, no redirects (a 3xx is an error), so a third-party client would add nothing but surface. Each
  call runs on a worker thread (asyncio.to_thread), so the engine's loop never blocks (DESIGN.md §2 rule 5).
- Errors leave as PortalError subclasses whose text says what failed; the portal's own message is passed on
  (it never holds content). Nothing here logs.
- The upload key authenticates the organisation; each message's sender token is returned once by the upload
  and must be kept by the caller (in the vault): it is the only way to see status, revoke or fetch replies.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from app.core.errors import TransportSecurityRefused
from app.portal.errors import PortalAuthFailed, PortalRefused, PortalUnavailable
from app.portal.protocol import (
    ENVELOPE_MEDIA_TYPE,
    UPLOAD_MEDIA_TYPE,
    EventKind,
    MessageState,
    ProtocolViolation,
    ScryptVerifier,
    UploadMeta,
    dump_json,
    encode_upload,
    field_int,
    field_str,
    load_json,
    parse_time,
)

# RFC 7914 §2: N = 2^15, r = 8 (32 MiB, about 0.1 s) makes guessing a passphrase from a stolen verifier slow;
# the portal checks it once per attempt and attempts are limited, so the server can afford it.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 15, 8, 1
_MAX_RESPONSE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PortalEndpoint:
    url: str  # https://portal.example.org (policy: portal_url)
    upload_key: str
    ca_pem: str = ""  # an extra CA for a private portal; the system store is always trusted too
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class PortalReceipt:
    """What the client keeps about an uploaded message (in the vault; the token is a secret)."""

    message_id: str
    sender_token: str
    link: str  # without the fragment; app.portal.notice.portal_link adds K1
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class StatusEvent:
    kind: EventKind
    at: datetime


@dataclass(frozen=True, slots=True)
class ReplyRef:
    n: int
    at: datetime
    size: int


@dataclass(frozen=True, slots=True)
class PortalStatus:
    message_id: str
    state: MessageState
    expires_at: datetime
    events: tuple[StatusEvent, ...]
    replies: tuple[ReplyRef, ...]

    def has(self, kind: EventKind) -> bool:
        return any(event.kind is kind for event in self.events)


def passphrase_verifier(passphrase: str) -> ScryptVerifier:
    """What the upload carries instead of a sender-chosen passphrase."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32
    )
    return ScryptVerifier(salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, digest)


class PortalClient:
    def __init__(self, endpoint: PortalEndpoint) -> None:
        parts = urlsplit(endpoint.url)
        if parts.scheme != "https" or not parts.hostname:
            raise PortalUnavailable("The portal address must be an https:// address.")
        self._endpoint = endpoint
        self._host = parts.hostname
        self._port = parts.port or 443
        self._base = parts.path.rstrip("/")
        self._context = _tls_context(endpoint.ca_pem)

    async def upload(self, meta: UploadMeta, envelope: bytes) -> PortalReceipt:
        body = encode_upload(meta, envelope)
        answer = await self._call("POST", "/api/v1/messages", self._endpoint.upload_key, body, UPLOAD_MEDIA_TYPE)
        document = _document(answer)
        try:
            return PortalReceipt(
                field_str(document, "id"), field_str(document, "sender_token"), field_str(document, "link"),
                parse_time(field_str(document, "expires_at")),
            )  # fmt: skip
        except ProtocolViolation as exc:
            raise PortalUnavailable(f"The portal's answer to the upload is malformed: {exc}.") from exc

    async def notice_delivered(self, receipt: PortalReceipt) -> None:
        body = dump_json({"kind": EventKind.NOTICE_DELIVERED.value})
        path = f"/api/v1/messages/{receipt.message_id}/events"
        await self._call("POST", path, receipt.sender_token, body, "application/json")

    async def status(self, message_id: str, sender_token: str) -> PortalStatus:
        document = _document(await self._call("GET", f"/api/v1/messages/{message_id}", sender_token))
        try:
            return _status(document)
        except (ProtocolViolation, ValueError, TypeError) as exc:
            raise PortalUnavailable(f"The portal's status answer is malformed: {exc}.") from exc

    async def revoke(self, message_id: str, sender_token: str) -> None:
        await self._call("DELETE", f"/api/v1/messages/{message_id}", sender_token)

    async def fetch_reply(self, message_id: str, sender_token: str, n: int) -> bytes:
        return await self._call("GET", f"/api/v1/messages/{message_id}/replies/{n}", sender_token)

    async def _call(self, method: str, path: str, token: str, body: bytes = b"", media_type: str = "") -> bytes:
        return await asyncio.to_thread(self._request, method, self._base + path, token, body, media_type)

    def _request(self, method: str, path: str, token: str, body: bytes, media_type: str) -> bytes:
        headers = {"Authorization": f"Bearer {token}", "Accept": f"application/json, {ENVELOPE_MEDIA_TYPE}"}
        if media_type:
            headers["Content-Type"] = media_type
        connection = http.client.HTTPSConnection(
            self._host, self._port, timeout=self._endpoint.timeout, context=self._context
        )
        try:
            connection.request(method, path, body=body if method in ("POST", "PUT") else None, headers=headers)
            response = connection.getresponse()
            data = response.read(_MAX_RESPONSE + 1)
            status = response.status
        except ssl.SSLCertVerificationError as exc:
            raise TransportSecurityRefused(f"The portal's certificate was refused: {exc.verify_message}.") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise PortalUnavailable(f"The portal could not be reached: {type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()
        if len(data) > _MAX_RESPONSE:
            raise PortalUnavailable("The portal's answer is larger than Salus accepts.")
        if status >= 300:
            raise _refusal(status, data)
        return data


def _status(document: dict[str, Any]) -> PortalStatus:
    events = tuple(
        StatusEvent(EventKind(field_str(e, "kind")), parse_time(field_str(e, "at"))) for e in document["events"]
    )
    replies = tuple(
        ReplyRef(field_int(r, "n", 1), parse_time(field_str(r, "at")), field_int(r, "size"))
        for r in document["replies"]
    )
    return PortalStatus(
        field_str(document, "id"), MessageState(field_str(document, "state")),
        parse_time(field_str(document, "expires_at")), events, replies,
    )  # fmt: skip


def _document(data: bytes) -> dict[str, Any]:
    try:
        return load_json(data)
    except ProtocolViolation as exc:
        raise PortalUnavailable(f"The portal's answer is not what Salus expects: {exc}.") from exc


def _refusal(status: int, data: bytes) -> PortalRefused:
    code, message = "http_error", f"The portal refused the request (HTTP {status})."
    try:
        document = json.loads(data.decode("utf-8"))
        code, message = str(document["error"]), f"The portal refused the request: {document['message']}"
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        pass
    kind = PortalAuthFailed if status == 401 else PortalRefused
    return kind(message, status, code)


def _tls_context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise TransportSecurityRefused(f"The portal's CA certificate cannot be used: {exc}") from exc
    return context
