"""Fetching one remote image of a message, which the user asked to load (DESIGN.md §5, Reading).

Rules this module keeps:
- http and https only, on their own ports or the one the URL names; https is verified like every Salus fetch
  (system store plus `config.ca_pem`, host name checked, TLS 1.2+).
- The request carries nothing about the user: no cookies (there is no jar), no Referer, no Accept-Language, a
  generic User-Agent. It asks only for raster images.
- Redirects are followed only to http(s), at most MAX_REDIRECTS times; each hop is checked like the first.
- Addresses that are not on the public internet (loopback, private, link-local, reserved, multicast) are
  refused unless `allow_private` (a setting for tests and intranet image hosts): otherwise a message could make
  the reader send requests to the clinic's own routers, printers and admin pages.
- The answer must be 200, an allowed image type by its Content-Type *and* by its first bytes (SVG, which can
  carry script, is not one), and no larger than `max_bytes`. Anything else raises ImageRefused with a reason.
- Host names are resolved through the discovery resolver, like every other lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from app.discovery.http import DiscoveryError, HttpFetchError, HttpResponse, client_tls_context, read_response
from app.discovery.resolver import DnsResolver, ascii_domain

MAX_REDIRECTS = 3
MAX_IMAGE_BYTES = 2 * 1024 * 1024
# Content types we accept, each with the magic bytes its data must start with.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
_ACCEPT = ", ".join(_SIGNATURES)


class ImageRefused(DiscoveryError):
    """A remote image was not fetched, or its answer was not an acceptable image; the text says why."""


@dataclass(frozen=True, slots=True)
class FetchedImage:
    media_type: str
    data: bytes


async def fetch_image(
    url: str, resolver: DnsResolver, *, allow_private: bool = False, max_bytes: int = MAX_IMAGE_BYTES
) -> FetchedImage:
    """GET one image; raises ImageRefused."""
    try:
        async with asyncio.timeout(resolver.config.timeout):
            for _ in range(MAX_REDIRECTS + 1):
                response = await _get(_checked(url), resolver, allow_private, max_bytes)
                location = response.header("location")
                if not (300 <= response.status < 400 and location):
                    return _image(response)
                url = urljoin(url, location)
    except TimeoutError as exc:
        raise ImageRefused(f"the image server did not answer within {resolver.config.timeout:g} s") from exc
    except HttpFetchError as exc:
        raise ImageRefused(str(exc)) from exc
    raise ImageRefused(f"more than {MAX_REDIRECTS} redirects")


def _checked(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ImageRefused("the image address is malformed") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ImageRefused("only http and https images are loaded")
    if parts.username or parts.password:
        raise ImageRefused("image addresses with credentials are not loaded")
    return parts


async def _get(parts: SplitResult, resolver: DnsResolver, allow_private: bool, max_bytes: int) -> HttpResponse:
    host = parts.hostname or ""
    addresses = await _addresses(host, resolver)
    if not allow_private:
        for address in addresses:
            if not ipaddress.ip_address(address).is_global:
                raise ImageRefused(f"{host} is not on the public internet")
    tls = parts.scheme.lower() == "https"
    port = parts.port or (443 if tls else 80)
    reader, writer = await _connect(host, addresses, port, tls, resolver.config.ca_pem)
    try:
        writer.write(_request(parts, host, port, tls))
        await writer.drain()
        return await read_response(reader, max_bytes)
    except (ssl.SSLError, OSError) as exc:
        raise ImageRefused(f"the connection to {host} failed") from exc
    finally:
        writer.transport.abort()


async def _addresses(host: str, resolver: DnsResolver) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    if ascii_domain(host) is None:
        raise ImageRefused("the image address names no valid host")
    answer = await resolver.address(host)
    if not answer.addresses:
        raise ImageRefused(f"cannot resolve {host}: {answer.error or 'no address'}")
    return answer.addresses


async def _connect(
    host: str, addresses: tuple[str, ...], port: int, tls: bool, ca_pem: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    context = client_tls_context(ca_pem) if tls else None
    for address in addresses:
        try:
            return await asyncio.open_connection(address, port, ssl=context, server_hostname=host if tls else None)
        except ssl.SSLError as exc:
            raise ImageRefused(f"no trusted TLS connection to {host}") from exc
        except OSError:
            continue
    raise ImageRefused(f"cannot connect to {host}")


def _request(parts: SplitResult, host: str, port: int, tls: bool) -> bytes:
    # Percent-encode what is not ASCII (RFC 3986 §2.1); what is already encoded stays as it is.
    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe="!#$%&'()*+,/:;=?@[]~")
    authority = host if port == (443 if tls else 80) else f"{host}:{port}"
    if ":" in host:
        authority = f"[{host}]" if port == (443 if tls else 80) else f"[{host}]:{port}"
    if any(c in target for c in "\r\n \t"):
        raise ImageRefused("the image address is malformed")
    lines = (f"GET {target} HTTP/1.1", f"Host: {authority}", "User-Agent: Mozilla/5.0", f"Accept: {_ACCEPT}",
             "Accept-Encoding: identity", "Connection: close")  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _image(response: HttpResponse) -> FetchedImage:
    if response.status != 200:
        raise ImageRefused(f"the image server answered HTTP {response.status}")
    signatures = _SIGNATURES.get(response.media_type)
    if signatures is None:
        raise ImageRefused(f"{response.media_type or 'an untyped answer'} is not an image type Salus shows")
    if not response.body.startswith(signatures) or (
        response.media_type == "image/webp" and response.body[8:12] != b"WEBP"
    ):
        raise ImageRefused(f"the data is not a {response.media_type} image")
    return FetchedImage(response.media_type, response.body)
