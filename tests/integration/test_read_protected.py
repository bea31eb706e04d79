"""Reading encrypted and signed mail: decrypted by the profile's key, state shown only from verification."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import gnupg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from app.crypto.openpgp import OpenPgpStore
from app.crypto.openpgp_ops import OpenPgpOps
from app.mime.addresses import Address
from app.mime.compose import Draft, Hp, outer_headers, pgp_encrypted, protected_body
from app.services.keys import GNUPG_DIR
from app.services.profile import unlock
from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer
from tests.support.identities import PgpIdentity, pgp_identity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import PASSPHRASE, Salus

ME = "me@clinic.test"
BOB = "bob@keys.test"
CAROL = "carol@certs.test"
SECRET = "hyperkalaemiaquokka"


@dataclass
class World:
    salus: Salus
    uids: dict[str, int]


def own_public_key(profile: Path) -> bytes:
    session = unlock(profile, PASSPHRASE)
    try:
        with OpenPgpOps(profile / GNUPG_DIR, session.openpgp_passphrase) as ops:
            fingerprint = ops.ensure_own_key(ME, "Me")
        return OpenPgpStore(profile / GNUPG_DIR).export(fingerprint)
    finally:
        session.close()


def encrypted_from_bob(bob: PgpIdentity, bob_home: Path, recipient_key: bytes, *, tamper: bool = False) -> bytes:
    gpg = gnupg.GPG(gnupghome=str(bob_home))
    recipient = gpg.import_keys(recipient_key).fingerprints[0]
    draft = Draft(
        sender=Address("Bob", BOB), to=(Address("", ME),), cc=(), bcc=(), subject=f"Potassium {SECRET}",
        body_text=f"The {SECRET} result is 6.1 mmol/L.", attachments=(), message_id="enc-1@keys.test",
        date=datetime(2026, 11, 27, 9, tzinfo=UTC),
    )  # fmt: skip
    result = gpg.encrypt(
        protected_body(draft, Hp.CIPHER), [recipient], sign=bob.fingerprint, always_trust=True, armor=True
    )
    assert result.ok, result.stderr
    ciphertext = str(result).encode()
    if tamper:
        lines = ciphertext.split(b"\n")
        middle = len(lines) // 2
        lines[middle] = lines[middle][:10] + (b"A" if lines[middle][10:11] != b"A" else b"B") + lines[middle][11:]
        ciphertext = b"\n".join(lines)
    return pgp_encrypted(outer_headers(draft, encrypted=True), ciphertext)


def mixed_efail_message(encrypted: bytes) -> bytes:
    """A plaintext part next to a stolen encrypted part: the EFAIL setup."""
    boundary = "efail"
    inner = encrypted.split(b"\r\n\r\n", 1)[1]
    ctype = next(line for line in encrypted.split(b"\r\n") if line.lower().startswith(b"content-type:"))
    return (
        b"From: Mallory <mallory@attacker.test>\r\nTo: me@clinic.test\r\nSubject: Hello\r\n"
        b"Message-ID: <efail-1@attacker.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary.encode() + b'"\r\n\r\n'
        b"--efail\r\nContent-Type: text/plain\r\n\r\nPlease read below.\r\n"
        b"--efail\r\n" + ctype + b"\r\n\r\n" + inner + b"\r\n--efail--\r\n"
    )


def smime_signed_from_carol(ca: TestCA, *, tamper: bool = False) -> bytes:
    carol = smime_identity(ca, CAROL)
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\nSigned lab report.\r\n"
    signed = (
        pkcs7.PKCS7SignatureBuilder().set_data(body).add_signer(carol.certificate, carol.key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )  # fmt: skip
    signed = signed.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if tamper:
        signed = signed.replace(b"Signed lab report.", b"Signed lab rePort.")
    headers = f"From: Carol <{CAROL}>\r\nTo: {ME}\r\nSubject: Report\r\nDate: Fri, 27 Nov 2026 11:00:00 +0000\r\n"
    return headers.encode() + f"Message-ID: <s-{tamper}@certs.test>\r\n".encode() + signed


@pytest.fixture(scope="module")
def world(dovecot: DovecotServer, test_ca: TestCA) -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp"))
    policy = base / "policy.json"
    policy.write_text(json.dumps({"smime_ca_file": str(test_ca.cert_file)}))
    salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    user = dovecot.new_user("reader")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0
    bob = pgp_identity(base / "bob", BOB)
    (base / "bob.asc").write_bytes(bob.public)
    salus.ok("keys", "import", str(base / "bob.asc"))
    mine = own_public_key(salus.profile)
    good = encrypted_from_bob(bob, base / "bob", mine)
    messages = {
        "encrypted": good,
        "tampered": encrypted_from_bob(bob, base / "bob", mine, tamper=True),
        "efail": mixed_efail_message(good),
        "signed": smime_signed_from_carol(test_ca),
        "forged": smime_signed_from_carol(test_ca, tamper=True),
        "plain": make_message(subject="Plain", body="Nothing special."),
    }
    dovecot.seed(user, "INBOX", list(messages.values()))
    salus.ok("sync")
    yield World(salus, {name: i + 1 for i, name in enumerate(messages)})
    shutil.rmtree(base, ignore_errors=True)


def show(world: World, name: str) -> dict[str, object]:
    return dict(world.salus.json("show", "--uid", str(world.uids[name])))


def test_encrypted_message_is_decrypted_with_protected_headers_and_a_valid_signature(world: World) -> None:
    shown = show(world, "encrypted")
    assert shown["encryption"] == "pgp"
    assert shown["signature"]["state"] == "valid"  # type: ignore[index]
    assert shown["subject"] == f"Potassium {SECRET}"  # the real subject, not the outer "[...]"
    assert SECRET in str(shown["text"])


def test_tampered_ciphertext_shows_no_plaintext(world: World) -> None:
    shown = show(world, "tampered")
    assert shown["encryption"] == "failed"
    assert SECRET not in json.dumps(shown)


def test_mixed_encrypted_and_plain_parts_are_never_shown_as_one_message(world: World) -> None:
    shown = show(world, "efail")
    assert shown["encryption"] in ("none", "failed")
    assert SECRET not in json.dumps(shown)
    assert shown["signature"]["state"] == "none"  # type: ignore[index]


def test_smime_signature_is_verified_and_tampering_detected(world: World) -> None:
    assert show(world, "signed")["signature"]["state"] == "valid"  # type: ignore[index]
    assert show(world, "forged")["signature"]["state"] == "invalid"  # type: ignore[index]


def test_plain_message_claims_nothing(world: World) -> None:
    shown = show(world, "plain")
    assert shown["encryption"] == "none" and shown["signature"]["state"] == "none"  # type: ignore[index]


def test_decrypted_content_is_searchable_inside_the_vault_only(world: World) -> None:
    (hit,) = world.salus.json("search", SECRET)["results"]
    assert hit["uid"] == world.uids["encrypted"]
    assert hit["subject"] == f"Potassium {SECRET}"
    for path in world.salus.profile.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path.name
