"""Keys and certificates for test correspondents: real GnuPG keys and CA-issued S/MIME certificates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import gnupg
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.pki import TestCA


@dataclass(frozen=True)
class PgpIdentity:
    address: str
    fingerprint: str
    public: bytes  # ASCII-armoured public key


def pgp_identity(home: Path, address: str, *, expire: str = "0") -> PgpIdentity:
    """A fresh Ed25519/Cv25519 key pair in `home` (a throwaway GnuPG home), as a correspondent would have."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg = gnupg.GPG(gnupghome=str(home))
    spec = gpg.gen_key_input(
        name_real="Test Correspondent", name_email=address, no_protection=True, key_type="EDDSA",
        key_curve="ed25519", subkey_type="ECDH", subkey_curve="cv25519", expire_date=expire,
    )  # fmt: skip
    result = gpg.gen_key(spec)
    assert result.fingerprint, result.stderr
    return PgpIdentity(address, str(result.fingerprint), gpg.export_keys(str(result.fingerprint)).encode("ascii"))


@dataclass(frozen=True)
class SmimeIdentity:
    address: str
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def smime_identity(ca: TestCA, address: str, *, not_after: dt.datetime | None = None) -> SmimeIdentity:
    """An RSA S/MIME certificate for `address` issued by the test CA (RFC 8550 §4.4 profile)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address.split("@")[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return SmimeIdentity(address, certificate, key)
