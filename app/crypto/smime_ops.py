"""S/MIME cryptographic operations on DER: encrypt, decrypt, sign, verify, and import one's own identity.

MIME wrapping is not done here: these functions take and return the bytes of the CMS structure (RFC 8551
§3.2-3.5 say how the MIME layer carries them).

Rules this module keeps:
- Every failure raises CryptoError with a sentence a user can read; the library's exception is chained.
- `decrypt` returns plaintext only when the whole message has checked out: the GCM tag is verified (and the
  CBC padding removed) before anything is returned. EnvelopedData with CBC has no integrity protection at all
  (RFC 5083 §1 adds authenticated encryption for that reason); it is read because most clients still send it.
- A failed RSA key transport looks exactly like a failed content decryption: decryption continues with a
  random key (RFC 3218), so a PKCS #1 v1.5 padding oracle (Bleichenbacher) learns nothing.
- `verify_detached` raises when the signature's mathematics fail and returns a SignatureCheck when they hold,
  trusted or not, so the reader can tell "signed by an unknown certificate" apart from "forged".
- Salus writes RSA-OAEP with SHA-256 (RFC 8551 §2.3, RFC 4055 §4) and AES-256, GCM by default (RFC 8551 §2.7).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import BlockCipherAlgorithm, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from app.core.errors import CryptoError
from app.crypto import smime_asn1 as asn1
from app.crypto import smime_cms as cms
from app.crypto.limits import DEFAULT_MAX_PLAINTEXT, PlaintextTooLarge
from app.crypto.smime_certs import CertVerdict, evaluate, fingerprint, load_certificates, to_der

__all__ = ["Identity", "SignatureCheck", "decrypt", "encrypt", "load_pkcs12", "sign_detached", "verify_detached"]

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    asn1.SHA1: hashes.SHA1,
    asn1.SHA224: hashes.SHA224,
    asn1.SHA256: hashes.SHA256,
    asn1.SHA384: hashes.SHA384,
    asn1.SHA512: hashes.SHA512,
}
_GCM_KEY_SIZES = {asn1.AES128_GCM: 16, asn1.AES192_GCM: 24, asn1.AES256_GCM: 32}
_CBC_CIPHERS: dict[str, tuple[Callable[[bytes], BlockCipherAlgorithm], int]] = {
    asn1.AES128_CBC: (algorithms.AES, 16),
    asn1.AES192_CBC: (algorithms.AES, 24),
    asn1.AES256_CBC: (algorithms.AES, 32),
    asn1.DES_EDE3_CBC: (TripleDES, 24),  # RFC 3370 §5.1; older Outlook still sends it.
}
_KEY_BYTES = 32
_GCM_NONCE_BYTES = 12  # RFC 5084 §3.2: the recommended nonce size.
_GCM_TAG_BYTES = 16
_AES_BLOCK_BYTES = 16
_MICALG = "sha-256"  # RFC 8551 §3.5.3.2

_UNREADABLE = "Cannot decrypt the message: it was altered, or it was not encrypted for this key."
_UNSUPPORTED_SIGNATURE = "Cannot check the signature: its algorithm or key type is not supported."
_FORGED = "The signature is invalid: the message was changed after signing, or the signature is forged."


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """A signature whose mathematics hold. `chain_valid` says whether its certificate chains to a trusted root;
    `address_matches` is None when no sender address was given; `signed_at` is the signer's own claim (RFC 5652
    §11.3), not a trusted timestamp. `problems` are sentences for the reader, never naming an address."""

    signer_fingerprint: str
    signer_emails: tuple[str, ...]
    chain_valid: bool
    address_matches: bool | None
    signed_at: datetime | None
    problems: tuple[str, ...] = ()

    @property
    def trusted(self) -> bool:
        return self.chain_valid and self.address_matches is not False and not self.problems


@dataclass(frozen=True, slots=True)
class Identity:
    """The sender's own S/MIME identity: DER certificate, unencrypted PKCS #8 PEM key, DER intermediates."""

    certificate: bytes
    private_key_pem: bytes = field(repr=False)
    chain: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class _ContentCipher:
    algorithm: Callable[[bytes], BlockCipherAlgorithm]
    key_size: int
    iv: bytes
    authenticated: bool


