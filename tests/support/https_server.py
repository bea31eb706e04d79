"""A threaded HTTPS server on 127.0.0.1 that serves fixed routes, for discovery tests (MTA-STS, WKD).

Rules this module keeps:
- Routes are data: (Host without port, path) -> Route(status, headers, body, framing). Anything else is 404.
- The TLS handshake runs in the worker thread of its connection, so a client that rejects the certificate
  never stalls the accept loop; failed handshakes are counted in `handshake_failures`, not printed.
- `framing` picks how the body's end is marked: Content-Length, chunked (in small pieces, so parsers meet
  chunk boundaries everywhere) or the connection closing.
- `requests` records every request as (host, path). Leaving the `with` block stops the server, closes the
  socket and joins every worker thread.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from types import TracebackType
from typing import Any, Literal

from tests.support.pki import ServerCert

__all__ = ["HttpsServer", "Route"]

Framing = Literal["length", "chunked", "close"]
_CHUNK = 7


@dataclass(frozen=True, slots=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain; charset=utf-8"),)
    framing: Framing = "length"


class HttpsServer:
    """Serves `routes` over TLS with `cert` (its chain file and key) on a free port of 127.0.0.1."""

    def __init__(self, cert: ServerCert, routes: Mapping[tuple[str, str], Route]) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert.chain_file, cert.key_file)
        self._server = _Server(("127.0.0.1", 0), _Handler, context, dict(routes))
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._server.lock:
            return list(self._server.seen)

    @property
    def handshake_failures(self) -> int:
        with self._server.lock:
            return self._server.failures

    def __enter__(self) -> HttpsServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    # Join every worker on close, so no thread outlives the test that started the server.
    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        routes: dict[tuple[str, str], Route],
    ) -> None:
        super().__init__(address, handler)
        self.context = context
        self.routes = routes
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.failures = 0

    def finish_request(self, request: Any, client_address: Any) -> None:
        assert isinstance(request, socket)
        request.settimeout(5.0)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.failures += 1
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-response is part of several tests; it is not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        with self.server.lock:
            self.server.seen.append((host, self.path))
        route = self.server.routes.get((host, self.path), Route(404, b"not found\n"))
        self.close_connection = True
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        if route.framing == "length":
            self.send_header("Content-Length", str(len(route.body)))
        elif route.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_body(route)

    def _write_body(self, route: Route) -> None:
        if route.framing != "chunked":
            self.wfile.write(route.body)
            return
        for start in range(0, len(route.body), _CHUNK):
            piece = route.body[start : start + _CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: test output should show failures, not access logs."""
