"""The portal's versioned wire format (docs/portal-protocol.md), without I/O: bytes and JSON in, values out.

Rules:
- Every JSON body carries `"v": 1`; a body of another version is refused, never guessed at.
- Binary values travel as unpadded base64url (RFC 4648 §5); decoding is strict (no padding, no stray characters).
- An upload is `u32be(len(meta)) || meta (UTF-8 JSON) || message envelope`; the envelope stays opaque here
  except for its format tag and its embedded reply key, which must equal the one in `meta`.
- Times are RFC 3339 UTC strings with a "Z" ("2025-01-31T12:00:00Z"), whole seconds.
- Parsing failures raise ProtocolViolation, whose text names the field but never echoes its value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

VERSION = 1
UPLOAD_MEDIA_TYPE = "application/vnd.salus.portal-upload"
ENVELOPE_MEDIA_TYPE = "application/vnd.salus.portal-envelope"

# The envelope layout is app.crypto.portal_keys's; the server checks only the tag and the embedded reply key.
# tests/unit/test_portal_protocol.py keeps these equal to the crypto module's constants.
MESSAGE_MAGIC = b"SALUSPM1"
REPLY_MAGIC = b"SALUSPR1"
POINT_BYTES = 65
KEY_BYTES = 32
MIN_ENVELOPE = len(MESSAGE_MAGIC) + POINT_BYTES + 12 + 16

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_CODE = re.compile(r"[0-9]{6}")
_MAX_META = 16 * 1024


class ProtocolViolation(ValueError):
    """A request or response does not follow the portal protocol."""


class VerificationMethod(StrEnum):
    CODE = "code"
    PASSPHRASE = "passphrase"  # noqa: S105 - the name of a method, not a secret


class EventKind(StrEnum):
    """Status events a sender sees (docs/portal-protocol.md §4)."""

    UPLOADED = "uploaded"
    NOTICE_DELIVERED = "notice_delivered"
    CODE_SENT = "code_sent"
    OPENED = "opened"
    REPLIED = "replied"
    LOCKED = "locked"
    REVOKED = "revoked"


class MessageState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ScryptVerifier:
    """A verifier for a sender-chosen passphrase: scrypt (RFC 7914) of it under a random salt. The passphrase
    itself never reaches the portal at upload; the page sends it once, over TLS, to be checked."""

    salt: bytes
    n: int
    r: int
    p: int
    digest: bytes

    def to_json(self) -> dict[str, Any]:
        return {"salt": b64(self.salt), "n": self.n, "r": self.r, "p": self.p, "hash": b64(self.digest)}

    @classmethod
    def from_json(cls, data: object) -> ScryptVerifier:
        obj = _object(data, "passphrase")
        n, r, p = (_int(obj, name, 1, 1 << 20) for name in ("n", "r", "p"))
        if n & (n - 1) or n < 1 << 14 or r > 32 or p > 16:
            raise ProtocolViolation("the passphrase verifier's scrypt parameters are out of range")
        return cls(unb64(_str(obj, "salt"), "salt"), n, r, p, unb64(_str(obj, "hash"), "hash"))


@dataclass(frozen=True, slots=True)
class UploadMeta:
    recipient: str
    k2: bytes
    expires_at: datetime
    reply_key: bytes
    passphrase: ScryptVerifier | None = None

    @property
    def method(self) -> VerificationMethod:
        return VerificationMethod.CODE if self.passphrase is None else VerificationMethod.PASSPHRASE


@dataclass(frozen=True, slots=True)
class Upload:
    meta: UploadMeta
    envelope: bytes


def encode_upload(meta: UploadMeta, envelope: bytes) -> bytes:
    verification: dict[str, Any] = {"method": meta.method.value}
    if meta.passphrase is not None:
        verification["passphrase"] = meta.passphrase.to_json()
    document = {
        "v": VERSION, "recipient": meta.recipient, "k2": b64(meta.k2), "expires_at": format_time(meta.expires_at),
        "reply_key": b64(meta.reply_key), "verification": verification,
    }  # fmt: skip
    head = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(head)) + head + envelope


def parse_upload(body: bytes) -> Upload:
    if len(body) < 4:
        raise ProtocolViolation("the upload is truncated")
    (size,) = struct.unpack(">I", body[:4])
    if size > _MAX_META or len(body) < 4 + size:
        raise ProtocolViolation("the upload's metadata length is invalid")
    meta = _meta(load_json(body[4 : 4 + size]))
    envelope = body[4 + size :]
    check_envelope(envelope, MESSAGE_MAGIC)
    if envelope[len(MESSAGE_MAGIC) : len(MESSAGE_MAGIC) + POINT_BYTES] != meta.reply_key:
        raise ProtocolViolation("the envelope's reply key differs from the upload's reply_key")
    return Upload(meta, envelope)


def _meta(obj: dict[str, Any]) -> UploadMeta:
    recipient = _str(obj, "recipient")
    if len(recipient) > 254 or not _ADDRESS.fullmatch(recipient):
        raise ProtocolViolation("the recipient is not an address of the form local@domain")
    k2 = unb64(_str(obj, "k2"), "k2")
    reply_key = unb64(_str(obj, "reply_key"), "reply_key")
    if len(k2) != KEY_BYTES or len(reply_key) != POINT_BYTES or reply_key[0] != 4:
        raise ProtocolViolation("k2 must be 32 bytes and reply_key an uncompressed P-256 point")
    verification = _object(obj.get("verification"), "verification")
    method = _str(verification, "method")
    if method not in {m.value for m in VerificationMethod}:
        raise ProtocolViolation("the verification method is unknown")
    passphrase = None
    if method == VerificationMethod.PASSPHRASE:
        passphrase = ScryptVerifier.from_json(verification.get("passphrase"))
    return UploadMeta(recipient, k2, parse_time(_str(obj, "expires_at")), reply_key, passphrase)


def check_envelope(envelope: bytes, magic: bytes) -> None:
    if not envelope.startswith(magic) or len(envelope) < MIN_ENVELOPE:
        raise ProtocolViolation("the body is not a format 1 portal envelope")


def check_id(message_id: str) -> bool:
    return _ID.fullmatch(message_id) is not None


def check_code(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


# JSON documents


def load_json(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolViolation("the body is not UTF-8 JSON") from exc
    obj = _object(document, "body")
    if obj.get("v") != VERSION:
        raise ProtocolViolation(f"the body is not version {VERSION} of the portal protocol")
    return obj


def dump_json(document: dict[str, Any]) -> bytes:
    return json.dumps({"v": VERSION, **document}, separators=(",", ":")).encode("utf-8")


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolViolation(f"{name} must be a JSON object")
    return value


def _str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ProtocolViolation(f"{name} must be a string")
    return value


def _int(obj: dict[str, Any], name: str, low: int, high: int) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ProtocolViolation(f"{name} must be an integer from {low} to {high}")
    return value


def field_str(obj: dict[str, Any], name: str) -> str:
    return _str(obj, name)


def field_int(obj: dict[str, Any], name: str, low: int = 0, high: int = 1 << 62) -> int:
    return _int(obj, name, low, high)


# Encodings


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, name: str) -> bytes:
    if len(text) % 4 == 1 or not _B64URL.fullmatch(text):
        raise ProtocolViolation(f"{name} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ProtocolViolation(f"{name} is not unpadded base64url") from exc


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise ProtocolViolation("a time must be RFC 3339 UTC, like 2025-01-31T12:00:00Z") from exc
    return moment.replace(tzinfo=UTC)
