"""A minimal HTTPS GET for discovery lookups (MTA-STS policies; WKD keys later).

Rules this module keeps:
- The host name is resolved through the discovery resolver, never the operating system, so IT and tests choose
  who answers; the client connects to an address that resolver returned and verifies the certificate against
  the host name (SNI and hostname check), TLS 1.2 or newer, system store plus `config.ca_pem` (DESIGN §4).
- One request per connection (`Connection: close`), HTTP/1.1, no content codings.
- Redirects are never followed: a 3xx raises HttpFetchError carrying its status (RFC 8461 §3.3).
- The whole exchange is bounded by `config.timeout`; the body by the caller's `max_bytes`.
- Every failure leaves as an HttpFetchError whose text says what failed and why; ssl, socket and timeout
  exceptions never escape.
- The response parser (ResponseParser, parse_head, parse_chunk_size) is pure: bytes in, a response out.
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
from dataclasses import dataclass
from enum import Enum

from app.core.errors import AppError
from app.discovery.resolver import DnsResolver

_MAX_HEAD = 16 * 1024
_MAX_LINE = 1024
_READ_SIZE = 64 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?")
_FIELD_NAME = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_PATH = re.compile(r"/[\x21-\x7e]*")


class DiscoveryError(AppError):
    """A discovery lookup could not be completed."""


class HttpFetchError(DiscoveryError):
    """An HTTPS fetch failed; `status` is set when the server answered with a status we refuse."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HostNotFound(HttpFetchError):
    """The host name has no A or AAAA record (NXDOMAIN or no data), as opposed to a lookup that failed.
    WKD's advanced method falls back to the direct method only in this case."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A complete response. Header names are lower case, in the order received."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower case ("" when absent)."""
        return (self.header("content-type") or "").partition(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: tuple[tuple[str, str], ...]


class Framing(Enum):
    """How the body's end is found (RFC 9112 §6.3)."""

    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    CLOSE = "close"


def parse_head(block: bytes) -> Head:
    """Parse a status line and header fields (the blank line excluded); raise HttpFetchError if malformed."""
    lines = [line.removesuffix(b"\r") for line in block.split(b"\n")]
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpFetchError("the server did not send a valid HTTP/1.x status line")
    return Head(int(match.group(1)), tuple(_parse_field(line) for line in lines[1:]))


def _parse_field(line: bytes) -> tuple[str, str]:
    # RFC 9112 §5.1: no whitespace between name and colon; §5.2: obsolete line folding may be rejected.
    name, colon, value = line.partition(b":")
    if not colon or _FIELD_NAME.fullmatch(name) is None:
        raise HttpFetchError("the server sent a malformed header field")
    return name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")


def body_framing(head: Head) -> tuple[Framing, int]:
    """The body's framing and, for Content-Length, its length (RFC 9112 §6.3, for a GET request)."""
    if 100 <= head.status < 200:
        raise HttpFetchError(f"the server sent an unexpected interim response (HTTP {head.status})")
    if head.status in (204, 304):
        return Framing.NONE, 0
    codings = [v.strip().lower() for k, value in head.headers if k == "transfer-encoding" for v in value.split(",")]
    if codings:
        # Transfer-Encoding overrides Content-Length; without final "chunked" the body runs to the close.
        return (Framing.CHUNKED if codings[-1] == "chunked" else Framing.CLOSE), 0
    lengths = {v.strip() for k, value in head.headers if k == "content-length" for v in value.split(",")}
    if not lengths:
        return Framing.CLOSE, 0
    if len(lengths) > 1 or not all(v.isascii() and v.isdigit() for v in lengths):
        raise HttpFetchError("the server sent an invalid Content-Length")
    return Framing.LENGTH, int(lengths.pop())


def parse_chunk_size(line: bytes) -> int:
    """The size on a chunk-size line, extensions ignored (RFC 9112 §7.1)."""
    size = line.partition(b";")[0].strip(b" \t")
    if not 1 <= len(size) <= 16 or any(c not in b"0123456789abcdefABCDEF" for c in size):
        raise HttpFetchError("the server sent a malformed chunk size")
    return int(size, 16)


class ResponseParser:
    """Incremental, I/O-free parser of one HTTP/1.1 response: feed bytes, then EOF; get an HttpResponse."""

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._raw_left = _MAX_HEAD + 4 * max_body + _READ_SIZE
        self._buffer = bytearray()
        self._body = bytearray()
        self._head: Head | None = None
        self._framing = Framing.NONE
        self._remaining = 0
        self._chunk_state = "size"
        self._done = False

    def feed(self, data: bytes) -> HttpResponse | None:
        """Add received bytes; return the response once it is complete."""
        self._raw_left -= len(data)
        if self._raw_left < 0:
            raise HttpFetchError(f"the response is larger than {self._max_body} bytes")
        self._buffer += data
        self._advance()
        return self._response() if self._done else None

    def feed_eof(self) -> HttpResponse:
        """The peer closed the connection: the response must be complete now."""
        if self._head is None:
            raise HttpFetchError("the connection closed before a complete response arrived")
        if self._framing is Framing.CLOSE:
            self._done = True
        if not self._done:
            raise HttpFetchError("the connection closed before the end of the response body")
        return self._response()

    def _response(self) -> HttpResponse:
        assert self._head is not None
        return HttpResponse(self._head.status, self._head.headers, bytes(self._body))

    def _advance(self) -> None:
        if self._head is None and not self._take_head():
            return
        if self._framing is Framing.LENGTH:
            self._take_body(self._remaining)
            self._done = self._remaining == 0
        elif self._framing is Framing.CLOSE:
            self._take_body(len(self._buffer))
        elif self._framing is Framing.CHUNKED:
            self._advance_chunked()

    def _take_head(self) -> bool:
        end = _HEAD_END.search(self._buffer)
        if (end is None and len(self._buffer) > _MAX_HEAD) or (end is not None and end.start() > _MAX_HEAD):
            raise HttpFetchError(f"the response header is larger than {_MAX_HEAD} bytes")
        if end is None:
            return False
        self._head = parse_head(bytes(self._buffer[: end.start()]))
        del self._buffer[: end.end()]
        self._framing, self._remaining = body_framing(self._head)
        if self._remaining > self._max_body:
            raise HttpFetchError(f"the response is larger than {self._max_body} bytes")
        self._done = self._framing is Framing.NONE
        return True

    def _take_body(self, count: int) -> None:
        taken = bytes(self._buffer[:count])
        if len(self._body) + len(taken) > self._max_body:
            raise HttpFetchError(f"the response is larger than {self._max_body} bytes")
        self._body += taken
        del self._buffer[: len(taken)]
        self._remaining -= len(taken)

    def _advance_chunked(self) -> None:
        while not self._done:
            if self._chunk_state == "data":
                self._take_body(self._remaining)
                if self._remaining:
                    return
                self._chunk_state = "end"
                continue
            line = self._take_line()
            if line is None:
                return
            self._on_chunk_line(line)

    def _on_chunk_line(self, line: bytes) -> None:
        if self._chunk_state == "size":
            self._remaining = parse_chunk_size(line)
            self._chunk_state = "data" if self._remaining else "trailers"
        elif self._chunk_state == "end":
            if line:
                raise HttpFetchError("a chunk of the response was longer than announced")
            self._chunk_state = "size"
        elif not line:  # the blank line after the trailer section ends the message
            self._done = True

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > _MAX_LINE:
                raise HttpFetchError("the server sent an over-long line in a chunked body")
            return None
        line = bytes(self._buffer[:end]).removesuffix(b"\r")
        del self._buffer[: end + 1]
        return line


async def https_get(host: str, path: str, resolver: DnsResolver, *, max_bytes: int) -> HttpResponse:
    """GET https://host/path through `resolver`; a 3xx raises, other statuses are returned to the caller."""
    config = resolver.config
    if _HOST.fullmatch(host) is None or _PATH.fullmatch(path) is None:
        raise HttpFetchError("refused to fetch a malformed URL")
    try:
        async with asyncio.timeout(config.timeout):
            response = await _exchange(host, path, resolver, max_bytes)
    except TimeoutError as exc:
        raise HttpFetchError(f"HTTPS request to {host} timed out after {config.timeout:g} s") from exc
    if 300 <= response.status < 400:
        raise HttpFetchError(
            f"{host} answered with a redirect (HTTP {response.status}); redirects are never followed",
            status=response.status,
        )
    return response


async def _exchange(host: str, path: str, resolver: DnsResolver, max_bytes: int) -> HttpResponse:
    answer = await resolver.address(host)
    if answer.error is not None:
        raise HttpFetchError(f"cannot resolve {host}: {answer.error}")
    if not answer.addresses:
        raise HostNotFound(f"{host} has no address in DNS")
    reader, writer = await _connect(host, answer.addresses, resolver)
    try:
        writer.write(_request(host, path, resolver.config.https_port))
        await writer.drain()
        return await read_response(reader, max_bytes)
    except ssl.SSLError as exc:
        raise HttpFetchError(f"the TLS connection to {host} failed ({exc.reason or exc})") from exc
    except OSError as exc:
        raise HttpFetchError(f"the connection to {host} failed ({exc.strerror or type(exc).__name__})") from exc
    finally:
        # Aborting never waits for the peer's close_notify, so a silent server cannot hold us past the timeout.
        writer.transport.abort()


async def _connect(
    host: str, addresses: tuple[str, ...], resolver: DnsResolver
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    config = resolver.config
    context = _tls_context(config.ca_pem)
    failure = "no address"
    for address in addresses:
        try:
            return await asyncio.open_connection(
                address, config.https_port, ssl=context, server_hostname=host, ssl_handshake_timeout=config.timeout
            )
        except ssl.SSLCertVerificationError as exc:
            raise HttpFetchError(f"the certificate of {host} is not trusted ({exc.verify_message})") from exc
        except ssl.SSLError as exc:
            raise HttpFetchError(f"no acceptable TLS connection to {host} ({exc.reason or exc})") from exc
        except OSError as exc:
            failure = exc.strerror or type(exc).__name__
    raise HttpFetchError(f"cannot connect to {host} ({failure})")


async def read_response(reader: asyncio.StreamReader, max_bytes: int) -> HttpResponse:
    """Reads one response of at most `max_bytes` of body from `reader` (also used by `web_image`)."""
    parser = ResponseParser(max_bytes)
    while True:
        data = await reader.read(_READ_SIZE)
        if not data:
            return parser.feed_eof()
        response = parser.feed(data)
        if response is not None:
            return response


def _request(host: str, path: str, port: int) -> bytes:
    # RFC 9110 §7.2: the Host field carries the port when it is not the scheme's default.
    authority = host if port == 443 else f"{host}:{port}"
    lines = (
        f"GET {path} HTTP/1.1",
        f"Host: {authority}",
        "User-Agent: Salus",
        "Accept: */*",
        "Accept-Encoding: identity",
        "Connection: close",
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@functools.lru_cache(maxsize=8)
def _tls_context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_pem:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as exc:
            raise HttpFetchError("the configured CA certificates for discovery cannot be used") from exc
    return context


def client_tls_context(ca_pem: str) -> ssl.SSLContext:
    """The verifying client context every HTTPS fetch of Salus uses (shared with `web_image`)."""
    return _tls_context(ca_pem)
