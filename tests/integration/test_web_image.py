"""Fetching a remote image the user asked for, against real HTTP and HTTPS servers on 127.0.0.1: what is sent,
what is accepted, and every hostile answer refused with its reason."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.discovery import DiscoveryConfig, DnsResolver
from app.discovery.web_image import FetchedImage, ImageRefused, fetch_image
from tests.support.dns_server import DnsServer
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import TestCA
from tests.ui.test_hostile_html import png_pixel

pytestmark = pytest.mark.integration

PNG = png_pixel()
Answer = tuple[int, tuple[tuple[str, str], ...], bytes]


class ImageHost:
    """Plain HTTP on loopback: fixed answers per path, every request's headers recorded."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                host.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = answers.get(self.path, (404, (), b"no"))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value.replace("{base}", host.base))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


PNG_TYPE = (("Content-Type", "image/png"),)
ANSWERS: dict[str, Answer] = {
    "/ok.png": (200, (*PNG_TYPE, ("Set-Cookie", "track=1; Path=/")), PNG),
    "/html": (200, (("Content-Type", "text/html"),), b"<html>hi</html>"),
    "/svg": (200, (("Content-Type", "image/svg+xml"),), b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'),
    "/liar.png": (200, PNG_TYPE, b"<html>not a png</html>"),
    "/huge.png": (200, PNG_TYPE, PNG + b"\0" * (3 * 1024 * 1024)),
    "/missing.png": (404, (), b"gone"),
    "/to-ok": (302, (("Location", "/ok.png"),), b""),
    "/to-file": (302, (("Location", "file:///etc/passwd"),), b""),
    "/to-data": (301, (("Location", "data:image/png;base64,AAAA"),), b""),
    "/loop": (302, (("Location", "{base}/loop"),), b""),
}


@pytest.fixture(scope="module")
def host() -> Iterator[ImageHost]:
    server = ImageHost(ANSWERS)
    yield server
    server.close()


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer([("images.test", "A", "127.0.0.1"), ("other.test", "A", "127.0.0.1")]) as server:
        yield server


@pytest.fixture
def resolver(dns_server: DnsServer, test_ca: TestCA) -> DnsResolver:
    return DnsResolver(DiscoveryConfig((dns_server.address,), test_ca.cert_file.read_text(), timeout=2.0))


def fetch(url: str, resolver: DnsResolver, *, allow_private: bool = True) -> FetchedImage:
    return asyncio.run(fetch_image(url, resolver, allow_private=allow_private))


def test_a_png_is_fetched_without_cookies_referer_or_identifying_headers(
    host: ImageHost, resolver: DnsResolver
) -> None:
    assert fetch(f"{host.base}/ok.png", resolver) == FetchedImage("image/png", PNG)
    fetch(f"{host.base}/to-ok", resolver)  # the server set a cookie before: it is never sent back
    for _path, headers in host.seen[-3:]:
        assert "cookie" not in headers and "referer" not in headers and "accept-language" not in headers
        assert headers["accept"].startswith("image/png") and "salus" not in headers["user-agent"].lower()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/html", "text/html is not an image type"),
        ("/svg", "image/svg+xml is not an image type"),
        ("/liar.png", "not a image/png image"),
        ("/huge.png", "larger than"),
        ("/missing.png", "HTTP 404"),
        ("/to-file", "only http and https"),
        ("/to-data", "only http and https"),
        ("/loop", "more than 3 redirects"),
    ],
)
def test_an_answer_that_is_not_a_plain_raster_image_is_refused(
    host: ImageHost, resolver: DnsResolver, path: str, reason: str
) -> None:
    with pytest.raises(ImageRefused, match=re.escape(reason)):
        fetch(f"{host.base}{path}", resolver)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://images.test/a.png", "javascript:alert(1)", "http://user:pw@images.test/a.png"]
)
def test_only_plain_http_and_https_addresses_are_fetched(resolver: DnsResolver, url: str) -> None:
    with pytest.raises(ImageRefused):
        fetch(url, resolver)


def test_loopback_and_private_addresses_are_refused_unless_allowed(host: ImageHost, resolver: DnsResolver) -> None:
    before = len(host.seen)
    port = host.server.server_address[1]
    for url in (f"{host.base}/ok.png", f"http://images.test:{port}/ok.png"):
        with pytest.raises(ImageRefused, match="not on the public internet"):
            fetch(url, resolver, allow_private=False)
    assert len(host.seen) == before  # refused before connecting
    assert fetch(f"http://images.test:{port}/ok.png", resolver).data == PNG  # the name resolves through discovery


def test_https_images_are_verified_against_the_host_name(
    resolver: DnsResolver, test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cert = test_ca.issue_server_cert(
        tmp_path_factory.mktemp("image-certs"), dns_names=("images.test",), ip_addresses=()
    )
    with HttpsServer(cert, {("images.test", "/a.png"): Route(body=PNG, headers=PNG_TYPE)}) as server:
        assert fetch(f"https://images.test:{server.port}/a.png", resolver).data == PNG
        with pytest.raises(ImageRefused, match="no trusted TLS connection"):
            fetch(f"https://other.test:{server.port}/a.png", resolver)  # the certificate does not name this host
