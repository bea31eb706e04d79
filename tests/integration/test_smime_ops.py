"""S/MIME operations checked against the reference implementation most mail clients share: OpenSSL decrypts
and verifies what Salus writes, and Salus decrypts and verifies what `openssl cms` / `openssl smime` write (CBC
and GCM, PKCS #1 v1.5 and OAEP, several signature shapes). Damage of every kind ends in CryptoError.

The PKI is generated here (CONVENTIONS): a root, an intermediate, RSA-2048 and P-256 leaves for email, and a
stranger issued by a CA the tests never trust. Certificates are valid around the real clock because the
`openssl` command checks them against it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import CryptoError
from app.crypto import smime_asn1 as asn1
from app.crypto import smime_cms as cms
from app.crypto.smime_ops import Identity, SignatureCheck, decrypt, encrypt, load_pkcs12, sign_detached, verify_detached

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command is not installed, so interoperability cannot be checked"
)
NOW = datetime.now(UTC)
MESSAGE = b"Content-Type: text/plain; charset=utf-8\r\n\r\nLab results attached.\r\n"
UNREADABLE = "Cannot decrypt the message: it was altered, or it was not encrypted for this key."
FORGED = "The signature is invalid"

Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# --- a throw-away PKI ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    certificate: x509.Certificate
    key: Key
    cert_path: Path
    key_path: Path

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def address(self) -> str:
        return self.certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.RFC822Name)[0]


@dataclass(frozen=True)
class Pki:
    root: Party
    intermediate: Party
    alice: Party
    bob: Party
    carol_ec: Party
    stranger: Party
    directory: Path


def _usage(*, ca: bool, rsa_key: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=rsa_key and not ca,
        data_encipherment=False,
        key_agreement=not rsa_key and not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(directory: Path, name: str, key: Key, issuer: Party | None, *, ca: bool = False) -> Party:
    """One certificate shaped like a real S/MIME PKI's (RFC 5280 §4.2.1), written as PEM for `openssl`."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        .add_extension(_usage(ca=ca, rsa_key=isinstance(key, rsa.RSAPrivateKey)), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        address = f"{name.lower()}@clinic.example"
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
    certificate = builder.sign(issuer_key, hashes.SHA256())
    party = Party(certificate, key, directory / f"{name}.crt", directory / f"{name}.key")
    party.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    party.key_path.write_bytes(party.key_pem)
    return party


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("smime-pki")
    root = _issue(directory, "Root", ec.generate_private_key(ec.SECP256R1()), None, ca=True)
    intermediate = _issue(directory, "MailCA", ec.generate_private_key(ec.SECP256R1()), root, ca=True)
    other_root = _issue(directory, "OtherRoot", ec.generate_private_key(ec.SECP256R1()), None, ca=True)
    return Pki(
        root=root,
        intermediate=intermediate,
        alice=_issue(directory, "Alice", _rsa(), intermediate),
        bob=_issue(directory, "Bob", _rsa(), intermediate),
        carol_ec=_issue(directory, "Carol", ec.generate_private_key(ec.SECP256R1()), intermediate),
        stranger=_issue(directory, "Stranger", _rsa(), other_root),
        directory=directory,
    )


def openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    result = subprocess.run([OPENSSL, *map(str, args)], input=stdin, capture_output=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def _verify(pki: Pki, signature: bytes, data: bytes = MESSAGE, address: str | None = None) -> SignatureCheck:
    return verify_detached(data, signature, roots=[pki.root.certificate], now=NOW, address=address)


# --- the DER encoder and BER reader -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, "020100"), (127, "02017f"), (128, "02020080"), (256, "02020100"), (-1, "0201ff"), (-128, "020180"),
     (-129, "0202ff7f")],
)  # fmt: skip
def test_integers_encode_in_minimal_twos_complement(value: int, encoded: str) -> None:
    assert asn1.encode_int(value).hex() == encoded
    assert asn1.decode_int(asn1.parse(bytes.fromhex(encoded))) == value