# --- encryption --------------------------------------------------------------------------------------------


def encrypt(data: bytes, recipients: Sequence[bytes], *, authenticated: bool = True) -> bytes:
    """Encrypt `data` (a MIME entity) to every DER certificate in `recipients`; include the sender's own so the
    Sent copy stays readable. AuthEnvelopedData with AES-256-GCM, or EnvelopedData with AES-256-CBC."""
    certificates = list(dict.fromkeys(_one_certificate(der) for der in recipients))
    if not certificates:
        raise CryptoError("Cannot encrypt the message: it has no recipients.")
    key = os.urandom(_KEY_BYTES)
    infos = [cms.encode_key_transport(certificate, _wrap_key(certificate, key)) for certificate in certificates]
    if authenticated:
        nonce = os.urandom(_GCM_NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, data, None)
        algorithm = cms.gcm_algorithm(asn1.AES256_GCM, nonce, _GCM_TAG_BYTES)
        tag_at = len(sealed) - _GCM_TAG_BYTES
        return cms.encode_envelope(
            recipients=infos, algorithm=algorithm, ciphertext=sealed[:tag_at], mac=sealed[tag_at:]
        )
    iv = os.urandom(_AES_BLOCK_BYTES)
    padder = block_padding.PKCS7(algorithms.AES.block_size).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()
    return cms.encode_envelope(
        recipients=infos, algorithm=cms.cbc_algorithm(asn1.AES256_CBC, iv), ciphertext=ciphertext
    )


def _wrap_key(certificate: x509.Certificate, key: bytes) -> bytes:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        # EC recipients need key agreement (RFC 5753), which Salus does not write.
        raise CryptoError("Cannot encrypt to this certificate: Salus encrypts only to RSA certificates.")
    return public_key.encrypt(key, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))


# --- decryption --------------------------------------------------------------------------------------------


def decrypt(
    der: bytes, certificate: bytes, private_key: bytes, *, password: bytes | None = None,
    max_plaintext: int = DEFAULT_MAX_PLAINTEXT,
) -> bytes:  # fmt: skip
    """The content of an EnvelopedData or AuthEnvelopedData addressed to `certificate`, opened with
    `private_key` (PEM or DER, encrypted with `password` or not); PlaintextTooLarge past `max_plaintext`."""
    if len(der) > max_plaintext + (1 << 16):
        raise PlaintextTooLarge(max_plaintext)  # CMS content is not compressed: it is never much smaller
    own = _one_certificate(certificate)
    key = _load_private_key(private_key, password)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CryptoError("Cannot decrypt the message: Salus decrypts only with RSA keys.")
    _require_pair(own, key)
    envelope = cms.parse_envelope(der)
    cipher = _content_cipher(envelope)
    recipient = next((info for info in envelope.recipients if info.recipient.matches(own)), None)
    if recipient is None:
        raise CryptoError("Cannot decrypt the message: it was not encrypted for your certificate.")
    plaintext = _open(envelope, cipher, _unwrap_key(key, recipient, cipher.key_size))
    if len(plaintext) > max_plaintext:
        raise PlaintextTooLarge(max_plaintext)
    return plaintext


def is_integrity_protected(der: bytes) -> bool:
    """Whether an encrypted message is AuthEnvelopedData (RFC 5083), whose tag detects any change. EnvelopedData
    with CBC detects none: EFAIL (Poddebniak et al. 2018) rewrote such plaintext block by block. False for
    anything that cannot be read."""
    try:
        return cms.parse_envelope(der).authenticated
    except CryptoError:
        return False


