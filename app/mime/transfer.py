"""Content-Transfer-Encoding decoding (RFC 2045 §6) that tolerates what real mail contains.

Rules of this module:
- Decoders never raise; damage (garbage in base64, missing padding) is reported as a problem and the
  bytes that could be recovered are returned.
- Decoded output is never larger than its input, so decoding cannot be used to inflate memory.
"""

from __future__ import annotations

import binascii
import string

from app.mime.charset import quote

_B64_ALPHABET = (string.ascii_letters + string.digits + "+/").encode("ascii")
_NOT_B64 = bytes(b for b in range(256) if b not in _B64_ALPHABET and b != ord("="))
_WHITESPACE = b" \t\r\n"

# Identity encodings (RFC 2045 §6.2) and the misspellings of them that mailers are known to send.
_IDENTITY = frozenset({"", "7bit", "8bit", "binary", "7-bit", "8-bit", "7bits", "8bits"})


def b64decode_lenient(data: bytes) -> tuple[bytes, str | None]:
    """Decode base64, skipping characters outside the alphabet (RFC 2045 §6.8) and repairing padding.

    Returns the bytes and, if the input was damaged, a short description of the damage.
    """
    kept = data.translate(None, _NOT_B64)
    damage = None
    if len(kept) != len(data.translate(None, _WHITESPACE)):
        damage = "characters outside the base64 alphabet were skipped"
    body, _, after_pad = kept.partition(b"=")
    if after_pad.strip(b"="):
        damage = "data after base64 padding was ignored"
    if len(body) % 4 == 1:
        body = body[:-1]
        damage = "a truncated base64 group was dropped"
    body += b"=" * (-len(body) % 4)
    try:
        return binascii.a2b_base64(body), damage
    except (binascii.Error, ValueError):
        return b"", "undecodable base64"


def qp_decode(data: bytes, *, header: bool = False) -> bytes:
    """Quoted-printable (RFC 2045 §6.7; RFC 2047 §4.2 when `header`); malformed escapes stay literal."""
    try:
        return binascii.a2b_qp(data, header=header)
    except (binascii.Error, ValueError):
        return data


def normalise_cte(value: str | None) -> str:
    """The transfer-encoding token, lower-cased, without parameters or comments."""
    if value is None:
        return ""
    return value.split(";", 1)[0].split("(", 1)[0].strip().strip("\"'").lower()


def is_known_cte(cte: str) -> bool:
    return cte in _IDENTITY or cte in ("base64", "quoted-printable")


def decode_transfer(data: bytes, cte: str, where: str, problems: list[str]) -> bytes:
    """Undo the transfer encoding `cte` (already normalised) of a leaf part's body."""
    if cte == "base64":
        decoded, damage = b64decode_lenient(data)
        if damage is not None:
            problems.append(f"damaged base64 in {where}: {damage}")
        return decoded
    if cte == "quoted-printable":
        return qp_decode(data)
    if cte not in _IDENTITY:
        # RFC 2045 §6.4: an unrecognised encoding makes the body opaque (application/octet-stream).
        problems.append(f"unknown transfer encoding {quote(cte)} in {where}; content kept undecoded")
    return data
