"""The small piece of ASGI (asgi.readthedocs.io, HTTP and lifespan specs 2.x) the portal server needs.

The portal has a dozen fixed routes, so it speaks ASGI directly rather than through a framework: every header
it sends is visible here, and no framework default (a debug page, a redirect, a permissive header) can creep in.

Rules:
- Every response carries the security headers below, errors and static files included.
- A body is read only up to the route's limit; a longer one is refused with 413 before it is all received.
- Header names are lower case (the ASGI spec delivers them so); values are decoded as Latin-1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# CSP Level 3 (w3.org/TR/CSP3): scripts and styles only from this origin, so no inline script can run; no
# framing (frame-ancestors, and X-Frame-Options for older browsers); no form posts anywhere; Trusted Types
# make any accidental innerHTML a hard error (w3c.github.io/trusted-types).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CSP),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("strict-transport-security", "max-age=63072000; includeSubDomains"),  # RFC 6797 §6.1
    ("cache-control", "no-store"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


class BodyTooLarge(Exception):
    """The request body is longer than the route accepts."""


class Disconnected(Exception):
    """The client went away before its request body was complete."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    params: tuple[str, ...]
    body: bytes = b""

    def bearer(self) -> str:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())

    async def send(self, send: Send, *, head_only: bool = False) -> None:
        headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in (*SECURITY_HEADERS, *self.headers)
        ]
        if self.status != 204:  # RFC 9110 §8.6: a 204 carries no Content-Length (and no content)
            headers += [
                (b"content-type", self.content_type.encode("latin-1")),
                (b"content-length", str(len(self.body)).encode("ascii")),
            ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head_only else self.body})


def headers_of(scope: Scope) -> dict[str, str]:
    return {bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1") for name, value in scope["headers"]}


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
