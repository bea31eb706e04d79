"""S/MIME certificate evidence: loading, harvesting from signatures, and the verdict on each certificate.

Every certificate is generated here (CONVENTIONS: tests make their own PKI). The verdict is checked against
OpenSSL's `verify -purpose smimeencrypt` once, for a few shapes of chain, so our reading of the rules does not
drift from the reference implementation most mail clients use.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import CryptoError
from app.crypto.smime_certs import (
    CertEmail,
    CertVerdict,
    end_entity_certificates,
    evaluate,
    fingerprint,
    load_certificates,
    roots_from_pem,
    signer_certificates,
    system_roots,
    to_der,
    to_pem,
)

NOW = datetime(2031, 3, 14, 12, 0, tzinfo=UTC)
ADDRESS = "Dr.Grey@Clinic.example"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


# --- a throw-away PKI ----------------------------------------------------------------------------------------


@cache
def rsa_key(slot: int) -> rsa.RSAPrivateKey:
    """RSA generation is slow; a handful of cached keys serve every test."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_usage(**bits: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: bits.get(name, False) for name in names})


CA_USAGE = _key_usage(key_cert_sign=True, crl_sign=True)
EC_LEAF_USAGE = _key_usage(digital_signature=True, key_agreement=True)
RSA_LEAF_USAGE = _key_usage(digital_signature=True, key_encipherment=True)
EMAIL = (ExtendedKeyUsageOID.EMAIL_PROTECTION,)


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey


def _signature_args(issuer_key: PrivateKey, pss: bool) -> dict[str, object]:
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return {"algorithm": None}
    if pss:
        return {"algorithm": hashes.SHA256(), "rsa_padding": _PSS}
    return {"algorithm": hashes.SHA256()}


def issue(
    name: str,
    issuer: Issued | None = None,
    *,
    key: PrivateKey | None = None,
    ca: bool = False,
    path_length: int | None = None,
    usage: x509.KeyUsage | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = EMAIL,
    emails: Sequence[str] = (),
    san: Sequence[x509.GeneralName] = (),
    legacy_email: str | None = None,
    not_before: datetime = NOW - timedelta(days=30),
    not_after: datetime = NOW + timedelta(days=365),
    signing_key: PrivateKey | None = None,
    pss: bool = False,
    extra: Sequence[x509.ExtensionType] = (),
) -> Issued:
    """One certificate, shaped like a real S/MIME PKI's (RFC 5280 §4.2.1: AKI, SKI, critical basicConstraints)."""
    key = key or ec_key()
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if legacy_email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, legacy_email))
    subject = x509.Name(attributes)
    issuer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    usage = usage or (CA_USAGE if ca else EC_LEAF_USAGE)
    builder = builder.add_extension(usage, critical=True)
    if eku is not None and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    names = [x509.RFC822Name(email) for email in emails] + list(san)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    signer = signing_key or issuer_key
    cert = builder.sign(signer, **_signature_args(signer, pss))  # type: ignore[arg-type]
    return Issued(cert, key)


@dataclass(frozen=True)
class Pki:
    root: Issued
    inter: Issued

    def leaf(self, **kwargs: object) -> Issued:
        kwargs.setdefault("emails", [ADDRESS])
        return issue("Dr Grey", self.inter, **kwargs)  # type: ignore[arg-type]

    def check(self, leaf: Issued, *, address: str | None = ADDRESS, now: datetime = NOW) -> CertVerdict:
        return evaluate(leaf.cert, intermediates=[self.inter.cert], roots=[self.root.cert], now=now, address=address)


def make_pki(*, rsa_ca: bool = False, pss: bool = False, root_name: str = "Salus Test Root") -> Pki:
    root_key = rsa_key(0) if rsa_ca else ec_key()
    inter_key = rsa_key(1) if rsa_ca else ec_key()
    root = issue(root_name, key=root_key, ca=True, not_before=NOW - timedelta(days=3650), pss=pss)
    inter = issue("Salus Test Mail CA", root, key=inter_key, ca=True, path_length=0, pss=pss)
    return Pki(root, inter)


