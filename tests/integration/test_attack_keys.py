"""Keys carried in received mail never silently replace known ones ("Mailto: Me Your Secrets", Müller et al.
2020, §"Re: key replacement"; the ID attacks of "Johnny, you are fired!", 2019).

A real Dovecot delivers the attacker's mail, `salus sync` harvests what it harvests (Autocrypt headers, the
certificates of S/MIME signatures), and `salus plan` and `salus show` say which key Salus would use and what
the window would claim about a signature.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support import attack_mail as am
from tests.support.dovecot import DovecotServer
from tests.support.identities import PgpIdentity, SmimeIdentity, pgp_identity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus

ME = "me@clinic.test"
BOB = "bob@keys.test"
CAROL = "carol@certs.test"
TEXT = b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease use my new key from now on.\r\n"


@dataclass
class KeyWorld:
    salus: Salus
    uids: dict[str, int]
    bob: PgpIdentity
    fake_bob: PgpIdentity
    carol: SmimeIdentity
    fake_carol: SmimeIdentity


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> KeyWorld:
    base = tmp_path_factory.mktemp("keys")
    policy = base / "policy.json"
    policy.write_text(json.dumps({"smime_ca_file": str(test_ca.cert_file), "dns_resolvers": ["127.0.0.1:9"],
                                  "discovery_timeout_seconds": 1, "autocrypt_allowed": True}))  # fmt: skip
    salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    user = dovecot.new_user("keys")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0, added.stderr
    bob = pgp_identity(base / "bob", BOB)
    (base / "bob.asc").write_bytes(bob.public)
    salus.ok("keys", "import", str(base / "bob.asc"))
    fake_bob = pgp_identity(base / "mallory", BOB)  # Mallory's key, with Bob's address as its user ID
    carol = smime_identity(test_ca, CAROL)
    fake_carol = smime_identity(TestCA.create(base / "rogue-ca", "Rogue CA"), CAROL)
    from_bob = f"Bob <{BOB}>"
    messages = {
        "genuine_carol": am.headers(f"Carol <{CAROL}>", ME, "Hi", "c1@att.test") + am.smime_signed_entity(carol, TEXT),
        "autocrypt_swap": am.headers(from_bob, ME, "New key", "ac@attack.test",
                                     am.autocrypt_header(base / "mallory", fake_bob, BOB)) + TEXT,
        "signed_by_swapped_key": am.pgp_signed(am.headers(from_bob, ME, "Transfer", "sig@attack.test"), fake_bob,
                                               base / "mallory", TEXT),
        "key_attachment": am.mixed(am.headers(from_bob, ME, "My key", "att@attack.test"), "k", [
            TEXT, b"Content-Type: application/pgp-keys\r\n\r\n" + am.crlf(fake_bob.public),
        ]),
        "rogue_smime": am.headers(f"Carol <{CAROL}>", ME, "New cert", "c2@attack.test")
        + am.smime_signed_entity(fake_carol, TEXT),
    }  # fmt: skip
    dovecot.seed(user, "INBOX", list(messages.values()))
    salus.ok("sync")
    return KeyWorld(salus, {name: i + 1 for i, name in enumerate(messages)}, bob, fake_bob, carol, fake_carol)


def chosen(world: KeyWorld, address: str) -> dict[str, Any]:
    (decision,) = world.salus.json("plan", "--to", address)["recipients"]
    return dict(decision)


def fingerprint(certificate: x509.Certificate) -> str:
    return str(certificate.fingerprint(hashes.SHA256()).hex()).upper()


def test_autocrypt_header_with_another_key_does_not_replace_an_imported_key(world: KeyWorld) -> None:
    decision = chosen(world, BOB)
    assert decision["method"] == "pgp"
    assert [r["detail"] for r in decision["reasons"]] == [world.bob.fingerprint], decision


def test_a_signature_by_a_key_learned_only_from_autocrypt_is_not_shown_as_the_sender_s(world: KeyWorld) -> None:
    shown = world.salus.json("show", "--uid", str(world.uids["signed_by_swapped_key"]))
    assert shown["signature"]["signer"] == world.fake_bob.fingerprint
    assert shown["signature"]["state"] != "valid", shown


def test_a_key_attached_to_a_message_is_never_imported(world: KeyWorld) -> None:
    listed = world.salus.json("keys", "list")["keys"]
    sources = {k["fingerprint"]: k["source"] for k in listed if k["kind"] == "pgp"}
    assert sources.get(world.bob.fingerprint) != "autocrypt"
    assert sources.get(world.fake_bob.fingerprint) in (None, "autocrypt")  # Autocrypt's own, never "imported"


def test_certificate_from_an_untrusted_ca_in_a_signature_does_not_replace_a_trusted_one(world: KeyWorld) -> None:
    decision = chosen(world, CAROL)
    assert decision["method"] == "smime"
    chosen_detail = [r["detail"] for r in decision["reasons"] if r["code"] == "smime_cert_valid"]
    assert [detail.replace(":", "").upper() for detail in chosen_detail] == [fingerprint(world.carol.certificate)]
    shown = world.salus.json("show", "--uid", str(world.uids["rogue_smime"]))
    assert shown["signature"]["state"] == "untrusted"
