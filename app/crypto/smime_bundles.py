"""Reading S/MIME certificates: single certificates, PKCS #7 bundles, mail signatures and trust stores.

Rules this module keeps:
- Input is only what the caller passes in. The one exception is `system_roots`, which reads the OS trust
  store file, because that is its whole purpose.
- Unreadable input raises `CryptoError` with a sentence a user can read; the library's exception is chained.
  Finding no certificate in a file meant to hold some is unreadable input too.
- A CMS SignedData is opened only for the certificates it carries (RFC 5652 §5.1). Its signature is not
  checked here: a certificate is evidence only after `smime_certs.evaluate` has checked its chain.
- Private keys that share a PEM file with certificates are skipped, never parsed or kept.
- A trust store with one unreadable certificate still yields the others: one odd root must not leave every
  recipient without a chain.
"""

from __future__ import annotations

import base64
import binascii
import re
import ssl
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning

from app.core.errors import CryptoError

__all__ = [
    "decodes_fully",
    "load_certificates",
    "roots_from_pem",
    "signer_certificates",
    "system_roots",
    "to_der",
    "to_pem",
]

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 .#]+)-----(.*?)-----END \1-----", re.DOTALL)
# RFC 7468 §5.1: "CERTIFICATE", plus the two older labels parsers may still meet.
_CERT_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE", b"X.509 CERTIFICATE"})
# RFC 7468 §9: "PKCS7" for `.p7b` bundles; OpenSSL writes "CMS" for `openssl cms -outform PEM`, and some older
# tools "PKCS #7 SIGNED DATA".
_PKCS7_LABELS = frozenset({b"PKCS7", b"CMS", b"PKCS #7 SIGNED DATA"})
_DER_SEQUENCE = 0x30
# cryptography's wording when a well-formed SignedData carries no certificates (they are optional, RFC 5652 §5.1).
_NO_CERTIFICATES = "no certificate data"
_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
# What cryptography raises when a certificate, or a part it decodes on first use, is malformed.
DECODE_ERRORS = (ValueError, x509.InvalidVersion, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)


def load_certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    """Every certificate in `data`: PEM or DER (or bare base64 of DER), single certificates or PKCS #7 bundles,
    including the application/pkcs7-signature blob of a signed mail. Duplicates are dropped, order is kept."""
    certificates = _read_any(data)
    if not certificates:
        raise CryptoError("Cannot import the certificates: the data holds no certificate.")
    return certificates


