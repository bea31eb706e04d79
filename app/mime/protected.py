"""The cryptographic structure of a received message: what to decrypt, what was signed, and which header
fields to believe (RFC 1847, RFC 3156, RFC 8551, RFC 9788).

The reader's path: `is_single_protected_entity` decides whether the message may be treated as protected at
all; `encrypted_payload` gives the ciphertext to `app.crypto`; the plaintext, or the `signed_payload` of a
signed message once verified, goes to `apply_header_protection` with the parsed outer message, which says
what the window shows. Attachment part numbers in its result refer to `ProtectedMessage.entity`.

Rules of this module:
- Pure and total: nothing here raises on any input (MemoryError aside). What cannot be read is answered as
  if the protection were absent (None, False), so a damaged message is never presented as protected.
- Only a message that is one encrypted or signed entity at the top counts (EFAIL, Poddebniak et al. 2018):
  ciphertext or a signature found beside other parts is not offered, so text outside the cryptographic
  layer can never be rendered as if it were inside it.
- The signed bytes are the span the MIME walker reads as part 1, found with the walker's own delimiter
  scan, so the bytes that are verified are the bytes that are shown.
- Header fields come from inside the cryptographic layer only when the payload says it carries them
  (`hp`, RFC 9788 §4.1, or the older protected-headers="v1"), and then only from there: an outer Cc added
  in transit is the attack RFC 9788 §4.4.4 names, so no protected field falls back to an outer one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from app.mime.charset import clean_body_text, decode_bytes, escape_control_chars
from app.mime.compose import Hp
from app.mime.headers import header_str, parse_content_field
from app.mime.html_text import html_to_text
from app.mime.parse import ParsedMessage, parse_message
from app.mime.structure import DEFAULT_LIMITS, Entity, walk
from app.mime.structure import _delimiters as walker_delimiters
from app.mime.transfer import decode_transfer, normalise_cte

__all__ = [
    "EncryptedPayload",
    "ProtectedMessage",
    "Protocol",
    "SignedPayload",
    "apply_header_protection",
    "encrypted_payload",
    "inner_headers",
    "is_single_protected_entity",
    "signed_payload",
]


class Protocol(StrEnum):
    PGP = "pgp"
    SMIME = "smime"


@dataclass(frozen=True, slots=True)
class EncryptedPayload:
    kind: Protocol
    data: bytes  # PGP: the ASCII-armored message; S/MIME: the DER of the CMS ContentInfo


@dataclass(frozen=True, slots=True)
class SignedPayload:
    kind: Protocol
    signed: bytes  # the first part exactly as on the wire: its header fields, its body, nothing else
    signature: bytes  # PGP: the ASCII-armored signature; S/MIME: the DER of the CMS SignedData
    micalg: str  # lower case, "" if the message names none; a hint only, the signature says what it used


@dataclass(frozen=True, slots=True)
class ProtectedMessage:
    """What to show for a decrypted or verified message.

    `message` has the payload's body and attachments; its header fields are the protected ones when
    `headers_protected`, otherwise the outer, unprotected ones. `hp` is the mode the payload states, with
    "cipher" only if the message really was encrypted (RFC 9788 §2.1.1). `confidential` names (lower case)
    the fields that did not travel in the clear as shown; a reply must keep them confidential (§6).
    """

    message: ParsedMessage
    entity: bytes  # the payload the message was read from; its attachments' part numbers refer to it
    headers_protected: bool
    hp: Hp | None
    confidential: frozenset[str]
    legacy_display_removed: bool


_PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
# RFC 8551 §3.2.2; old senders omit smime-type, and the CMS content type decides in the end.
_ENVELOPED = frozenset({"", "enveloped-data", "authenveloped-data"})
_SIGNATURES = {
    "application/pgp-signature": Protocol.PGP,
    "application/pkcs7-signature": Protocol.SMIME,
    "application/x-pkcs7-signature": Protocol.SMIME,
}
_PGP_VERSION = re.compile(rb"^[ \t]*Version[ \t]*:[ \t]*1[ \t]*\r?$", re.MULTILINE)  # RFC 3156 §4
_LEGACY_LINE = re.compile(r"[\x21-\x39\x3b-\x7e]+:|[ \t]")  # a header line or its continuation
_LEGACY_DIV = re.compile(r"<div\b[^>]{0,200}?\bclass\s*=\s*[\"']?header-protection-legacy-display\b[^>]{0,200}>", re.I)
_DIV_END = re.compile(r"</div\s*>", re.IGNORECASE)
_NO_FROM = "the message has no From header"  # parse.py's words; a bare inner part is not missing one


def encrypted_payload(raw: bytes) -> EncryptedPayload | None:
    """The ciphertext of a message that is a PGP/MIME (RFC 3156 §4) or S/MIME enveloped (RFC 8551 §3.3)
    entity at the top, or None."""
    try:
        return _encrypted(raw)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a bug here must read as "not encrypted", never as a crash
        return None


def signed_payload(raw: bytes) -> SignedPayload | None:
    """The signed bytes and signature of a top-level multipart/signed message (RFC 1847 §2.1, RFC 3156 §5,
    RFC 8551 §3.5.3), or None. The signed bytes run from after the first delimiter line's CRLF to before
    the CRLF of the second delimiter, which belongs to that delimiter (RFC 2046 §5.1.1)."""
    try:
        return _signed(raw)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - a bug here must read as "not signed", never as a crash
        return None


def is_single_protected_entity(raw: bytes) -> bool:
    """True only when the whole message is one encrypted or signed entity; a message that merely holds
    protected parts among others is False, and none of it may be shown as protected (EFAIL)."""
    try:
        top = _top_level(raw)
        if top is not None and top[0].media in _PKCS7_MIME:
            smime_type = top[0].params.get("smime-type", "").lower()
            return smime_type in _ENVELOPED or smime_type == "signed-data"
        return _encrypted(raw) is not None or _signed(raw) is not None
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - fail closed
        return False


def holds_nested_ciphertext(raw: bytes) -> bool:
    """True when ciphertext sits somewhere below the top of the message: a multipart/encrypted, PGP/MIME control
    part or S/MIME enveloped part inside another multipart. Such a message is never decrypted (EFAIL,
    Poddebniak et al. 2018, direct exfiltration; "Re: What's up Johnny?", Müller et al. 2019, which smuggles a
    stolen ciphertext into a plain message so the reply quotes its plaintext), but the reader is told why."""
    try:
        top, *below = walk(raw, DEFAULT_LIMITS, [])
        # The control part of a top-level multipart/encrypted (RFC 3156 §4) is its own structure, not nesting.
        own = top.media == "multipart/encrypted"
        return any(_is_ciphertext(entity) and not (own and "." not in entity.path) for entity in below)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - nothing is decrypted either way; the note is only lost
        return False


def _is_ciphertext(entity: Entity) -> bool:
    if entity.media in ("multipart/encrypted", "application/pgp-encrypted"):
        return True
    return entity.media in _PKCS7_MIME and entity.params.get("smime-type", "").lower() in _ENVELOPED


def inner_headers(entity: bytes) -> dict[str, str]:
    """The header fields of a decrypted or signed entity as written (unfolded, not RFC 2047-decoded, control
    characters escaped), by lower-case name, first occurrence; HP-Outer is left out, since it describes the
    outside. For display, use `apply_header_protection`, which reads the fields structurally."""
    try:
        top = next(walk(entity, DEFAULT_LIMITS, []))
        problems: list[str] = []
        return {
            name: escape_control_chars(header_str(values[0], name, problems))
            for name, values in top.fields.items()
            if name != "hp-outer"
        }
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001
        return {}


def apply_header_protection(outer: ParsedMessage, inner_entity: bytes, *, encrypted: bool) -> ProtectedMessage:
    """What to show for a message whose `inner_entity` came out of a decryption (`encrypted`) or a verified
    signature: the payload's body, and its header fields if it carries them (RFC 9788 §4). A decrypted
    multipart/signed is read through to its first part, the Cryptographic Payload; whether that signature
    holds is for the verifier to say, never this function."""
    signed = signed_payload(inner_entity) if encrypted else None
    payload = signed.signed if signed is not None else inner_entity
    inner = parse_message(payload)
    try:
        return _apply(outer, inner, payload, encrypted)
    except MemoryError:
        raise
    except Exception:  # noqa: BLE001 - fall back to the unprotected reading, which claims nothing
        return ProtectedMessage(_outer_fields(outer, inner), payload, False, None, frozenset(), False)


# Finding the payloads


def _top_level(raw: bytes) -> tuple[Entity, list[Entity]] | None:
    """The top entity and its direct children. Two Content-Type fields at the top make the message
    ambiguous (readers disagree on which counts), so such a message has no usable structure."""
    entities = list(walk(raw, DEFAULT_LIMITS, []))
    top = entities[0]
    if len(top.fields.get("content-type", [])) != 1:
        return None
    return top, [entity for entity in entities[1:] if "." not in entity.path]


def _encrypted(raw: bytes) -> EncryptedPayload | None:
    found = _top_level(raw)
    if found is None:
        return None
    top, children = found
    if top.media in _PKCS7_MIME and top.params.get("smime-type", "").lower() in _ENVELOPED:
        data = _decoded(raw, top)
        return EncryptedPayload(Protocol.SMIME, data) if data else None
    if top.media != "multipart/encrypted" or top.params.get("protocol", "").lower() != "application/pgp-encrypted":
        return None
    if len(children) != 2 or children[0].media != "application/pgp-encrypted":
        return None
    if children[1].media != "application/octet-stream" or not _PGP_VERSION.search(_decoded(raw, children[0])):
        return None
    data = _decoded(raw, children[1])
    return EncryptedPayload(Protocol.PGP, data) if data.strip() else None


def _signed(raw: bytes) -> SignedPayload | None:
    found = _top_level(raw)
    if found is None:
        return None
    top, children = found
    if top.media != "multipart/signed" or len(children) != 2:  # RFC 1847 §2.1: exactly two parts
        return None
    kind = _SIGNATURES.get(top.params.get("protocol", "").lower())
    if kind is None or _SIGNATURES.get(children[1].media) is not kind:
        return None
    span = _first_part_span(raw, top, children[0])
    signature = _decoded(raw, children[1])
    if span is None or not signature.strip():
        return None
    return SignedPayload(kind, raw[span[0] : span[1]], signature, top.params.get("micalg", "").strip().lower())


def _first_part_span(raw: bytes, top: Entity, first: Entity) -> tuple[int, int] | None:
    """Where part 1 starts and ends. The walker keeps only where a part's body starts, so the delimiters
    are found again with its own scan; the end must agree with the walker's, or nothing is returned."""
    boundary = top.params.get("boundary", "").encode("utf-8")
    found = walker_delimiters(raw, boundary, top.body_start, top.body_end, 2)
    if len(found) < 2 or found[1][0] != first.body_end:
        return None
    return found[0][1], found[1][0]


