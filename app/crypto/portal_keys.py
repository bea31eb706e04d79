"""Split-key sealing of portal messages, and the replies that come back (DESIGN.md §6, docs/portal-protocol.md).

Rules:
- K is 32 bytes from the OS CSPRNG; K1 is 32 more and K2 = K xor K1, so each share alone is uniformly random
  and says nothing about K. K1 travels only in the link's fragment; K2 only to the portal.
- A message envelope (format 1) is `SALUSPM1 || reply public key (65) || nonce (12) || AES-256-GCM(K)`. The
  first 85 bytes (magic, key, nonce) are the associated data, so the portal cannot swap in a reply key of its
  own: a page given another key fails to decrypt (NIST SP 800-38D authenticates the AAD with the ciphertext).
- A reply envelope (format 1) is `SALUSPR1 || ephemeral P-256 point (65) || nonce (12) || AES-256-GCM(R)`, where
  R = HKDF-SHA-256(ECDH x-coordinate, salt empty, info "salus portal reply v1") (RFC 5869; SEC 1 §3.3.1 ECDH),
  and the first 85 bytes are the associated data. WebCrypto computes exactly this in the browser.
- Every AES-GCM nonce is 12 fresh random bytes: each K or R encrypts exactly one plaintext.
- A failed decryption raises CryptoError with a sentence a user can read; it never returns anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.errors import CryptoError

MESSAGE_MAGIC = b"SALUSPM1"
REPLY_MAGIC = b"SALUSPR1"
KEY_BYTES = 32
POINT_BYTES = 65  # an uncompressed P-256 point (SEC 1 §2.3.3): 0x04 || x || y
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MESSAGE_MAGIC) + POINT_BYTES + NONCE_BYTES
REPLY_INFO = b"salus portal reply v1"


@dataclass(frozen=True, slots=True)
class SealedMessage:
    """What sealing gives the sender: the envelope and K2 go to the portal, K1 goes into the link only."""

    envelope: bytes
    k1: bytes
    k2: bytes


@dataclass(frozen=True, slots=True)
class ReplyKey:
    """The sender's key pair for replies to one portal message. `private_pkcs8` stays in the sender's vault."""

    private_pkcs8: bytes
    public_point: bytes

    @classmethod
    def generate(cls) -> ReplyKey:
        private = ec.generate_private_key(ec.SECP256R1())
        pkcs8 = private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return cls(pkcs8, _point(private.public_key()))


def split_key(key: bytes, k1: bytes) -> bytes:
    """K2 = K xor K1."""
    if len(key) != KEY_BYTES or len(k1) != KEY_BYTES:
        raise CryptoError("A portal key share must be 32 bytes long.")
    return bytes(a ^ b for a, b in zip(key, k1, strict=True))


def seal_message(mime: bytes, reply_public_point: bytes) -> SealedMessage:
    """Encrypt a whole MIME message under a fresh K and split K into two shares."""
    _check_point(reply_public_point)
    key, k1 = os.urandom(KEY_BYTES), os.urandom(KEY_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    header = MESSAGE_MAGIC + reply_public_point + nonce
    envelope = header + AESGCM(key).encrypt(nonce, mime, header)
    return SealedMessage(envelope, k1, split_key(key, k1))


def open_message(envelope: bytes, k1: bytes, k2: bytes) -> bytes:
    """The MIME message inside an envelope, given both shares; what the browser does, for tests and re-checks."""
    header = _header(envelope, MESSAGE_MAGIC, "portal message")
    nonce = header[-NONCE_BYTES:]
    return _decrypt(split_key(k1, k2), nonce, envelope[HEADER_BYTES:], header, "portal message")


def reply_key_of(envelope: bytes) -> bytes:
    """The reply public key a message envelope carries (authenticated only once the envelope is opened)."""
    return _header(envelope, MESSAGE_MAGIC, "portal message")[len(MESSAGE_MAGIC) : -NONCE_BYTES]


def seal_reply(mime: bytes, reply_public_point: bytes) -> bytes:
    """Encrypt a reply to the sender's reply key, as the portal page does in the browser."""
    recipient = _load_point(reply_public_point)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    nonce = os.urandom(NONCE_BYTES)
    header = REPLY_MAGIC + _point(ephemeral.public_key()) + nonce
    key = _reply_key(ephemeral.exchange(ec.ECDH(), recipient))
    return header + AESGCM(key).encrypt(nonce, mime, header)


def open_reply(envelope: bytes, private_pkcs8: bytes) -> bytes:
    """The MIME reply inside a reply envelope, with the sender's private reply key."""
    header = _header(envelope, REPLY_MAGIC, "portal reply")
    ephemeral = _load_point(header[len(REPLY_MAGIC) : -NONCE_BYTES])
    try:
        private = serialization.load_der_private_key(private_pkcs8, password=None)
    except ValueError as exc:
        raise CryptoError("The stored reply key for this portal message cannot be read.") from exc
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise CryptoError("The stored reply key for this portal message is not a P-256 key.")
    key = _reply_key(private.exchange(ec.ECDH(), ephemeral))
    return _decrypt(key, header[-NONCE_BYTES:], envelope[HEADER_BYTES:], header, "portal reply")


def _reply_key(shared_x: bytes) -> bytes:
    # An empty salt is a string of zeros (RFC 5869 §2.2), which is what WebCrypto's HKDF with salt = [] uses too.
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=REPLY_INFO).derive(shared_x)


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, header: bytes, what: str) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, header)
    except InvalidTag as exc:
        raise CryptoError(
            f"The {what} could not be decrypted: it was altered, or the key is not the one it was sealed with."
        ) from exc


def _header(envelope: bytes, magic: bytes, what: str) -> bytes:
    if not envelope.startswith(magic[:-1]):
        raise CryptoError(f"This is not a {what} envelope.")
    if not envelope.startswith(magic):
        raise CryptoError(f"This {what} uses a format version Salus does not know.")
    if len(envelope) < HEADER_BYTES + TAG_BYTES:
        raise CryptoError(f"The {what} envelope is truncated.")
    return envelope[:HEADER_BYTES]


def _point(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def _check_point(point: bytes) -> None:
    _load_point(point)


def _load_point(point: bytes) -> ec.EllipticCurvePublicKey:
    if len(point) != POINT_BYTES or point[0] != 4:
        raise CryptoError("A portal reply key must be an uncompressed P-256 point.")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise CryptoError("A portal reply key is not a point on the P-256 curve.") from exc
