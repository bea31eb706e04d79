"""Parsing of fetched messages into what Salus stores, shows and indexes.

Rules of this module:
- `parse_message` never raises on any input (MemoryError and KeyboardInterrupt aside): whatever could
  not be read is described in `ParsedMessage.problems`, and the raw bytes stay with the caller.
- Every string taken from a header has passed `escape_control_chars`, so no CR, LF, NUL, C1 control
  or bidi override reaches the user interface, a log or a reply as a live character.
- Body text has passed `clean_body_text` (LF line ends, no control characters but LF and TAB).
- `html` is decoded but not sanitised; only the reader's sanitiser may turn it into markup.
- The work per message is bounded by `ParseLimits` (depth, parts, header bytes, text length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from app.mime.addresses import Address, parse_addresses
from app.mime.charset import clean_body_text, decode_bytes, escape_control_chars
from app.mime.flowed import unflow
from app.mime.headers import Fields, decode_words, header_str, message_ids, parse_content_field, parse_date
from app.mime.html_text import html_to_text
from app.mime.structure import DEFAULT_LIMITS, Entity, ParseLimits, walk
from app.mime.transfer import decode_transfer, is_known_cte, normalise_cte

__all__ = [
    "DEFAULT_LIMITS",
    "Address",
    "Attachment",
    "ParseLimits",
    "ParsedMessage",
    "escape_control_chars",
    "parse_message",
]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part offered as a file. `filename` is for display only ("" if the message names none)."""

    filename: str
    content_type: str
    size: int  # bytes after the transfer encoding is undone
    part: str  # IMAP part number, e.g. "2.1"


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    subject: str
    sender: tuple[Address, ...]  # From
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None  # aware, in UTC
    message_id: str | None  # without angle brackets
    in_reply_to: str | None
    references: tuple[str, ...]
    text: str
    html: str | None
    attachments: tuple[Attachment, ...]
    autocrypt: str | None
    is_encrypted: bool
    is_signed: bool
    problems: tuple[str, ...]


_BODY_TYPES = frozenset({"text/plain", "text/html"})
_SIGNATURE_TYPES = frozenset(
    {"application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature"}
)
_PKCS7_MIME = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
# RFC 8551 §3.2.2: smime-type values that mean encryption; old senders omit the parameter.
_ENVELOPED = frozenset({"", "enveloped-data", "authenveloped-data"})
# RFC 5322 §3.6: these fields occur at most once. A second From is a known spoofing trick, since
# clients disagree on which one to show, so duplicates are always reported.
_SINGLE = {
    "from": "From",
    "reply-to": "Reply-To",
    "subject": "Subject",
    "date": "Date",
    "message-id": "Message-ID",
    "in-reply-to": "In-Reply-To",
    "references": "References",
}
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([a-zA-Z0-9._:-]{1,40})", re.IGNORECASE)
_PATH_SEPARATORS = re.compile(r"[/\\]")
# Something a reader takes for an address: local@domain.tld (a dotless "Team@Home" is left alone).
_ADDRESS_IN_NAME = re.compile(r"[^\s<>()\[\]@\"',;:\\]+@[^\s<>()\[\]@\"',;:\\.]+(?:\.[^\s<>()\[\]@\"',;:\\.]+)+")