@pytest.fixture
def pki() -> Pki:
    return make_pki()


# --- the verdict ----------------------------------------------------------------------------------------------


def test_valid_ec_leaf_is_trusted_for_encryption(pki: Pki) -> None:
    leaf = pki.leaf()
    verdict = pki.check(leaf)
    assert verdict.chain_valid and verdict.chain_error is None
    assert verdict.chain == (fingerprint(leaf.cert), fingerprint(pki.inter.cert), fingerprint(pki.root.cert))
    assert verdict.emails == (CertEmail(ADDRESS),)
    assert verdict.email_protection and verdict.usable_for_encryption and verdict.usable_for_signing
    assert verdict.matches_address is True
    assert not verdict.expired and not verdict.not_yet_valid
    assert verdict.not_after == leaf.cert.not_valid_after_utc
    assert verdict.problems == ()
    assert verdict.trusted_for_encryption


@pytest.mark.parametrize(
    ("rsa_ca", "pss"), [(True, False), (True, True), (False, False)], ids=["pkcs1", "pss", "ecdsa"]
)
def test_rsa_leaf_validates_under_each_signature_scheme(rsa_ca: bool, pss: bool) -> None:
    pki = make_pki(rsa_ca=rsa_ca, pss=pss)
    verdict = pki.check(pki.leaf(key=rsa_key(2), usage=RSA_LEAF_USAGE, pss=pss))
    assert verdict.chain_valid, verdict.chain_error
    assert verdict.trusted_for_encryption


def test_fingerprint_is_sha256_of_der_in_upper_hex(pki: Pki) -> None:
    value = fingerprint(pki.root.cert)
    assert value == pki.root.cert.fingerprint(hashes.SHA256()).hex().upper()
    assert len(value) == 64


