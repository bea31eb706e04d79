""" "Why TLS is better without STARTTLS" (Poddebniak et al., USENIX Security 2021) against `salus sync`.

The scripted IMAP server (tests/support/scripted_imap.py) plays the attacker on the path: it refuses STARTTLS,
greets with PREAUTH, or sends forged responses in the same segment as its STARTTLS OK. Each test asserts what
the user is told and that no credential left the client. STARTTLS injection, PREAUTH and a missing STARTTLS
are also covered in test_transport_security.py; this module adds the UI-spoofing class.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.pki import ServerCert, TestCA
from tests.support.salus_cli import Salus
from tests.support.scripted_imap import ALERT_TEXT, Scenario, ScriptedImapServer

USER, PASSWORD = "alice", "s3cret-imap-password"
REFUSAL_TEXT = "TLS is unavailable at the moment"  # what the scripted server writes in its plaintext NO


@pytest.fixture(scope="module")
def cert(test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> ServerCert:
    return test_ca.issue_server_cert(tmp_path_factory.mktemp("starttls-cert"))


def sync(tmp_path: Path, scenario: Scenario, cert: ServerCert, test_ca: TestCA) -> tuple[int, str, ScriptedImapServer]:
    server = ScriptedImapServer(
        scenario, cert_file=cert.chain_file, key_file=cert.key_file, user=USER, password=PASSWORD
    )
    with server:
        salus = Salus(tmp_path / "profile")
        salus.ok("profile", "create")
        added = salus.add_account("work", host="127.0.0.1", port=server.port, security="starttls", user=USER,
                                  password=PASSWORD, ca_file=test_ca.cert_file)  # fmt: skip
        assert added.code == 0, added.stderr
        result = salus.run("sync", "--json")
        server.wait_for_connections(1)
    return result.code, result.stderr, server


def test_starttls_ui_spoofing_text_sent_before_tls_is_never_shown(
    tmp_path: Path, cert: ServerCert, test_ca: TestCA
) -> None:
    code, stderr, server = sync(tmp_path, Scenario.STARTTLS_REFUSED, cert, test_ca)
    assert code == 4 and "refused STARTTLS" in stderr
    assert REFUSAL_TEXT not in stderr  # the attacker's words (an [ALERT] in the paper) do not reach the user
    assert not server.credentials_received


def test_starttls_ui_spoofing_alert_in_the_plaintext_greeting_is_never_shown(
    tmp_path: Path, cert: ServerCert, test_ca: TestCA
) -> None:
    code, stderr, server = sync(tmp_path, Scenario.ALERT_GREETING, cert, test_ca)
    assert code != 0 and "before TLS" in stderr, stderr
    assert "attacker.test" not in stderr and "555" not in stderr and ALERT_TEXT.decode() not in stderr
    assert not server.credentials_received


@pytest.mark.parametrize("scenario", [Scenario.PREAUTH, Scenario.STARTTLS_NOT_OFFERED], ids=["preauth", "stripped"])
def test_starttls_preauth_or_stripped_capability_is_refused_without_credentials(
    tmp_path: Path, cert: ServerCert, test_ca: TestCA, scenario: Scenario
) -> None:
    code, stderr, server = sync(tmp_path, scenario, cert, test_ca)
    assert code == 4, stderr
    assert not server.credentials_received and PASSWORD not in stderr


def test_starttls_command_injection_behind_the_ok_is_never_believed(
    tmp_path: Path, cert: ServerCert, test_ca: TestCA
) -> None:
    code, stderr, server = sync(tmp_path, Scenario.STARTTLS_INJECTION, cert, test_ca)
    assert code in (0, 4), stderr
    assert server.tls_established or not server.credentials_received
