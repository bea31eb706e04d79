"""The portal's ASGI application driven in memory (no socket, no TLS): routing, headers and body limits."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from app.mime.addresses import Address
from app.portal.http import SECURITY_HEADERS
from app.portal.server import PortalApp, ServerSettings
from app.portal.storage import SqliteStorage


class _NoMail:
    def send(self, recipient: str, message: bytes) -> None:
        raise AssertionError("no mail expected")


def _app(tmp_path: Path, **changes: Any) -> PortalApp:
    settings = ServerSettings(
        public_url="https://portal.test", upload_key_digests=frozenset({hashlib.sha256(b"key").hexdigest()}),
        mail_sender=Address("", "portal@portal.test"), **changes,
    )  # fmt: skip
    return PortalApp(settings, SqliteStorage(tmp_path / "data"), _NoMail())


def _request(
    app: PortalApp, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)] or [b""]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": path, "headers": raw}
    asyncio.run(app(scope, receive, send))
    start, end = sent[0], sent[1]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, end["body"]


def test_the_page_is_the_same_for_any_id_and_carries_every_security_header(tmp_path: Path) -> None:
    app = _app(tmp_path)
    status, headers, first = _request(app, "GET", "/m/" + "a" * 22)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert _request(app, "GET", "/m/" + "b" * 22)[2] == first
    for name, value in SECURITY_HEADERS:
        assert headers[name] == value
    assert b"<script" in first and b"<script>" not in first, "only external scripts: CSP forbids inline ones"


def test_unknown_routes_and_methods_are_not_found_with_the_same_headers(tmp_path: Path) -> None:
    app = _app(tmp_path)
    for method, path in (("GET", "/"), ("PUT", "/api/v1/messages"), ("GET", "/assets/../portal.db")):
        status, headers, _ = _request(app, method, path)
        assert status == 404 and headers["x-frame-options"] == "DENY"


def test_a_body_over_the_route_limit_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    app = _app(tmp_path, max_upload=10_000)
    headers = {"Authorization": "Bearer key", "Content-Type": "application/vnd.salus.portal-upload"}
    status, _, body = _request(app, "POST", "/api/v1/messages", b"x" * 20_000, headers)
    assert status == 413 and b"too_large" in body


def test_json_endpoints_refuse_other_content_types(tmp_path: Path) -> None:
    status, _, _ = _request(_app(tmp_path), "POST", "/api/v1/open/" + "a" * 22 + "/code", b'{"v":1}',
                            {"Content-Type": "text/plain"})  # fmt: skip
    assert status == 400