def test_expired_leaf_is_reported_and_not_trusted(pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    verdict = pki.check(leaf)
    assert verdict.expired and not verdict.chain_valid
    assert verdict.chain_error is not None and "expired" in verdict.chain_error
    assert any("expired on" in problem for problem in verdict.problems)
    assert not verdict.trusted_for_encryption


def test_leaf_not_yet_valid_is_reported(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(not_before=NOW + timedelta(days=2)))
    assert verdict.not_yet_valid and not verdict.chain_valid and not verdict.trusted_for_encryption


def test_expired_intermediate_breaks_the_chain_of_a_current_leaf() -> None:
    root = issue("Root", ca=True)
    inter = issue("Old CA", root, ca=True, not_before=NOW - timedelta(days=900), not_after=NOW - timedelta(days=1))
    leaf = issue("Dr Grey", inter, emails=[ADDRESS])
    verdict = evaluate(leaf.cert, intermediates=[inter.cert], roots=[root.cert], now=NOW, address=ADDRESS)
    assert not verdict.expired and not verdict.chain_valid


def test_leaf_for_another_address_does_not_match(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(emails=["someone.else@clinic.example"]))
    assert verdict.chain_valid and verdict.matches_address is False
    assert "The certificate is issued to a different email address." in verdict.problems
    assert not verdict.trusted_for_encryption
    assert all("someone.else" not in problem for problem in verdict.problems)


@pytest.mark.parametrize(
    ("in_cert", "asked", "matches"),
    [
        ("Dr.Grey@Clinic.example", "Dr.Grey@clinic.EXAMPLE", True),
        ("Dr.Grey@clinic.example", "Dr.Grey@clinic.example.", True),
        ("Dr.Grey@clinic.example", "dr.grey@clinic.example", False),  # RFC 5280 §7.5: local part is exact
        ("Dr.Grey@clinic.example", "not-an-address", False),
        ("Dr.Grey@bücher.example", "Dr.Grey@xn--bcher-kva.example", True),
    ],
)
def test_address_matching_is_case_insensitive_only_on_the_domain(
    pki: Pki, in_cert: str, asked: str, matches: bool
) -> None:
    san = [x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9"), _utf8_string(in_cert))]
    leaf = pki.leaf(emails=[], san=san) if not in_cert.isascii() else pki.leaf(emails=[in_cert])
    assert pki.check(leaf, address=asked).matches_address is matches


def test_internationalised_address_is_read_from_smtputf8mailbox(pki: Pki) -> None:
    san = [x509.OtherName(x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9"), _utf8_string("jörg@bücher.example"))]
    verdict = pki.check(pki.leaf(emails=[], san=san), address="jörg@BÜCHER.example")
    assert verdict.emails == (CertEmail("jörg@bücher.example"),)
    assert verdict.matches_address is True and verdict.chain_valid


def test_without_an_address_to_match_the_verdict_says_none(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(), address=None)
    assert verdict.matches_address is None and verdict.problems == ()
    assert not verdict.trusted_for_encryption


def test_legacy_subject_email_is_a_flagged_fallback(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(emails=[], legacy_email=ADDRESS))
    assert verdict.emails == (CertEmail(ADDRESS, legacy=True),)
    assert verdict.chain_valid and verdict.matches_address is True
    assert any("legacy" in problem for problem in verdict.problems)


def test_legacy_subject_email_is_ignored_beside_a_san_address(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(emails=["other@clinic.example"], legacy_email=ADDRESS))
    assert verdict.emails == (CertEmail("other@clinic.example"),)
    assert verdict.matches_address is False


def test_certificate_without_any_address_matches_nothing(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(emails=[]))
    assert verdict.chain_valid and verdict.emails == () and verdict.matches_address is False
    assert "The certificate names no email address." in verdict.problems


@pytest.mark.parametrize(
    ("eku", "allowed"),
    [
        (None, True),
        ((ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH), True),
        ((ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,), True),
        ((ExtendedKeyUsageOID.CLIENT_AUTH,), False),
    ],
    ids=["no-eku", "email-and-client", "any-eku", "client-only"],
)
def test_email_protection_follows_the_extended_key_usage(
    pki: Pki, eku: tuple[x509.ObjectIdentifier, ...] | None, allowed: bool
) -> None:
    verdict = pki.check(pki.leaf(eku=eku))
    assert verdict.chain_valid  # the leaf's purpose is reported, not folded into the chain
    assert verdict.email_protection is allowed
    assert verdict.trusted_for_encryption is allowed
    assert any("emailProtection" in problem for problem in verdict.problems) is not allowed


def test_issuing_ca_restricted_to_tls_cannot_vouch_for_email() -> None:
    root = issue("Root", ca=True)
    inter = issue("TLS-only CA", root, ca=True, extra=[x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])])
    leaf = issue("Dr Grey", inter, emails=[ADDRESS])
    verdict = evaluate(leaf.cert, intermediates=[inter.cert], roots=[root.cert], now=NOW, address=ADDRESS)
    assert not verdict.chain_valid
    assert verdict.chain_error == "an issuing CA is not authorised for email protection"


@pytest.mark.parametrize(
    ("key", "usage", "encrypt", "sign"),
    [
        ("ec", _key_usage(key_agreement=True), True, False),
        ("ec", _key_usage(digital_signature=True), False, True),
        ("ec", _key_usage(key_encipherment=True), False, False),  # ECDH needs keyAgreement (RFC 5753)
        ("rsa", _key_usage(key_encipherment=True), True, False),
        ("rsa", _key_usage(key_agreement=True), False, False),
        ("rsa", _key_usage(content_commitment=True), False, True),
        ("ed25519", _key_usage(digital_signature=True), False, True),
    ],
)
def test_key_usage_decides_what_the_key_may_do(
    pki: Pki, key: str, usage: x509.KeyUsage, encrypt: bool, sign: bool
) -> None:
    keys: dict[str, PrivateKey] = {"ec": ec_key(), "rsa": rsa_key(2), "ed25519": ed25519.Ed25519PrivateKey.generate()}
    verdict = pki.check(pki.leaf(key=keys[key], usage=usage))
    assert (verdict.usable_for_encryption, verdict.usable_for_signing) == (encrypt, sign)


def test_leaf_without_key_usage_may_encrypt_and_sign() -> None:
    root = issue("Root", ca=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr Grey")]))
        .issuer_name(root.cert.subject)
        .public_key(ec_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(ADDRESS)]), critical=False)
    )
    leaf = builder.sign(root.key, hashes.SHA256())
    verdict = evaluate(leaf, roots=[root.cert], now=NOW, address=ADDRESS)
    assert verdict.usable_for_encryption and verdict.usable_for_signing and verdict.trusted_for_encryption


