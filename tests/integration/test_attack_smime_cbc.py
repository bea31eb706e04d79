"""EFAIL's CBC gadgets against S/MIME (Poddebniak et al., USENIX Security 2018), with real OpenSSL messages.

S/MIME EnvelopedData with AES-CBC has no integrity check: XOR-ing the IV rewrites the first plaintext block
without touching the key. Salus still reads such mail (most senders send it), so the reader must say that the
text could have been altered unless a valid signature covers it; AES-GCM AuthEnvelopedData (RFC 5083) needs no
such warning. The back channel that would exfiltrate gadget-made HTML is closed by test_efail_remote.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.support import attack_mail as am
from tests.support.dovecot import DovecotServer
from tests.support.identities import SmimeIdentity, smime_identity
from tests.support.pki import TestCA
from tests.support.salus_cli import Salus

ME = "me@clinic.test"
ENTITY = b"\r\nPay 100 EUR to IBAN DE00 1111 2222 3333 4444 55 today.\r\n"  # no header fields: text/plain


def _aes256_cbc_oid() -> bytes:
    # 2.16.840.1.101.3.4.1.42 (RFC 3565 §4.1) in DER: the IV, an OCTET STRING of 16, follows it.
    return bytes.fromhex("060960864801650304012a")


def encrypted(me: SmimeIdentity, tmp: Path, cipher: str) -> bytes:
    cert = tmp / "me.pem"
    cert.write_bytes(me.pem)
    done = subprocess.run(
        ["openssl", "cms", "-encrypt", "-binary", f"-{cipher}", "-outform", "DER", str(cert)],
        input=ENTITY, capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout


def gadget(der: bytes) -> bytes:
    """Turns "Pay 100 EUR to " into "Pay 999 EUR to " by XOR-ing the IV with the difference (CBC, block 1)."""
    at = der.index(_aes256_cbc_oid()) + len(_aes256_cbc_oid())
    assert der[at : at + 2] == b"\x04\x10"
    old, new = ENTITY[:16], ENTITY[:16].replace(b"100", b"999")
    iv = bytes(a ^ b ^ c for a, b, c in zip(der[at + 2 : at + 18], old, new, strict=True))
    return der[: at + 2] + iv + der[at + 18 :]


def smime_message(der: bytes, name: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        am.headers("Bank <bank@bank.test>", ME, "Transfer", f"{name}@bank.test")
        + b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body
    )


@pytest.fixture(scope="module")
def salus(dovecot: DovecotServer, test_ca: TestCA, tmp_path_factory: pytest.TempPathFactory) -> Salus:
    base = tmp_path_factory.mktemp("cbc")
    me = smime_identity(test_ca, ME)
    p12 = pkcs12.serialize_key_and_certificates(b"me", me.key, me.certificate, None, serialization.NoEncryption())
    (base / "me.p12").write_bytes(p12)
    policy = base / "policy.json"
    policy.write_text(json.dumps({"smime_ca_file": str(test_ca.cert_file)}))
    salus = Salus(base / "p", env={"SALUS_POLICY_FILE": str(policy)})
    salus.ok("profile", "create")
    salus.ok("keys", "import-identity", str(base / "me.p12"))
    user = dovecot.new_user("cbc")
    added = salus.add_account("work", host=dovecot.host, port=dovecot.imaps_port, security="tls", user=user.name,
                              password=user.password, ca_file=dovecot.ca_file)  # fmt: skip
    assert added.code == 0, added.stderr
    cbc = encrypted(me, base, "aes-256-cbc")
    messages = [
        smime_message(cbc, "cbc"),
        smime_message(gadget(cbc), "gadget"),
        smime_message(encrypted(me, base, "aes-256-gcm"), "gcm"),
    ]
    dovecot.seed(user, "INBOX", messages)
    salus.ok("sync")
    return salus


def test_efail_cbc_gadget_altered_smime_text_is_flagged_as_possibly_altered(salus: Salus) -> None:
    original, altered = (salus.json("show", "--uid", str(uid)) for uid in (1, 2))
    assert "Pay 100 EUR" in original["text"] and "Pay 999 EUR" in altered["text"]  # CBC really is malleable
    for shown in (original, altered):
        assert shown["encryption"] == "smime" and shown["signature"]["state"] == "none"
        assert any("could have been altered" in problem for problem in shown["problems"]), shown["problems"]


def test_authenticated_smime_encryption_carries_no_alteration_warning(salus: Salus) -> None:
    shown = salus.json("show", "--uid", "3")
    assert shown["encryption"] == "smime" and "Pay 100 EUR" in shown["text"]
    assert not any("could have been altered" in problem for problem in shown["problems"])