def _decoded(raw: bytes, entity: Entity) -> bytes:
    problems: list[str] = []
    values = entity.fields.get("content-transfer-encoding")
    cte = normalise_cte(header_str(values[0], "", problems) if values else None)
    return decode_transfer(raw[entity.body_start : entity.body_end], cte, "", problems)


# Header protection


def _apply(outer: ParsedMessage, inner: ParsedMessage, inner_entity: bytes, encrypted: bool) -> ProtectedMessage:
    entities = list(walk(inner_entity, DEFAULT_LIMITS, []))
    top = entities[0]
    stated = top.params.get("hp", "").strip().lower()
    if stated in (Hp.CIPHER, Hp.CLEAR):
        # RFC 9788 §2.1.1: "cipher" means encrypted; on a message that was not, it promises nothing.
        hp = Hp.CIPHER if stated == Hp.CIPHER and encrypted else Hp.CLEAR
        shown, removed = _without_legacy_display(inner, inner_entity, entities)
        confidential = _confidential(top) if hp is Hp.CIPHER else frozenset()
        return ProtectedMessage(_inner_fields(outer, shown), inner_entity, True, hp, confidential, removed)
    if top.params.get("protected-headers", "").strip().lower() == "v1":
        # The scheme RFC 9788 grew from (Thunderbird, Enigmail) records nothing like HP-Outer, so what was
        # hidden can only be inferred; the Subject is the field it hides.
        hidden = encrypted and inner.subject != outer.subject
        confidential = frozenset({"subject"} if hidden else ())
        return ProtectedMessage(_inner_fields(outer, inner), inner_entity, True, None, confidential, False)
    return ProtectedMessage(_outer_fields(outer, inner), inner_entity, False, None, frozenset(), False)