@pytest.mark.parametrize(
    ("root_name", "error"),
    [("Another Root", "no path to a trusted authority"), ("Salus Test Root", "signature")],
    ids=["unknown-root", "impostor-root-with-the-same-name"],
)
def test_chain_to_an_unknown_root_is_not_valid(pki: Pki, root_name: str, error: str) -> None:
    stranger = make_pki(root_name=root_name)
    verdict = evaluate(pki.leaf().cert, intermediates=[pki.inter.cert], roots=[stranger.root.cert], now=NOW)
    assert not verdict.chain_valid and verdict.chain == ()
    assert verdict.chain_error is not None and error in verdict.chain_error


def test_missing_intermediate_is_not_valid_and_supplying_it_fixes_the_chain(pki: Pki) -> None:
    leaf = pki.leaf()
    assert not evaluate(leaf.cert, roots=[pki.root.cert], now=NOW).chain_valid
    assert evaluate(leaf.cert, intermediates=[pki.inter.cert], roots=[pki.root.cert], now=NOW).chain_valid


def test_leaf_signed_by_the_wrong_key_is_not_valid(pki: Pki) -> None:
    verdict = pki.check(pki.leaf(signing_key=ec_key()))
    assert not verdict.chain_valid
    assert verdict.chain_error is not None and "signature" in verdict.chain_error


def test_no_roots_means_no_trust(pki: Pki) -> None:
    verdict = evaluate(pki.leaf().cert, intermediates=[pki.inter.cert], roots=[], now=NOW, address=ADDRESS)
    assert not verdict.chain_valid and verdict.chain_error == "no trusted root certificates are configured"


@pytest.mark.parametrize(
    "broken_inter",
    ["not-a-ca", "no-key-cert-sign", "path-length"],
)
def test_issuer_constraints_are_enforced(broken_inter: str) -> None:
    root = issue("Root", ca=True, path_length=0 if broken_inter == "path-length" else None)
    if broken_inter == "not-a-ca":
        inter = issue("CA", root, ca=False, usage=CA_USAGE, eku=None)
    elif broken_inter == "no-key-cert-sign":
        inter = issue("CA", root, ca=True, usage=_key_usage(crl_sign=True, digital_signature=True))
    else:
        inter = issue("CA", root, ca=True)
    leaf = issue("Dr Grey", inter, emails=[ADDRESS])
    verdict = evaluate(leaf.cert, intermediates=[inter.cert], roots=[root.cert], now=NOW, address=ADDRESS)
    assert not verdict.chain_valid and verdict.chain_error


def test_now_must_be_timezone_aware(pki: Pki) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(pki.leaf().cert, roots=[pki.root.cert], now=NOW.replace(tzinfo=None))


def test_now_in_any_timezone_means_the_same_instant(pki: Pki) -> None:
    leaf = pki.leaf(not_after=NOW + timedelta(hours=1))
    eastern = timezone_shifted(NOW + timedelta(hours=2), hours=10)
    assert pki.check(leaf, now=eastern).expired


