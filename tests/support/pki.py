"""A throw-away public key infrastructure for tests: a CA and the server certificates it issues.

Rules this module keeps:
- Certificates pass OpenSSL's strict verification (`ssl.VERIFY_X509_STRICT`, on by default from Python 3.13):
  the CA has a critical BasicConstraints(ca=True), KeyUsage keyCertSign and a Subject Key Identifier; every
  leaf has an Authority Key Identifier, a subjectAltName, KeyUsage digitalSignature and EKU serverAuth
  (RFC 5280 sections 4.2.1.1 to 4.2.1.12).
- Keys are ECDSA P-256 with SHA-256 signatures: fast to generate and accepted everywhere Salus runs.
- Private keys are written atomically with mode 0600 (CONVENTIONS: sensitive files), even in tests, so a
  test that checks file permissions of a profile never trips over our own fixtures.
- Nothing here is trusted by the system; only a context given `cert_file` as its CA file trusts it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ServerCert", "TestCA", "self_signed_server_cert", "untrusted_server_cert"]

# Backdating absorbs clock skew between the test process and the server's view of "now".
_BACKDATE = dt.timedelta(minutes=5)
_CA_LIFETIME = dt.timedelta(days=3650)
_LEAF_LIFETIME = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ServerCert:
    """A server certificate on disk, in the shapes TLS servers ask for.

    `chain_file` holds the leaf followed by its issuer, for servers that want the chain in one file.
    """

    cert_file: Path
    key_file: Path
    chain_file: Path
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class TestCA:
    """A certificate authority that lives in one directory for the length of a test session."""

    # The name starts with "Test", so pytest would try to collect it from any test module that imports it.
    __test__: ClassVar[bool] = False

    name: str
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path, name: str = "Salus Test CA") -> TestCA:
        """Make a fresh CA and write `<directory>/ca.pem` and `<directory>/ca.key` (0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        cert_file = directory / "ca.pem"
        key_file = directory / "ca.key"
        _write_public(cert_file, _pem(certificate))
        _write_private(key_file, _key_pem(key))
        return cls(name=name, certificate=certificate, key=key, cert_file=cert_file, key_file=key_file)

    def issue_server_cert(
        self,
        directory: Path,
        *,
        dns_names: Sequence[str] = ("localhost",),
        ip_addresses: Sequence[str] = ("127.0.0.1",),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        name: str = "server",
    ) -> ServerCert:
        """Issue a TLS server certificate; pass a `not_after` in the past for an expired one.

        Writes `<name>.pem`, `<name>.key` (0600) and `<name>-chain.pem` into `directory`.
        """
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before if not_before is not None else _now() - _BACKDATE
        end = not_after if not_after is not None else _now() + _LEAF_LIFETIME
        issuer_ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = _leaf_builder(key, dns_names, ip_addresses, start, end, name)
        certificate = (
            builder.issuer_name(self.certificate.subject)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return _write_server_cert(directory, name, certificate, key, chain=(self.certificate,))


def untrusted_server_cert(
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    name: str = "untrusted",
) -> ServerCert:
    """A well-formed server certificate from a CA that no test trusts (its files stay in `directory`)."""
    rogue = TestCA.create(directory / f"{name}-ca", name="Untrusted Rogue CA")
    return rogue.issue_server_cert(directory, dns_names=dns_names, ip_addresses=ip_addresses, name=name)


def self_signed_server_cert(
    directory: Path,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    name: str = "self-signed",
) -> ServerCert:
    """A server certificate that signs itself, as an appliance straight out of the box presents."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    start = _now() - _BACKDATE
    builder = _leaf_builder(key, dns_names, ip_addresses, start, start + _LEAF_LIFETIME, name)
    certificate = builder.issuer_name(_leaf_subject(name)).sign(key, hashes.SHA256())
    return _write_server_cert(directory, name, certificate, key, chain=())


def _leaf_builder(
    key: ec.EllipticCurvePrivateKey,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    not_before: dt.datetime,
    not_after: dt.datetime,
    name: str,
) -> x509.CertificateBuilder:
    """Everything of a server certificate except its issuer and the issuer's key identifier."""
    alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    return (
        x509.CertificateBuilder()
        .subject_name(_leaf_subject(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # RFC 5280 section 4.2.1.6: the SAN may be non-critical because the subject is not empty.
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _leaf_subject(name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Salus tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_server_cert(
    directory: Path,
    name: str,
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    chain: Sequence[x509.Certificate],
) -> ServerCert:
    cert_file = directory / f"{name}.pem"
    key_file = directory / f"{name}.key"
    chain_file = directory / f"{name}-chain.pem"
    _write_public(cert_file, _pem(certificate))
    _write_public(chain_file, b"".join(_pem(c) for c in (certificate, *chain)))
    _write_private(key_file, _key_pem(key))
    return ServerCert(cert_file=cert_file, key_file=key_file, chain_file=chain_file, certificate=certificate)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically, with 0600 set before the first byte lands (CONVENTIONS: sensitive files)."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp_name).replace(path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
