"""Header-level building blocks of the parser: RFC 2047 words, RFC 2231 parameters, addresses,
dates, message ids and control-character escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.mime.addresses import Address, parse_addresses
from app.mime.charset import clean_body_text, decode_bytes, escape_control_chars, resolve_charset
from app.mime.headers import (
    decode_words,
    header_str,
    message_ids,
    parse_content_field,
    parse_date,
    split_fields,
)


def _words(text: str) -> tuple[str, list[str]]:
    problems: list[str] = []
    return decode_words(text, "the Subject header", problems), problems


# escape_control_chars


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("tab\there", "tab here"),
        ("a\r\nBcc: x", "a\\u000d\\u000aBcc: x"),
        ("nul\x00", "nul\\u0000"),
        ("del\x7f c1\x85", "del\\u007f c1\\u0085"),
        ("line\u2028sep", "line\\u2028sep"),
        ("invoice\u202efdp.exe", "invoice\\u202efdp.exe"),
        ("isolate\u2066x\u2069", "isolate\\u2066x\\u2069"),
        ("Grüße 東京", "Grüße 東京"),
    ],
)
def test_escape_control_chars_makes_controls_visible(raw: str, shown: str) -> None:
    assert escape_control_chars(raw) == shown


def test_clean_body_text_keeps_newlines_and_tabs_and_replaces_other_controls() -> None:
    assert clean_body_text("a\r\nb\rc\td\x00e\x0cf\x85") == "a\nb\nc\td\ufffde\nf\ufffd"


# RFC 2047 encoded words


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"),
        ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
        ("=?iso-8859-1?q?caf=E9?=", "café"),
        ("=?ISO-8859-15?Q?=A4uro?=", "€uro"),
        ("=?windows-1251?b?7+Xw4g==?=", "перв"),
        ("=?windows-1252?q?=93quoted=94?=", "“quoted”"),
        ("=?utf-8*en?q?lang_tag?=", "lang tag"),  # RFC 2231 §5 language suffix
        ("Re: =?utf-8?q?a?= =?utf-8?q?b?= end", "Re: ab end"),  # RFC 2047 §6.2
        ("=?utf-8?q?a?= text =?utf-8?q?b?=", "a text b"),
    ],
)
def test_encoded_words_are_decoded(raw: str, decoded: str) -> None:
    assert _words(raw) == (decoded, [])


def test_multibyte_character_split_across_words_is_joined() -> None:
    # "é" is C3 A9; senders that cut encoded words at a byte count split it in two.
    assert _words("=?utf-8?b?ww==?= =?utf-8?b?qQ==?=") == ("é", [])
    assert _words("=?utf-8?q?=C3?=\t=?utf-8?q?=A9?=") == ("é", [])


def test_base64_word_with_missing_padding_is_decoded() -> None:
    assert _words("=?utf-8?b?Y2Fmw6k?=")[0] == "café"


def test_unknown_charset_in_word_is_decoded_as_latin1_and_reported() -> None:
    decoded, problems = _words("=?x-foo?q?caf=E9?=")
    assert decoded == "café"
    assert problems == ["unknown charset 'x-foo' in the Subject header, decoded as latin-1"]


@pytest.mark.parametrize(
    "raw",
    ["=?utf-8?x?abc?=", "=?utf-8?q?unterminated", "=??q?a?=", "=?utf-8?b?", "=?", "?=", "=?=?=?"],
)
def test_malformed_encoded_words_stay_as_text(raw: str) -> None:
    assert _words(raw) == (raw, [])


def test_python_codecs_that_are_not_charsets_are_refused() -> None:
    for label in ("unicode_escape", "raw-unicode-escape", "rot13", "zlib", "base64", "idna", "x" * 200):
        assert resolve_charset(label) is None


def test_latin1_label_is_read_as_windows_1252() -> None:
    problems: list[str] = []
    assert decode_bytes(b"don\x92t", "iso-8859-1", "part 1", problems) == "don’t"
    assert problems == []


# Header fields


def test_split_fields_unfolds_and_lowercases_names() -> None:
    fields, malformed = split_fields(b"Subject: a\r\n  b\r\nX-Empty:\r\nFrom : c@d\r\nnot a header\r\n")
    assert fields == {"subject": [b" a\r\n  b"], "x-empty": [b""], "from": [b" c@d"]}
    assert malformed == 1
    assert header_str(fields["subject"][0], "the Subject header", []) == "a  b"


def test_lone_cr_does_not_end_a_field() -> None:
    fields, _ = split_fields(b"Subject: hi\rBcc: evil@x.com\r\n")
    assert list(fields) == ["subject"]


def test_raw_utf8_header_is_utf8_and_other_8bit_is_latin1() -> None:
    problems: list[str] = []
    assert header_str(" Grüße".encode(), "the Subject header", problems) == "Grüße"
    assert header_str(b" Gr\xfc\xdfe", "the Subject header", problems) == "Grüße"
    assert problems == ["the Subject header has 8-bit text that is not UTF-8; decoded as latin-1"]


# Parameters (RFC 2045 §5.1, RFC 2231)


def _params(value: str) -> tuple[str, dict[str, str], list[str]]:
    problems: list[str] = []
    main, params = parse_content_field(value, "part 1", problems)
    return main, params, problems


def test_parameters_quoted_unquoted_and_escaped() -> None:
    main, params, _ = _params('Text/Plain; Charset="UTF-8"; format=flowed ;name="a \\"b\\"; c.txt"')
    assert main == "text/plain"
    assert params == {"charset": "UTF-8", "format": "flowed", "name": 'a "b"; c.txt'}


def test_rfc2231_continuations_and_charset_are_joined_and_decoded() -> None:
    value = "attachment; filename*0*=UTF-8'de'Befund%20f%C3%BCr; filename*1=\" Herrn\"; filename*2*=%20M.pdf"
    assert _params(value)[1]["filename"] == "Befund für Herrn M.pdf"


def test_rfc2231_value_wins_over_plain_value() -> None:
    assert _params("attachment; filename=fallback.pdf; filename*=utf-8''r%C3%A9el.pdf")[1] == {"filename": "réel.pdf"}


def test_rfc2231_unknown_charset_is_reported() -> None:
    _, params, problems = _params("attachment; filename*=x-foo''caf%E9.txt")
    assert params["filename"] == "café.txt"
    assert problems == ["unknown charset 'x-foo' in filename in part 1, decoded as latin-1"]


def test_unterminated_quote_takes_the_rest() -> None:
    assert _params('attachment; filename="open.pdf')[1] == {"filename": "open.pdf"}


# Addresses (RFC 5322 §3.4)


def _addresses(text: str) -> tuple[Address, ...]:
    return parse_addresses(text, "the To header", [])


def test_display_name_that_looks_like_an_address_stays_a_name() -> None:
    assert _addresses('"boss@clinic.org" <evil@x.com>') == (Address("boss@clinic.org", "evil@x.com"),)


def test_encoded_display_name_cannot_add_an_address() -> None:
    found = _addresses("=?utf-8?q?a_=3Cx=40y=2Ez=3E=2C_b=40c=2Ed?= <real@clinic.org>")
    assert found == (Address("a <x@y.z>, b@c.d", "real@clinic.org"),)


def test_encoded_crlf_in_display_name_is_escaped() -> None:
    (found,) = _addresses("=?utf-8?q?Eve=0D=0ABcc:_x?= <eve@x.com>")
    assert found == Address("Eve\\u000d\\u000aBcc: x", "eve@x.com")


def test_address_list_forms() -> None:
    text = 'a@b.c, "Q, R" <q@r.s>, Team: x@y.z, (Comment) y@z.a;, c@d.e (Carol), <bare@x.y>, John Q. Public <j@p.q>'
    assert _addresses(text) == (
        Address("", "a@b.c"),
        Address("Q, R", "q@r.s"),
        Address("", "x@y.z"),
        Address("Comment", "y@z.a"),
        Address("Carol", "c@d.e"),
        Address("", "bare@x.y"),
        Address("John Q. Public", "j@p.q"),
    )


def test_empty_group_and_junk_yield_no_addresses() -> None:
    assert _addresses("undisclosed-recipients:;") == ()
    assert _addresses(" , ;, <>") == ()


def test_quoted_local_part_and_source_route_are_kept_and_dropped() -> None:
    assert _addresses('"john smith"@example.org') == (Address("", '"john smith"@example.org'),)
    assert _addresses("<@relay1,@relay2:user@host.org>") == (Address("", "user@host.org"),)


def test_unclosed_angle_bracket_recovers_at_comma() -> None:
    assert _addresses("A <a@b.c, d@e.f") == (Address("A", "a@b.c"), Address("", "d@e.f"))


def test_nested_comments_are_skipped() -> None:
    assert _addresses("x@y.z (outer (inner) tail)") == (Address("outer (inner) tail", "x@y.z"),)


# Dates and ids


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tue, 1 Jul 2003 10:52:37 +0200", datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)),
        ("1 Jul 03 10:52 EST", datetime(2003, 7, 1, 15, 52, tzinfo=UTC)),
        ("Tue, 1 Jul 2003 10:52:60 -0000", datetime(2003, 7, 1, 10, 52, 59, tzinfo=UTC)),
    ],
)
def test_dates_are_read_as_utc(raw: str, expected: datetime) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "yesterday", "31 Feb 2020 10:00 +0000", "1 Jan 99999 00:00 +0000", "1 Jan 2020 00:00 +9999"]
)
def test_impossible_dates_are_none(raw: str) -> None:
    assert parse_date(raw) is None


def test_message_ids_lose_brackets_whitespace_and_controls() -> None:
    assert message_ids("<a@b> (comment) <c\r\n @d>\t<e\x00f@g>") == ("a@b", "c@d", "ef@g")
    assert message_ids("bare-id@host") == ("bare-id@host",)
    assert message_ids("<>") == ("<>",)