@given(st.lists(st.integers(min_value=0, max_value=2**70), min_size=1, max_size=8), st.integers(0, 2))
def test_object_identifiers_round_trip(arcs: list[int], first: int) -> None:
    second = arcs[0] % 40 if first < 2 else arcs[0]
    dotted = ".".join(map(str, [first, second, *arcs[1:]]))
    assert asn1.decode_oid(asn1.parse(asn1.encode_oid(dotted))) == dotted


def test_long_lengths_and_sorted_sets_follow_der() -> None:
    assert asn1.tlv(asn1.OCTET_STRING, b"x" * 200)[:3].hex() == "0481c8"
    assert asn1.tlv(asn1.OCTET_STRING, b"x" * 300)[:4].hex() == "0482012c"
    assert asn1.set_of(b"\x02\x01\x05", b"\x02\x01\x01") == bytes.fromhex("3106020101020105")


def test_ber_indefinite_lengths_and_constructed_strings_are_read() -> None:
    # SEQUENCE (indefinite) { OCTET STRING constructed (indefinite) { "ab", "c" } }
    node = asn1.parse(bytes.fromhex("3080 2480 04026162 040163 0000 0000".replace(" ", "")))
    assert asn1.octets(node.children[0]) == b"abc"


@pytest.mark.parametrize(
    "hex_der",
    ["30", "3004020101", "300302010100", "3080020101", "30800201", "1f0100", "0485ffffffffff", "0480"],
    ids=["header-only", "short", "trailing", "no-eoc", "cut-in-eoc-body", "high-tag", "huge-length", "primitive-ber"],
)
def test_malformed_encodings_raise_crypto_error(hex_der: str) -> None:
    with pytest.raises(CryptoError, match="malformed"):
        asn1.parse(bytes.fromhex(hex_der))


@pytest.mark.parametrize("hex_der", ["0600", "0603808001", "060180"], ids=["empty", "padded", "unfinished"])
def test_malformed_object_identifiers_raise_crypto_error(hex_der: str) -> None:
    with pytest.raises(CryptoError, match="object identifier"):
        asn1.decode_oid(asn1.parse(bytes.fromhex(hex_der)))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_reader_fails_only_with_crypto_error(data: bytes) -> None:
    with contextlib.suppress(CryptoError):
        asn1.parse(data)


