"""Turning untrusted bytes into safe text: charset decoding and control-character escaping.

Rules of this module:
- Nothing here raises on bad input. An unknown or broken charset is decoded as Latin-1 (read the
  WHATWG way, as windows-1252 where that is defined) and reported as a problem.
- Text for one-line fields (subjects, names, file names) goes through `escape_control_chars`, so no
  CR, LF, NUL, C1 control or bidirectional override from a message ever reaches a screen or a log
  as a live character.
- Problem strings quote message content only through `quote`, which escapes and shortens it.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache

# C0 controls except TAB (handled apart), DEL and C1 controls; U+2028/U+2029 break lines in many
# renderers; U+202A-U+202E and U+2066-U+2069 reorder text (the "invoice\u202efdp.exe" trick).
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

# Body text keeps LF and TAB but no other control character; CR, VT, FF and the Unicode line and
# paragraph separators become LF.
_BODY_ODD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_ODD_NEWLINE = re.compile("[\r\x0b\x0c\u2028\u2029]")
_BODY_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_ASCII_ODD = bytes(range(0x20)).translate(None, b"\t\n") + b"\x7f"

# Labels from messages are short tokens; anything else is not looked up at all.
_LABEL = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")

# Labels that mean "7-bit text" are treated as undeclared: such mail often carries UTF-8 anyway.
_UNDECLARED = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "646", "unknown-8bit"})

# Mail labels that Python spells differently, or that the WHATWG Encoding Standard maps to a
# superset (ISO-8859-1 is read as windows-1252 by every mail client; GB2312 as GBK/GB18030).
_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "x-sjis": "shift_jis",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
}

# Python text codecs that are not character sets a message may ask for.
_NOT_CHARSETS = frozenset({"raw-unicode-escape", "unicode-escape", "idna", "punycode", "undefined"})


def escape_control_chars(text: str) -> str:
    """Make control and bidi-override characters visible as `\\u000d`-style escapes; tabs become spaces."""
    text = text.replace("\t", " ")
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def clean_body_text(text: str) -> str:
    """Normalise line ends to LF and replace control characters other than LF and TAB with U+FFFD."""
    text = text.replace("\r\n", "\n")
    if not _needs_cleaning(text):
        return text
    return _BODY_CONTROL.sub("\ufffd", _ODD_NEWLINE.sub("\n", text))


def _needs_cleaning(text: str) -> bool:
    if text.isascii():  # the common case; checking bytes is several times faster than a regex
        data = text.encode("ascii")
        return len(data.translate(None, _ASCII_ODD)) != len(data)
    return _BODY_ODD.search(text) is not None


def quote(value: str, limit: int = 40) -> str:
    """Quote message-supplied text for a problem string: escaped and shortened."""
    value = escape_control_chars(value)
    if len(value) > limit:
        value = value[:limit] + "…"
    return f"'{value}'"


@lru_cache(maxsize=256)
def resolve_charset(label: str) -> str | None:
    """The Python codec name for a MIME charset label, or None if it is unknown or not a charset."""
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    if not _LABEL.fullmatch(name):
        return None
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    return codec if codec not in _NOT_CHARSETS and _is_text_codec(codec) else None


def _is_text_codec(codec: str) -> bool:
    """False for bytes-to-bytes codecs such as zlib and rot13, which `bytes.decode` refuses."""
    try:
        b"0".decode(codec)
    except LookupError:
        return False
    except (UnicodeError, ValueError):
        pass  # a text codec that merely dislikes this input, as UTF-16 does
    return True


def decode_bytes(data: bytes, label: str | None, where: str, problems: list[str]) -> str:
    """Decode `data` declared as charset `label` (RFC 2045 §5.1, RFC 2046 §4.1.2); never raises."""
    if label is None or label.strip().strip("\"'").lower() in _UNDECLARED:
        text, was_utf8 = _utf8_or_latin1(data)
        if not was_utf8:
            problems.append(f"8-bit text without a charset in {where}, decoded as latin-1")
        return text
    codec = resolve_charset(label)
    if codec is None:
        text, was_utf8 = _utf8_or_latin1(data)
        used = "UTF-8" if was_utf8 else "latin-1"
        problems.append(f"unknown charset {quote(label)} in {where}, decoded as {used}")
        return text
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError):
        problems.append(f"invalid {codec} text in {where}; undecodable bytes replaced")
    try:
        return data.decode(codec, errors="replace")
    except (UnicodeError, LookupError):
        return latin1(data)


def _utf8_or_latin1(data: bytes) -> tuple[str, bool]:
    """Text without a usable charset: UTF-8 if it is valid UTF-8 (RFC 6532 §3), else Latin-1."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return latin1(data), False


def latin1(data: bytes) -> str:
    """Latin-1 as mail clients read it: windows-1252 where defined, ISO-8859-1 for the five gaps."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")