def parse_message(raw: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> ParsedMessage:
    """Everything Salus shows and indexes about a raw RFC 5322 message; never raises."""
    try:
        return _parse(raw, limits)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a parser bug must not cost the user the message
        return _unparsed(type(exc).__name__)


@dataclass(slots=True)
class _Bodies:
    """What the leaves of the tree contribute, collected in document order."""

    plain: list[tuple[tuple[str, str] | None, str]] = field(default_factory=list)
    html: list[tuple[tuple[str, str] | None, str]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    problems: list[str] = []
    entities = walk(raw, limits, problems)
    top = next(entities)
    bodies = _Bodies()
    for entity in (top, *entities):
        if not entity.media.startswith("multipart/") and not _is_protocol_part(top, entity):
            _read_leaf(raw, entity, bodies, problems)
    text, html = _body_text(bodies, limits, problems)
    fields = top.fields
    smime_type = top.params.get("smime-type", "").lower() if top.media in _PKCS7_MIME else None
    return ParsedMessage(
        subject=_subject(fields, problems),
        sender=_sender(fields, problems),
        to=_addresses(fields, "to", "To", problems),
        cc=_addresses(fields, "cc", "Cc", problems),
        reply_to=_addresses(fields, "reply-to", "Reply-To", problems),
        date=_date(fields, problems),
        message_id=_first_id(_single(fields, "message-id", problems)),
        in_reply_to=_first_id(_single(fields, "in-reply-to", problems)),
        references=message_ids(_single(fields, "references", problems) or ""),
        text=text,
        html=html,
        attachments=tuple(bodies.attachments),
        autocrypt=_autocrypt(fields, problems),
        # `declared`: a multipart/encrypted or /signed whose structure is unusable is still reported.
        is_encrypted=top.declared == "multipart/encrypted" or smime_type in _ENVELOPED,
        is_signed=top.declared == "multipart/signed" or smime_type == "signed-data",
        problems=_final_problems(problems, limits.max_problems),
    )


def _is_protocol_part(top: Entity, entity: Entity) -> bool:
    """Parts that carry a top-level signature or ciphertext (RFC 1847 §2, RFC 3156, RFC 8551) are
    structure, not attachments; the crypto layer reads them from the raw message."""
    if top.media == "multipart/encrypted":
        return entity.path in ("1", "2")
    if top.media == "multipart/signed":
        return entity.path == "2" and entity.media in _SIGNATURE_TYPES
    return top.media in _PKCS7_MIME and entity is top


def _read_leaf(raw: bytes, entity: Entity, bodies: _Bodies, problems: list[str]) -> None:
    where = f"part {entity.number}"
    cte = normalise_cte(_part_field(entity.fields, "content-transfer-encoding", where, problems))
    disposition, disposition_params = parse_content_field(
        _part_field(entity.fields, "content-disposition", where, problems) or "", where, problems
    )
    # RFC 2045 §6.4: content in an unknown transfer encoding can only be offered as opaque bytes.
    media = entity.media if is_known_cte(cte) else "application/octet-stream"
    data = decode_transfer(raw[entity.body_start : entity.body_end], cte, where, problems)
    filename = disposition_params.get("filename") or entity.params.get("name")
    if media in _BODY_TYPES and filename is None and disposition != "attachment":
        _add_body(entity, media, data, bodies, problems)
        return
    # RFC 2047 §5 forbids encoded words in parameters, but Outlook and others send them in file names.
    name = decode_words(filename or "", f"the file name of {where}", problems)
    bodies.attachments.append(Attachment(safe_filename(name), media, len(data), entity.number))


def _part_field(fields: Fields, name: str, where: str, problems: list[str]) -> str | None:
    values = fields.get(name)
    return header_str(values[0], f"the {name} of {where}", problems) if values else None


def _add_body(entity: Entity, media: str, data: bytes, bodies: _Bodies, problems: list[str]) -> None:
    charset = entity.params.get("charset")
    if media == "text/html" and charset is None:
        sniffed = _META_CHARSET.search(data, 0, 2048)  # HTML's own declaration (HTML5 §4.2.5.4)
        charset = sniffed.group(1).decode("ascii") if sniffed else None
    text = clean_body_text(decode_bytes(data, charset, f"part {entity.number}", problems))
    if media == "text/html":
        bodies.html.append((entity.alternative, text))
    elif text.strip():
        if entity.params.get("format", "").lower() == "flowed":
            text = unflow(text, delsp=entity.params.get("delsp", "").lower() == "yes")
        bodies.plain.append((entity.alternative, text))


def _body_text(bodies: _Bodies, limits: ParseLimits, problems: list[str]) -> tuple[str, str | None]:
    """The readable text (plain parts, else the HTML parts as text) and the first HTML part."""
    html = _capped(bodies.html[0][1], limits, "the HTML body", problems) if bodies.html else None
    plain = _one_per_alternative(bodies.plain)
    if plain:
        text = "\n\n".join(part.strip("\n") for part in plain)
    else:
        markup = _one_per_alternative(bodies.html)
        text = "\n\n".join(html_to_text(part[: limits.max_text_chars]) for part in markup)
    return _capped(text, limits, "the body text", problems), html


def _one_per_alternative(parts: list[tuple[tuple[str, str] | None, str]]) -> list[str]:
    """Texts in order, taking from each multipart/alternative only the first branch that has one
    (RFC 2046 §5.1.4: the branches are the same content in different forms)."""
    taken: dict[str, str] = {}
    texts: list[str] = []
    for alternative, text in parts:
        if alternative is None or taken.setdefault(alternative[0], alternative[1]) == alternative[1]:
            texts.append(text)
    return texts


def _capped(text: str, limits: ParseLimits, what: str, problems: list[str]) -> str:
    if len(text) <= limits.max_text_chars:
        return text
    problems.append(f"{what} is longer than {limits.max_text_chars} characters; the rest is not shown")
    return text[: limits.max_text_chars]


def safe_filename(name: str) -> str:
    """A file name to show: the last path component only, controls escaped, at most 255 characters.
    It is still untrusted: whoever saves the file must check it against the target file system."""
    name = _PATH_SEPARATORS.split(name)[-1].strip()
    name = escape_control_chars(name).strip()
    if name in (".", ".."):
        return ""
    if len(name) <= 255:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        return name[:255]
    return f"{stem[: 254 - len(extension)]}.{extension}"


def _single(fields: Fields, name: str, problems: list[str]) -> str | None:
    """The first value of a field that may occur once, reporting duplicates (RFC 5322 §3.6)."""
    values = fields.get(name)
    if not values:
        return None
    label = _SINGLE[name]
    if len(values) > 1:
        problems.append(f"the message has {len(values)} {label} headers; the first is used")
    return header_str(values[0], f"the {label} header", problems)


def _subject(fields: Fields, problems: list[str]) -> str:
    subject = decode_words(_single(fields, "subject", problems) or "", "the Subject header", problems)
    return escape_control_chars(subject).strip()


def _sender(fields: Fields, problems: list[str]) -> tuple[Address, ...]:
    text = _single(fields, "from", problems)
    if text is None:
        problems.append("the message has no From header")
        return ()
    sender = parse_addresses(text, "the From header", problems)
    if not any(address.addr for address in sender):
        problems.append("the From header has no address")
    for address in sender:
        problems.extend(_name_spoof(address))
    return sender


def _name_spoof(address: Address) -> list[str]:
    """A display name that shows another address ("carol@clinic.test" <mallory@attacker.test>) is the core of
    Mailsploit (Haddouche 2017) and of the ID attacks of "Johnny, you are fired!" (Müller et al. 2019, §4.4):
    clients that show only the name show the wrong sender. The name is kept as sent; the reader is told."""
    shown = {found.lower() for found in _ADDRESS_IN_NAME.findall(address.name)}
    others = sorted(shown - {address.addr.lower()})
    if not others:
        return []
    return [f"the sender's display name shows the address {', '.join(others)}, but the mail is from {address.addr}"]


def _addresses(fields: Fields, name: str, label: str, problems: list[str]) -> tuple[Address, ...]:
    """All addresses of a field; repeated To or Cc fields are merged, since all were addressed."""
    if name in _SINGLE:
        text = _single(fields, name, problems)
        return parse_addresses(text, f"the {label} header", problems) if text else ()
    found: list[Address] = []
    for raw in fields.get(name, []):
        where = f"the {label} header"
        found.extend(parse_addresses(header_str(raw, where, problems), where, problems))
    return tuple(found)


def _date(fields: Fields, problems: list[str]) -> datetime | None:
    text = _single(fields, "date", problems)
    if not text:
        return None
    date = parse_date(text)
    if date is None:
        problems.append("the Date header cannot be read")
    return date


def _first_id(text: str | None) -> str | None:
    ids = message_ids(text) if text else ()
    return ids[0] if ids else None


def _autocrypt(fields: Fields, problems: list[str]) -> str | None:
    """The Autocrypt header as sent; with more than one, none counts (Autocrypt Level 1 §2.3)."""
    values = fields.get("autocrypt", [])
    if len(values) > 1:
        problems.append(f"the message has {len(values)} Autocrypt headers; none is used")
    if len(values) != 1:
        return None
    return escape_control_chars(header_str(values[0], "the Autocrypt header", problems))


def _final_problems(problems: list[str], limit: int) -> tuple[str, ...]:
    unique = list(dict.fromkeys(escape_control_chars(problem) for problem in problems))
    if len(unique) > limit:
        unique = [*unique[:limit], f"{len(unique) - limit} more problems are not listed"]
    return tuple(unique)


def _unparsed(reason: str) -> ParsedMessage:
    return ParsedMessage(
        subject="",
        sender=(),
        to=(),
        cc=(),
        reply_to=(),
        date=None,
        message_id=None,
        in_reply_to=None,
        references=(),
        text="",
        html=None,
        attachments=(),
        autocrypt=None,
        is_encrypted=False,
        is_signed=False,
        problems=(f"internal parser error ({reason}); only the raw message is kept",),
    )
