"""A small BER reader and DER writer for the CMS structures S/MIME uses (ITU-T X.690), and the algorithm
identifiers those structures name (RFC 5280 §4.1.1.2).

Rules this module keeps:
- Reading accepts BER, as RFC 5652 §1 allows for CMS: indefinite lengths and constructed strings, which
  Outlook and OpenSSL's streaming mode write. Writing is always DER (X.690 §10): definite minimal lengths,
  SET OF sorted (X.690 §11.6).
- Malformed input raises CryptoError with one sentence; nothing half-parsed is ever returned.
- Only the low-tag-number form appears in CMS, so the high-tag-number form (X.690 §8.1.2.4) is refused.
- Nesting depth and length fields are bounded, so hostile input cannot exhaust the stack or ask for
  absurd allocations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from app.core.errors import CryptoError

INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31

_CONSTRUCTED = 0x20
_CONTEXT = 0x80
_HIGH_TAG = 0x1F
_INDEFINITE = 0x80
_MAX_DEPTH = 48
_MAX_LENGTH_OCTETS = 4
_EOC = b"\x00\x00"
# RFC 5280 §4.1.2.5: UTC, seconds present; GeneralizedTime may carry fractional seconds, which are dropped.
_UTC_TIME = re.compile(r"[0-9]{12}Z", re.ASCII)
_GENERALIZED_TIME = re.compile(r"[0-9]{14}(\.[0-9]+)?Z", re.ASCII)


def malformed(what: str = "the data") -> CryptoError:
    return CryptoError(f"Cannot read the S/MIME structure: {what} is malformed or truncated.")


def context(number: int, *, constructed: bool = True) -> int:
    """The identifier octet of a context-specific tag [number] (X.690 §8.1.2)."""
    return _CONTEXT | (_CONSTRUCTED if constructed else 0) | number


@dataclass(frozen=True, slots=True)
class Node:
    """One decoded element. `body` is the value of a primitive element, or the concatenated encodings of a
    constructed element's children (end-of-contents octets excluded); `encoded` is the element as received."""

    tag: int
    body: bytes
    encoded: bytes
    children: tuple[Node, ...] = ()


def parse(data: bytes) -> Node:
    """Decode exactly one element; trailing bytes are an error, so a spliced message cannot hide content."""
    node, end = _read(data, 0, 0)
    if end != len(data):
        raise malformed()
    return node


def _read(data: bytes, start: int, depth: int) -> tuple[Node, int]:
    if depth > _MAX_DEPTH or start >= len(data):
        raise malformed()
    tag = data[start]
    if tag & _HIGH_TAG == _HIGH_TAG:
        raise malformed()
    length, pos = _read_length(data, start + 1)
    constructed = bool(tag & _CONSTRUCTED)
    if length is None:
        # X.690 §8.1.3.6: the indefinite form is for constructed elements only, closed by end-of-contents.
        if not constructed:
            raise malformed()
        children, end = _read_until_eoc(data, pos, depth + 1)
        return Node(tag, data[pos : end - len(_EOC)], data[start:end], children), end
    end = pos + length
    if end > len(data):
        raise malformed()
    body = data[pos:end]
    children = _read_all(body, depth + 1) if constructed else ()
    return Node(tag, body, data[start:end], children), end


def _read_length(data: bytes, pos: int) -> tuple[int | None, int]:
    """X.690 §8.1.3: short form, long form, or None for the indefinite form."""
    if pos >= len(data):
        raise malformed()
    first = data[pos]
    if first < _INDEFINITE:
        return first, pos + 1
    if first == _INDEFINITE:
        return None, pos + 1
    count = first & 0x7F
    if count > _MAX_LENGTH_OCTETS or pos + 1 + count > len(data):
        raise malformed()
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _read_all(body: bytes, depth: int) -> tuple[Node, ...]:
    children: list[Node] = []
    pos = 0
    while pos < len(body):
        child, pos = _read(body, pos, depth)
        children.append(child)
    return tuple(children)


