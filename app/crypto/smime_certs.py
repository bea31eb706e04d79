"""S/MIME certificate evidence: may Salus encrypt to this address with this certificate, and if not, why not?

Rules this module keeps:
- `evaluate` never raises for a bad certificate: every flaw becomes a flag and a readable problem in the
  verdict. Unreadable input raises `CryptoError`, normally earlier, in the loaders of `smime_bundles`
  (re-exported here); a naive `now` is a programming error and raises ValueError.
- The chain is checked by cryptography's path validator (RFC 5280 §6: signatures, validity of every
  certificate, basicConstraints cA and pathLenConstraint, keyCertSign, name constraints) with its CA/B-Forum
  based defaults, changed only where S/MIME differs from TLS: the purpose is emailProtection, not clientAuth
  (RFC 8550 §4.4.4), and a leaf may name its address in the legacy emailAddress attribute instead of a
  subjectAltName (RFC 8550 §3).
- Time is the caller's `now`; nothing here reads a clock, a file or a setting.
- Problems and chain errors never quote an address or a subject name: addresses may belong to patients.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x448, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, Policy, PolicyBuilder, Store, VerificationError

from app.core.errors import CryptoError
from app.crypto.smime_bundles import (
    DECODE_ERRORS,
    decodes_fully,
    load_certificates,
    roots_from_pem,
    signer_certificates,
    system_roots,
    to_der,
    to_pem,
)

__all__ = [
    "CertEmail",
    "CertVerdict",
    "end_entity_certificates",
    "evaluate",
    "fingerprint",
    "load_certificates",
    "roots_from_pem",
    "signer_certificates",
    "system_roots",
    "to_der",
    "to_pem",
]

_E = TypeVar("_E", bound=x509.ExtensionType)

_EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
# RFC 8398 §3: an internationalised address travels in an otherName of this type, as a UTF8String.
_SMTP_UTF8_MAILBOX = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9")
_UTF8_STRING_TAG = 0x0C


@dataclass(frozen=True, slots=True)
class CertEmail:
    """An address the certificate names. `legacy`: taken from the subject's PKCS #9 emailAddress attribute,
    which RFC 8550 §3 still asks receivers to recognise, because the subjectAltName names no address."""

    address: str
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class CertVerdict:
    """Everything the decision engine and the composer need to know about one S/MIME certificate.

    `fingerprint` is the SHA-256 of the DER, upper-case hex (as `SmimeCertEvidence` stores it); `chain` lists
    the fingerprints of the validated path, leaf first, and is empty when `chain_valid` is False.
    `matches_address` is None when no address was asked about.
    """

    fingerprint: str
    subject: str
    issuer: str
    emails: tuple[CertEmail, ...]
    not_before: datetime
    not_after: datetime
    chain_valid: bool
    chain_error: str | None
    chain: tuple[str, ...]
    usable_for_encryption: bool
    usable_for_signing: bool
    email_protection: bool
    matches_address: bool | None
    expired: bool
    not_yet_valid: bool
    problems: tuple[str, ...] = ()

    @property
    def trusted_for_encryption(self) -> bool:
        """All checks pass: Salus may encrypt to the address it was asked about with this certificate."""
        return (
            self.chain_valid
            and self.email_protection
            and self.usable_for_encryption
            and self.matches_address is True
            and not self.expired
            and not self.not_yet_valid
        )


@dataclass(frozen=True, slots=True)
class _Usage:
    """What the certificate itself allows, read from its extensions and key."""

    emails: tuple[CertEmail, ...]
    encryption: bool
    signing: bool
    email_protection: bool


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def evaluate(
    certificate: x509.Certificate,
    *,
    intermediates: Sequence[x509.Certificate] = (),
    roots: Sequence[x509.Certificate],
    now: datetime,
    address: str | None = None,
) -> CertVerdict:
    """Check `certificate` for S/MIME use at `now`: its path to one of `roots` through `intermediates`, its
    validity, its key usage and purpose, and whether it names `address`. Never raises for a bad certificate;
    raises CryptoError for one that does not decode (the loaders never return such a certificate)."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    if not decodes_fully(certificate):
        raise CryptoError("Cannot check the certificate: it is malformed.")
    now = now.astimezone(UTC)
    usage = _usage(certificate)
    chain, chain_error = _verify_chain(certificate, intermediates, roots, now)
    verdict = CertVerdict(
        fingerprint=fingerprint(certificate),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        emails=usage.emails,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        chain_valid=chain_error is None,
        chain_error=chain_error,
        chain=tuple(fingerprint(link) for link in chain),
        usable_for_encryption=usage.encryption,
        usable_for_signing=usage.signing,
        email_protection=usage.email_protection,
        matches_address=None if address is None else _names_address(usage.emails, address),
        expired=now > certificate.not_valid_after_utc,
        not_yet_valid=now < certificate.not_valid_before_utc,
    )
    return dataclasses.replace(verdict, problems=_problems(verdict))


