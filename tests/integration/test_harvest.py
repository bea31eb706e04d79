"""Keys learned from synced mail: Autocrypt headers (Level 1) and the certificates of S/MIME signatures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import gnupg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer
from tests.support.identities import SmimeIdentity, pgp_identity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus

AUTOCRYPT_SENDER = "dana@ac.test"
SMIME_SENDER = "carol@certs.test"


def autocrypt_message(home: Path) -> bytes:
    identity = pgp_identity(home, AUTOCRYPT_SENDER)
    binary = gnupg.GPG(gnupghome=str(home)).export_keys(identity.fingerprint, armor=False)
    keydata = base64.b64encode(binary).decode()
    folded = " ".join(keydata[i : i + 72] for i in range(0, len(keydata), 72))
    return make_message(
        subject="Hello with Autocrypt", body="Hi!", sender=f"Dana <{AUTOCRYPT_SENDER}>",
        extra_headers=(("Autocrypt", f"addr={AUTOCRYPT_SENDER}; prefer-encrypt=mutual; keydata={folded}"),),
    )  # fmt: skip


def signed_message(signer: SmimeIdentity) -> bytes:
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSigned results attached.\r\n"
    smime = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(body)
        .add_signer(signer.certificate, signer.key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )
    headers = (
        f"From: Carol <{SMIME_SENDER}>\r\nTo: me@example.test\r\nSubject: Signed\r\n"
        "Date: Sat, 28 Nov 2026 08:00:00 +0000\r\nMessage-ID: <signed-1@certs.test>\r\n"
    ).encode()
    return headers + smime.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def synced(tmp_path: Path, dovecot: DovecotServer, test_ca: TestCA) -> tuple[Salus, Path]:
    user = dovecot.new_user("harvest")
    carol = smime_identity(test_ca, SMIME_SENDER)
    dovecot.seed(user, "INBOX", [autocrypt_message(tmp_path / "dana-gpg"), signed_message(carol)])
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"smime_ca_file": str(test_ca.cert_file), "dns_resolvers": ["127.0.0.1:9"],
                                  "discovery_timeout_seconds": 1}))  # fmt: skip
    salus = Salus(tmp_path / "profile", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0
    assert salus.json("sync")["accounts"]["work"]["new"] == 2
    return salus, policy


def test_sync_learns_autocrypt_keys_and_signer_certificates(synced: tuple[Salus, Path]) -> None:
    salus, _ = synced
    listed = {(k["kind"], tuple(k["addresses"])): k for k in salus.json("keys", "list")["keys"]}
    assert listed[("pgp", (AUTOCRYPT_SENDER,))]["source"] == "autocrypt"
    assert listed[("smime", (SMIME_SENDER,))]["source"] == "signed_mail"
    assert listed[("smime", (SMIME_SENDER,))]["state"] == "usable"


def test_autocrypt_keys_are_used_only_where_policy_allows(synced: tuple[Salus, Path]) -> None:
    salus, policy = synced
    planned = salus.json("plan", "--to", AUTOCRYPT_SENDER, SMIME_SENDER)["recipients"]
    by_address = {r["address"]: r for r in planned}
    assert by_address[SMIME_SENDER]["method"] == "smime"
    assert by_address[AUTOCRYPT_SENDER]["method"] == "portal"
    assert "pgp_key_autocrypt_not_allowed" in {c["code"] for c in by_address[AUTOCRYPT_SENDER]["reasons"]}

    allowing = policy.with_name("allowing.json")
    allowing.write_text(json.dumps({**json.loads(policy.read_text()), "autocrypt_allowed": True}))
    planned = salus.json("plan", "--to", AUTOCRYPT_SENDER, extra_env={"SALUS_POLICY_FILE": str(allowing)})
    (decision,) = planned["recipients"]
    assert decision["method"] == "pgp"
    assert "pgp_key_from_autocrypt" in {c["code"] for c in decision["reasons"]}