def test_certificate_with_an_undecodable_extension_is_unreadable_input(pki: Pki) -> None:
    broken = _leaf_with_extension(pki.inter, x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, b"\x04\x02garbage"))
    with pytest.raises(CryptoError, match="malformed"):
        load_certificates(to_der(broken))
    with pytest.raises(CryptoError, match="malformed"):
        pki.check(Issued(broken, pki.inter.key))
    assert end_entity_certificates([broken, pki.inter.cert]) == ()


# --- loading --------------------------------------------------------------------------------------------------


def test_loads_single_pem_der_and_base64(pki: Pki) -> None:
    cert = pki.root.cert
    der = to_der(cert)
    assert load_certificates(to_pem(cert).encode()) == (cert,)
    assert load_certificates(der) == (cert,)
    assert load_certificates(base64.encodebytes(der)) == (cert,)


def test_der_ending_in_a_whitespace_byte_is_not_truncated(pki: Pki) -> None:
    """A DER certificate or signature may end in 0x0A or 0x20; stripping it as text would cut the signature."""
    whitespace = b" \t\n\r\x0b\x0c"
    leaf = next(c for c in (pki.leaf() for _ in range(3000)) if to_der(c.cert)[-1] in whitespace)
    assert load_certificates(to_der(leaf.cert)) == (leaf.cert,)
    blob = next(b for b in (_detached_signature(pki, leaf) for _ in range(3000)) if b[-1] in whitespace)
    assert leaf.cert in signer_certificates(blob)


def test_older_pem_labels_are_accepted(pki: Pki) -> None:
    pem = to_pem(pki.root.cert).replace("CERTIFICATE-----", "X.509 CERTIFICATE-----")
    assert load_certificates(pem.encode()) == (pki.root.cert,)
    bundle = pkcs7.serialize_certificates([pki.root.cert], serialization.Encoding.PEM)
    assert load_certificates(bundle.replace(b"PKCS7-----", b"CMS-----")) == (pki.root.cert,)


def test_pem_file_with_several_certificates_and_a_key_yields_only_certificates(pki: Pki) -> None:
    key_pem = pki.root.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    data = b"Bag Attributes: ignored\n" + key_pem + to_pem(pki.inter.cert).encode() + to_pem(pki.root.cert).encode()
    assert load_certificates(data + to_pem(pki.root.cert).encode()) == (pki.inter.cert, pki.root.cert)


@pytest.mark.parametrize("encoding", [serialization.Encoding.DER, serialization.Encoding.PEM])
def test_loads_pkcs7_bundle(pki: Pki, encoding: serialization.Encoding) -> None:
    bundle = pkcs7.serialize_certificates([pki.inter.cert, pki.root.cert], encoding)
    assert set(load_certificates(bundle)) == {pki.inter.cert, pki.root.cert}


def _detached_signature(pki: Pki, leaf: Issued, *options: pkcs7.PKCS7Options) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(b"Content-Type: text/plain\r\n\r\nHello\r\n")
        .add_signer(leaf.cert, leaf.key, hashes.SHA256())  # type: ignore[arg-type]
        .add_certificate(pki.inter.cert)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, *options])
    )


def test_harvests_signer_and_chain_from_a_detached_signature(pki: Pki) -> None:
    leaf = pki.leaf()
    harvested = signer_certificates(_detached_signature(pki, leaf))
    assert set(harvested) == {leaf.cert, pki.inter.cert}
    assert end_entity_certificates(harvested) == (leaf.cert,)
    verdict = evaluate(leaf.cert, intermediates=harvested, roots=[pki.root.cert], now=NOW, address=ADDRESS)
    assert verdict.trusted_for_encryption
    assert set(load_certificates(_detached_signature(pki, leaf))) == set(harvested)