def end_entity_certificates(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The certificates that are not CAs. From a signature's bundle these are the ones to evaluate (the signer's
    own); pass the whole bundle as `intermediates`. Certificates that do not decode are left out."""
    return tuple(cert for cert in certificates if decodes_fully(cert) and not _is_ca(cert))


# --- chain -------------------------------------------------------------------------------------------------


def _check_issuer_purpose(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
    """RFC 5280 §4.2.1.12 defines EKU for end entities, but OpenSSL, NSS and Windows read an EKU on a CA as a
    limit on what it may vouch for. Salus does the same, so it never trusts a chain those clients reject."""
    if not _allows_email(eku):
        raise ValueError("an issuing CA is not authorised for email protection")


# The leaf's purpose is reported as `email_protection` rather than failing the chain, so the composer can say
# which check failed; the default leaf EKU check (clientAuth) does not apply to S/MIME at all.
_EE_POLICY = (
    ExtensionPolicy.webpki_defaults_ee()
    .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _check_issuer_purpose
)

# cryptography's wording, stripped of framing, mapped to what a user can act on.
_ERROR_FRAMING = ("validation failed: ", "candidates exhausted: ", "Python extension validator failed: ValueError: ")
_PLAIN_ERRORS = {
    "all candidates exhausted with no interior errors": (
        "no path to a trusted authority was found (unknown issuer, or an intermediate certificate is missing)"
    ),
    "cert is not valid at validation time": "a certificate in the chain has expired or is not yet valid",
    "signature does not match": "a signature in the chain does not verify (altered certificate or wrong issuer key)",
}


def _verify_chain(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime,
) -> tuple[tuple[x509.Certificate, ...], str | None]:
    if not roots:
        return (), "no trusted root certificates are configured"
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verified = verifier.verify(certificate, list(intermediates))
    except (VerificationError, UnsupportedAlgorithm, *DECODE_ERRORS) as exc:
        return (), _describe_chain_error(str(exc))
    return tuple(verified.chain), None


def _describe_chain_error(message: str) -> str:
    # The library appends "(encountered processing <Certificate(subject=...)>)": a subject may name a patient.
    text = message.split(" (encountered processing", 1)[0]
    for framing in _ERROR_FRAMING:
        text = text.removeprefix(framing)
    return _PLAIN_ERRORS.get(text, text)


# --- the certificate's own extensions ----------------------------------------------------------------------


def _usage(certificate: x509.Certificate) -> _Usage:
    key_usage = _extension(certificate, x509.KeyUsage)
    return _Usage(
        emails=_emails(certificate),
        encryption=_usable_for_encryption(certificate, key_usage),
        signing=_usable_for_signing(key_usage),
        email_protection=_allows_email(_extension(certificate, x509.ExtendedKeyUsage)),
    )


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(certificate: x509.Certificate) -> bool:
    constraints = _extension(certificate, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def _usable_for_encryption(certificate: x509.Certificate, key_usage: x509.KeyUsage | None) -> bool:
    """RFC 8550 §4.4.2: a keyUsage extension, when present, limits the key. RSA encrypts by key transport and
    needs keyEncipherment (RFC 8551 §2.3); EC keys encrypt by ECDH key agreement (RFC 5753) and need
    keyAgreement (RFC 5480 §3), as do X25519/X448 keys (RFC 8418). Other key types (Ed25519, DSA) cannot
    encrypt at all."""
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm:
        return False
    if isinstance(key, rsa.RSAPublicKey):
        return key_usage is None or key_usage.key_encipherment
    if isinstance(key, ec.EllipticCurvePublicKey | x25519.X25519PublicKey | x448.X448PublicKey):
        return key_usage is None or key_usage.key_agreement
    return False


def _usable_for_signing(key_usage: x509.KeyUsage | None) -> bool:
    # RFC 8550 §4.4.2: a signing certificate's keyUsage asserts digitalSignature, nonRepudiation, or both.
    return key_usage is None or key_usage.digital_signature or key_usage.content_commitment


def _allows_email(eku: x509.ExtendedKeyUsage | None) -> bool:
    # RFC 8550 §4.4.4 and RFC 5280 §4.2.1.12: no EKU means no limit; anyExtendedKeyUsage allows every purpose.
    return eku is None or _EMAIL_PROTECTION in eku or _ANY_EKU in eku


# --- addresses ---------------------------------------------------------------------------------------------


def _emails(certificate: x509.Certificate) -> tuple[CertEmail, ...]:
    """The subjectAltName's addresses; only if it names none, the subject's legacy emailAddress attributes.
    A CA that validates addresses puts them in the subjectAltName (RFC 8550 §3), so a subject address beside
    a SAN address is unvalidated decoration and must not make a certificate match."""
    san = _extension(certificate, x509.SubjectAlternativeName)
    modern = _san_addresses(san) if san is not None else []
    if modern:
        return tuple(CertEmail(address) for address in dict.fromkeys(modern))
    legacy = [attr.value for attr in certificate.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    return tuple(CertEmail(value, legacy=True) for value in dict.fromkeys(legacy) if isinstance(value, str))


def _san_addresses(san: x509.SubjectAlternativeName) -> list[str]:
    addresses = list(san.get_values_for_type(x509.RFC822Name))
    for other in san.get_values_for_type(x509.OtherName):
        decoded = _utf8_string(other.value) if other.type_id == _SMTP_UTF8_MAILBOX else None
        if decoded is not None:
            addresses.append(decoded)
    return addresses


def _utf8_string(der: bytes) -> str | None:
    """Decode a DER UTF8String (X.690 §8.23, definite length); None if `der` is anything else."""
    if len(der) < 2 or der[0] != _UTF8_STRING_TAG:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        size = length & 0x7F
        length, offset = int.from_bytes(der[2 : 2 + size], "big"), 2 + size
    body = der[offset:]
    if len(body) != length:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _names_address(emails: tuple[CertEmail, ...], address: str) -> bool:
    wanted = _mailbox_key(address)
    return wanted is not None and any(_mailbox_key(email.address) == wanted for email in emails)


def _mailbox_key(address: str) -> tuple[str, str] | None:
    """RFC 5280 §7.5: the local part compares exactly, the domain case-insensitively. Domains compare as
    A-labels, so an SmtpUTF8Mailbox's U-labels (RFC 8398 §3) match the same domain typed either way."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain.strip("."):
        return None
    cleaned = domain.rstrip(".").lower()
    try:
        return local, cleaned.encode("idna").decode("ascii")
    except UnicodeError:
        return local, cleaned


# --- problems ----------------------------------------------------------------------------------------------


def _problems(verdict: CertVerdict) -> tuple[str, ...]:
    problems = []
    if not verdict.chain_valid:
        problems.append(f"The certificate is not trusted: {verdict.chain_error}.")
    if verdict.expired:
        problems.append(f"The certificate expired on {verdict.not_after:%Y-%m-%d}.")
    if verdict.not_yet_valid:
        problems.append(f"The certificate is not valid before {verdict.not_before:%Y-%m-%d}.")
    if not verdict.email_protection:
        problems.append("The certificate is not issued for email: its extended key usage lacks emailProtection.")
    if not verdict.usable_for_encryption:
        problems.append("The certificate's key type or key usage does not allow encryption.")
    problems.extend(_address_problems(verdict))
    return tuple(problems)


def _address_problems(verdict: CertVerdict) -> list[str]:
    if not verdict.emails:
        return ["The certificate names no email address."]
    problems = []
    if all(email.legacy for email in verdict.emails):
        problems.append("The certificate names its address only in the legacy subject emailAddress attribute.")
    if verdict.matches_address is False:
        problems.append("The certificate is issued to a different email address.")
    return problems
