"""Header fields of untrusted messages: splitting, RFC 2047 words, parameters, ids and dates.

Rules of this module:
- Every scan is linear in its input: header values can be 256 KiB of attacker-chosen text, so no
  regular expression here may fail late and be retried at the next position.
- Lines end at LF or CRLF only (RFC 5322 §2.2). A lone CR stays inside the value, where
  `escape_control_chars` makes it visible, so it can never start a new header field.
- RFC 2047 words are decoded after the structure around them has been read, so a word that decodes
  to "<", "," or CRLF cannot change what a field means.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz
from urllib.parse import unquote_to_bytes

from app.mime.charset import decode_bytes, latin1
from app.mime.transfer import b64decode_lenient, qp_decode

Fields = dict[str, list[bytes]]

# RFC 5322 §2.2: a field ends at a line break not followed by WSP (which would be folding).
_FIELD_BREAK = re.compile(rb"\r?\n(?![ \t])")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 §3.6.8 ftext
_FOLD = re.compile(rb"\r?\n")

# RFC 2047 §2 encoded-word; the charset may carry an RFC 2231 §5 language suffix ("utf-8*en").
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,64})(?:\*[^?\s]{0,32})?\?([bBqQ])\?([^?\s]*)\?=")

_PARAM_NAME = re.compile(r"\s*([^\s=;\"]*)\s*(=?)\s*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"?', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_RFC2231_NAME = re.compile(r"([^*]+)(?:\*(\d{1,4}))?(\*)?")
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&.+^_`{|}~-]+/[a-z0-9!#$&.+^_`{|}~-]+")

_MSG_ID = re.compile(r"<([^<>]{1,998})>")
_ID_JUNK = re.compile("[\\s\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def split_fields(block: bytes) -> tuple[Fields, int]:
    """Split a header block into raw values keyed by lower-case name; also count malformed lines."""
    fields: Fields = {}
    malformed = 0
    for line in _FIELD_BREAK.split(block):
        name, colon, value = line.partition(b":")
        name = name.rstrip(b" \t")  # RFC 5322 §4.5.1 allows WSP before the colon (obsolete syntax)
        if colon and _FIELD_NAME.fullmatch(name):
            fields.setdefault(name.decode("ascii").lower(), []).append(value)
        elif line.strip() and not line.startswith(b"From "):  # an mbox separator is not damage
            malformed += 1
    return fields, malformed


def header_str(raw: bytes, where: str, problems: list[str]) -> str:
    """Unfold a raw value and read it as UTF-8 (RFC 6532 §3.2), else Latin-1 with a problem."""
    value = _FOLD.sub(b"", raw).strip(b" \t")
    if value.isascii():
        return value.decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{where} has 8-bit text that is not UTF-8; decoded as latin-1")
        return latin1(value)


def decode_words(text: str, where: str, problems: list[str]) -> str:
    """Decode RFC 2047 encoded words; adjacent words are joined before decoding (RFC 2047 §6.2),
    since senders split multi-byte characters across words."""
    if "=?" not in text:
        return text
    out: list[str] = []
    chunk: list[bytes] = []
    chunk_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        if gap and not (chunk and gap.isspace()):  # whitespace between words is dropped
            _flush(out, chunk, chunk_charset, where, problems)
            out.append(gap)
        charset = match.group(1).lower()
        if chunk and charset != chunk_charset:
            _flush(out, chunk, chunk_charset, where, problems)
        chunk.append(_word_bytes(match.group(2), match.group(3), where, problems))
        chunk_charset = charset
        pos = match.end()
    _flush(out, chunk, chunk_charset, where, problems)
    out.append(text[pos:])
    return "".join(out)


def _flush(out: list[str], chunk: list[bytes], charset: str, where: str, problems: list[str]) -> None:
    if chunk:
        out.append(decode_bytes(b"".join(chunk), charset, where, problems))
        chunk.clear()


def _word_bytes(encoding: str, payload: str, where: str, problems: list[str]) -> bytes:
    data = payload.encode("utf-8")
    if encoding in "qQ":
        return qp_decode(data, header=True)
    decoded, damage = b64decode_lenient(data)
    if damage is not None:
        problems.append(f"damaged encoded word in {where}: {damage}")
    return decoded


def parse_content_field(value: str, where: str, problems: list[str]) -> tuple[str, dict[str, str]]:
    """Split "main; a=b; c*=utf-8''%C3%A9" into the lower-cased main value and decoded parameters
    (RFC 2045 §5.1, RFC 2183 §2, RFC 2231 §3-4)."""
    main, _, rest = value.partition(";")
    raw: dict[str, str] = {}
    for name, param in _split_params(rest):
        raw.setdefault(name, param)
    return main.strip().lower(), _combine_rfc2231(raw, where, problems)


def media_type(main: str) -> str | None:
    """The "type/subtype" if syntactically valid (RFC 2045 §5.1), else None."""
    return main if _MEDIA_TYPE.fullmatch(main) else None


def _split_params(text: str) -> list[tuple[str, str]]:
    """Parameters in order; each step moves past a ";" or a quoted string, so the scan is linear."""
    params: list[tuple[str, str]] = []
    pos, end = 0, len(text)
    while pos < end:
        head = _PARAM_NAME.match(text, pos)
        assert head is not None  # every part of the pattern may match empty
        pos = head.end()
        if text.startswith('"', pos):
            quoted = _QUOTED.match(text, pos)
            assert quoted is not None  # '"' alone matches
            value, pos = _QUOTED_PAIR.sub(r"\1", quoted.group(1)), quoted.end()
            stop = text.find(";", pos)
        else:
            stop = text.find(";", pos)
            value = text[pos : stop if stop >= 0 else end].strip()
        if head.group(1) and head.group(2):
            params.append((head.group(1).lower(), value))
        pos = end if stop < 0 else stop + 1
    return params


def _combine_rfc2231(raw: dict[str, str], where: str, problems: list[str]) -> dict[str, str]:
    """Join RFC 2231 continuations ("name*0*", "name*1") and decode "charset'lang'%XX" values.
    A value in RFC 2231 form wins over a plain one of the same name."""
    plain: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[bool, str]]] = {}
    for name, value in raw.items():
        match = _RFC2231_NAME.fullmatch(name)
        if match is None or (match.group(2) is None and match.group(3) is None):
            plain[name] = value
            continue
        number = int(match.group(2) or 0)
        sections.setdefault(match.group(1), {})[number] = (match.group(3) is not None, value)
    for base, parts in sections.items():
        plain[base] = _decode_sections([parts[n] for n in sorted(parts)], f"{base} in {where}", problems)
    return plain


def _decode_sections(parts: list[tuple[bool, str]], where: str, problems: list[str]) -> str:
    charset: str | None = None
    pieces: list[bytes] = []
    for index, (encoded, value) in enumerate(parts):
        if encoded and index == 0 and value.count("'") >= 2:
            label, _, value = value.split("'", 2)
            charset = label or None
        pieces.append(unquote_to_bytes(value) if encoded else value.encode("utf-8"))
    return decode_bytes(b"".join(pieces), charset, where, problems)


def message_ids(text: str) -> tuple[str, ...]:
    """Message ids without angle brackets (RFC 5322 §3.6.4); bare tokens if none is bracketed.
    Whitespace (which folding may leave inside an id) and control characters are removed."""
    found = _MSG_ID.findall(text) or text.split()
    cleaned = (_ID_JUNK.sub("", item)[:998] for item in found)
    return tuple(item for item in cleaned if item)


def parse_date(text: str) -> datetime | None:
    """An RFC 5322 §3.3 date (obsolete forms included) as an aware UTC datetime, or None."""
    try:
        parts = parsedate_tz(text)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        offset = timezone(timedelta(seconds=parts[9] or 0))
        local = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=offset)
        return local.astimezone(UTC)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
