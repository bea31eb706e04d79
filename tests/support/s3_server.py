"""An S3-compatible object store on https://127.0.0.1:<free port> for tests: moto's S3 service (a protocol-
level simulation of S3, not MinIO, which cannot be installed here), served over TLS with the test CA.

moto keeps its state in this process, so each test uses a bucket of its own.
"""

from __future__ import annotations

import secrets
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from app.portal.s3 import S3ObjectStore, S3Settings
from tests.support.pki import TestCA


@dataclass(frozen=True)
class S3Server:
    url: str
    ca_file: Path

    def new_store(self) -> S3ObjectStore:
        settings = S3Settings(
            self.url, f"portal-{secrets.token_hex(6)}", "us-east-1", "AKIDPORTALTEST", secrets.token_urlsafe(24),
            ca_pem=self.ca_file.read_text(),
        )  # fmt: skip
        store = S3ObjectStore(settings)
        store.create_bucket()
        return store


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # one line per request on stderr says nothing a test needs


@contextmanager
def running_s3(directory: Path, ca: TestCA) -> Iterator[S3Server]:
    cert = ca.issue_server_cert(directory, dns_names=("localhost",), ip_addresses=("127.0.0.1",), name="s3")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.chain_file, cert.key_file)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, name="s3-server", daemon=True)
    thread.start()
    try:
        yield S3Server(f"https://127.0.0.1:{server.server_address[1]}", ca.cert_file)
    finally:
        server.shutdown()
        thread.join(timeout=10)