def _read_until_eoc(data: bytes, pos: int, depth: int) -> tuple[tuple[Node, ...], int]:
    children: list[Node] = []
    while data[pos : pos + 2] != _EOC:
        if pos + 2 > len(data):
            raise malformed()
        child, pos = _read(data, pos, depth)
        children.append(child)
    return tuple(children), pos + 2


class Fields:
    """Walks the children of a SEQUENCE in order, the way its ASN.1 definition lists them, so OPTIONAL
    fields are recognised by their tags and anything left over is an error."""

    def __init__(self, node: Node, what: str, tag: int = SEQUENCE) -> None:
        if node.tag != tag:
            raise malformed(what)
        self._items = node.children
        self._next = 0
        self._what = what

    def take(self, tag: int | None = None) -> Node:
        item = self.optional(tag) if tag is not None else self._pop()
        if item is None:
            raise malformed(self._what)
        return item

    def optional(self, tag: int) -> Node | None:
        if self._next < len(self._items) and self._items[self._next].tag == tag:
            return self._pop()
        return None

    def rest(self) -> tuple[Node, ...]:
        items, self._next = self._items[self._next :], len(self._items)
        return items

    def end(self) -> None:
        if self._next != len(self._items):
            raise malformed(self._what)

    def _pop(self) -> Node:
        if self._next >= len(self._items):
            raise malformed(self._what)
        self._next += 1
        return self._items[self._next - 1]


# --- values ------------------------------------------------------------------------------------------------


def octets(node: Node, tag: int = OCTET_STRING) -> bytes:
    """An OCTET STRING's value, also in the constructed BER form of X.690 §8.7.3 (segments of OCTET STRING).
    `tag` is the element's tag when the string is IMPLICITly tagged, e.g. [0] encryptedContent."""
    if node.tag == tag & ~_CONSTRUCTED:
        return node.body
    if node.tag == tag | _CONSTRUCTED:
        return b"".join(octets(child) for child in node.children)
    raise malformed("an octet string")


def decode_int(node: Node) -> int:
    if node.tag != INTEGER or not node.body:
        raise malformed("an integer")
    return int.from_bytes(node.body, "big", signed=True)


def decode_oid(node: Node) -> str:
    """X.690 §8.19: base-128 arcs, the first octet folding the first two arcs together."""
    if node.tag != OID or not node.body or node.body[-1] & 0x80:
        raise malformed("an object identifier")
    arcs: list[int] = []
    value = 0
    for octet in node.body:
        if value == 0 and octet == 0x80:
            raise malformed("an object identifier")  # X.690 §8.19.2: a subidentifier has no 0x80 padding.
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def decode_time(node: Node) -> datetime:
    """UTCTime or GeneralizedTime in UTC, as RFC 5652 §11.3 requires for signingTime. UTCTime years 50-99
    are 1950-1999 (RFC 5280 §4.1.2.5.1)."""
    try:
        text = node.body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise malformed("a time") from exc
    if node.tag == UTC_TIME and _UTC_TIME.fullmatch(text):
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    elif node.tag != GENERALIZED_TIME or not _GENERALIZED_TIME.fullmatch(text):
        raise malformed("a time")
    try:
        parsed = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise malformed("a time") from exc
    return parsed.replace(tzinfo=UTC)