def _inner_fields(outer: ParsedMessage, inner: ParsedMessage) -> ParsedMessage:
    """The inner message with what only the outer one knows: the Autocrypt header, which belongs outside
    (Autocrypt Level 1 §2.1), the structure flags, and a Date when the payload has none (a wrong date
    misleads nobody about who wrote to whom)."""
    return replace(
        inner,
        date=inner.date or outer.date,
        autocrypt=outer.autocrypt,
        is_encrypted=outer.is_encrypted,
        is_signed=outer.is_signed,
        problems=_merged(outer.problems, inner.problems),
    )


def _outer_fields(outer: ParsedMessage, inner: ParsedMessage) -> ParsedMessage:
    """The outer header fields over the inner body, for a payload that carries no header fields."""
    problems = _merged(outer.problems, tuple(problem for problem in inner.problems if problem != _NO_FROM))
    return replace(outer, text=inner.text, html=inner.html, attachments=inner.attachments, problems=problems)


def _merged(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))


def _confidential(top: Entity) -> frozenset[str]:
    """Fields whose protected value no HP-Outer field repeats: removed or obscured outside (RFC 9788 §2.2,
    §4.2.1). Values are compared in wire form, as HP-Outer holds them, with white space runs squashed."""
    problems: list[str] = []
    exposed = set()
    for raw in top.fields.get("hp-outer", []):
        name, colon, value = header_str(raw, "HP-Outer", problems).partition(":")
        if colon:
            exposed.add((name.strip().lower(), _squashed(value)))
    return frozenset(
        name
        for name, values in top.fields.items()
        if not _is_structural(name)
        and any((name, _squashed(header_str(value, name, problems))) not in exposed for value in values)
    )