@settings(max_examples=80, deadline=None)  # each decryption loads and validates an RSA key (~35 ms)
@given(index=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_damaged_gcm_message_yields_the_plaintext_or_crypto_error(pki: Pki, index: int, value: int) -> None:
    """Whatever octet is changed, decryption returns the original plaintext or raises; never anything else."""
    der = _gcm_message(pki)
    index %= len(der)
    damaged = der[:index] + bytes([value]) + der[index + 1 :]
    with contextlib.suppress(CryptoError):
        assert decrypt(damaged, pki.alice.der, pki.alice.key_pem) == MESSAGE


@settings(max_examples=400, deadline=None)
@given(index=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_damaged_signature_verifies_or_raises_crypto_error(pki: Pki, index: int, value: int) -> None:
    signature = _signature(pki)
    index %= len(signature)
    with contextlib.suppress(CryptoError):
        _verify(pki, signature[:index] + bytes([value]) + signature[index + 1 :])


@cache
def _gcm_message(pki: Pki) -> bytes:
    return encrypt(MESSAGE, [pki.alice.der, pki.bob.der])


@cache
def _signature(pki: Pki) -> bytes:
    return sign_detached(MESSAGE, pki.alice.der, pki.alice.key_pem, chain=[pki.intermediate.der])[0]


# --- encryption -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("authenticated", [True, False], ids=["gcm", "cbc"])
def test_every_recipient_decrypts_what_salus_encrypted(pki: Pki, authenticated: bool) -> None:
    der = encrypt(MESSAGE, [pki.alice.der, pki.bob.der], authenticated=authenticated)
    assert decrypt(der, pki.alice.der, pki.alice.key_pem) == MESSAGE
    assert decrypt(der, pki.bob.der, pki.bob.key_pem) == MESSAGE
    envelope = cms.parse_envelope(der)
    assert envelope.authenticated is authenticated
    assert envelope.algorithm.oid == (asn1.AES256_GCM if authenticated else asn1.AES256_CBC)
    assert {info.algorithm.oid for info in envelope.recipients} == {asn1.RSAES_OAEP}
    assert cms.parse_oaep_params(envelope.recipients[0].algorithm.params) == cms.OaepParams(asn1.SHA256, asn1.SHA256)


@needs_openssl
@pytest.mark.parametrize(("authenticated", "kind"), [(True, "AuthEnvelopedData"), (False, "EnvelopedData")])
def test_openssl_decrypts_what_salus_encrypted(pki: Pki, tmp_path: Path, authenticated: bool, kind: str) -> None:
    message = tmp_path / "message.der"
    message.write_bytes(encrypt(MESSAGE, [pki.alice.der, pki.bob.der], authenticated=authenticated))
    printed = openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", message).decode()
    assert kind.lower() in printed.replace("_", "").lower() and "rsaesOaep" in printed
    for party in (pki.alice, pki.bob):
        decrypted = openssl(
            "cms", "-decrypt", "-binary", "-inform", "DER", "-in", message,
            "-recip", party.cert_path, "-inkey", party.key_path,
        )  # fmt: skip
        assert decrypted == MESSAGE


@needs_openssl
@pytest.mark.parametrize("cipher", ["-aes256", "-aes-256-gcm", "-aes-128-gcm", "-aes128", "-aes192", "-des3"])
@pytest.mark.parametrize(
    "keyopts",
    [(), ("-keyopt", "rsa_padding_mode:oaep"), ("-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256")],
    ids=["pkcs1", "oaep-sha1", "oaep-sha256"],
)
def test_salus_decrypts_what_openssl_encrypted(pki: Pki, cipher: str, keyopts: tuple[str, ...]) -> None:
    der = openssl(
        "cms", "-encrypt", "-binary", cipher, "-outform", "DER",
        "-recip", pki.bob.cert_path, "-recip", pki.alice.cert_path, *keyopts, stdin=MESSAGE,
    )  # fmt: skip
    assert decrypt(der, pki.alice.der, pki.alice.key_pem) == MESSAGE


@needs_openssl
def test_recipient_named_by_subject_key_identifier_is_found(pki: Pki) -> None:
    der = openssl(
        "cms", "-encrypt", "-binary", "-aes-256-gcm", "-keyid", "-outform", "DER", pki.alice.cert_path, stdin=MESSAGE
    )
    assert cms.parse_envelope(der).recipients[0].recipient.key_id
    assert decrypt(der, pki.alice.der, pki.alice.key_pem) == MESSAGE


def test_password_protected_key_decrypts(pki: Pki) -> None:
    protected = pki.alice.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    der = encrypt(MESSAGE, [pki.alice.der])
    assert decrypt(der, pki.alice.der, protected, password=b"correct horse") == MESSAGE
    with pytest.raises(CryptoError, match="password"):
        decrypt(der, pki.alice.der, protected, password=b"wrong")


# --- decryption refuses damage ------------------------------------------------------------------------------


def test_altered_gcm_ciphertext_or_tag_is_refused(pki: Pki) -> None:
    der = encrypt(MESSAGE, [pki.alice.der])
    ciphertext_end = len(der) - 18  # then the mac: OCTET STRING header and 16 octets of tag
    for index in (ciphertext_end - 1, ciphertext_end - len(MESSAGE), len(der) - 1):
        with pytest.raises(CryptoError, match=UNREADABLE):
            decrypt(_flip(der, index), pki.alice.der, pki.alice.key_pem)


def test_cbc_padding_damage_is_refused(pki: Pki) -> None:
    der = encrypt(MESSAGE, [pki.alice.der], authenticated=False)
    # The byte before the last block XORs into the padding byte, which then can no longer be valid PKCS #7.
    with pytest.raises(CryptoError, match=UNREADABLE):
        decrypt(_flip(der, len(der) - 17), pki.alice.der, pki.alice.key_pem)


@needs_openssl
@pytest.mark.parametrize("keyopts", [(), ("-keyopt", "rsa_padding_mode:oaep")], ids=["pkcs1", "oaep"])
def test_damaged_key_transport_fails_like_damaged_content(pki: Pki, keyopts: tuple[str, ...]) -> None:
    """No padding oracle (RFC 3218): a broken RSA block yields the same error as a broken ciphertext."""
    der = openssl(
        "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER", "-recip", pki.alice.cert_path, *keyopts,
        stdin=MESSAGE,
    )  # fmt: skip
    encrypted_key = cms.parse_envelope(der).recipients[0].encrypted_key
    at = der.index(encrypted_key) + 5
    with pytest.raises(CryptoError) as key_damage:
        decrypt(_flip(der, at), pki.alice.der, pki.alice.key_pem)
    with pytest.raises(CryptoError) as content_damage:
        decrypt(_flip(der, len(der) - 20), pki.alice.der, pki.alice.key_pem)
    assert str(key_damage.value) == str(content_damage.value) == UNREADABLE


def test_wrong_key_or_other_recipient_is_refused(pki: Pki) -> None:
    der = encrypt(MESSAGE, [pki.alice.der])
    with pytest.raises(CryptoError, match="does not belong to the certificate"):
        decrypt(der, pki.alice.der, pki.bob.key_pem)
    with pytest.raises(CryptoError, match="not encrypted for your certificate"):
        decrypt(der, pki.bob.der, pki.bob.key_pem)


@pytest.mark.parametrize("authenticated", [True, False], ids=["gcm", "cbc"])
def test_truncated_message_is_refused(pki: Pki, authenticated: bool) -> None:
    der = encrypt(MESSAGE, [pki.alice.der], authenticated=authenticated)
    for length in (0, 1, 2, 40, len(der) // 2, len(der) - 17, len(der) - 1):
        with pytest.raises(CryptoError):
            decrypt(der[:length], pki.alice.der, pki.alice.key_pem)


def test_encrypting_to_an_ec_certificate_or_to_nobody_is_refused(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="only to RSA"):
        encrypt(MESSAGE, [pki.alice.der, pki.carol_ec.der])
    with pytest.raises(CryptoError, match="no recipients"):
        encrypt(MESSAGE, [])


def test_signed_data_is_not_mistaken_for_an_encrypted_message(pki: Pki) -> None:
    signature, _ = sign_detached(MESSAGE, pki.alice.der, pki.alice.key_pem)
    with pytest.raises(CryptoError, match="not an encrypted S/MIME message"):
        decrypt(signature, pki.alice.der, pki.alice.key_pem)


# --- signing and verifying ------------------------------------------------------------------------------------


@pytest.mark.parametrize("signer", ["alice", "carol_ec"])
def test_salus_signature_verifies_with_chain_and_address(pki: Pki, signer: str) -> None:
    party: Party = getattr(pki, signer)
    signature, micalg = sign_detached(MESSAGE, party.der, party.key_pem, chain=[pki.intermediate.der])
    check = _verify(pki, signature, address=party.address)
    assert micalg == "sha-256"
    assert check.chain_valid and check.address_matches is True and check.problems == () and check.trusted
    assert check.signer_emails == (party.address,)
    assert check.signer_fingerprint == party.certificate.fingerprint(hashes.SHA256()).hex().upper()
    assert check.signed_at is not None and abs(check.signed_at - datetime.now(UTC)) < timedelta(minutes=5)


@needs_openssl
@pytest.mark.parametrize("signer", ["alice", "carol_ec"])
def test_openssl_verifies_what_salus_signed(pki: Pki, tmp_path: Path, signer: str) -> None:
    party: Party = getattr(pki, signer)
    signature, _ = sign_detached(MESSAGE, party.der, party.key_pem, chain=[pki.intermediate.der])
    (tmp_path / "sig.der").write_bytes(signature)
    (tmp_path / "data").write_bytes(MESSAGE)
    openssl(
        "cms", "-verify", "-binary", "-inform", "DER", "-in", tmp_path / "sig.der", "-content", tmp_path / "data",
        "-CAfile", pki.root.cert_path, "-purpose", "smimesign", "-out", tmp_path / "out",
    )  # fmt: skip


OPENSSL_SIGNATURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "cms": ("cms", "alice", ()),
    "smime": ("smime", "alice", ()),
    "sha384": ("cms", "alice", ("-md", "sha384")),
    "sha512-pss": ("cms", "alice", ("-md", "sha512", "-keyopt", "rsa_padding_mode:pss")),
    "pss-digest-salt": ("cms", "alice", ("-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:-1")),
    "no-attributes": ("cms", "alice", ("-noattr",)),
    "subject-key-id": ("cms", "alice", ("-keyid",)),
    "ecdsa": ("cms", "carol_ec", ()),
    "ecdsa-sha512": ("cms", "carol_ec", ("-md", "sha512")),
}


def _openssl_signature(pki: Pki, command: str, signer: str, extra: Sequence[str], data: bytes = MESSAGE) -> bytes:
    party: Party = getattr(pki, signer)
    key_options = [arg for arg in extra if arg.startswith("rsa_") or arg == "-keyopt"]
    other = [arg for arg in extra if arg not in key_options]
    return openssl(
        command, "-sign", "-binary", "-outform", "DER", "-certfile", pki.intermediate.cert_path, *other,
        "-signer", party.cert_path, "-inkey", party.key_path, *key_options, stdin=data,
    )  # fmt: skip


@needs_openssl
@pytest.mark.parametrize("case", list(OPENSSL_SIGNATURES))
def test_salus_verifies_what_openssl_signed(pki: Pki, case: str) -> None:
    command, signer, extra = OPENSSL_SIGNATURES[case]
    party: Party = getattr(pki, signer)
    signature = _openssl_signature(pki, command, signer, extra)
    check = _verify(pki, signature, address=party.address)
    assert check.chain_valid and check.address_matches is True and check.problems == ()
    assert (check.signed_at is None) == (case == "no-attributes")
    with pytest.raises(CryptoError, match=FORGED):
        _verify(pki, signature, data=MESSAGE + b" ")


@needs_openssl
def test_sha1_signature_verifies_but_is_reported_weak(pki: Pki) -> None:
    signature = _openssl_signature(pki, "cms", "alice", ("-md", "sha1"))
    check = _verify(pki, signature)
    assert check.chain_valid and any("SHA-1" in problem for problem in check.problems) and not check.trusted


@needs_openssl
def test_ber_signature_with_indefinite_lengths_verifies(pki: Pki) -> None:
    der = _openssl_signature(pki, "cms", "alice", ())
    # Re-encode ContentInfo, its [0] and the SignedData with indefinite lengths (X.690 §8.1.3.6), as streaming
    # writers do; each of the three DER headers here is four octets long.
    assert der[1] == der[16] == der[20] == 0x82
    ber = b"\x30\x80" + der[4:15] + b"\xa0\x80" + b"\x30\x80" + der[23:] + b"\x00\x00" * 3
    assert _verify(pki, ber).chain_valid


def test_altered_data_signature_or_digest_attribute_is_forged(pki: Pki) -> None:
    signature, _ = sign_detached(MESSAGE, pki.alice.der, pki.alice.key_pem, chain=[pki.intermediate.der])
    with pytest.raises(CryptoError, match=FORGED):
        _verify(pki, signature, data=MESSAGE.replace(b"Lab", b"Lap"))
    with pytest.raises(CryptoError, match=FORGED):
        _verify(pki, _flip(signature, len(signature) - 1))  # the last octet of the signature value
    digest = hashes.Hash(hashes.SHA256())
    digest.update(MESSAGE)
    with pytest.raises(CryptoError, match=FORGED):
        _verify(pki, _flip(signature, signature.index(digest.finalize())))


def test_signature_from_an_untrusted_ca_holds_but_is_not_trusted(pki: Pki) -> None:
    signature, _ = sign_detached(MESSAGE, pki.stranger.der, pki.stranger.key_pem)
    check = _verify(pki, signature, address=pki.alice.address)
    assert not check.chain_valid and check.address_matches is False and not check.trusted
    assert check.signer_emails == (pki.stranger.address,)
    assert any("not trusted" in problem for problem in check.problems)
    assert all("stranger@" not in problem for problem in check.problems)


@needs_openssl
def test_signature_without_the_signer_certificate_cannot_be_checked(pki: Pki) -> None:
    signature = openssl(
        "cms", "-sign", "-binary", "-nocerts", "-outform", "DER",
        "-signer", pki.alice.cert_path, "-inkey", pki.alice.key_path, stdin=MESSAGE,
    )  # fmt: skip
    with pytest.raises(CryptoError, match="certificate is not included"):
        _verify(pki, signature)


@needs_openssl
def test_attached_signature_is_not_taken_for_a_detached_one(pki: Pki) -> None:
    signature = openssl(
        "cms", "-sign", "-binary", "-nodetach", "-outform", "DER",
        "-signer", pki.alice.cert_path, "-inkey", pki.alice.key_path, stdin=MESSAGE,
    )  # fmt: skip
    with pytest.raises(CryptoError, match="carries its own content"):
        _verify(pki, signature)


def test_truncated_or_foreign_signature_is_refused(pki: Pki) -> None:
    signature, _ = sign_detached(MESSAGE, pki.alice.der, pki.alice.key_pem)
    for length in (0, 1, 30, len(signature) // 2, len(signature) - 1):
        with pytest.raises(CryptoError):
            _verify(pki, signature[:length])
    with pytest.raises(CryptoError, match="not a CMS signature"):
        _verify(pki, encrypt(MESSAGE, [pki.alice.der]))


def test_signer_certificate_with_an_unknown_key_type_cannot_be_checked(pki: Pki) -> None:
    """Found by the damage property test: the certificate still decodes, but its key cannot be used."""
    signature = _signature(pki)
    rsa_oid = bytes.fromhex("06092a864886f70d010101")  # its first occurrence is Alice's subjectPublicKeyInfo
    at = signature.index(rsa_oid) + 2
    with pytest.raises(CryptoError, match="not supported"):
        _verify(pki, signature[:at] + b"\x00" + signature[at + 1 :])


def test_signing_with_a_key_of_another_certificate_is_refused(pki: Pki) -> None:
    with pytest.raises(CryptoError, match="does not belong"):
        sign_detached(MESSAGE, pki.alice.der, pki.bob.key_pem)


# --- importing one's own identity --------------------------------------------------------------------------


def test_pkcs12_identity_imports_and_works(pki: Pki) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"alice",
        pki.alice.key,
        pki.alice.certificate,
        [pki.intermediate.certificate],
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    identity = load_pkcs12(p12, b"s3cret")
    assert identity.certificate == pki.alice.der
    assert identity.chain == (pki.intermediate.der,)
    assert b"PRIVATE KEY" not in repr(identity).encode()
    assert decrypt(encrypt(MESSAGE, [identity.certificate]), identity.certificate, identity.private_key_pem) == MESSAGE
    with pytest.raises(CryptoError, match="password"):
        load_pkcs12(p12, b"wrong")


@needs_openssl
def test_pkcs12_made_by_openssl_imports(pki: Pki) -> None:
    p12 = openssl(
        "pkcs12", "-export", "-inkey", pki.bob.key_path, "-in", pki.bob.cert_path,
        "-certfile", pki.intermediate.cert_path, "-passout", "pass:s3cret",
    )  # fmt: skip
    identity = load_pkcs12(p12, b"s3cret")
    assert isinstance(identity, Identity)
    assert identity.certificate == pki.bob.der and identity.chain == (pki.intermediate.der,)
    signature, _ = sign_detached(MESSAGE, identity.certificate, identity.private_key_pem, chain=identity.chain)
    assert _verify(pki, signature).chain_valid


def test_pkcs12_without_a_key_is_refused(pki: Pki) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"ca", None, None, [pki.intermediate.certificate], serialization.NoEncryption()
    )
    with pytest.raises(CryptoError, match="certificate with its private key"):
        load_pkcs12(p12, None)