def _content_cipher(envelope: cms.Envelope) -> _ContentCipher:
    oid = envelope.algorithm.oid
    if envelope.authenticated and oid in _GCM_KEY_SIZES:
        nonce, icv_length = cms.parse_gcm_params(envelope.algorithm.params)
        if len(envelope.mac) != icv_length:
            raise CryptoError(_UNREADABLE)
        return _ContentCipher(algorithms.AES, _GCM_KEY_SIZES[oid], nonce, authenticated=True)
    if not envelope.authenticated and oid in _CBC_CIPHERS:
        algorithm, key_size = _CBC_CIPHERS[oid]
        return _ContentCipher(algorithm, key_size, cms.parse_iv(envelope.algorithm.params), authenticated=False)
    raise CryptoError("Cannot decrypt the message: it uses a content cipher Salus does not support.")


def _unwrap_key(key: rsa.RSAPrivateKey, recipient: cms.KeyTransport, size: int) -> bytes:
    scheme = _key_transport_padding(recipient.algorithm)
    try:
        content_key = key.decrypt(recipient.encrypted_key, scheme)
    except ValueError:
        content_key = b""
    # RFC 3218 (the million message attack): on any RSA failure carry on with a random key, so the message
    # fails in the content decryption with the same error as any other damage, and no oracle tells them apart.
    # OpenSSL 3.2+ already answers a bad PKCS #1 v1.5 block with a pseudo-random message (implicit rejection);
    # the length check turns that, too, into a random key of the right size.
    return content_key if len(content_key) == size else os.urandom(size)


def _key_transport_padding(algorithm: asn1.Algorithm) -> padding.AsymmetricPadding:
    if algorithm.oid == asn1.RSA_ENCRYPTION:
        return padding.PKCS1v15()
    if algorithm.oid == asn1.RSAES_OAEP:
        params = cms.parse_oaep_params(algorithm.params)
        mgf = padding.MGF1(_hash(params.mgf_hash))
        return padding.OAEP(mgf, _hash(params.hash), params.label or None)
    raise CryptoError("Cannot decrypt the message: its key is wrapped with an algorithm Salus does not support.")


def _open(envelope: cms.Envelope, cipher: _ContentCipher, key: bytes) -> bytes:
    try:
        return _open_gcm(envelope, cipher, key) if cipher.authenticated else _open_cbc(envelope, cipher, key)
    except (ValueError, InvalidTag) as exc:
        raise CryptoError(_UNREADABLE) from exc


def _open_gcm(envelope: cms.Envelope, cipher: _ContentCipher, key: bytes) -> bytes:
    mode = modes.GCM(cipher.iv, envelope.mac, min_tag_length=len(envelope.mac))
    decryptor = Cipher(cipher.algorithm(key), mode).decryptor()
    decryptor.authenticate_additional_data(envelope.aad)
    # finalize() checks the tag and raises InvalidTag; nothing decrypted is returned before it has passed.
    return decryptor.update(envelope.ciphertext) + decryptor.finalize()


def _open_cbc(envelope: cms.Envelope, cipher: _ContentCipher, key: bytes) -> bytes:
    block = cipher.algorithm(key)
    decryptor = Cipher(block, modes.CBC(cipher.iv)).decryptor()
    padded = decryptor.update(envelope.ciphertext) + decryptor.finalize()
    unpadder = block_padding.PKCS7(block.block_size).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


# --- signing -----------------------------------------------------------------------------------------------


