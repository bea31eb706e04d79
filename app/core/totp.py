"""Time-based one-time passwords (RFC 6238, over HOTP of RFC 4226) for the optional second unlock factor.

Rules:
- Salus enrols SHA-1, 6 digits, 30-second steps: what every authenticator app accepts (RFC 6238 §1.2 lets
  SHA-256/512 be used, and `code_at` supports them for the RFC's own test vectors).
- A code is accepted for the current step and one step either side (RFC 6238 §5.2 recommends at most one
  step of network delay; here it absorbs clock drift between the workstation and the phone).
- A code is single-use: the step it matched must be later than the last step accepted, so a code seen over a
  shoulder cannot be replayed in the same 90 seconds (RFC 6238 §5.2, "MUST NOT accept the second attempt").
- Codes are compared in constant time. Pure: `now` is passed in, the secret comes from the vault.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import struct
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA-1 block the RFC 4226 §4 requirement R6 recommends


class Digest(StrEnum):
    SHA1 = "sha1"
    SHA256 = "sha256"
    SHA512 = "sha512"


class CodeRejected(ValueError):
    """The code is malformed, wrong for every step in the window, or was used already."""


@dataclass(frozen=True, slots=True)
class Accepted:
    step: int  # remember it: the next code must belong to a later step


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def hotp(secret: bytes, counter: int, digits: int = DIGITS, digest: Digest = Digest.SHA1) -> str:
    mac = hmac.new(secret, struct.pack(">Q", counter), digest.value).digest()
    offset = mac[-1] & 0x0F  # dynamic truncation, RFC 4226 §5.3
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(unix_seconds: float) -> int:
    return int(unix_seconds // STEP_SECONDS)


def code_at(secret: bytes, unix_seconds: float, digits: int = DIGITS, digest: Digest = Digest.SHA1) -> str:
    return hotp(secret, step_at(unix_seconds), digits, digest)


def accept(secret: bytes, code: str, unix_seconds: float, last_step: int) -> Accepted:
    """The step `code` matches within the window and after `last_step`; raises `CodeRejected` otherwise."""
    cleaned = code.replace(" ", "").strip()
    if len(cleaned) != DIGITS or not cleaned.isascii() or not cleaned.isdigit():
        raise CodeRejected(f"A code is {DIGITS} digits.")
    now = step_at(unix_seconds)
    matched = [s for s in range(now - WINDOW, now + WINDOW + 1) if hmac.compare_digest(hotp(secret, s), cleaned)]
    if not matched:
        raise CodeRejected("The code is not right.")
    if matched[-1] <= last_step:
        raise CodeRejected("This code was used already; wait for the next one.")
    return Accepted(matched[-1])


def to_base32(secret: bytes) -> str:
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def otpauth_uri(secret: bytes, account: str, issuer: str = "Salus") -> str:
    """The key URI authenticator apps read from a QR code (the de facto "Key Uri Format" of Google
    Authenticator, which FreeOTP, Aegis and Microsoft Authenticator follow)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = {
        "secret": to_base32(secret),
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": DIGITS,
        "period": STEP_SECONDS,
    }
    return f"otpauth://totp/{label}?{urlencode(query)}"
