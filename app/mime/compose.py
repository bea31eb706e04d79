"""Building outgoing messages (RFC 5322, MIME) and their PGP/MIME and S/MIME wrappings, with header protection.

Rules of this module:
- Pure: no I/O, no clock, no randomness. A multipart boundary is derived from the parts it separates and
  checked not to occur in them, so one draft always gives the same bytes.
- Output is canonical: CRLF line ends only, 7-bit only (RFC 2047 words, RFC 2231 parameters,
  quoted-printable and base64 bodies), no white space at the end of a line, header lines of at most 78
  characters wherever a field can be folded. A signature over an entity therefore still verifies after any
  transport (RFC 3156 §3 and §5, RFC 8551 §3.1.1).
- Nothing a caller passes can add a header field or a MIME part: a CR, LF, NUL or other control character
  in a header value raises ValueError, whose text never quotes the value (it may be a patient's data).
- Bcc is never written: the envelope carries those recipients, and RFC 9788 §11.4 names leaving it out as
  the choice that leaks least.
- Header protection follows RFC 9788: the protected entity carries the real header fields and `hp`; the
  outer header section of an encrypted message says `Subject: [...]` and holds only what delivery needs.

How the pieces fit (the crypto itself is `app.crypto`'s):
  plain or tls:   build_message(draft)
  signed only:    with_headers(outer_headers(draft, encrypted=False), pgp_signed(protected_body(draft, Hp.CLEAR), ...))
  encrypted:      pgp_encrypted(outer_headers(draft, encrypted=True), encrypt(protected_body(draft, Hp.CIPHER)))
                  (sign first by encrypting pgp_signed(...) or smime_signed(...) of that payload instead)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from enum import StrEnum

from app.mime.addresses import Address
from app.mime.headers import media_type


class Hp(StrEnum):
    """The `hp` Content-Type parameter of RFC 9788 §2.1.1; "cipher" exactly when the message is encrypted."""

    CIPHER = "cipher"
    CLEAR = "clear"


OBSCURED_SUBJECT = "[...]"  # what hcp_baseline (RFC 9788 §3) puts in the outer Subject

_LINE_ROOM = 78  # RFC 5322 §2.1.1: SHOULD NOT be longer; 998 is the hard limit
_HARD_LIMIT = 998
_WORD_ROOM = 66  # an encoded word or a quoted phrase this long still fits after "Subject: "
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WIRE_VALUE = re.compile(r"[\x20-\x7e\t]*")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 §3.6.8 ftext
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 §3.2.3
_ATOMS = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
_ADDR = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MESSAGE_ID = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_ATEXT}+(?:\.{_ATEXT}+)*")  # RFC 5322 §3.6.4
_FOREIGN_ID = re.compile(r"[\x21-\x3b\x3d\x3f-\x7e]{1,250}")  # ids of other mailers: no space, "<" or ">"
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`{|}~-]+")  # RFC 2045 §5.1 token
_MICALG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_SEGMENT = re.compile(r"[ \t]*[^ \t]+")
_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")  # RFC 2047 §5(3)
_ATTRIBUTE_CHAR = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+.^_`|~-")
# Fields Salus writes itself (Content-* too), and Bcc, which it never writes.
_RESERVED = frozenset({"from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references"})
_RESERVED |= {"mime-version", "hp-outer"}
# RFC 9788 writes these quoted in all its examples; readers of the new scheme are the least likely to have met
# the equivalent token form.
_QUOTED_PARAMS = frozenset({"hp", "hp-legacy-display"})
# Fields hcp_baseline would keep but Salus leaves out of an encrypted message's outer header section: the
# thread they reveal is as sensitive as the subject, and the protected copies inside restore threading.
_INNER_ONLY = frozenset({"In-Reply-To", "References"})


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str
    content_type: str  # "type/subtype"; multipart types are refused
    data: bytes

    def __post_init__(self) -> None:
        _check_text("an attachment's file name", self.filename)
        if not self.filename.strip():
            raise ValueError("an attachment needs a file name")
        media = media_type(self.content_type.strip().lower())
        if media is None or media.startswith("multipart/"):
            raise ValueError("an attachment's content type is not a valid single-part media type")


@dataclass(frozen=True, slots=True)
class Draft:
    sender: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]  # handed to SMTP as envelope recipients; never written into the message
    subject: str
    body_text: str
    attachments: tuple[OutgoingAttachment, ...]
    message_id: str  # without angle brackets, as ParsedMessage.message_id
    date: datetime  # timezone-aware
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    extra_headers: tuple[tuple[str, str], ...] = ()  # written as given: ASCII, folded only at white space
    # Rich text: an HTML fragment the UI has already cleaned to its allow-list (app/ui/compose_html.py); sent as
    # multipart/alternative after `body_text`, which must be the same text without the formatting.
    body_html: str | None = None

    def __post_init__(self) -> None:
        for address in (self.sender, *self.to, *self.cc, *self.bcc):
            _check_address(address)
        if not (self.to or self.cc or self.bcc):
            raise ValueError("a message needs at least one recipient")
        _check_text("the subject", self.subject)
        _check_encodable("the message text", self.body_text)
        _check_encodable("the message HTML", self.body_html or "")
        if len(self.message_id) > 250 or not _MESSAGE_ID.fullmatch(self.message_id):
            raise ValueError("the Message-ID is not of the form left@right (RFC 5322 §3.6.4)")
        if not all(_FOREIGN_ID.fullmatch(ref) for ref in (*self.references, self.in_reply_to or "x")):
            raise ValueError("In-Reply-To and References take message ids without angle brackets or spaces")
        if self.date.utcoffset() is None:
            raise ValueError("the date of a message must be timezone-aware")
        for name, value in self.extra_headers:
            _check_extra_header(name, value)


def build_message(draft: Draft) -> bytes:
    """The complete message, for sending without end-to-end protection."""
    return with_headers([*_header_fields(draft), ("MIME-Version", "1.0")], _content(draft, [], ""))


def outer_headers(draft: Draft, *, encrypted: bool) -> list[tuple[str, str]]:
    """The outer header section in wire form (ASCII, unfolded). An encrypted message keeps what delivery,
    sorting and Autocrypt need and says `Subject: [...]` (RFC 9788 §3, §5.2); a signed-only message shows
    every field, since nothing in it is confidential."""
    fields = _header_fields(draft)
    if encrypted:
        fields = [(n, OBSCURED_SUBJECT if n == "Subject" else v) for n, v in fields if n not in _INNER_ONLY]
    return [*fields, ("MIME-Version", "1.0")]


def protected_body(draft: Draft, hp: Hp, *, legacy_display: bool = False) -> bytes:
    """The Cryptographic Payload of RFC 9788 §5.2: the body entity carrying the real header fields and `hp`.
    With `hp` "cipher" it records every outer field in an HP-Outer field (§2.2), and with `legacy_display`
    its text begins with the hidden Subject for readers that know nothing of header protection (§5.2.2)."""
    fields = _header_fields(draft)
    legacy = ""
    if hp is Hp.CIPHER:
        outer = outer_headers(draft, encrypted=True)
        fields += [("HP-Outer", f"{name}: {value}".rstrip()) for name, value in outer if name != "MIME-Version"]
        legacy = f"Subject: {draft.subject.strip()}\n\n" if legacy_display else ""
    return _fields(fields) + _content(draft, [("hp", hp.value)], legacy)


def with_headers(outer: Iterable[tuple[str, str]], entity: bytes) -> bytes:
    """A message from outer header fields (wire form) and an entity that begins with its own fields."""
    outer = list(outer)
    if any(name.lower().startswith("content-") or name.lower() == "bcc" for name, _ in outer):
        raise ValueError("outer header fields may not hold Content-* (the entity brings them) or Bcc")
    if not re.match(rb"[\x21-\x39\x3b-\x7e]+:", entity):
        raise ValueError("the entity must begin with its header fields")
    return _fields(outer) + entity


def pgp_encrypted(outer: list[tuple[str, str]], armored_ciphertext: bytes) -> bytes:
    """An RFC 3156 §4 multipart/encrypted message."""
    control = _entity([("Content-Type", "application/pgp-encrypted")], b"Version: 1\r\n")
    data = _entity(
        [
            ("Content-Type", _content_value("application/octet-stream", [("name", "encrypted.asc")])),
            ("Content-Disposition", _content_value("inline", [("filename", "encrypted.asc")])),
        ],
        _armor(armored_ciphertext, b"-----BEGIN PGP MESSAGE-----"),
    )
    protocol = [("protocol", "application/pgp-encrypted")]
    return with_headers(outer, _multipart("multipart/encrypted", protocol, [control, data]))


def pgp_signed(entity: bytes, armored_signature: bytes, micalg: str) -> bytes:
    """An RFC 3156 §5 multipart/signed entity whose first part is `entity`, byte for byte."""
    micalg = _micalg(micalg, pgp=True)
    signature = _entity(
        [
            ("Content-Type", _content_value("application/pgp-signature", [("name", "signature.asc")])),
            ("Content-Disposition", _content_value("attachment", [("filename", "signature.asc")])),
        ],
        _armor(armored_signature, b"-----BEGIN PGP SIGNATURE-----"),
    )
    params = [("micalg", micalg), ("protocol", "application/pgp-signature")]
    return _multipart("multipart/signed", params, [_canonical(entity), signature])


def smime_signed(entity: bytes, der_signature: bytes, micalg: str) -> bytes:
    """An RFC 8551 §3.5.3 multipart/signed entity whose first part is `entity`, byte for byte."""
    signature = _base64_part("application/pkcs7-signature", [], "smime.p7s", der_signature)
    params = [("micalg", _micalg(micalg, pgp=False)), ("protocol", "application/pkcs7-signature")]
    return _multipart("multipart/signed", params, [_canonical(entity), signature])


def smime_enveloped(outer: list[tuple[str, str]], der: bytes, *, authenticated: bool) -> bytes:
    """An RFC 8551 §3.3 application/pkcs7-mime message; AuthEnvelopedData (AES-GCM) says so (§3.2.2)."""
    smime_type = "authEnveloped-data" if authenticated else "enveloped-data"
    entity = _base64_part("application/pkcs7-mime", [("smime-type", smime_type)], "smime.p7m", der)
    return with_headers(outer, entity)


# Header fields


def _header_fields(draft: Draft) -> list[tuple[str, str]]:
    """The user-facing fields in wire form, the same inside a protected entity and in a plain message."""
    fields = [("Date", format_datetime(draft.date)), ("Message-ID", f"<{draft.message_id}>")]
    if draft.in_reply_to:
        fields.append(("In-Reply-To", f"<{draft.in_reply_to}>"))
    if draft.references:
        fields.append(("References", " ".join(f"<{ref}>" for ref in draft.references)))
    fields.append(("From", _mailbox(draft.sender)))
    fields += [(name, ", ".join(map(_mailbox, found))) for name, found in (("To", draft.to), ("Cc", draft.cc)) if found]
    fields.append(("Subject", _unstructured(draft.subject)))
    return fields + list(draft.extra_headers)


def _mailbox(address: Address) -> str:
    name = address.name.strip()
    return f"{_phrase(name)} <{address.addr}>" if name else address.addr


def _phrase(name: str) -> str:
    """A display name (RFC 5322 §3.2.5): atoms, a quoted string, or RFC 2047 §5(3) encoded words. Text with
    "=?" is always encoded, since readers (Salus's own among them) decode words even inside quotes."""
    if "=?" in name or not _PRINTABLE.fullmatch(name):
        return " ".join(_encoded_words(name))
    if _ATOMS.fullmatch(name) and _fits(name):
        return name
    return _quoted(name) if _fits(_quoted(name)) else " ".join(_encoded_words(name))


def _unstructured(text: str) -> str:
    """Unstructured text (RFC 5322 §3.2.5), as RFC 2047 words when it is not foldable printable ASCII."""
    text = text.strip()
    if "=?" not in text and _PRINTABLE.fullmatch(text) and _fits(text):
        return text
    return " ".join(_encoded_words(text))


def _fits(text: str) -> bool:
    """Whether folding at its spaces keeps every line within 78 characters."""
    return all(len(word) <= _WORD_ROOM for word in text.split(" "))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encoded_words(text: str) -> list[str]:
    """Encoded words of whole characters, each short enough to fold; the white space between them is not
    part of the text (RFC 2047 §6.2), so any text, spaces included, comes back exactly."""
    words: list[str] = []
    chunk = ""
    for char in text:
        if chunk and len(_encoded_word(chunk + char)) > _WORD_ROOM:
            words.append(_encoded_word(chunk))
            chunk = ""
        chunk += char
    return [*words, _encoded_word(chunk)] if chunk else words


def _encoded_word(text: str) -> str:
    data = text.encode("utf-8")
    q = "".join(chr(b) if b in _Q_SAFE else "_" if b == 0x20 else f"={b:02X}" for b in data)
    b = base64.b64encode(data).decode("ascii")
    return f"=?utf-8?q?{q}?=" if len(q) <= len(b) else f"=?utf-8?b?{b}?="


def _content_value(main: str, params: list[tuple[str, str]]) -> str:
    return "; ".join([main, *(_param(name, value) for name, value in params)])


def _param(name: str, value: str) -> str:
    """A parameter (RFC 2045 §5.1): a token, a quoted string, or RFC 2231 §3-4 UTF-8 sections."""
    if _TOKEN.fullmatch(value) and name not in _QUOTED_PARAMS:
        return f"{name}={value}"
    if "=?" not in value and _PRINTABLE.fullmatch(value) and len(_quoted(value)) <= 60:
        return f"{name}={_quoted(value)}"
    pieces = ["".join(chr(b) if b in _ATTRIBUTE_CHAR else f"%{b:02X}" for b in c.encode("utf-8")) for c in value]
    sections = ["utf-8''"]
    for piece in pieces:
        if len(sections[-1]) + len(piece) > 56:
            sections.append("")
        sections[-1] += piece
    if len(sections) == 1:
        return f"{name}*={sections[0]}"
    return "; ".join(f"{name}*{index}*={section}" for index, section in enumerate(sections))


def _fields(fields: Iterable[tuple[str, str]]) -> bytes:
    return b"".join(_field(name, value) for name, value in fields)


def _field(name: str, value: str) -> bytes:
    """One header field, folded before white space (RFC 5322 §2.2.3), so no line ends in white space."""
    if not _FIELD_NAME.fullmatch(name) or not _WIRE_VALUE.fullmatch(value):
        raise ValueError(f"the {name[:40]!r} header field holds a character that cannot be sent")
    lines = [f"{name}:"]
    for segment in _SEGMENT.findall(value):
        segment = segment if segment[0] in " \t" else " " + segment
        if len(segment) > _HARD_LIMIT - 2:
            raise ValueError(f"the {name} header field has a word too long for a line (RFC 5322 §2.1.1)")
        if len(lines[-1]) + len(segment) > _LINE_ROOM and lines[-1] != f"{name}:":
            lines.append(segment)
        else:
            lines[-1] += segment
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


# Bodies


def _content(draft: Draft, root_params: list[tuple[str, str]], legacy: str) -> bytes:
    """The body entity: text/plain alone, or multipart/mixed with the attachments; `root_params` go on the
    root (where RFC 9788 puts `hp`), the legacy display marker on the text part that carries it."""
    text_params = [("charset", "utf-8"), *([("hp-legacy-display", "1")] if legacy else [])]
    body_params = [] if draft.attachments else root_params
    if draft.body_html is None:
        body = _text_part(legacy + draft.body_text, [*text_params, *body_params])
    else:  # RFC 2046 §5.1.4: the plainest alternative first
        alternatives = [_text_part(legacy + draft.body_text, text_params), _html_part(draft.body_html, legacy)]
        body = _multipart("multipart/alternative", body_params, alternatives)
    if not draft.attachments:
        return body
    return _multipart("multipart/mixed", root_params, [body, *map(_attachment_part, draft.attachments)])


def _text_part(text: str, params: list[tuple[str, str]]) -> bytes:
    fields = [("Content-Type", _content_value("text/plain", params)), ("Content-Transfer-Encoding", "quoted-printable")]
    return _entity(fields, _quoted_printable(text))


def _html_part(fragment: str, legacy: str) -> bytes:
    """The HTML alternative, a whole document around the fragment; the legacy display element of RFC 9788
    §5.2.2 is a div of its own class, escaped here since the subject is the user's text."""
    params = [("charset", "utf-8"), *([("hp-legacy-display", "1")] if legacy else [])]
    shown = f'<div class="header-protection-legacy-display"><pre>{html.escape(legacy.strip())}</pre></div>\n'
    document = f"<!DOCTYPE html>\n<html><body>\n{shown if legacy else ''}{fragment}\n</body></html>\n"
    fields = [("Content-Type", _content_value("text/html", params)), ("Content-Transfer-Encoding", "quoted-printable")]
    return _entity(fields, _quoted_printable(document))


def _quoted_printable(text: str) -> bytes:
    """RFC 2045 §6.7 with CRLF breaks. Trailing white space is encoded by b2a_qp and "From " at a line start
    is written "=46rom ", so neither transport nor mbox can change signed text (RFC 3156 §3)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return _FROM_LINE.sub(b"=46rom ", encoded).replace(b"\n", b"\r\n")


def _attachment_part(attachment: OutgoingAttachment) -> bytes:
    media = attachment.content_type.strip().lower()
    name = attachment.filename.strip()
    if media == "message/rfc822" and _is_canonical(attachment.data):
        fields = [
            ("Content-Type", media),
            ("Content-Disposition", _content_value("attachment", [("filename", name)])),
            ("Content-Transfer-Encoding", "7bit"),
        ]
        return _entity(fields, attachment.data)
    if media.startswith("message/"):
        media = "application/octet-stream"  # RFC 2046 §5.2.1 forbids base64 for message types
    return _base64_part(media, [], name, attachment.data)


def _base64_part(media: str, params: list[tuple[str, str]], filename: str, data: bytes) -> bytes:
    fields = [
        ("Content-Type", _content_value(media, [*params, ("name", filename)])),
        ("Content-Disposition", _content_value("attachment", [("filename", filename)])),
        ("Content-Transfer-Encoding", "base64"),
    ]
    return _entity(fields, base64.encodebytes(data).replace(b"\n", b"\r\n"))


def _entity(fields: list[tuple[str, str]], body: bytes) -> bytes:
    return _fields(fields) + b"\r\n" + body


def _multipart(media: str, params: list[tuple[str, str]], parts: list[bytes]) -> bytes:
    """A multipart entity (RFC 2046 §5.1.1). The CRLF before each delimiter belongs to the delimiter, so
    every part appears exactly as given."""
    boundary = _boundary(parts)
    head = _field("Content-Type", _content_value(media, [*params, ("boundary", boundary)]))
    marker = b"--" + boundary.encode("ascii")
    body = b"".join(marker + b"\r\n" + part + b"\r\n" for part in parts) + marker + b"--\r\n"
    return head + b"\r\n" + body


def _boundary(parts: list[bytes]) -> str:
    """A boundary that occurs in no part. "=_" cannot appear in quoted-printable or base64 text."""
    seed = hashlib.sha256(b"".join(hashlib.sha256(part).digest() for part in parts)).digest()
    counter = 0
    while True:
        boundary = "=_" + hashlib.sha256(seed + counter.to_bytes(8, "big")).hexdigest()[:40]
        if not any(b"--" + boundary.encode("ascii") in part for part in parts):
            return boundary
        counter += 1


def _armor(data: bytes, begin: bytes) -> bytes:
    """ASCII armor (RFC 4880 §6.2) with CRLF line ends; its line ends carry no meaning."""
    if not data.isascii() or not data.lstrip().startswith(begin):
        raise ValueError(f"expected ASCII-armored OpenPGP data starting with {begin.decode()}")
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").strip(b"\n").split(b"\n")
    return b"".join(line.rstrip(b" \t") + b"\r\n" for line in lines)


def _canonical(entity: bytes) -> bytes:
    """Only a canonical entity can be signed and still verify after transport (RFC 3156 §5, RFC 8551
    §3.1.1): 7-bit, CRLF line ends, no line over 998 octets or ending in white space."""
    if not _is_canonical(entity):
        raise ValueError("the entity to sign is not canonical: 7-bit text with CRLF line ends is required")
    return entity


def _is_canonical(data: bytes) -> bool:
    if not data.isascii() or b"\x00" in data:
        return False
    lines = data.split(b"\r\n")
    return not any(
        b"\r" in line or b"\n" in line or len(line) > _HARD_LIMIT or line[-1:] in (b" ", b"\t") for line in lines
    )


def _micalg(value: str, *, pgp: bool) -> str:
    """RFC 3156 §5 ("pgp-sha256") and RFC 8551 §3.5.3.2 ("sha-256") hash names, lower case."""
    value = value.strip().lower()
    if not _MICALG.fullmatch(value) or value.startswith("pgp-") != pgp:
        raise ValueError(f"micalg must be a hash name such as {'pgp-sha256' if pgp else 'sha-256'}")
    return value


# Validation


def _check_text(what: str, text: str) -> None:
    if _CONTROL.search(text):
        raise ValueError(f"{what} contains a line break or control character")
    _check_encodable(what, text)


def _check_encodable(what: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text") from None


def _check_address(address: Address) -> None:
    _check_text("a display name", address.name)
    if len(address.addr) > 254 or not _ADDR.fullmatch(address.addr):
        raise ValueError("an address is not of the form local@domain in ASCII (RFC 5322 §3.4.1)")


def _check_extra_header(name: str, value: str) -> None:
    lower = name.lower()
    if not _FIELD_NAME.fullmatch(name) or lower in _RESERVED or lower.startswith("content-"):
        raise ValueError("an extra header field has an invalid or reserved name")
    if not _WIRE_VALUE.fullmatch(value):
        raise ValueError(f"the {name} header field must be printable ASCII without line breaks")