def sign_detached(
    data: bytes,
    certificate: bytes,
    private_key: bytes,
    *,
    chain: Sequence[bytes] = (),
    password: bytes | None = None,
) -> tuple[bytes, str]:
    """A detached CMS SignedData over `data` exactly as given (the canonical MIME entity, RFC 8551 §3.1.1),
    SHA-256, with content-type, message-digest and signing-time attributes and the signer's certificate plus
    `chain`. Returns the DER and the multipart/signed micalg parameter."""
    signer = _one_certificate(certificate)
    key = _load_private_key(private_key, password)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CryptoError("Cannot sign the message: Salus signs only with RSA or EC keys.")
    _require_pair(signer, key)
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(signer, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(_one_certificate(extra))
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    return builder.sign(serialization.Encoding.DER, options), _MICALG


# --- verification ------------------------------------------------------------------------------------------


def verify_detached(
    data: bytes,
    signature: bytes,
    *,
    roots: Sequence[x509.Certificate],
    now: datetime,
    address: str | None = None,
) -> SignatureCheck:
    """Check a detached CMS signature (DER or BER) over `data`: the signer's certificate from the signature,
    the message digest, the signature itself (RFC 5652 §5.4-5.6), then the certificate's chain to `roots` at
    `now` and whether it names `address`. Raises CryptoError unless the mathematics hold."""
    signed = cms.parse_signed_data(signature)
    if signed.content is not None:
        raise CryptoError("Cannot check the signature: it carries its own content instead of signing this part.")
    if len(signed.signers) != 1:
        raise CryptoError("Cannot check the signature: Salus checks signatures with exactly one signer.")
    signer = signed.signers[0]
    bundle = tuple(certificate for der in signed.certificates for certificate in load_certificates(der))
    certificate = next((cert for cert in bundle if signer.signer.matches(cert)), None)
    if certificate is None:
        raise CryptoError("Cannot check the signature: the signer's certificate is not included.")
    digest = _hash(signer.digest_algorithm.oid)
    signed_at = _check_attributes(signer, signed.content_type, data, digest)
    _check_signature(certificate, signer, signer.signed_attrs or data, digest)
    verdict = evaluate(certificate, intermediates=bundle, roots=roots, now=now, address=address)
    problems = _certificate_problems(verdict) + _signature_problems(verdict, signer, signed_at)
    return SignatureCheck(
        signer_fingerprint=fingerprint(certificate),
        signer_emails=tuple(email.address for email in verdict.emails),
        chain_valid=verdict.chain_valid,
        address_matches=verdict.matches_address,
        signed_at=signed_at,
        problems=problems,
    )


def _check_attributes(
    signer: cms.SignerInfo, content_type: str, data: bytes, digest: hashes.HashAlgorithm
) -> datetime | None:
    """RFC 5652 §5.3 and §11: with signed attributes present, content-type and message-digest must be too, and
    must match; the signature then covers the attributes, which is how it covers the data. Returns the
    signing time, if the signer stated one."""
    if signer.signed_attrs is None:
        return None
    claimed_type = cms.single_attribute(signer.attributes, cms.ATTR_CONTENT_TYPE)
    claimed_digest = cms.single_attribute(signer.attributes, cms.ATTR_MESSAGE_DIGEST)
    if claimed_type is None or claimed_digest is None or asn1.decode_oid(claimed_type) != content_type:
        raise CryptoError(_FORGED)
    hasher = hashes.Hash(digest)
    hasher.update(data)
    if not hmac.compare_digest(asn1.octets(claimed_digest), hasher.finalize()):
        raise CryptoError(_FORGED)
    signing_time = cms.single_attribute(signer.attributes, cms.ATTR_SIGNING_TIME)
    return None if signing_time is None else asn1.decode_time(signing_time)


def _check_signature(
    certificate: x509.Certificate, signer: cms.SignerInfo, message: bytes, digest: hashes.HashAlgorithm
) -> None:
    try:
        key = certificate.public_key()
    except UnsupportedAlgorithm as exc:
        raise CryptoError(_UNSUPPORTED_SIGNATURE) from exc
    oid = signer.signature_algorithm.oid
    try:
        if isinstance(key, rsa.RSAPublicKey) and oid in asn1.RSA_PKCS1_SIGNATURES:
            _require_same_hash(asn1.RSA_PKCS1_SIGNATURES[oid], signer)
            key.verify(signer.signature, message, padding.PKCS1v15(), digest)
        elif isinstance(key, rsa.RSAPublicKey) and oid == asn1.RSASSA_PSS:
            params = cms.parse_pss_params(signer.signature_algorithm.params)
            _require_same_hash(params.hash, signer)
            pss = padding.PSS(padding.MGF1(_hash(params.mgf_hash)), params.salt_length)
            key.verify(signer.signature, message, pss, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and oid in asn1.ECDSA_SIGNATURES:
            _require_same_hash(asn1.ECDSA_SIGNATURES[oid], signer)
            key.verify(signer.signature, message, ec.ECDSA(digest))
        else:
            raise CryptoError(_UNSUPPORTED_SIGNATURE)
    except (InvalidSignature, ValueError) as exc:  # ValueError: parameters no valid signature can have
        raise CryptoError(_FORGED) from exc
    except UnsupportedAlgorithm as exc:
        raise CryptoError(_UNSUPPORTED_SIGNATURE) from exc


def _require_same_hash(implied: str | None, signer: cms.SignerInfo) -> None:
    # RFC 5652 §5.4 digests the attributes with digestAlgorithm; a signature algorithm naming another hash
    # would be checked over a different digest than the one the signer claims.
    if implied is not None and implied != signer.digest_algorithm.oid:
        raise CryptoError(_FORGED)


def _certificate_problems(verdict: CertVerdict) -> tuple[str, ...]:
    problems = []
    if not verdict.chain_valid:
        problems.append(f"The signer's certificate is not trusted: {verdict.chain_error}.")
    if verdict.expired:
        problems.append(f"The signer's certificate expired on {verdict.not_after:%Y-%m-%d}.")
    if verdict.not_yet_valid:
        problems.append(f"The signer's certificate is not valid before {verdict.not_before:%Y-%m-%d}.")
    if not verdict.email_protection:
        problems.append("The signer's certificate is not issued for email.")
    if not verdict.usable_for_signing:
        problems.append("The signer's certificate does not allow digital signatures.")
    if not verdict.emails:
        problems.append("The signer's certificate names no email address.")
    elif verdict.matches_address is False:
        problems.append("The signer's certificate is issued to a different address than the sender's.")
    return tuple(problems)


def _signature_problems(verdict: CertVerdict, signer: cms.SignerInfo, signed_at: datetime | None) -> tuple[str, ...]:
    problems = []
    if signer.digest_algorithm.oid == asn1.SHA1:
        problems.append("The signature uses SHA-1, which no longer protects against forgery.")
    if signed_at is not None and not verdict.not_before <= signed_at <= verdict.not_after:
        problems.append("The stated signing time lies outside the certificate's validity period.")
    return tuple(problems)


# --- identities and keys -----------------------------------------------------------------------------------


def load_pkcs12(data: bytes, password: bytes | None) -> Identity:
    """The certificate, private key and intermediates of a PKCS #12 file (.p12/.pfx), for importing the
    sender's own S/MIME identity."""
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CryptoError("Cannot import the identity: the file is damaged or the password is wrong.") from exc
    if key is None or certificate is None:
        raise CryptoError("Cannot import the identity: the file does not hold a certificate with its private key.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CryptoError("Cannot import the identity: Salus supports only RSA and EC keys.")
    _require_pair(certificate, key)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain = tuple(to_der(cert) for cert in dict.fromkeys(extra) if cert != certificate)
    return Identity(to_der(certificate), pem, chain)


def _one_certificate(data: bytes) -> x509.Certificate:
    certificates = load_certificates(data)
    if len(certificates) != 1:
        raise CryptoError("Cannot use the certificate: expected exactly one certificate.")
    return certificates[0]


def _load_private_key(data: bytes, password: bytes | None) -> object:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return serialization.load_pem_private_key(data, password)
        return serialization.load_der_private_key(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CryptoError("Cannot use the private key: it is unreadable, or its password is wrong.") from exc


def _require_pair(certificate: x509.Certificate, key: SigningKey) -> None:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise CryptoError("Cannot use the private key: it does not belong to the certificate.")


def _hash(oid: str) -> hashes.HashAlgorithm:
    if oid == asn1.MD5:
        raise CryptoError("Cannot trust the S/MIME message: it uses MD5, which is broken.")
    if oid not in _HASHES:
        raise CryptoError("Cannot process the S/MIME message: it uses a hash algorithm Salus does not support.")
    return _HASHES[oid]()