def test_harvests_from_a_ber_signature(pki: Pki) -> None:
    """Outlook and `openssl cms -stream` send indefinite-length BER (RFC 5652 §1 allows it); a future
    cryptography that stops accepting it must fail this test rather than silently lose certificates."""
    leaf = pki.leaf()
    assert set(signer_certificates(_as_indefinite_length(_detached_signature(pki, leaf)))) == {
        leaf.cert,
        pki.inter.cert,
    }


def test_signature_without_certificates_yields_none(pki: Pki) -> None:
    blob = _detached_signature(pki, pki.leaf(), pkcs7.PKCS7Options.NoCerts)
    assert signer_certificates(blob) == ()
    with pytest.raises(CryptoError, match="holds no certificate"):
        load_certificates(blob)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        b"garbage!",
        b"\x30\x03\x02\x01\x01",
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A\n-----END CERTIFICATE-----\n",
        b"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    ],
    ids=["empty", "blank", "text", "tiny-der", "bad-base64", "truncated-cert", "only-a-key"],
)
def test_garbage_raises_crypto_error(data: bytes) -> None:
    with pytest.raises(CryptoError):
        load_certificates(data)


def test_truncated_der_raises_crypto_error(pki: Pki) -> None:
    with pytest.raises(CryptoError):
        load_certificates(to_der(pki.root.cert)[:-20])


def test_signer_certificates_refuses_what_is_not_a_signature(pki: Pki) -> None:
    for data in (b"", b"garbage!", to_der(pki.root.cert)):
        with pytest.raises(CryptoError):
            signer_certificates(data)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_load_or_raise_crypto_error(data: bytes) -> None:
    with contextlib.suppress(CryptoError):
        load_certificates(data)


_FUZZ_PKI = make_pki()
_FUZZ_LEAF = _FUZZ_PKI.leaf()


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_corrupted_certificate_is_refused_or_judged_never_trusted_if_altered(position: int, flip: int) -> None:
    der = bytearray(to_der(_FUZZ_LEAF.cert))
    der[position % len(der)] ^= flip
    try:
        (cert,) = load_certificates(bytes(der))
    except CryptoError:
        return
    verdict = _FUZZ_PKI.check(Issued(cert, _FUZZ_LEAF.key))
    if verdict.trusted_for_encryption:
        # Only a change outside the signed part can survive: the signature BIT STRING's unused-bits count is
        # read leniently, which re-encodes the same signed certificate but changes nothing it says.
        assert cert.tbs_certificate_bytes == _FUZZ_LEAF.cert.tbs_certificate_bytes
        assert cert.signature == _FUZZ_LEAF.cert.signature


def test_roots_from_pem(pki: Pki) -> None:
    assert roots_from_pem(to_pem(pki.root.cert)) == (pki.root.cert,)
    for bad in ("", "no pem here", "-----BEGIN CERTIFICATE-----\nü\n-----END CERTIFICATE-----"):
        with pytest.raises(CryptoError):
            roots_from_pem(bad)


def test_pem_export_round_trips(pki: Pki) -> None:
    pem = to_pem(pki.inter.cert)
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert load_certificates(pem.encode()) == (pki.inter.cert,)


# --- the system trust store ----------------------------------------------------------------------------------


def _verify_paths(cafile: Path | None, capath: Path | None) -> ssl.DefaultVerifyPaths:
    cafile_text = str(cafile) if cafile else None
    capath_text = str(capath) if capath else None
    return ssl.DefaultVerifyPaths(cafile_text, capath_text, "SSL_CERT_FILE", "", "SSL_CERT_DIR", "")  # type: ignore[arg-type]


def test_system_roots_skip_an_unreadable_certificate(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca-certificates.crt"
    broken = b"-----BEGIN CERTIFICATE-----\nMIIBIjANBgkq\n-----END CERTIFICATE-----\n"
    bundle.write_bytes(to_pem(pki.root.cert).encode() + broken + to_pem(pki.inter.cert).encode())
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: _verify_paths(bundle, None))
    assert system_roots() == (pki.root.cert, pki.inter.cert)