# --- DER writing -------------------------------------------------------------------------------------------


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element: the minimal definite length form of X.690 §10.1."""
    length = len(body)
    if length < _INDEFINITE:
        return bytes((tag, length)) + body
    size = (length.bit_length() + 7) // 8
    return bytes((tag, _INDEFINITE | size)) + length.to_bytes(size, "big") + body


def seq(*parts: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(parts))


def set_of(*parts: bytes) -> bytes:
    # X.690 §11.6: the components of a DER SET OF appear in ascending order of their encodings.
    return tlv(SET, b"".join(sorted(parts)))


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(context(number), inner)


def encode_int(value: int) -> bytes:
    # X.690 §8.3: two's complement in the fewest octets; one extra bit keeps the sign.
    size = (value + (value < 0)).bit_length() // 8 + 1
    return tlv(INTEGER, value.to_bytes(size, "big", signed=True))


def encode_null() -> bytes:
    return tlv(NULL, b"")


def encode_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40) or min(arcs) < 0:
        raise ValueError(f"not an object identifier: {dotted}")
    body = bytearray()
    for arc in (40 * arcs[0] + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


# --- algorithm identifiers (RFC 5280 §4.1.1.2) --------------------------------------------------------------

# RFC 8017 Appendix C (RSA), RFC 3370 §2.1-2.2 (SHA-1, MD5), RFC 5754 §2 (SHA-2).
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
RSAES_OAEP = "1.2.840.113549.1.1.7"
MGF1 = "1.2.840.113549.1.1.8"
P_SPECIFIED = "1.2.840.113549.1.1.9"
RSASSA_PSS = "1.2.840.113549.1.1.10"
MD5 = "1.2.840.113549.2.5"
SHA1 = "1.3.14.3.2.26"
SHA224 = "2.16.840.1.101.3.4.2.4"
SHA256 = "2.16.840.1.101.3.4.2.1"
SHA384 = "2.16.840.1.101.3.4.2.2"
SHA512 = "2.16.840.1.101.3.4.2.3"
# RFC 3565 §4.1 (CBC), RFC 5084 §3.2 (GCM), RFC 3370 §5.1 (Triple-DES).
AES128_CBC = "2.16.840.1.101.3.4.1.2"
AES192_CBC = "2.16.840.1.101.3.4.1.22"
AES256_CBC = "2.16.840.1.101.3.4.1.42"
AES128_GCM = "2.16.840.1.101.3.4.1.6"
AES192_GCM = "2.16.840.1.101.3.4.1.26"
AES256_GCM = "2.16.840.1.101.3.4.1.46"
DES_EDE3_CBC = "1.2.840.113549.3.7"


# The hash each signature algorithm implies (RFC 5754 §3.2-3.3, RFC 3279 §2.2). None: the SignerInfo's
# digestAlgorithm decides, as with plain rsaEncryption (RFC 3370 §3.2) and the bare EC key OID some signers use.
RSA_PKCS1_SIGNATURES: dict[str, str | None] = {
    RSA_ENCRYPTION: None,
    "1.2.840.113549.1.1.5": SHA1,
    "1.2.840.113549.1.1.14": SHA224,
    "1.2.840.113549.1.1.11": SHA256,
    "1.2.840.113549.1.1.12": SHA384,
    "1.2.840.113549.1.1.13": SHA512,
}
ECDSA_SIGNATURES: dict[str, str | None] = {
    "1.2.840.10045.2.1": None,
    "1.2.840.10045.4.1": SHA1,
    "1.2.840.10045.4.3.1": SHA224,
    "1.2.840.10045.4.3.2": SHA256,
    "1.2.840.10045.4.3.3": SHA384,
    "1.2.840.10045.4.3.4": SHA512,
}


@dataclass(frozen=True, slots=True)
class Algorithm:
    """An AlgorithmIdentifier (RFC 5280 §4.1.1.2); `params` is None when the parameters are absent."""

    oid: str
    params: Node | None = None


def parse_algorithm(node: Node) -> Algorithm:
    fields = Fields(node, "an algorithm identifier")
    oid = decode_oid(fields.take(OID))
    rest = fields.rest()
    if len(rest) > 1:
        raise malformed("an algorithm identifier")
    return Algorithm(oid, rest[0] if rest else None)


def encode_algorithm(oid: str, params: bytes = b"") -> bytes:
    return seq(encode_oid(oid), params)
