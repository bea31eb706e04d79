"""Property tests: the parser survives anything and never lets a control character out."""

from __future__ import annotations

import base64
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from app.mime.charset import escape_control_chars
from app.mime.headers import decode_words, parse_content_field
from app.mime.html_text import html_to_text
from app.mime.parse import ParsedMessage, parse_message
from app.mime.transfer import b64decode_lenient

# Everything a one-line field must not contain live: C0 (TAB included, it becomes a space), DEL,
# C1, the Unicode line and paragraph separators and the bidi embeddings, overrides and isolates.
_LIVE_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BODY_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "x-foo", "utf-16", "utf-7", "iso-2022-jp", "rot13", ""]
_SPECIALS = ['"', "<", ">", ",", ";", ":", "(", ")", "\\", "\r", "\n", "\x00", "\r\n ", "@", "=?", "?=", "*0*=", "'"]
_HEADER_NAMES = [
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Autocrypt", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "X-Other", "Bad Name",
]  # fmt: skip
_MEDIA = [
    "text/plain",
    "text/html",
    "application/pdf",
    "message/rfc822",
    "image/png",
    "garbage",
    "application/pkcs7-mime",
]
_MULTIPART = ["multipart/mixed", "multipart/alternative", "multipart/signed", "multipart/encrypted", "multipart/digest"]
_CTE = ["7bit", "8bit", "base64", "quoted-printable", "x-unknown", "binary"]


def _encoded_word(charset: str, encoding: str, payload: bytes) -> str:
    text = base64.b64encode(payload).decode() if encoding in "bB" else payload.decode("latin-1")
    return f"=?{charset}?{encoding}?{text}?="


_WORDS = st.builds(_encoded_word, st.sampled_from(_CHARSETS), st.sampled_from("bBqQx"), st.binary(max_size=12))
_VALUES = st.lists(st.one_of(_WORDS, st.text(max_size=12), st.sampled_from(_SPECIALS)), max_size=10).map("".join)
_PARAMS = st.lists(
    st.tuples(st.sampled_from(["charset", "name", "filename", "filename*", "name*0*", "boundary", "format"]), _VALUES),
    max_size=3,
).map(lambda params: "".join(f"; {name}={value}" for name, value in params))


@st.composite
def _header_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(_HEADER_NAMES))
        value = draw(_VALUES) + (draw(_PARAMS) if name.startswith("Content") else "")
        raw = value.encode("utf-8") if draw(st.booleans()) else draw(st.binary(max_size=20))
        lines.append(name.encode() + b": " + raw + b"\r\n")
    return b"".join(lines)


@st.composite
def _leaf(draw: st.DrawFn) -> bytes:
    media = draw(st.sampled_from(_MEDIA)) + draw(_PARAMS)
    cte = draw(st.sampled_from(_CTE))
    body = draw(st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)))
    if cte == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    head = draw(_header_lines()) + f"Content-Type: {media}\r\nContent-Transfer-Encoding: {cte}\r\n".encode()
    return head + b"\r\n" + body


@st.composite
def _multipart(draw: st.DrawFn, children: st.SearchStrategy[list[bytes]]) -> bytes:
    boundary = draw(st.text(alphabet="ab- '", max_size=4))
    used = boundary if draw(st.integers(0, 9)) else draw(st.text(alphabet="ab", max_size=2))
    media = draw(st.sampled_from(_MULTIPART))
    body = b"".join(b"--" + used.encode() + b"\r\n" + kid + b"\r\n" for kid in draw(children))
    if draw(st.booleans()):
        body += b"--" + used.encode() + b"--\r\n"
    head = draw(_header_lines()) + f'Content-Type: {media}; boundary="{boundary}"\r\n'.encode()
    return head + b"\r\n" + draw(st.binary(max_size=8)) + b"\r\n" + body


_ENTITIES = st.recursive(_leaf(), lambda kids: _multipart(st.lists(kids, max_size=4)), max_leaves=8)


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    raw = draw(_header_lines()) + draw(_ENTITIES)
    return raw.replace(b"\r\n", b"\n") if draw(st.booleans()) else raw


def _one_line_fields(message: ParsedMessage) -> list[str]:
    addresses = [*message.sender, *message.to, *message.cc, *message.reply_to]
    return [
        message.subject,
        *(address.name for address in addresses),
        *(address.addr for address in addresses),
        message.message_id or "",
        message.in_reply_to or "",
        *message.references,
        message.autocrypt or "",
        *(attachment.filename for attachment in message.attachments),
        *(attachment.content_type for attachment in message.attachments),
        *message.problems,
    ]


def _assert_sound(message: ParsedMessage) -> None:
    assert not any(problem.startswith("internal parser error") for problem in message.problems)
    assert not any(_LIVE_CONTROL.search(value) for value in _one_line_fields(message))
    assert _BODY_CONTROL.search(message.text) is None
    assert message.date is None or message.date.utcoffset() is not None


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_parse_message_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _assert_sound(parse_message(raw))


@settings(max_examples=200)
@given(_messages())
def test_no_control_characters_in_any_header_field_of_mime_like_input(raw: bytes) -> None:
    _assert_sound(parse_message(raw))


@given(st.text())
def test_escape_control_chars_leaves_nothing_live_and_is_idempotent(text: str) -> None:
    escaped = escape_control_chars(text)
    assert _LIVE_CONTROL.search(escaped) is None
    assert escape_control_chars(escaped) == escaped


@given(_VALUES)
def test_header_decoders_never_raise(value: str) -> None:
    problems: list[str] = []
    decode_words(value, "the Subject header", problems)
    parse_content_field(value, "part 1", problems)


@given(st.binary(max_size=300))
def test_lenient_base64_reads_what_a_standard_encoder_wrote(data: bytes) -> None:
    assert b64decode_lenient(base64.encodebytes(data)) == (data, None)


_MARKUP = st.lists(st.sampled_from([*"<>/!-ab &;#x=\"' \n", "script", "style", "p", "br", "td", "<!--"]))


@given(_MARKUP.map("".join))
def test_html_to_text_gives_tidy_text(markup: str) -> None:
    text = html_to_text(markup)
    assert text == text.strip()
    assert "\n\n\n" not in text
