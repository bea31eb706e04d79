"""Account autoconfig against real servers on 127.0.0.1: a DNS server with the domains' records and SRV services,
an HTTPS server (certificate from the test CA) serving Thunderbird autoconfig documents, honest and hostile.

Each scenario is its own domain. Discovery is pointed at the servers the way IT would point it at its own:
through the settings (`dns_resolvers`, `discovery_ca_file`, `discovery_https_port`), here in a managed policy
file for the command-line test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from app.core.models import Endpoint, Security
from app.core.settings import effective
from app.discovery import DiscoveryConfig, DiscoveryError, DnsResolver, SettingsSource
from app.discovery.autoconfig import CONFIG_PATH, WELL_KNOWN_PATH, Discovery, discover_servers
from app.services.account_discovery import suggest_servers_now
from tests.support.dns_server import DnsServer, Record
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus

pytestmark = pytest.mark.integration


def client_config(*servers: tuple[str, str, str, int, str, str]) -> bytes:
    """A clientConfig document; each server is (element, type, hostname, port, socketType, username)."""
    parts = [
        f'<{element} type="{kind}"><hostname>{host}</hostname><port>{port}</port>'
        f"<socketType>{socket}</socketType><username>{user}</username>"
        f"<authentication>password-cleartext</authentication></{element}>"
        for element, kind, host, port, socket, user in servers
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1"><emailProvider id="x">'
        f"<domain>x</domain><displayName>Mail &amp; more</displayName>{''.join(parts)}</emailProvider></clientConfig>"
    ).encode()


GOOD = client_config(
    ("incomingServer", "pop3", "pop.config.test", 995, "SSL", "%EMAILADDRESS%"),
    ("incomingServer", "imap", "imap.config.test", 993, "SSL", "%EMAILLOCALPART%"),
    ("incomingServer", "imap", "imap2.config.test", 143, "STARTTLS", "%EMAILLOCALPART%"),
    ("outgoingServer", "smtp", "smtp.%EMAILDOMAIN%", 587, "STARTTLS", "%EMAILLOCALPART%"),
)
PLAIN_ONLY = client_config(
    ("incomingServer", "imap", "imap.plain.test", 143, "plain", "%EMAILADDRESS%"),
    ("outgoingServer", "smtp", "smtp.plain.test", 25, "plain", "%EMAILADDRESS%"),
)
LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE clientConfig [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((c,) + (c - 1,) * 10) for c in b"bcdefghij"
    )
    + b"]>\n<clientConfig><emailProvider><domain>&j;</domain></emailProvider></clientConfig>"
)
EXTERNAL = (
    b'<?xml version="1.0"?>\n<!DOCTYPE clientConfig SYSTEM "https://evil.test/x.dtd">\n'
    b"<clientConfig><emailProvider><incomingServer/></emailProvider></clientConfig>"
)
HUGE = GOOD.replace(b"<domain>x</domain>", b"<domain>" + b"x" * 200_000 + b"</domain>")


def autoconfig_route(domain: str, user: str = "anna") -> tuple[str, str]:
    return f"autoconfig.{domain}", f"{CONFIG_PATH}?emailaddress={quote(f'{user}@{domain}', safe='')}"


ROUTES: dict[tuple[str, str], Route] = {
    autoconfig_route("config.test"): Route(body=GOOD, headers=(("Content-Type", "text/xml"),)),
    ("wellknown.test", WELL_KNOWN_PATH): Route(body=GOOD.replace(b"config.test", b"wellknown.test")),
    autoconfig_route("plain.test"): Route(body=PLAIN_ONLY),
    autoconfig_route("huge.test"): Route(body=HUGE),
    autoconfig_route("laughs.test"): Route(body=LAUGHS),
    autoconfig_route("external.test"): Route(body=EXTERNAL),
    autoconfig_route("redirect.test"): Route(301, b"", (("Location", "https://evil.test/mail/config-v1.1.xml"),)),
    ("evil.test", "/mail/config-v1.1.xml"): Route(body=GOOD),
    autoconfig_route("garbage.test"): Route(body=b"<html><body>Welcome</body></html>"),
}
HTTPS_NAMES = sorted({host for host, _ in ROUTES} | {"redirect.test"})
ZONE: list[Record] = [
    *((host, "A", "127.0.0.1") for host in HTTPS_NAMES),
    ("autoconfig.nocert.test", "A", "127.0.0.1"),  # served, but the certificate does not name it
    # SRV records that must lose against the autoconfig document of the same domain.
    ("_imaps._tcp.config.test", "SRV", "0 1 993 srv-imap.config.test."),
    # SRV: priority first, then weight.
    ("_imaps._tcp.srv.test", "SRV", "20 100 993 imap-backup.srv.test."),
    ("_imaps._tcp.srv.test", "SRV", "10 5 993 imap-light.srv.test."),
    ("_imaps._tcp.srv.test", "SRV", "10 50 10993 imap-main.srv.test."),
    ("_imap._tcp.srv.test", "SRV", "0 1 143 imap-starttls.srv.test."),
    ("_submission._tcp.srv.test", "SRV", "0 1 587 smtp.srv.test."),
    # "." = not offered: implicit TLS is declined, so STARTTLS is suggested; submission is declined entirely.
    ("_imaps._tcp.dot.test", "SRV", "0 0 0 ."),
    ("_imap._tcp.dot.test", "SRV", "0 0 143 imap.dot.test."),
    ("_submissions._tcp.dot.test", "SRV", "0 0 0 ."),
    ("_submission._tcp.dot.test", "SRV", "0 0 0 ."),
    # The plaintext-only configuration falls through to these.
    ("_imaps._tcp.plain.test", "SRV", "0 1 993 imap.plain.test."),
    ("_submissions._tcp.plain.test", "SRV", "0 1 465 smtp.plain.test."),
]


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer(ZONE) as server:
        yield server


@pytest.fixture(scope="module")
def web(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsServer]:
    cert = test_ca.issue_server_cert(tmp_path_factory.mktemp("autoconfig-certs"), dns_names=HTTPS_NAMES)
    with HttpsServer(cert, ROUTES) as server:
        yield server


@pytest.fixture
def resolver(dns_server: DnsServer, web: HttpsServer, test_ca: TestCA) -> DnsResolver:
    config = DiscoveryConfig((dns_server.address,), test_ca.cert_file.read_text(), timeout=3.0, https_port=web.port)
    return DnsResolver(config)


def discover(address: str, resolver: DnsResolver) -> Discovery:
    return asyncio.run(discover_servers(address, resolver))


def test_autoconfig_document_fills_imap_and_smtp_with_placeholders_resolved(resolver: DnsResolver) -> None:
    found = discover("anna@config.test", resolver)
    assert found.suggestion is not None
    assert found.suggestion.imap == Endpoint("imap.config.test", 993, Security.TLS)  # POP3 skipped, best IMAP
    assert found.suggestion.smtp == Endpoint("smtp.config.test", 587, Security.STARTTLS)
    assert found.suggestion.username == "anna"
    assert found.suggestion.source is SettingsSource.AUTOCONFIG
    assert found.suggestion.origin == "https://autoconfig.config.test/mail/config-v1.1.xml"  # no address shown
    assert found.notes == ()


def test_well_known_location_is_asked_when_the_autoconfig_host_does_not_exist(resolver: DnsResolver) -> None:
    found = discover("anna@wellknown.test", resolver)
    assert found.suggestion is not None and found.suggestion.source is SettingsSource.WELL_KNOWN
    assert found.suggestion.imap == Endpoint("imap.wellknown.test", 993, Security.TLS)
    assert found.notes == (
        "https://autoconfig.wellknown.test/mail/config-v1.1.xml: autoconfig.wellknown.test has no address in DNS",
    )


def test_plaintext_only_configuration_is_ignored_with_a_reason_and_srv_records_are_used(
    resolver: DnsResolver,
) -> None:
    found = discover("anna@plain.test", resolver)
    assert any("ignored, it offers no IMAP or SMTP server with TLS or STARTTLS" in n for n in found.notes)
    assert found.suggestion is not None and found.suggestion.source is SettingsSource.SRV
    assert found.suggestion.imap == Endpoint("imap.plain.test", 993, Security.TLS)
    assert found.suggestion.smtp == Endpoint("smtp.plain.test", 465, Security.TLS)
    assert found.suggestion.username == "anna@plain.test"


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("huge.test", "larger than 65536 bytes"),
        ("laughs.test", "declares a document type"),
        ("external.test", "declares a document type"),
        ("garbage.test", "not a clientConfig"),
        ("nocert.test", "not trusted"),
        ("redirect.test", "redirects are never followed"),
    ],
)
def test_hostile_or_broken_configuration_is_refused_with_its_reason(
    resolver: DnsResolver, web: HttpsServer, domain: str, reason: str
) -> None:
    found = discover(f"anna@{domain}", resolver)
    assert found.suggestion is None
    assert reason in found.notes[0], found.notes
    assert found.notes[-1] == f"DNS SRV records of {domain}: no IMAP or submission service published"


def test_a_redirect_to_another_host_is_never_followed(resolver: DnsResolver, web: HttpsServer) -> None:
    discover("anna@redirect.test", resolver)
    assert [host for host, _ in web.requests if host == "evil.test"] == []


def test_srv_records_are_taken_by_priority_then_weight_preferring_implicit_tls(resolver: DnsResolver) -> None:
    found = discover("bob@srv.test", resolver)
    assert found.suggestion is not None and found.suggestion.source is SettingsSource.SRV
    assert found.suggestion.imap == Endpoint("imap-main.srv.test", 10993, Security.TLS)
    assert found.suggestion.smtp == Endpoint("smtp.srv.test", 587, Security.STARTTLS)
    assert "_imaps._tcp.srv.test" in found.suggestion.origin


def test_srv_target_dot_means_the_service_is_not_offered(resolver: DnsResolver) -> None:
    found = discover("bob@dot.test", resolver)
    assert found.suggestion is not None
    assert found.suggestion.imap == Endpoint("imap.dot.test", 143, Security.STARTTLS)
    assert found.suggestion.smtp is None
    assert '_submissions._tcp.dot.test: the service is not offered (target ".")' in found.notes


@pytest.mark.parametrize("address", ["no-at-sign", "anna@", "@config.test", "anna@-bad-.test", "anna@localhost"])
def test_a_malformed_address_is_refused_before_any_lookup(resolver: DnsResolver, address: str) -> None:
    with pytest.raises(DiscoveryError, match="not an email address"):
        discover(address, resolver)


def test_the_service_reads_resolvers_ca_and_port_from_settings(
    dns_server: DnsServer, web: HttpsServer, test_ca: TestCA
) -> None:
    settings = effective(
        {
            "dns_resolvers": [dns_server.address],
            "discovery_ca_file": str(test_ca.cert_file),
            "discovery_https_port": web.port,
        },
        {},
    )
    found = suggest_servers_now("anna@config.test", settings)
    assert found.suggestion is not None and found.suggestion.imap == Endpoint("imap.config.test", 993, Security.TLS)


def test_cli_account_discover_prints_the_suggestion_and_where_it_came_from(
    tmp_path: Path, dns_server: DnsServer, web: HttpsServer, test_ca: TestCA
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "dns_resolvers": [dns_server.address],
                "discovery_ca_file": str(test_ca.cert_file),
                "discovery_https_port": web.port,
            }
        )
    )
    env = {"SALUS_POLICY_FILE": str(policy)}
    document = Salus(tmp_path / "unused").json("account", "discover", "anna@config.test", extra_env=env)
    assert document == {
        "address": "anna@config.test",
        "found": True,
        "notes": [],
        "source": "autoconfig",
        "origin": "https://autoconfig.config.test/mail/config-v1.1.xml",
        "username": "anna",
        "imap": {"host": "imap.config.test", "port": 993, "security": "tls"},
        "smtp": {"host": "smtp.config.test", "port": 587, "security": "starttls"},
    }
    missing = Salus(tmp_path / "unused").run("account", "discover", "anna@huge.test", "--json", extra_env=env)
    assert missing.code == 1 and json.loads(missing.stdout)["found"] is False
