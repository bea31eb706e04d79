"""Transport refusals (DESIGN.md §4): each ends `salus sync` with exit 4, and no credential reaches the server.

The misbehaving servers are scripted (tests/support/scripted_imap.py) and record every byte the client sent, so
"no credential sent" is asserted on the server side.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.pki import ServerCert, TestCA, self_signed_server_cert, untrusted_server_cert
from tests.support.salus_cli import Salus
from tests.support.scripted_imap import FORGED_FOLDER, Scenario, ScriptedImapServer

USER, PASSWORD = "alice", "s3cret-imap-password"


@pytest.fixture(scope="module")
def good_cert(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> ServerCert:
    return test_ca.issue_server_cert(tmp_path_factory.mktemp("good-cert"))


def sync_against(tmp_path: Path, server: ScriptedImapServer, security: str, ca_file: Path) -> tuple[int, str, Salus]:
    salus = Salus(tmp_path / "profile")
    salus.ok("profile", "create")
    added = salus.add_account(
        "work",
        host="127.0.0.1",
        port=server.port,
        security=security,
        user=USER,
        password=PASSWORD,
        ca_file=ca_file,
    )
    assert added.code == 0, added.stderr
    result = salus.run("sync", "--json")
    return result.code, result.stderr, salus


def start(scenario: Scenario, cert: ServerCert) -> ScriptedImapServer:
    return ScriptedImapServer(scenario, cert_file=cert.chain_file, key_file=cert.key_file, user=USER, password=PASSWORD)


@pytest.mark.parametrize(
    ("scenario", "security", "message"),
    [
        pytest.param(Scenario.STARTTLS_NOT_OFFERED, "starttls", "does not offer STARTTLS", id="starttls-not-offered"),
        pytest.param(Scenario.STARTTLS_REFUSED, "starttls", "refused STARTTLS", id="starttls-answered-no"),
        pytest.param(Scenario.PREAUTH, "starttls", "PREAUTH", id="preauth-greeting-on-starttls-account"),
        pytest.param(Scenario.TLS10_ONLY, "tls", "TLS", id="tls-1.0-only-server"),
    ],
)
def test_misbehaving_server_is_refused_before_any_credential(
    tmp_path: Path, good_cert: ServerCert, test_ca: TestCA, scenario: Scenario, security: str, message: str
) -> None:
    with start(scenario, good_cert) as server:
        code, stderr, _ = sync_against(tmp_path, server, security, test_ca.cert_file)
        server.wait_for_connections(1)
    assert code == 4, stderr
    assert message in stderr
    assert not server.credentials_received, server.commands
    assert PASSWORD not in stderr


def _bad_cert(kind: str, test_ca: TestCA, directory: Path) -> ServerCert:
    if kind == "untrusted":
        return untrusted_server_cert(directory)
    if kind == "self-signed":
        return self_signed_server_cert(directory)
    if kind == "wrong-host":
        return test_ca.issue_server_cert(directory, dns_names=("mail.elsewhere.example",), ip_addresses=())
    past = datetime.now(UTC) - timedelta(days=2)
    return test_ca.issue_server_cert(directory, not_before=past - timedelta(days=30), not_after=past)


@pytest.mark.parametrize("kind", ["untrusted", "self-signed", "wrong-host", "expired"])
@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_bad_certificate_is_refused_before_any_credential(
    tmp_path: Path, test_ca: TestCA, kind: str, security: str
) -> None:
    cert = _bad_cert(kind, test_ca, tmp_path / "cert")
    scenario = Scenario.NORMAL_TLS if security == "tls" else Scenario.NORMAL_STARTTLS
    with start(scenario, cert) as server:
        code, stderr, _ = sync_against(tmp_path, server, security, test_ca.cert_file)
        server.wait_for_connections(1)
    assert code == 4, stderr
    assert "certificate" in stderr
    assert not server.credentials_received


@pytest.mark.parametrize("scenario", [Scenario.NORMAL_TLS, Scenario.NORMAL_STARTTLS], ids=["tls", "starttls"])
def test_well_behaved_scripted_server_syncs(
    tmp_path: Path, good_cert: ServerCert, test_ca: TestCA, scenario: Scenario
) -> None:
    """The control: the same client and server pair works when nothing is wrong."""
    security = "tls" if scenario is Scenario.NORMAL_TLS else "starttls"
    with start(scenario, good_cert) as server:
        code, stderr, salus = sync_against(tmp_path, server, security, test_ca.cert_file)
    assert code == 0, stderr
    assert server.credentials_received and server.tls_established
    assert salus.json("stats")["messages"] == 1


def test_responses_injected_behind_starttls_ok_never_reach_the_vault(
    tmp_path: Path, good_cert: ServerCert, test_ca: TestCA
) -> None:
    with start(Scenario.STARTTLS_INJECTION, good_cert) as server:
        code, stderr, salus = sync_against(tmp_path, server, "starttls", test_ca.cert_file)
    # Refusing the connection would also be safe; what must never happen is the forged data being believed.
    assert code in (0, 4), stderr
    stats = salus.json("stats")
    assert FORGED_FOLDER not in stats["folders"]
    if code == 0:
        assert stats["folders"] == {"INBOX": {"messages": 1, "unseen": 1}}
    logins = [c for c in server.commands if b"LOGIN" in c.upper()]
    assert server.tls_established or not logins


def test_untrusted_certificate_without_the_private_ca_is_refused(tmp_path: Path, good_cert: ServerCert) -> None:
    """Without --ca-file the test CA is unknown, so the same server that syncs above is refused."""
    with start(Scenario.NORMAL_TLS, good_cert) as server:
        salus = Salus(tmp_path / "profile")
        salus.ok("profile", "create")
        salus.add_account("work", host="127.0.0.1", port=server.port, security="tls", user=USER, password=PASSWORD,
                          ca_file=None)  # fmt: skip
        result = salus.run("sync")
        server.wait_for_connections(1)
    assert result.code == 4
    assert not server.credentials_received
