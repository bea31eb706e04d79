"""Servers for resend tests: a partner domain whose MTA-STS policy enforces TLS (so the plan says `tls`), a
submission server that advertises REQUIRETLS but refuses it with 5.7.30 (RFC 8689 §5), and the secure portal,
all on 127.0.0.1 with free ports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.dns_server import DnsServer
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import TestCA
from tests.support.portal_server import UPLOAD_KEY, PortalServer
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer

PARTNER = "dr.x@partner.test"
REFUSAL = "550 5.7.30 REQUIRETLS support required"
ENFORCE = b"version: STSv1\nmode: enforce\nmx: mx.partner.test\nmax_age: 86400\n"


@dataclass
class RefusingWorld:
    policy: Path
    smtp: SmtpServer
    portal: PortalServer


@contextmanager
def refusing_world(base: Path, ca: TestCA) -> Iterator[RefusingWorld]:
    web_cert = ca.issue_server_cert(base / "web", dns_names=("mta-sts.partner.test",), ip_addresses=())
    routes = {("mta-sts.partner.test", "/.well-known/mta-sts.txt"): Route(body=ENFORCE)}
    records = [
        ("partner.test", "MX", "10 mx.partner.test."),
        ("_mta-sts.partner.test", "TXT", '"v=STSv1; id=1"'),
        ("mta-sts.partner.test", "A", "127.0.0.1"),
    ]
    smtp_cert = ca.issue_server_cert(base / "smtp")
    with (
        DnsServer(records) as dns,
        HttpsServer(web_cert, routes) as web,
        SmtpServer(smtp_cert, requiretls=True, refuse_requiretls=REFUSAL) as smtp,
        PortalServer(base / "portal", ca, smtp) as portal,
    ):
        (base / "upload.key").write_text(UPLOAD_KEY + "\n")
        policy = base / "policy.json"
        policy.write_text(json.dumps({
            "dns_resolvers": [f"127.0.0.1:{dns.port}"], "discovery_ca_file": str(ca.cert_file),
            "discovery_https_port": web.port, "discovery_timeout_seconds": 2, "portal_url": portal.url,
            "portal_upload_key_file": str(base / "upload.key"), "portal_ca_file": str(ca.cert_file),
        }))  # fmt: skip
        yield RefusingWorld(policy, smtp, portal)


def sending_profile(base: Path, policy: Path, ca: TestCA, smtp_port: int) -> Salus:
    """A profile under `policy` whose one account submits to the SMTP server on `smtp_port` (no IMAP needed)."""
    salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    salus.ok(
        "account", "add", "work", "--imap", "127.0.0.1:1", "--smtp", f"127.0.0.1:{smtp_port}", "--user", "me",
        "--address", "doctor@clinic.test", "--ca-file", str(ca.cert_file),
        extra_env={"SALUS_ACCOUNT_PASSWORD": "pw"},
    )  # fmt: skip
    return salus
