"""The submission server's capabilities are learned over verified TLS, and STARTTLS never falls back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.core.errors import TransportSecurityRefused
from app.core.models import Endpoint, Security
from app.mail.smtp.probe import probe_submission
from tests.support.pki import ServerCert, TestCA, untrusted_server_cert
from tests.support.smtp_server import HOST, SmtpServer


@pytest.fixture(scope="module")
def cert(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> ServerCert:
    return test_ca.issue_server_cert(tmp_path_factory.mktemp("smtp-cert"))


def probe(port: int, security: Security, ca: Path) -> object:
    return asyncio.run(probe_submission(Endpoint(HOST, port, security), ca.read_text(), timeout=5))


@pytest.mark.parametrize(("mode", "security"), [("tls", Security.TLS), ("starttls", Security.STARTTLS)])
def test_requiretls_is_seen_when_offered(cert: ServerCert, test_ca: TestCA, mode: str, security: Security) -> None:
    with SmtpServer(cert, mode=mode, requiretls=True, dsn=True) as server:
        capabilities = probe(server.port, security, test_ca.cert_file)
    assert capabilities.requiretls and capabilities.dsn  # type: ignore[attr-defined]


def test_requiretls_absent_when_not_offered(cert: ServerCert, test_ca: TestCA) -> None:
    with SmtpServer(cert, mode="tls") as server:
        capabilities = probe(server.port, Security.TLS, test_ca.cert_file)
    assert not capabilities.requiretls  # type: ignore[attr-defined]


def test_starttls_account_refuses_a_server_without_starttls(cert: ServerCert, test_ca: TestCA) -> None:
    with (
        SmtpServer(cert, mode="plain", requiretls=True) as server,
        pytest.raises(TransportSecurityRefused, match="does not offer STARTTLS"),
    ):
        probe(server.port, Security.STARTTLS, test_ca.cert_file)


def test_untrusted_certificate_is_refused(test_ca: TestCA, tmp_path: Path) -> None:
    rogue = untrusted_server_cert(tmp_path)
    with SmtpServer(rogue, mode="tls") as server, pytest.raises(TransportSecurityRefused, match="not trusted"):
        probe(server.port, Security.TLS, test_ca.cert_file)