def test_system_roots_read_a_ca_directory(pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.pem").write_text(to_pem(pki.root.cert))
    (tmp_path / "b.pem").write_text(to_pem(pki.root.cert))  # the same root under its hash name
    (tmp_path / "subdir").mkdir()
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: _verify_paths(None, tmp_path))
    assert system_roots() == (pki.root.cert,)


def test_system_roots_load_the_os_store() -> None:
    if not ssl.get_default_verify_paths().cafile:
        pytest.skip("this machine has no OpenSSL CA file (e.g. macOS without a CA bundle)")
    roots = system_roots()
    assert len(roots) > 10
    assert all(isinstance(root, x509.Certificate) for root in roots)


# --- agreement with OpenSSL ---------------------------------------------------------------------------------


def _openssl_case(pki: Pki, case: str) -> tuple[Issued, Pki]:
    """A leaf OpenSSL's smimeencrypt purpose can accept (RSA with keyEncipherment), then broken one way."""
    shapes: dict[str, dict[str, object]] = {
        "valid": {},
        "expired": {"not_before": NOW - timedelta(days=400), "not_after": NOW - timedelta(days=1)},
        "client-auth-only": {"eku": (ExtendedKeyUsageOID.CLIENT_AUTH,)},
        "tampered": {"signing_key": ec_key()},
    }
    trusted = make_pki(root_name="Another Root") if case == "unknown-root" else pki
    leaf = pki.leaf(key=rsa_key(3), usage=RSA_LEAF_USAGE, **shapes.get(case, {}))
    return leaf, trusted


@pytest.mark.parametrize("case", ["valid", "expired", "client-auth-only", "tampered", "unknown-root"])
def test_verdict_agrees_with_openssl_verify(pki: Pki, tmp_path: Path, case: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed, so there is no reference to compare with")
    leaf, trusted = _openssl_case(pki, case)
    for name, cert in (("root", trusted.root.cert), ("inter", pki.inter.cert), ("leaf", leaf.cert)):
        (tmp_path / f"{name}.pem").write_text(to_pem(cert))
    command = [openssl, "verify", "-CAfile", "root.pem", "-untrusted", "inter.pem", "-purpose", "smimeencrypt"]
    command += ["-attime", str(int(NOW.timestamp())), "leaf.pem"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    verdict = evaluate(leaf.cert, intermediates=[pki.inter.cert], roots=[trusted.root.cert], now=NOW)
    ours = verdict.chain_valid and verdict.email_protection and verdict.usable_for_encryption
    assert ours == (result.returncode == 0), result.stdout + result.stderr
    assert ours is (case == "valid")


# --- helpers --------------------------------------------------------------------------------------------------


def _utf8_string(text: str) -> bytes:
    body = text.encode()
    assert len(body) < 0x80
    return bytes([0x0C, len(body)]) + body


def timezone_shifted(moment: datetime, *, hours: int) -> datetime:
    return moment.astimezone(timezone(timedelta(hours=hours)))


def _leaf_with_extension(issuer: Issued, extension: x509.UnrecognizedExtension) -> x509.Certificate:
    """A leaf carrying `extension` as given: the builder does not check an unrecognised extension's bytes."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr Grey")]))
        .issuer_name(issuer.cert.subject)
        .public_key(ec_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(ADDRESS)]), critical=False)
        .add_extension(extension, critical=True)
    )
    return builder.sign(issuer.key, hashes.SHA256())


def _as_indefinite_length(der: bytes) -> bytes:
    """Re-encode the outer SEQUENCE of a DER blob with BER's indefinite length (X.690 §8.1.3.6)."""
    assert der[0] == 0x30 and der[1] & 0x80
    header = 2 + (der[1] & 0x7F)
    return b"\x30\x80" + der[header:] + b"\x00\x00"