def signer_certificates(signature_blob: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates inside a detached S/MIME signature (the DER application/pkcs7-signature part, RFC 8551
    §3.5.3): usually the signer's own and its intermediates. Empty if the signer sent none."""
    if not signature_blob.strip():
        raise CryptoError("Cannot read the signature: it is empty.")
    return _unique(_certs_from_pkcs7(_decode_binary(signature_blob)))


def roots_from_pem(pem: str) -> tuple[x509.Certificate, ...]:
    """The CA certificates of a PEM text, e.g. the extra CA a managed policy names (DESIGN §10)."""
    try:
        raw = pem.encode("ascii")
    except UnicodeEncodeError as exc:
        raise CryptoError("Cannot read the CA certificate: PEM text must be ASCII.") from exc
    certificates = _unique(_certs_from_pem(raw))
    if not certificates:
        raise CryptoError("Cannot read the CA certificate: the PEM text holds no certificate.")
    return certificates


def system_roots() -> tuple[x509.Certificate, ...]:
    """The operating system's trusted roots: the CA file OpenSSL uses (Debian:
    /etc/ssl/certs/ca-certificates.crt; `SSL_CERT_FILE` overrides it), else its CA directory, else on Windows
    the ROOT store's certificates trusted for email. Empty where the platform keeps no such file (macOS
    without a CA bundle): chains then fail with a clear reason instead of being trusted blindly.

    The Debian bundle holds the roots Mozilla trusts for TLS servers; Mozilla's separate email trust bit is
    not in it, so IT may add an S/MIME CA through the policy (see `roots_from_pem`)."""
    paths = ssl.get_default_verify_paths()
    if paths.cafile:
        return _unique(_lenient_certs(_read_file(Path(paths.cafile))))
    if paths.capath:
        return _roots_from_directory(Path(paths.capath))
    return _windows_email_roots()


def decodes_fully(certificate: x509.Certificate) -> bool:
    """Whether the parts cryptography decodes only on first use (names, validity, extensions, public key)
    decode at all. The loaders refuse a certificate that fails this, so a malformed one surfaces as CryptoError
    at import rather than as an exception deep inside a later check. A key of a type cryptography does not
    know is not malformed: the certificate is readable and simply cannot be used."""
    try:
        with _quiet_legacy_warnings():
            _ = (certificate.subject, certificate.issuer, certificate.extensions)
            _ = (certificate.not_valid_before_utc, certificate.not_valid_after_utc)
            _ = certificate.public_key()
    except UnsupportedAlgorithm:
        return True
    except DECODE_ERRORS:
        return False
    return True


def to_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def to_der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _read_any(data: bytes) -> tuple[x509.Certificate, ...]:
    if not data.strip():
        raise CryptoError("Cannot read the certificates: the data is empty.")
    # DER always opens with a SEQUENCE tag; only text input can be PEM.
    if data[0] != _DER_SEQUENCE and b"-----BEGIN " in data:
        return _unique(_certs_from_pem(data))
    return _unique(_certs_from_der(_decode_binary(data)))


def _decode_binary(data: bytes) -> bytes:
    """DER as it is, or the base64 of DER as a signature part looks before its transfer encoding is undone.
    DER is never stripped: its last byte may well be a whitespace character."""
    if data[0] == _DER_SEQUENCE:
        return data
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error as exc:
        raise CryptoError("Cannot read the certificates: the data is neither PEM, DER nor base64.") from exc


def _certs_from_der(der: bytes) -> tuple[x509.Certificate, ...]:
    try:
        with _quiet_legacy_warnings():
            certificate = x509.load_der_x509_certificate(der)
    except DECODE_ERRORS:
        # Not a single certificate; a PKCS #7 bundle or signature is the other DER shape we accept.
        return _certs_from_pkcs7(der)
    return (_checked(certificate),)


def _certs_from_pkcs7(der: bytes) -> tuple[x509.Certificate, ...]:
    try:
        with _quiet_legacy_warnings():
            certificates = pkcs7.load_der_pkcs7_certificates(der)
    except (UnsupportedAlgorithm, *DECODE_ERRORS) as exc:
        if _NO_CERTIFICATES in str(exc):
            return ()
        raise CryptoError("Cannot read the certificates: the data is not a certificate or a PKCS #7 bundle.") from exc
    return tuple(_checked(certificate) for certificate in certificates)


def _certs_from_pem(text: bytes) -> list[x509.Certificate]:
    certificates: list[x509.Certificate] = []
    for label, der in _pem_blocks(text):
        if label in _CERT_LABELS:
            certificates.append(_load_der_certificate(der))
        elif label in _PKCS7_LABELS:
            certificates.extend(_certs_from_pkcs7(der))
    return certificates


def _pem_blocks(text: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(label, DER) for each certificate or PKCS #7 block (RFC 7468 §2). Other blocks are skipped undecoded,
    so a private key that shares the file never reaches a parser."""
    for match in _PEM_BLOCK.finditer(text):
        label = match.group(1)
        if label not in _CERT_LABELS and label not in _PKCS7_LABELS:
            continue
        try:
            yield label, base64.b64decode(b"".join(match.group(2).split()), validate=True)
        except binascii.Error as exc:
            raise CryptoError("Cannot read the certificates: a PEM block is not valid base64.") from exc


def _load_der_certificate(der: bytes) -> x509.Certificate:
    try:
        with _quiet_legacy_warnings():
            certificate = x509.load_der_x509_certificate(der)
    except DECODE_ERRORS as exc:
        raise CryptoError("Cannot read the certificates: a certificate is malformed.") from exc
    return _checked(certificate)


def _checked(certificate: x509.Certificate) -> x509.Certificate:
    if not decodes_fully(certificate):
        raise CryptoError("Cannot read the certificates: a certificate is malformed.")
    return certificate


def _lenient_certs(text: bytes) -> Iterator[x509.Certificate]:
    """The readable certificates of a trust store file; unreadable ones are skipped (see the module rules)."""
    for match in _PEM_BLOCK.finditer(text):
        try:
            yield from _certs_from_pem(match.group(0))
        except CryptoError:
            continue


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CryptoError("Cannot read the system's trusted certificates: the trust store file is unreadable.") from exc


def _roots_from_directory(directory: Path) -> tuple[x509.Certificate, ...]:
    certificates: list[x509.Certificate] = []
    for path in sorted(directory.iterdir()):
        try:
            certificates.extend(_lenient_certs(path.read_bytes()))
        except OSError:
            continue  # Broken hash links and subdirectories are normal in an OpenSSL CA directory.
    return _unique(certificates)


if sys.platform == "win32":

    def _windows_email_roots() -> tuple[x509.Certificate, ...]:
        """Windows keeps roots in its certificate store, each with the purposes it is trusted for."""
        certificates: list[x509.Certificate] = []
        for der, encoding, trust in ssl.enum_certificates("ROOT"):
            if encoding == "x509_asn" and (trust is True or _EMAIL_PROTECTION in trust):
                try:
                    certificates.append(_load_der_certificate(der))
                except CryptoError:
                    continue
        return _unique(certificates)

else:

    def _windows_email_roots() -> tuple[x509.Certificate, ...]:
        return ()


@contextmanager
def _quiet_legacy_warnings() -> Iterator[None]:
    """cryptography warns, rather than fails, on two kinds of legacy input that Salus accepts on purpose:
    BER-encoded PKCS #7 (Outlook and `openssl cms -stream` write indefinite lengths, which RFC 5652 §1 allows)
    and old certificates with a non-positive serial number. The warnings speak to developers, not users, and
    the unit tests pin both behaviours, so they are silenced for these calls only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
        warnings.filterwarnings(
            "ignore", message="PKCS#7 certificates could not be parsed as DER", category=UserWarning
        )
        yield


def _unique(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(dict.fromkeys(certificates))
