"""The portal server: an ASGI application over the pure rules (app.portal.rules) and a storage.

Rules:
- Routes are the table in `PortalApp._routes`; anything else is 404. docs/portal-protocol.md §3 lists them.
- `/m/<id>` serves the same page for every id without looking it up, so a link without its fragment, or with
  a made-up id, reveals nothing. The page asks the API, and only a verified recipient gets K2 and the envelope.
- Storage runs on one worker thread (its calls are short and the SQLite connection is not shared); scrypt and
  SMTP run on the default executor, so the event loop never blocks on them.
- The log says which route answered with which status and how long it took: never an id, an address, a code,
  a token or a body. uvicorn's own access log is off (it would print paths).
- JSON endpoints require `Content-Type: application/json`, so another site cannot post to them without a
  CORS preflight, which this server never grants (Fetch standard, "CORS-safelisted request-header").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from app.mime.addresses import Address
from app.mime.compose import build_message
from app.portal import rules
from app.portal.errors import PortalError
from app.portal.http import (
    BodyTooLarge,
    Disconnected,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    headers_of,
    read_body,
)
from app.portal.mailer import CodeMailer
from app.portal.notice import code_draft
from app.portal.protocol import (
    ENVELOPE_MEDIA_TYPE,
    REPLY_MAGIC,
    UPLOAD_MEDIA_TYPE,
    EventKind,
    ProtocolViolation,
    b64,
    check_code,
    check_envelope,
    check_id,
    dump_json,
    format_time,
    load_json,
    parse_upload,
)
from app.portal.rules import Limits, MessageRecord, Refusal, Refused, Step
from app.portal.storage import PortalStorage

log = logging.getLogger("salus.portal")
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]

DEFAULT_STATIC = Path(__file__).resolve().parents[2] / "resources" / "portal"
_ID = r"([A-Za-z0-9_-]{22})"
_JSON_LIMIT = 16 * 1024
_STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ServerSettings:
    public_url: str  # https://portal.example.org, for the links the upload answer returns
    upload_key_digests: frozenset[str]  # SHA-256 hex of each organisation's upload key
    mail_sender: Address
    limits: Limits = field(default_factory=Limits)
    max_upload: int = 64 * 1024 * 1024
    max_reply: int = 32 * 1024 * 1024
    static_dir: Path = DEFAULT_STATIC
    retention: timedelta = timedelta(days=30)  # how long replies stay after the message expires
    purge_interval: float = 300.0


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Callable[..., Awaitable[Response]]
    body_limit: int = 0


def utc_now() -> datetime:
    return datetime.now(UTC)


class PortalApp:
    def __init__(
        self, settings: ServerSettings, storage: PortalStorage, mailer: CodeMailer,
        *, now: Callable[[], datetime] = utc_now,
    ) -> None:  # fmt: skip
        self._settings = settings
        self._storage = storage
        self._mailer = mailer
        self._now = now
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portal-db")
        self._static = _load_static(settings.static_dir)
        self._purger: asyncio.Task[None] | None = None
        self._routes = self._route_table()

    def _route_table(self) -> list[_Route]:
        s = self._settings
        table = [
            ("GET", rf"/m/{_ID}", "page", self._page, 0),
            ("GET", r"/assets/([a-z0-9-]+\.(?:js|css|svg))", "asset", self._asset, 0),
            ("GET", r"/healthz", "health", self._health, 0),
            ("POST", r"/api/v1/messages", "upload", self._upload, s.max_upload),
            ("GET", rf"/api/v1/messages/{_ID}", "status", self._status, 0),
            ("DELETE", rf"/api/v1/messages/{_ID}", "revoke", self._revoke, 0),
            ("POST", rf"/api/v1/messages/{_ID}/events", "event", self._event, _JSON_LIMIT),
            ("GET", rf"/api/v1/messages/{_ID}/replies/([1-9][0-9]{{0,5}})", "reply", self._reply, 0),
            ("GET", rf"/api/v1/open/{_ID}", "open", self._open, 0),
            ("POST", rf"/api/v1/open/{_ID}/code", "code", self._code, _JSON_LIMIT),
            ("POST", rf"/api/v1/open/{_ID}/verify", "verify", self._verify, _JSON_LIMIT),
            ("GET", rf"/api/v1/open/{_ID}/message", "message", self._message, 0),
            ("POST", rf"/api/v1/open/{_ID}/replies", "send-reply", self._send_reply, s.max_reply),
        ]
        return [_Route(m, re.compile(p), n, h, limit) for m, p, n, h, limit in table]

    # ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        route, params = self._match(method, scope["path"])
        name = route.name if route else "none"
        try:
            response = await self._answer(route, params, scope, receive)
        except Disconnected:
            return
        await response.send(send, head_only=scope["method"] == "HEAD")
        log.info("%s %s %d %.1f ms", method, name, response.status, (time.perf_counter() - started) * 1000)

    def _match(self, method: str, path: str) -> tuple[_Route | None, tuple[str, ...]]:
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found and route.method == method:
                return route, found.groups()
        return None, ()

    async def _answer(self, route: _Route | None, params: tuple[str, ...], scope: Scope, receive: Receive) -> Response:
        if route is None:
            return _error(Refused(Refusal.NOT_FOUND))
        headers = headers_of(scope)
        try:
            body = await read_body(receive, headers, route.body_limit) if route.body_limit else b""
            return await route.handler(Request(route.method, scope["path"], headers, params, body))
        except Refused as refused:
            return _error(refused)
        except BodyTooLarge:
            return _error(Refused(Refusal.TOO_LARGE))
        except ProtocolViolation as violation:
            return _json(400, {"error": "bad_request", "message": f"The request is malformed: {violation}."})
        except PortalError as failure:
            log.warning("%s failed: %s", route.name, type(failure).__name__)
            return _json(502, {"error": "unavailable", "message": str(failure)})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._purger = asyncio.create_task(self._purge_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        await self._db(self._storage.close)
        self._db_thread.shutdown(wait=True)

    # The page

    async def _page(self, request: Request) -> Response:
        return self._static_response("index.html")

    async def _asset(self, request: Request) -> Response:
        return self._static_response(request.params[0])

    async def _health(self, request: Request) -> Response:
        return Response(200, b"ok\n", "text/plain; charset=utf-8")

    def _static_response(self, name: str) -> Response:
        if name not in self._static:
            return _error(Refused(Refusal.NOT_FOUND))
        body, content_type = self._static[name]
        return Response(200, body, content_type)

    # The sender's side (authenticated by the upload key, then by the per-message sender token)

    async def _upload(self, request: Request) -> Response:
        offered = hashlib.sha256(request.bearer().encode("utf-8")).hexdigest()
        if not any(hmac.compare_digest(offered, known) for known in self._settings.upload_key_digests):
            raise Refused(Refusal.UNAUTHORIZED)
        _require_media(request, UPLOAD_MEDIA_TYPE)
        upload = parse_upload(request.body)
        message_id, token = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        record = rules.new_record(upload.meta, message_id, token, self._now(), self._settings.limits)
        await self._db(self._storage.create, record, upload.envelope)
        link = f"{self._settings.public_url.rstrip('/')}/m/{message_id}"
        document = {"id": message_id, "sender_token": token, "expires_at": format_time(record.expires_at)}
        return _json(201, {**document, "link": link})

    async def _status(self, request: Request) -> Response:
        record = await self._sender_record(request)
        events = await self._db(self._storage.events, record.id)
        replies = await self._db(self._storage.replies, record.id)
        return _json(200, {
            "id": record.id, "state": rules.state(record, self._now()).value,
            "expires_at": format_time(record.expires_at),
            "events": [{"kind": e.kind.value, "at": format_time(e.at)} for e in events],
            "replies": [{"n": r.n, "at": format_time(r.at), "size": r.size} for r in replies],
        })  # fmt: skip

    async def _revoke(self, request: Request) -> Response:
        token, now = request.bearer(), self._now()
        await self._apply(request.params[0], lambda r: _as_sender(r, token, rules.revoke(r, now)))
        return Response(204)

    async def _event(self, request: Request) -> Response:
        _require_media(request, "application/json")
        if load_json(request.body).get("kind") != EventKind.NOTICE_DELIVERED.value:
            raise ProtocolViolation("only notice_delivered can be reported")
        token, now = request.bearer(), self._now()
        await self._apply(request.params[0], lambda r: _as_sender(r, token, rules.note_delivered(r, now)))
        return Response(204)

    async def _reply(self, request: Request) -> Response:
        record = await self._sender_record(request)
        envelope = await self._db(self._storage.reply, record.id, int(request.params[1]))
        return Response(200, envelope, ENVELOPE_MEDIA_TYPE)

    async def _sender_record(self, request: Request) -> MessageRecord:
        record = await self._record(request.params[0])
        rules.require_sender(record, request.bearer())
        return record

    # The recipient's side

    async def _open(self, request: Request) -> Response:
        record = await self._record(request.params[0])
        rules.require_open(record, self._now())
        return _json(200, {"state": "active", "verification": record.method.value,
                           "expires_at": format_time(record.expires_at)})  # fmt: skip

    async def _code(self, request: Request) -> Response:
        _require_media(request, "application/json")
        load_json(request.body)
        code, now, limits = f"{secrets.randbelow(10**6):06d}", self._now(), self._settings.limits
        step = await self._apply(request.params[0], lambda r: rules.issue_code(r, now, code, limits))
        minutes = int(limits.code_lifetime.total_seconds() // 60)
        draft = code_draft(self._settings.mail_sender, step.record.recipient, code, minutes, _mail_id(self._settings),
                           now)  # fmt: skip
        # The code is stored (and counted against the rate limit) before it is mailed: a failing mail server
        # must not become a way around the limit.
        await asyncio.get_running_loop().run_in_executor(
            None, self._mailer.send, step.record.recipient, build_message(draft)
        )
        return _json(202, {"expires_in": int(limits.code_lifetime.total_seconds())})

    async def _verify(self, request: Request) -> Response:
        _require_media(request, "application/json")
        attempt = load_json(request.body)
        access, now, limits = secrets.token_urlsafe(32), self._now(), self._settings.limits
        if isinstance(attempt.get("passphrase"), str):
            step = await self._verify_passphrase(request.params[0], attempt["passphrase"], access, now)
        else:
            given = attempt.get("code")
            code = given if isinstance(given, str) and check_code(given) else "-"  # malformed counts as wrong
            step = await self._apply(request.params[0], lambda r: rules.verify_code(r, now, code, access, limits))
        if step.refused is not None:
            raise step.refused
        record = step.record
        return _json(200, {
            "k2": b64(record.k2), "access": access, "expires_in": int(limits.access_lifetime.total_seconds()),
            "recipient": record.recipient,
        })  # fmt: skip

    async def _verify_passphrase(self, message_id: str, passphrase: str, access: str, now: datetime) -> Step:
        verifier = rules.check_passphrase_allowed(await self._record(message_id), now)
        candidate = await asyncio.get_running_loop().run_in_executor(
            None, partial(hashlib.scrypt, passphrase.encode("utf-8"), salt=verifier.salt, n=verifier.n,
                          r=verifier.r, p=verifier.p, maxmem=256 * 1024 * 1024, dklen=len(verifier.digest)),
        )  # fmt: skip
        matches = hmac.compare_digest(candidate, verifier.digest)
        limits = self._settings.limits
        return await self._apply(message_id, lambda r: rules.verify_passphrase(r, now, matches, access, limits))

    async def _message(self, request: Request) -> Response:
        record = await self._record(request.params[0])
        rules.require_access(record, self._now(), request.bearer())
        envelope = await self._db(self._storage.envelope, record.id)
        return Response(200, envelope, ENVELOPE_MEDIA_TYPE)

    async def _send_reply(self, request: Request) -> Response:
        _require_media(request, ENVELOPE_MEDIA_TYPE)
        check_envelope(request.body, REPLY_MAGIC)
        record = await self._record(request.params[0])
        now = self._now()
        rules.require_access(record, now, request.bearer())
        n = await self._db(self._storage.add_reply, record.id, now, request.body)
        return _json(201, {"n": n})

    # Helpers

    async def _record(self, message_id: str) -> MessageRecord:
        record = await self._db(self._storage.load, message_id) if check_id(message_id) else None
        if record is None:
            raise Refused(Refusal.NOT_FOUND)
        return record

    async def _apply(self, message_id: str, change: Callable[[MessageRecord], Step]) -> Step:
        return await self._db(self._storage.apply, message_id, self._now(), change)

    async def _db(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, partial(func, *args))

    async def _purge_forever(self) -> None:
        while True:
            try:
                await self._db(purge, self._storage, self._now(), self._settings.retention)
            except PortalError as failure:
                log.warning("purge failed: %s", type(failure).__name__)
            await asyncio.sleep(self._settings.purge_interval)


def purge(storage: PortalStorage, now: datetime, retention: timedelta) -> None:
    """Destroy K2 and the envelope of every expired message, and forget messages past their retention."""
    for message_id in storage.expired_ids(now):
        storage.apply(message_id, now, lambda r: rules.expire(r, now))
    for message_id in storage.retired_ids(now - retention):
        storage.forget(message_id)


def _as_sender(record: MessageRecord, token: str, step: Step) -> Step:
    rules.require_sender(record, token)
    return step


def _require_media(request: Request, media_type: str) -> None:
    if request.media_type != media_type:
        raise ProtocolViolation(f"the body must be {media_type}")


def _mail_id(settings: ServerSettings) -> str:
    domain = settings.mail_sender.addr.rpartition("@")[2] or "portal.invalid"
    return f"{secrets.token_hex(12)}@{domain}"


def _json(status: int, document: dict[str, Any]) -> Response:
    return Response(status, dump_json(document))


def _error(refused: Refused) -> Response:
    document: dict[str, Any] = {"error": refused.refusal.code, "message": refused.refusal.text}
    headers: tuple[tuple[str, str], ...] = ()
    if refused.retry_after:
        document["retry_after"] = refused.retry_after
        headers = (("retry-after", str(refused.retry_after)),)
    if refused.attempts_left is not None:
        document["attempts_left"] = refused.attempts_left
    return Response(refused.refusal.status, dump_json(document), headers=headers)


def _load_static(folder: Path) -> dict[str, tuple[bytes, str]]:
    found: dict[str, tuple[bytes, str]] = {}
    for path in folder.glob("*"):
        if path.suffix in _STATIC_TYPES and path.is_file():
            found[path.name] = (path.read_bytes(), _STATIC_TYPES[path.suffix])
    if "index.html" not in found:
        raise PortalError(f"The portal's web page is missing from {folder}.")
    return found
