"""Discovery against real servers on 127.0.0.1: a DNS server playing the validating resolver, HTTPS policy hosts.

One DNS server serves every scenario under its own domain; one HTTPS server with a certificate from the test CA
serves the MTA-STS policies. Servers with an expired or an untrusted certificate serve the same policy for the
certificate tests. The DNS zone maps every mta-sts.* name to 127.0.0.1; DiscoveryConfig.https_port points the
client at the server's port.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.discovery import (
    DaneStatus,
    DiscoveryConfig,
    DnsResolver,
    HostNotFound,
    HttpFetchError,
    MtaStsResult,
    StsMode,
    https_get,
    lookup_dane,
    lookup_mta_sts,
)
from tests.support.dns_server import DnsServer, Record
from tests.support.https_server import HttpsServer, Route
from tests.support.pki import ServerCert, TestCA, untrusted_server_cert

pytestmark = pytest.mark.integration

POLICY_PATH = "/.well-known/mta-sts.txt"
TIMEOUT = 0.5
KEY_HASH = "3 1 1 " + "ab" * 32


def policy(mode: str, *mx: str) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), "max_age: 604800"]
    return ("\r\n".join(lines) + "\r\n").encode()


# Each MTA-STS scenario: domain -> (TXT records, MX hosts, route or None for "no policy served").
STS_SCENARIOS: dict[str, tuple[tuple[str, ...], tuple[str, ...], Route | None]] = {
    "enforce.test": (
        ("v=STSv1; id=enf1;",),
        ("mx1.enforce.test", "mx2.enforce.test"),
        Route(body=policy("enforce", "*.enforce.test")),
    ),
    "testing.test": (("v=STSv1; id=t1;",), ("mail.testing.test",), Route(body=policy("testing", "mail.testing.test"))),
    "mismatch.test": (("v=STSv1; id=m1;",), ("mx.mismatch.test",), Route(body=policy("enforce", "*.elsewhere.test"))),
    "redirect.test": (
        ("v=STSv1; id=r1;",),
        ("mx.redirect.test",),
        Route(301, b"", (("Location", "https://mta-sts.enforce.test" + POLICY_PATH),)),
    ),
    "missing.test": (("v=STSv1; id=404;",), ("mx.missing.test",), None),
    "twotxt.test": (
        ("v=STSv1; id=a1;", "v=STSv1; id=b2;"),
        ("mx.twotxt.test",),
        Route(body=policy("enforce", "*.twotxt.test")),
    ),
    "html.test": (
        ("v=STSv1; id=h1;",),
        ("mx.html.test",),
        Route(body=policy("enforce", "*.html.test"), headers=(("Content-Type", "text/html"),)),
    ),
    "chunked.test": (
        ("v=STSv1; id=c1;",),
        ("mx.chunked.test",),
        Route(body=policy("enforce", "*.chunked.test"), framing="chunked"),
    ),
    "close.test": (
        ("v=STSv1; id=cl1;",),
        ("mx.close.test",),
        Route(body=policy("enforce", "*.close.test"), framing="close"),
    ),
    "huge.test": (
        ("v=STSv1; id=big;",),
        ("mx.huge.test",),
        Route(body=policy("enforce", "*.huge.test") + b"x: " + b"y" * 70_000 + b"\n"),
    ),
    "badpolicy.test": (("v=STSv1; id=bad;",), ("mx.badpolicy.test",), Route(body=b"version: STSv1\nmode: on\n")),
    "nosts.test": ((), ("mx.nosts.test",), None),
    "mxfail.test": (("v=STSv1; id=mf1;",), (), Route(body=policy("enforce", "*.mxfail.test"))),
}

DANE_ZONE: list[Record] = [
    ("dane-ok.test", "MX", "10 mx.dane-ok.test."),
    ("_25._tcp.mx.dane-ok.test", "TLSA", KEY_HASH),
    ("dane-noad.test", "MX", "10 mx.dane-noad.test."),
    ("_25._tcp.mx.dane-noad.test", "TLSA", KEY_HASH),
    ("dane-mx-noad.test", "MX", "10 mx.dane-mx-noad.test."),
    ("_25._tcp.mx.dane-mx-noad.test", "TLSA", KEY_HASH),
    ("dane-partial.test", "MX", "10 mx1.dane-partial.test."),
    ("dane-partial.test", "MX", "20 mx2.dane-partial.test."),
    ("_25._tcp.mx1.dane-partial.test", "TLSA", KEY_HASH),
    ("mx2.dane-partial.test", "A", "192.0.2.2"),
    ("dane-pkix.test", "MX", "10 mx.dane-pkix.test."),
    ("_25._tcp.mx.dane-pkix.test", "TLSA", "1 0 1 " + "cd" * 32),
    ("dane-none.test", "MX", "10 mx.dane-none.test."),
    ("mx.dane-none.test", "A", "192.0.2.3"),
    ("dane-fail.test", "MX", "10 mx.dane-fail.test."),
    ("dane-implicit.test", "A", "192.0.2.4"),
    ("_25._tcp.dane-implicit.test", "TLSA", KEY_HASH),
]
AUTHENTICATED = [
    "dane-ok.test",
    "_25._tcp.mx.dane-ok.test",
    "dane-noad.test",
    "_25._tcp.mx-dane-mx-noad.test",
    "dane-partial.test",
    "_25._tcp.mx1.dane-partial.test",
    "_25._tcp.mx2.dane-partial.test",
    "dane-pkix.test",
    "_25._tcp.mx.dane-pkix.test",
    "dane-none.test",
    "_25._tcp.mx.dane-none.test",
    "dane-implicit.test",
    "_25._tcp.dane-implicit.test",
    "_25._tcp.mx.dane-mx-noad.test",
]


def sts_zone() -> list[Record]:
    records: list[Record] = [("_mta-sts.slow.test", "TXT", '"v=STSv1; id=slow;"')]
    for domain, (txts, hosts, _) in STS_SCENARIOS.items():
        records += [(f"_mta-sts.{domain}", "TXT", f'"{txt}"') for txt in txts]
        records += [(domain, "MX", f"{10 * (i + 1)} {host}.") for i, host in enumerate(hosts)]
        records += [(f"mta-sts.{domain}", "A", "127.0.0.1"), (f"_mta-sts.{domain}", "TXT", '"v=spf1 -all"')]
    return records


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    with DnsServer(
        sts_zone() + DANE_ZONE,
        authenticated=AUTHENTICATED,
        dropped=["_mta-sts.slow.test"],
        failing=["_25._tcp.mx.dane-fail.test", "_mta-sts.servfail.test", "mxfail.test"],
    ) as server:
        yield server


@pytest.fixture(scope="module")
def certs(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ServerCert]:
    directory = tmp_path_factory.mktemp("discovery-certs")
    names = tuple(f"mta-sts.{domain}" for domain in STS_SCENARIOS)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return {
        "good": test_ca.issue_server_cert(directory, dns_names=names, name="policy-host"),
        "expired": test_ca.issue_server_cert(
            directory, dns_names=names, not_before=past - dt.timedelta(days=30), not_after=past, name="expired"
        ),
        "untrusted": untrusted_server_cert(directory, dns_names=names),
        "wrong-name": test_ca.issue_server_cert(directory, dns_names=("other.test",), name="wrong-name"),
    }


def routes() -> dict[tuple[str, str], Route]:
    return {(f"mta-sts.{d}", POLICY_PATH): route for d, (_, _, route) in STS_SCENARIOS.items() if route is not None}


@pytest.fixture(scope="module")
def policy_host(certs: dict[str, ServerCert]) -> Iterator[HttpsServer]:
    with HttpsServer(certs["good"], routes()) as server:
        yield server


def config_for(dns_server: DnsServer, test_ca: TestCA, port: int, **overrides: Any) -> DiscoveryConfig:
    settings: dict[str, Any] = {
        "resolvers": (dns_server.address,),
        "ca_pem": test_ca.cert_file.read_text(),
        "timeout": TIMEOUT,
        "https_port": port,
    }
    return DiscoveryConfig(**(settings | overrides))


@pytest.fixture
def resolver(dns_server: DnsServer, test_ca: TestCA, policy_host: HttpsServer) -> DnsResolver:
    return DnsResolver(config_for(dns_server, test_ca, policy_host.port))


def sts(domain: str, resolver: DnsResolver) -> MtaStsResult:
    return asyncio.run(lookup_mta_sts(domain, resolver))


# ---- MTA-STS ---------------------------------------------------------------------------------------------------


def test_enforce_policy_with_matching_mx_is_reported_with_its_details(resolver: DnsResolver) -> None:
    assert sts("enforce.test", resolver) == MtaStsResult(
        mode=StsMode.ENFORCE,
        mx_matched=True,
        policy_id="enf1",
        max_age=604800,
        mx_patterns=("*.enforce.test",),
        error=None,
        mx_hosts=("mx1.enforce.test", "mx2.enforce.test"),
    )


def test_testing_mode_is_reported_as_testing(resolver: DnsResolver) -> None:
    result = sts("testing.test", resolver)
    assert (result.mode, result.mx_matched, result.error) == (StsMode.TESTING, True, None)


def test_mx_outside_the_policy_is_enforce_without_match(resolver: DnsResolver) -> None:
    result = sts("mismatch.test", resolver)
    assert (result.mode, result.mx_matched) == (StsMode.ENFORCE, False)


@pytest.mark.parametrize("domain", ["chunked.test", "close.test"])
def test_policy_is_read_whatever_the_body_framing(resolver: DnsResolver, domain: str) -> None:
    result = sts(domain, resolver)
    assert (result.mode, result.mx_matched) == (StsMode.ENFORCE, True)


def test_domain_without_sts_record_is_absent(resolver: DnsResolver) -> None:
    assert sts("nosts.test", resolver) == MtaStsResult(StsMode.ABSENT)
    assert sts("unknown-domain.test", resolver) == MtaStsResult(StsMode.ABSENT)


def test_redirect_is_refused_and_not_followed(resolver: DnsResolver, policy_host: HttpsServer) -> None:
    before = len(policy_host.requests)
    result = sts("redirect.test", resolver)
    assert result.mode is StsMode.LOOKUP_FAILED
    assert result.error is not None and "redirect (HTTP 301)" in result.error
    assert policy_host.requests[before:] == [("mta-sts.redirect.test", POLICY_PATH)]


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        pytest.param("missing.test", "HTTP 404", id="txt-present-policy-404"),
        pytest.param("twotxt.test", "exactly one", id="two-txt-records"),
        pytest.param("html.test", "text/plain", id="wrong-media-type"),
        pytest.param("huge.test", "larger than 65536 bytes", id="policy-over-64-kib"),
        pytest.param("badpolicy.test", "mode", id="invalid-policy"),
        pytest.param("servfail.test", "SERVFAIL", id="txt-servfail"),
    ],
)
def test_published_but_unusable_policy_is_lookup_failed(resolver: DnsResolver, domain: str, reason: str) -> None:
    result = sts(domain, resolver)
    assert result.mode is StsMode.LOOKUP_FAILED
    assert result.mx_matched is False
    assert result.error is not None and reason in result.error


@pytest.mark.parametrize(
    ("cert_name", "reason"),
    [
        pytest.param("expired", "certificate has expired", id="expired-certificate"),
        pytest.param("untrusted", "certificate chain", id="untrusted-ca"),
        pytest.param("wrong-name", "Hostname mismatch", id="certificate-for-another-name"),
    ],
)
def test_policy_behind_a_bad_certificate_is_lookup_failed(
    dns_server: DnsServer, test_ca: TestCA, certs: dict[str, ServerCert], cert_name: str, reason: str
) -> None:
    with HttpsServer(certs[cert_name], routes()) as server:
        result = sts("enforce.test", DnsResolver(config_for(dns_server, test_ca, server.port)))
        assert server.requests == []
    assert result.mode is StsMode.LOOKUP_FAILED
    assert result.error is not None and "not trusted" in result.error and reason in result.error


def test_policy_signed_by_the_test_ca_is_refused_without_that_ca(
    dns_server: DnsServer, test_ca: TestCA, policy_host: HttpsServer
) -> None:
    config = config_for(dns_server, test_ca, policy_host.port, ca_pem="")
    result = sts("enforce.test", DnsResolver(config))
    assert result.mode is StsMode.LOOKUP_FAILED


def test_dns_timeout_is_lookup_failed_within_the_configured_time(resolver: DnsResolver) -> None:
    started = time.monotonic()
    result = sts("slow.test", resolver)
    elapsed = time.monotonic() - started
    assert result.mode is StsMode.LOOKUP_FAILED
    assert result.error is not None and "timeout" in result.error
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.4


def test_mx_failure_after_a_good_policy_keeps_the_policy_but_claims_no_match(resolver: DnsResolver) -> None:
    result = sts("mxfail.test", resolver)
    assert (result.mode, result.mx_matched) == (StsMode.LOOKUP_FAILED, False)
    assert (result.policy_id, result.max_age, result.mx_patterns) == ("mf1", 604800, ("*.mxfail.test",))
    assert result.error is not None and result.error.startswith("MX lookup failed")


def test_silent_policy_host_is_lookup_failed_within_the_configured_time(dns_server: DnsServer, test_ca: TestCA) -> None:
    # The kernel completes the TCP handshake from the backlog; nobody ever speaks TLS.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        config = config_for(dns_server, test_ca, silent.getsockname()[1])
        started = time.monotonic()
        result = sts("enforce.test", DnsResolver(config))
        elapsed = time.monotonic() - started
    assert result.mode is StsMode.LOOKUP_FAILED
    assert result.error is not None and "timeout" in result.error
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + 0.4


# ---- DANE ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "state"),
    [
        pytest.param("dane-ok.test", DaneStatus.VALIDATED, id="mx-and-tlsa-authenticated"),
        pytest.param("dane-implicit.test", DaneStatus.VALIDATED, id="implicit-mx-authenticated"),
        pytest.param("dane-noad.test", DaneStatus.NOT_VALIDATED, id="tlsa-without-ad"),
        pytest.param("dane-mx-noad.test", DaneStatus.NOT_VALIDATED, id="mx-without-ad"),
        pytest.param("dane-partial.test", DaneStatus.NOT_VALIDATED, id="one-mx-host-without-tlsa"),
        pytest.param("dane-pkix.test", DaneStatus.NOT_VALIDATED, id="only-pkix-usages"),
        pytest.param("dane-none.test", DaneStatus.ABSENT, id="no-tlsa"),
        pytest.param("dane-fail.test", DaneStatus.LOOKUP_FAILED, id="tlsa-servfail"),
        pytest.param("unknown-domain.test", DaneStatus.ABSENT, id="nxdomain"),
    ],
)
def test_dane_state_follows_the_resolvers_ad_flag(resolver: DnsResolver, domain: str, state: DaneStatus) -> None:
    result = asyncio.run(lookup_dane(domain, resolver))
    assert result.state is state, result
    assert (result.error is not None) == (state is DaneStatus.LOOKUP_FAILED)


def test_validated_dane_lists_each_record_with_its_host(resolver: DnsResolver) -> None:
    result = asyncio.run(lookup_dane("dane-ok.test", resolver))
    assert result.records == (f"mx.dane-ok.test {KEY_HASH}",)


def test_dane_timeout_is_lookup_failed(dns_server: DnsServer, test_ca: TestCA) -> None:
    with DnsServer([], dropped=["dane-ok.test"]) as silent:
        config = config_for(dns_server, test_ca, 443, resolvers=(silent.address,))
        result = asyncio.run(lookup_dane("dane-ok.test", DnsResolver(config)))
    assert result.state is DaneStatus.LOOKUP_FAILED
    assert result.error is not None and "timeout" in result.error


# ---- the resolver ----------------------------------------------------------------------------------------------


def test_mx_answer_comes_from_the_configured_resolver_with_dnssec_ok(
    resolver: DnsResolver, dns_server: DnsServer
) -> None:
    answer = asyncio.run(resolver.mx("enforce.test"))
    assert answer.hosts == ("mx1.enforce.test", "mx2.enforce.test")
    assert ("enforce.test", "MX", True) in dns_server.queries


def test_unreachable_configured_resolver_fails_instead_of_falling_back(dns_server: DnsServer, test_ca: TestCA) -> None:
    with DnsServer([]) as stopped_later:
        address = stopped_later.address
    config = config_for(dns_server, test_ca, 443, resolvers=(address,))
    answer = asyncio.run(DnsResolver(config).mx("enforce.test"))
    assert answer.hosts == ()
    assert answer.error is not None


def test_absent_names_are_not_errors(resolver: DnsResolver) -> None:
    nxdomain = asyncio.run(resolver.txt("_mta-sts.unknown-domain.test"))
    nodata = asyncio.run(resolver.tlsa("_25._tcp.enforce.test"))
    assert (nxdomain.records, nxdomain.error) == ((), None)
    assert (nodata.records, nodata.error) == ((), None)


def test_ad_flag_is_read_from_the_response_header(resolver: DnsResolver) -> None:
    assert asyncio.run(resolver.tlsa("_25._tcp.mx.dane-ok.test")).authenticated is True
    assert asyncio.run(resolver.tlsa("_25._tcp.mx.dane-noad.test")).authenticated is False


@pytest.mark.parametrize(
    ("entry", "address", "port"),
    [
        ("192.0.2.1", "192.0.2.1", 53),
        ("192.0.2.1:5353", "192.0.2.1", 5353),
        ("[::1]:5300", "::1", 5300),
        ("2001:db8::1", "2001:db8::1", 53),
    ],
)
def test_resolver_entries_are_parsed(entry: str, address: str, port: int) -> None:
    (nameserver,) = DiscoveryConfig(resolvers=(entry,)).nameservers()
    assert (nameserver.address, nameserver.port) == (address, port)


@pytest.mark.parametrize(
    "settings",
    [
        {"resolvers": ("dns.example",)},
        {"resolvers": ("192.0.2.1:0",)},
        {"resolvers": ("[::1]",)},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"https_port": 70000},
    ],
)
def test_invalid_discovery_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DiscoveryConfig(**settings)


# ---- the HTTPS client ------------------------------------------------------------------------------------------


def test_https_get_returns_non_redirect_statuses_to_the_caller(resolver: DnsResolver) -> None:
    response = asyncio.run(https_get("mta-sts.missing.test", POLICY_PATH, resolver, max_bytes=1024))
    assert response.status == 404


def test_https_get_tells_a_missing_host_from_a_failed_lookup(resolver: DnsResolver) -> None:
    with pytest.raises(HostNotFound):
        asyncio.run(https_get("mta-sts.unknown-domain.test", POLICY_PATH, resolver, max_bytes=1024))


def test_https_get_carries_the_redirect_status(resolver: DnsResolver) -> None:
    with pytest.raises(HttpFetchError) as caught:
        asyncio.run(https_get("mta-sts.redirect.test", POLICY_PATH, resolver, max_bytes=1024))
    assert caught.value.status == 301


@pytest.mark.parametrize(
    ("host", "path", "reason"),
    [
        pytest.param("mta-sts.unknown-domain.test", POLICY_PATH, "no address", id="name-without-address"),
        pytest.param("mta-sts.enforce.test\r\nX: y", POLICY_PATH, "malformed URL", id="header-injection"),
        pytest.param("mta-sts.enforce.test", "no-slash", "malformed URL", id="relative-path"),
    ],
)
def test_https_get_failures_are_discovery_errors(resolver: DnsResolver, host: str, path: str, reason: str) -> None:
    with pytest.raises(HttpFetchError, match=reason):
        asyncio.run(https_get(host, path, resolver, max_bytes=1024))


def test_servers_stop_without_leaking_threads(certs: dict[str, ServerCert], tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with DnsServer([("a.test", "A", "127.0.0.1")]), HttpsServer(certs["good"], {}):
        pass
    assert set(threading.enumerate()) <= before