def _is_structural(name: str) -> bool:
    return name.startswith("content-") or name in ("mime-version", "hp-outer")


def _squashed(value: str) -> str:
    return " ".join(value.split())


def _without_legacy_display(message: ParsedMessage, raw: bytes, entities: list[Entity]) -> tuple[ParsedMessage, bool]:
    """The message without the legacy display elements of its main body parts (RFC 9788 §4.5.3)."""
    plain, html = _legacy_parts(entities)
    text, markup, removed = message.text, message.html, False
    block = _legacy_block(raw, plain) if plain is not None else ""
    if block and text.startswith(block):
        text, removed = text[len(block) :].lstrip("\n"), True
    if html is not None and markup is not None and (stripped := _without_legacy_div(markup)) != markup:
        limit = DEFAULT_LIMITS.max_text_chars
        if plain is None and text == html_to_text(markup[:limit]):  # the text was made from this HTML
            text = html_to_text(stripped[:limit])
        markup, removed = stripped, True
    return replace(message, text=text, html=markup), removed


def _legacy_parts(entities: list[Entity]) -> tuple[Entity | None, Entity | None]:
    """The first text/plain and text/html main body parts (RFC 9787 §7.1: the first child of each multipart,
    every child of a multipart/alternative) that are marked hp-legacy-display="1" (RFC 9788 §4.5.3.1)."""
    main = {""}
    media = {entity.path: entity.media for entity in entities}
    found: dict[str, Entity] = {}
    for entity in entities:
        parent, _, index = entity.path.rpartition(".")
        if entity.path and parent in main and (index == "1" or media.get(parent) == "multipart/alternative"):
            main.add(entity.path)
        if entity.path in main and _is_legacy_display(entity):
            found.setdefault(entity.media, entity)
    return found.get("text/plain"), found.get("text/html")


def _is_legacy_display(entity: Entity) -> bool:
    if entity.params.get("hp-legacy-display", "").strip() != "1" or entity.media not in ("text/plain", "text/html"):
        return False
    values = entity.fields.get("content-disposition")
    problems: list[str] = []
    return not values or parse_content_field(header_str(values[0], "", problems), "", problems)[0] != "attachment"


def _legacy_block(raw: bytes, entity: Entity) -> str:
    """The text/plain element: the lines up to the first blank line (RFC 9788 §4.5.3.2), if they read as
    header fields; anything else is left for the reader to see rather than hidden on a guess."""
    problems: list[str] = []
    text = clean_body_text(decode_bytes(_decoded(raw, entity), entity.params.get("charset"), "", problems))
    block, blank, _ = text.lstrip("\n").partition("\n\n")
    if not blank or not all(_LEGACY_LINE.match(line) for line in block.split("\n")):
        return ""
    return block


def _without_legacy_div(html: str) -> str:
    """The HTML without its first div of class header-protection-legacy-display (RFC 9788 §4.5.3.3)."""
    start = _LEGACY_DIV.search(html)
    end = _DIV_END.search(html, start.end()) if start else None
    if start is None or end is None:
        return html
    return html[: start.start()] + html[end.end() :]
