"""Body-level building blocks: transfer decoding, HTML to text and format=flowed."""

from __future__ import annotations

import time

import pytest

from app.mime.flowed import unflow
from app.mime.html_text import html_to_text
from app.mime.transfer import b64decode_lenient, decode_transfer, normalise_cte, qp_decode

# Transfer encodings (RFC 2045 §6)


@pytest.mark.parametrize(
    ("encoded", "decoded", "damage"),
    [
        (b"SGVsbG8=", b"Hello", None),
        (b"SGVs\r\nbG8=\r\n", b"Hello", None),
        (b"SGVsbG8", b"Hello", None),
        (b"SGVs!bG8=", b"Hello", "characters outside the base64 alphabet were skipped"),
        (b"SGVsbG8=SGVs", b"Hello", "data after base64 padding was ignored"),
        (b"SGVsbG8gS", b"Hello ", "a truncated base64 group was dropped"),
        (b"", b"", None),
        (b"====", b"", None),
        (b"!!!", b"", "characters outside the base64 alphabet were skipped"),
    ],
)
def test_lenient_base64(encoded: bytes, decoded: bytes, damage: str | None) -> None:
    assert b64decode_lenient(encoded) == (decoded, damage)


def test_quoted_printable_soft_breaks_and_bad_escapes() -> None:
    assert qp_decode(b"caf=C3=A9 =\r\nau=\nlait =ZZ =4") == b"caf\xc3\xa9 aulait =ZZ =4"
    assert qp_decode(b"a_b=5F", header=True) == b"a b_"


@pytest.mark.parametrize(
    ("value", "token"),
    [(None, ""), (" Base64 ", "base64"), ('"7bit"', "7bit"), ("quoted-printable (comment)", "quoted-printable")],
)
def test_transfer_encoding_token_is_normalised(value: str | None, token: str) -> None:
    assert normalise_cte(value) == token


@pytest.mark.parametrize("cte", ["", "7bit", "8bit", "binary", "8bits"])
def test_identity_encodings_leave_bytes_alone(cte: str) -> None:
    problems: list[str] = []
    assert decode_transfer(b"a=20\x00", cte, "part 1", problems) == b"a=20\x00"
    assert problems == []


# HTML to text


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("a<br>b<BR/>c", "a\nb\nc"),
        ("<table><tr><td>x</td><td>y</td></tr><tr><td>z</td></tr></table>", "x y\nz"),
        ("<b>bold</b>  and\n\n  <i>it</i>alic", "bold and italic"),
        ("&amp; &lt;tag&gt; &eacute; &#233; &#xE9; &nbsp;x &bogus;", "& <tag> é é é x &bogus;"),
        ("<script>var a = '<p>no</p>';</script>yes", "yes"),
        ("<STYLE type=text/css>p {}</STYLE>yes", "yes"),
        ("<head><title>hidden</title></head><body>shown</body>", "shown"),
        ("a<!-- hidden <p> -->b<!---->c<!-->d", "abcd"),
        ("<a href='x'>link</a> <img src=x alt=y>", "link"),
        ("<!DOCTYPE html><?xml x?><![CDATA[x]]>text", "text"),
        ("text <unclosed attr='", "text"),
        ("before<script>never closed", "before"),
        ("<p>x</p>\n\n\n<p></p><div></div><p>y</p>", "x\n\ny"),
        ("<div>a</div><div>b</div><ul><li>c</li><li>d</li></ul>e", "a\nb\n\nc\nd\n\ne"),
        ("<scripts>kept</scripts>", "kept"),
    ],
)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


@pytest.mark.parametrize(
    "markup",
    ["<a " * 100_000, "<!--" * 100_000, "<" * 300_000, "<a b='" * 50_000, "<script>" * 50_000, "&" * 300_000],
)
def test_html_to_text_is_linear_on_inputs_that_stall_html_parser(markup: str) -> None:
    start = time.perf_counter()
    html_to_text(markup)
    assert time.perf_counter() - start < 1.0


# format=flowed (RFC 3676)


@pytest.mark.parametrize(
    ("flowed", "delsp", "text"),
    [
        ("one \ntwo", False, "one two"),
        ("one \ntwo", True, "onetwo"),
        ("fixed\nlines", False, "fixed\nlines"),
        (" >stuffed\n From", False, ">stuffed\nFrom"),
        ("> a \n> b\n>> c \n>> d", False, "> a b\n>> c d"),
        ("> quoted \nnot quoted", False, "> quoted \nnot quoted"),
        ("-- \nsignature", False, "-- \nsignature"),
        ("trailing soft ", False, "trailing soft "),
    ],
)
def test_unflow(flowed: str, delsp: bool, text: str) -> None:
    assert unflow(flowed, delsp=delsp) == text
