"""`salus plan` end to end: real GnuPG keys, CA-issued S/MIME certificates, a local DNS server playing the
validating resolver, an HTTPS server for MTA-STS policies and WKD, and a real SMTP server's EHLO."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.discovery.wkd_names import wkd_urls
from tests.support.dns_server import DnsServer
from tests.support.https_server import HttpsServer, Route
from tests.support.identities import pgp_identity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus
from tests.support.smtp_server import SmtpServer

PGP_FRIEND = "bob@keys.test"
SMIME_FRIEND = "carol@certs.test"
WKD_FRIEND = "alice@wkd.test"
STS_PARTNER = "x@partner.test"
TESTING_PARTNER = "y@testing.test"
DANE_PARTNER = "z@dane.test"
UNVALIDATED = "u@unvalidated.test"
LISTED = "w@partner-list.test"
STRANGER = "n@nothing.test"

ENFORCE = b"version: STSv1\nmode: enforce\nmx: mx.partner.test\nmax_age: 86400\n"
TESTING = b"version: STSv1\nmode: testing\nmx: mx.testing.test\nmax_age: 86400\n"
TLSA = "3 1 1 " + "ab" * 32


@dataclass
class World:
    salus: Salus
    dns: DnsServer
    policy: Path


def _records() -> list[tuple[str, str, str]]:
    return [
        ("partner.test", "MX", "10 mx.partner.test."),
        ("_mta-sts.partner.test", "TXT", '"v=STSv1; id=2026112801"'),
        ("mta-sts.partner.test", "A", "127.0.0.1"),
        ("testing.test", "MX", "10 mx.testing.test."),
        ("_mta-sts.testing.test", "TXT", '"v=STSv1; id=1"'),
        ("mta-sts.testing.test", "A", "127.0.0.1"),
        ("dane.test", "MX", "10 mx.dane.test."),
        ("_25._tcp.mx.dane.test", "TLSA", TLSA),
        ("unvalidated.test", "MX", "10 mx.unvalidated.test."),
        ("_25._tcp.mx.unvalidated.test", "TLSA", TLSA),
        ("openpgpkey.wkd.test", "A", "127.0.0.1"),
        ("wkd.test", "MX", "10 mx.wkd.test."),
        ("keys.test", "MX", "10 mx.keys.test."),
        ("certs.test", "MX", "10 mx.certs.test."),
        ("partner-list.test", "MX", "10 mx.partner-list.test."),
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[World]:
    base = tmp_path_factory.mktemp("plan")
    wkd_key = pgp_identity(base / "wkd-gpg", WKD_FRIEND)
    advanced = wkd_urls(WKD_FRIEND)[0]
    web_cert = test_ca.issue_server_cert(
        base / "web", dns_names=("mta-sts.partner.test", "mta-sts.testing.test", "openpgpkey.wkd.test"), ip_addresses=()
    )
    routes = {
        ("mta-sts.partner.test", "/.well-known/mta-sts.txt"): Route(body=ENFORCE),
        ("mta-sts.testing.test", "/.well-known/mta-sts.txt"): Route(body=TESTING),
        (advanced.host, advanced.path): Route(body=_dearmor(base, wkd_key.public), headers=()),
    }
    smtp_cert = test_ca.issue_server_cert(base / "smtp")
    dns = DnsServer(_records(), authenticated=["dane.test", "_25._tcp.mx.dane.test"])
    with dns, HttpsServer(web_cert, routes) as web, SmtpServer(smtp_cert, mode="tls", requiretls=True) as smtp:
        policy = base / "policy.json"
        _write_policy(policy, dns, web.port, test_ca)
        salus = Salus(base / "profile", env={"SALUS_POLICY_FILE": str(policy)})
        salus.ok("profile", "create")
        added = salus.run(
            "account", "add", "work", "--imap", "127.0.0.1:993", "--smtp", f"127.0.0.1:{smtp.port}",
            "--smtp-security", "tls", "--user", "me", "--ca-file", str(test_ca.cert_file),
            extra_env={"SALUS_ACCOUNT_PASSWORD": "pw"},
        )  # fmt: skip
        assert added.code == 0, added.stderr
        _import_keys(salus, base, test_ca)
        yield World(salus, dns, policy)


def _dearmor(base: Path, armoured: bytes) -> bytes:
    import gnupg  # the test's own GnuPG, only to serve binary key material as WKD does

    gpg = gnupg.GPG(gnupghome=str(base / "wkd-gpg"))
    result = gpg.import_keys(armoured)
    return bytes(gpg.export_keys(result.fingerprints[0], armor=False))


def _write_policy(path: Path, dns: DnsServer, https_port: int, ca: TestCA, **extra: Any) -> None:
    policy = {
        "dns_resolvers": [f"127.0.0.1:{dns.port}"],
        "discovery_ca_file": str(ca.cert_file),
        "smime_ca_file": str(ca.cert_file),
        "discovery_https_port": https_port,
        "discovery_timeout_seconds": 3,
        "trusted_tls_domains": ["partner-list.test"],
        **extra,
    }
    path.write_text(json.dumps(policy))


def _import_keys(salus: Salus, base: Path, ca: TestCA) -> None:
    bob = pgp_identity(base / "bob-gpg", PGP_FRIEND)
    (base / "bob.asc").write_bytes(bob.public)
    carol = smime_identity(ca, SMIME_FRIEND)
    (base / "carol.pem").write_bytes(carol.pem)
    imported = salus.json("keys", "import", str(base / "bob.asc"), str(base / "carol.pem"))["imported"]
    assert [(k["kind"], k["addresses"]) for k in imported] == [("pgp", [PGP_FRIEND]), ("smime", [SMIME_FRIEND])]


def plan(world: World, *args: str) -> dict[str, Any]:
    return dict(world.salus.json("plan", *args))


def methods(result: dict[str, Any]) -> dict[str, str]:
    return {r["address"]: r["method"] for r in result["recipients"]}


def codes(result: dict[str, Any], address: str) -> set[str]:
    return next({c["code"] for c in r["reasons"]} for r in result["recipients"] if r["address"] == address)


def test_each_recipient_gets_the_strongest_method_its_evidence_allows(world: World) -> None:
    everyone = [PGP_FRIEND, SMIME_FRIEND, WKD_FRIEND, STS_PARTNER, TESTING_PARTNER, DANE_PARTNER, UNVALIDATED,
                LISTED, STRANGER]  # fmt: skip
    result = plan(world, "--to", *everyone, "--subject", "Lab results")
    assert methods(result) == {
        PGP_FRIEND: "pgp",
        SMIME_FRIEND: "smime",
        WKD_FRIEND: "pgp",
        STS_PARTNER: "tls",
        TESTING_PARTNER: "portal",
        DANE_PARTNER: "tls",
        UNVALIDATED: "portal",
        LISTED: "tls",
        STRANGER: "portal",
    }
    assert "pgp_key_from_wkd" in codes(result, WKD_FRIEND)
    assert {"mta_sts_enforce", "requiretls_available"} <= codes(result, STS_PARTNER)
    assert "mta_sts_testing_only" in codes(result, TESTING_PARTNER)
    assert "dane_validated" in codes(result, DANE_PARTNER)
    assert "dane_not_validated" in codes(result, UNVALIDATED)
    assert "org_trusted_domain" in codes(result, LISTED)
    assert all(r["reasons"] for r in result["recipients"])
    assert result["groups"]["tls"] == [STS_PARTNER, DANE_PARTNER, LISTED]


def test_warm_plan_asks_the_network_nothing(world: World) -> None:
    plan(world, "--to", STS_PARTNER, DANE_PARTNER, WKD_FRIEND)
    before = len(world.dns.queries)
    again = plan(world, "--to", STS_PARTNER, DANE_PARTNER, WKD_FRIEND)
    assert len(world.dns.queries) == before
    assert methods(again) == {STS_PARTNER: "tls", DANE_PARTNER: "tls", WKD_FRIEND: "pgp"}


def test_subject_tag_escalates_everyone_to_the_portal_and_is_removed(world: World) -> None:
    result = plan(world, "--to", PGP_FRIEND, STS_PARTNER, "--subject", "Results [SECURE] for review")
    assert result["subject"] == "Results for review"
    assert result["escalated"] is True
    assert set(methods(result).values()) == {"portal"}
    assert "escalated_subject_tag" in codes(result, STS_PARTNER)


def test_escalate_flag_forces_the_portal(world: World) -> None:
    result = plan(world, "--to", DANE_PARTNER, "--escalate")
    assert methods(result) == {DANE_PARTNER: "portal"}
    assert "escalated_manual" in codes(result, DANE_PARTNER)


def test_policy_without_portal_blocks_the_unprotectable(world: World, tmp_path: Path, test_ca: TestCA) -> None:
    strict = tmp_path / "strict.json"
    document = json.loads(world.policy.read_text())
    document["method_ladder"] = ["pgp", "smime", "tls"]
    strict.write_text(json.dumps(document))
    result = world.salus.json("plan", "--to", STRANGER, PGP_FRIEND, extra_env={"SALUS_POLICY_FILE": str(strict)})
    assert methods(result) == {STRANGER: "blocked", PGP_FRIEND: "pgp"}
    assert "no_allowed_method" in codes(result, STRANGER)


def test_text_output_explains_each_decision(world: World) -> None:
    result = world.salus.ok("plan", "--to", PGP_FRIEND, STRANGER)
    assert f"{PGP_FRIEND}: OpenPGP - " in result.stdout
    assert "OpenPGP key imported into this profile" in result.stdout
    assert f"{STRANGER}: secure portal - " in result.stdout


def test_bad_address_is_a_usage_error(world: World) -> None:
    assert world.salus.run("plan", "--to", "not-an-address").code == 2


def test_keys_list_shows_both_kinds(world: World) -> None:
    listed = world.salus.json("keys", "list")["keys"]
    kinds = {(k["kind"], tuple(k["addresses"])) for k in listed}
    assert ("pgp", (PGP_FRIEND,)) in kinds and ("smime", (SMIME_FRIEND,)) in kinds
    assert all(k["state"] == "usable" for k in listed)


def test_evidence_refresh_rechecks_partner_domains_ignoring_the_cache(world: World) -> None:
    before = len(world.dns.queries)
    report = world.salus.json("evidence", "refresh", "partner.test", "dane.test")["domains"]
    assert len(world.dns.queries) > before
    assert report["partner.test"] == {"mta_sts": "enforce", "mx_matched": True, "dane": "absent", "trusted": False}
    assert report["dane.test"]["dane"] == "validated"
    assert report["partner-list.test"]["trusted"] is True
