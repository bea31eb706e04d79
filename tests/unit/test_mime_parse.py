"""parse_message end to end: what a fetched message turns into, for good and hostile input."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest

from app.mime import parse as parse_module
from app.mime.parse import (
    Address,
    Attachment,
    ParseLimits,
    parse_message,
)


def _mail(*lines: str | bytes) -> bytes:
    """A message from lines joined with CRLF; str lines are UTF-8."""
    return b"\r\n".join(line.encode() if isinstance(line, str) else line for line in lines)


_FROM = "From: Dr. A <a@clinic.org>"


def _multipart(media: str, *parts: str, boundary: str = "BOUND", head: tuple[str, ...] = ()) -> bytes:
    body = [f"--{boundary}\r\n{part}\r\n" for part in parts]
    return _mail(_FROM, *head, f'Content-Type: {media}; boundary="{boundary}"', "", "".join(body) + f"--{boundary}--")


# Envelope


def test_envelope_fields_are_decoded() -> None:
    message = parse_message(
        _mail(
            "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <jorg@example.org>",
            'To: "Desk" <desk@clinic.org>, nurse@clinic.org',
            "Cc: Lab <lab@clinic.org>",
            "Reply-To: replies@clinic.org",
            "Subject: =?utf-8?b?QmVmdW5kIGbDvHI=?= Patient",
            "Date: Tue, 1 Jul 2003 10:52:37 +0200",
            "Message-ID: <123@example.org>",
            "In-Reply-To: <122@example.org>",
            "References: <121@example.org>\r\n <122@example.org>",
            "",
            "Hello",
        )
    )
    assert message.sender == (Address("Jörg Müller", "jorg@example.org"),)
    assert message.to == (Address("Desk", "desk@clinic.org"), Address("", "nurse@clinic.org"))
    assert message.cc == (Address("Lab", "lab@clinic.org"),)
    assert message.reply_to == (Address("", "replies@clinic.org"),)
    assert message.subject == "Befund für Patient"
    assert message.date == datetime(2003, 7, 1, 8, 52, 37, tzinfo=UTC)
    assert (message.message_id, message.in_reply_to) == ("123@example.org", "122@example.org")
    assert message.references == ("121@example.org", "122@example.org")
    assert (message.text, message.html, message.attachments, message.problems) == ("Hello", None, (), ())


def test_encoded_crlf_in_subject_cannot_inject_a_header() -> None:
    message = parse_message(_mail(_FROM, "Subject: =?utf-8?q?a=0D=0ABcc:_x?=", "", "body"))
    assert message.subject == "a\\u000d\\u000aBcc: x"


def test_bare_cr_and_nul_in_headers_are_escaped() -> None:
    message = parse_message(_mail(_FROM, b"Subject: hi\rBcc: evil@x.com\x00", "", "body"))
    assert message.subject == "hi\\u000dBcc: evil@x.com\\u0000"


def test_duplicate_from_uses_the_first_and_reports_it() -> None:
    message = parse_message(_mail("From: a@clinic.org", "From: b@evil.com", "", "x"))
    assert message.sender == (Address("", "a@clinic.org"),)
    assert message.problems == ("the message has 2 From headers; the first is used",)


def test_missing_or_empty_from_is_reported() -> None:
    assert parse_message(b"Subject: x\r\n\r\ny").problems == ("the message has no From header",)
    assert parse_message(b"From: Nobody\r\n\r\ny").problems == ("the From header has no address",)


def test_repeated_to_fields_are_merged() -> None:
    message = parse_message(_mail(_FROM, "To: a@b.c", "To: d@e.f", "", "x"))
    assert [address.addr for address in message.to] == ["a@b.c", "d@e.f"]


def test_unreadable_date_is_none_and_reported() -> None:
    message = parse_message(_mail(_FROM, "Date: someday", "", "x"))
    assert message.date is None
    assert message.problems == ("the Date header cannot be read",)


def test_autocrypt_only_when_exactly_one() -> None:
    one = parse_message(_mail(_FROM, "Autocrypt: addr=a@clinic.org; keydata=QUJD\r\n REVG", "", "x"))
    assert one.autocrypt == "addr=a@clinic.org; keydata=QUJD REVG"
    two = parse_message(_mail(_FROM, "Autocrypt: addr=a@x; keydata=A", "Autocrypt: addr=a@x; keydata=B", "", "x"))
    assert two.autocrypt is None
    assert two.problems == ("the message has 2 Autocrypt headers; none is used",)
    assert parse_message(_mail(_FROM, "", "x")).autocrypt is None


# Bodies


def test_quoted_printable_utf8_body() -> None:
    raw = _mail(
        _FROM,
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "caf=C3=A9 =\r\nau lait",
    )
    assert parse_message(raw).text == "café au lait"


def test_base64_body_with_garbage_and_missing_padding_is_recovered() -> None:
    raw = _mail(_FROM, "Content-Transfer-Encoding: base64", "", "SGVs!bG8g\r\nd29y*bGQ")
    message = parse_message(raw)
    assert message.text == "Hello world"
    assert message.problems == ("damaged base64 in part 1: characters outside the base64 alphabet were skipped",)


def test_unknown_body_charset_falls_back_to_latin1_and_names_the_part() -> None:
    raw = _multipart(
        "multipart/mixed",
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nfirst\r\n--inner\r\n"
        "Content-Type: text/plain; charset=x-foo\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "caf=E9\r\n--inner--",
    )
    message = parse_message(raw)
    assert message.problems == ("unknown charset 'x-foo' in part 1.2, decoded as latin-1",)
    assert message.text == "first"  # the second branch of the alternative is the same content


def test_8bit_body_without_charset_is_utf8_else_latin1() -> None:
    assert parse_message(_mail(_FROM, "", "Grüße".encode())).text == "Grüße"
    message = parse_message(_mail(_FROM, "", b"Gr\xfc\xdfe"))
    assert message.text == "Grüße"
    assert message.problems == ("8-bit text without a charset in part 1, decoded as latin-1",)


def test_invalid_bytes_in_declared_charset_are_replaced_and_reported() -> None:
    message = parse_message(_mail(_FROM, "Content-Type: text/plain; charset=utf-8", "", b"ok \xff end"))
    assert message.text == "ok \ufffd end"
    assert message.problems == ("invalid utf-8 text in part 1; undecodable bytes replaced",)


def test_body_line_ends_and_controls_are_cleaned() -> None:
    assert parse_message(_mail(_FROM, "", b"a\x00b\r\nc\rd")).text == "a\ufffdb\nc\nd"


def test_html_only_message_gives_text_and_untouched_html() -> None:
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><p>Hello&nbsp;<b>world</b></p>"
        "<script>alert(1)</script><div>caf&eacute; &lt;ok&gt;</div></body></html>"
    )
    message = parse_message(_mail(_FROM, "Content-Type: text/html; charset=utf-8", "", html))
    assert message.text == "Hello world\n\ncafé <ok>"
    assert message.html == html


def test_alternative_takes_text_from_plain_and_html_from_html() -> None:
    raw = _multipart(
        "multipart/alternative",
        "Content-Type: text/plain\r\n\r\nplain version",
        "Content-Type: text/html\r\n\r\n<p>html version</p>",
    )
    message = parse_message(raw)
    assert (message.text, message.html) == ("plain version", "<p>html version</p>")


def test_empty_plain_alternative_falls_back_to_html() -> None:
    raw = _multipart(
        "multipart/alternative", "Content-Type: text/plain\r\n\r\n  ", "Content-Type: text/html\r\n\r\n<p>only</p>"
    )
    assert parse_message(raw).text == "only"


def test_plain_parts_of_mixed_are_joined() -> None:
    raw = _multipart("multipart/mixed", "\r\nfirst", "Content-Type: text/plain\r\n\r\nsecond")
    assert parse_message(raw).text == "first\n\nsecond"


def test_html_charset_from_meta_when_mime_has_none() -> None:
    raw = _mail(_FROM, "Content-Type: text/html", "", b'<meta charset="iso-8859-2"><p>\xb1</p>')
    assert parse_message(raw).text == "ą"


def test_format_flowed_is_unflowed() -> None:
    raw = _mail(
        _FROM, "Content-Type: text/plain; format=flowed; delsp=yes", "", "long par ", "agraph", "> quo ", "> ted"
    )
    assert parse_message(raw).text == "long paragraph\n> quoted"


def test_unknown_transfer_encoding_is_an_opaque_attachment() -> None:
    message = parse_message(_mail(_FROM, "Content-Transfer-Encoding: x-uuencode", "", "begin 644 x"))
    assert message.text == ""
    assert message.attachments == (Attachment("", "application/octet-stream", 11, "1"),)
    assert message.problems == ("unknown transfer encoding 'x-uuencode' in part 1; content kept undecoded",)


def test_text_over_the_limit_is_truncated_and_reported() -> None:
    message = parse_message(_mail(_FROM, "", "x" * 50), ParseLimits(max_text_chars=10))
    assert message.text == "x" * 10
    assert message.problems == ("the body text is longer than 10 characters; the rest is not shown",)


# Attachments


def test_attachments_by_disposition_filename_and_type() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 data").decode()
    raw = _multipart(
        "multipart/mixed",
        "Content-Type: text/plain\r\n\r\nbody",
        f'Content-Type: application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}',
        'Content-Type: text/plain\r\nContent-Disposition: inline; filename="notes.txt"\r\n\r\nnotes',
        "Content-Type: text/html\r\nContent-Disposition: attachment\r\n\r\n<p>x</p>",
        "Content-Type: image/png\r\nContent-ID: <img1>\r\n\r\nPNG",
        "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR",
    )
    message = parse_message(raw)
    assert message.text == "body"
    assert message.html is None
    assert message.attachments == (
        Attachment("r.pdf", "application/pdf", 13, "2"),
        Attachment("notes.txt", "text/plain", 5, "3"),
        Attachment("", "text/html", 8, "4"),
        Attachment("", "image/png", 3, "5"),
        Attachment("", "text/calendar", 15, "6"),
    )


def test_filenames_in_rfc2231_and_rfc2047_forms() -> None:
    raw = _multipart(
        "multipart/mixed",
        "Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
        " filename*0*=utf-8''Befund%20f%C3%BCr;\r\n filename*1=\" M.pdf\"",
        'Content-Type: application/pdf; name="=?utf-8?B?w6RyenRsaWNoLnBkZg==?="',
    )
    names = [attachment.filename for attachment in parse_message(raw).attachments]
    assert names == ["Befund für M.pdf", "ärztlich.pdf"]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\report.pdf", "report.pdf"),
        ("invoice\u202efdp.exe", "invoice\\u202efdp.exe"),
        ("a\x00b.txt", "a\\u0000b.txt"),
        ("..", ""),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_filenames_are_made_safe_to_show(given: str, shown: str) -> None:
    assert parse_module.safe_filename(given) == shown


def test_part_numbers_follow_imap() -> None:
    raw = _multipart(
        "multipart/mixed",
        "Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n\r\nplain\r\n--alt\r\n"
        "Content-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n"
        "--rel\r\nContent-Type: image/gif\r\n\r\nGIF\r\n--rel--\r\n--alt--",
        "Content-Type: application/zip\r\n\r\nZIP",
    )
    assert [attachment.part for attachment in parse_message(raw).attachments] == ["1.2.2", "2"]
    single = parse_message(_mail(_FROM, "Content-Type: application/pdf", "", "PDF"))
    assert single.attachments == (Attachment("", "application/pdf", 3, "1"),)


def test_forwarded_message_is_an_attachment_and_not_opened() -> None:
    inner = "From: x@y.z\r\nSubject: inner\r\n\r\ninner body"
    raw = _multipart("multipart/mixed", "\r\nouter body", f"Content-Type: message/rfc822\r\n\r\n{inner}")
    message = parse_message(raw)
    assert message.text == "outer body"
    assert message.attachments == (Attachment("", "message/rfc822", len(inner), "2"),)


def test_digest_parts_default_to_message_rfc822() -> None:
    raw = _multipart("multipart/digest", "\r\nFrom: a@b.c\r\n\r\none", "\r\nFrom: d@e.f\r\n\r\ntwo")
    assert [a.content_type for a in parse_message(raw).attachments] == ["message/rfc822"] * 2


# Structure


def test_lf_only_message_parses() -> None:
    raw = b"From: a@b.c\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n"
    assert parse_message(raw).text == "one\n\ntwo"


def test_preamble_epilogue_and_transport_padding() -> None:
    raw = _mail(
        _FROM, "Content-Type: multipart/mixed; boundary=b", "", "preamble", "--b  \t", "", "one", "--b-- ", "epilogue"
    )
    assert parse_message(raw).text == "one"


def test_longer_boundary_with_the_same_prefix_is_not_a_delimiter() -> None:
    raw = _mail(_FROM, "Content-Type: multipart/mixed; boundary=b", "", "--b", "", "one", "--bb", "still one", "--b--")
    assert parse_message(raw).text == "one\n--bb\nstill one"


def test_missing_boundary_parameter_shows_the_body_as_text() -> None:
    message = parse_message(_mail(_FROM, "Content-Type: multipart/mixed", "", "just text"))
    assert message.text == "just text"
    assert message.problems == ("the message is multipart but has no boundary; shown as plain text",)


def test_boundary_that_never_occurs_shows_the_body_as_text() -> None:
    message = parse_message(_mail(_FROM, "Content-Type: multipart/mixed; boundary=zz", "", "just text"))
    assert message.text == "just text"
    assert message.problems == ("the boundary of the message never occurs; shown as plain text",)


def test_missing_closing_boundary_keeps_the_last_part() -> None:
    message = parse_message(_mail(_FROM, "Content-Type: multipart/mixed; boundary=b", "", "--b", "", "cut off"))
    assert message.text == "cut off"
    assert message.problems == ("the message has no closing boundary; the message may be truncated",)


def test_part_without_headers_is_plain_text() -> None:
    raw = _mail(_FROM, "Content-Type: multipart/mixed; boundary=b", "", "--b", "no header block", "--b--")
    message = parse_message(raw)
    assert message.text == "no header block"
    assert message.problems == ("the headers of part 1 are missing; the content is shown as text",)


def test_invalid_content_type_is_plain_text() -> None:
    message = parse_message(_mail(_FROM, "Content-Type: garbage", "", "text"))
    assert message.text == "text"
    assert message.problems == ("the Content-Type of the message is invalid; treated as text/plain",)


def test_mbox_from_line_is_not_damage() -> None:
    message = parse_message(b"From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\nSubject: s\n\nbody")
    assert (message.subject, message.text, message.problems) == ("s", "body", ())


# Signed and encrypted structure


def test_multipart_signed_is_signed_and_hides_its_signature() -> None:
    raw = _multipart(
        'multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256',
        "Content-Type: text/plain\r\n\r\nsigned text",
        "Content-Type: application/pgp-signature; name=signature.asc\r\n\r\n-----BEGIN PGP SIGNATURE-----",
    )
    message = parse_message(raw)
    assert (message.is_signed, message.is_encrypted, message.text, message.attachments) == (
        True,
        False,
        "signed text",
        (),
    )


def test_multipart_encrypted_is_encrypted_and_shows_no_parts() -> None:
    raw = _multipart(
        'multipart/encrypted; protocol="application/pgp-encrypted"',
        "Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1",
        "Content-Type: application/octet-stream; name=encrypted.asc\r\n\r\n-----BEGIN PGP MESSAGE-----",
    )
    message = parse_message(raw)
    assert (message.is_encrypted, message.is_signed, message.attachments) == (True, False, ())


@pytest.mark.parametrize(
    ("smime_type", "encrypted", "signed"),
    [
        ("; smime-type=enveloped-data", True, False),
        ("; smime-type=authEnveloped-data", True, False),
        ("", True, False),
        ("; smime-type=signed-data", False, True),
        ("; smime-type=compressed-data", False, False),
    ],
)
def test_pkcs7_mime_kinds(smime_type: str, encrypted: bool, signed: bool) -> None:
    raw = _mail(_FROM, f"Content-Type: application/pkcs7-mime{smime_type}; name=smime.p7m", "", "MIAGCSqG")
    message = parse_message(raw)
    assert (message.is_encrypted, message.is_signed, message.attachments) == (encrypted, signed, ())


def test_encrypted_message_with_broken_structure_is_still_encrypted() -> None:
    raw = _mail(_FROM, "Content-Type: multipart/encrypted", "", "-----BEGIN PGP MESSAGE-----")
    message = parse_message(raw)
    assert (message.is_encrypted, message.text) == (True, "-----BEGIN PGP MESSAGE-----")


def test_signed_part_below_the_top_is_not_reported_as_signed() -> None:
    raw = _multipart(
        "multipart/mixed",
        "Content-Type: multipart/signed; boundary=s\r\n\r\n--s\r\n\r\ntext\r\n--s\r\n"
        "Content-Type: application/pgp-signature\r\n\r\nSIG\r\n--s--",
        "\r\nlist footer",
    )
    message = parse_message(raw)
    assert message.is_signed is False
    assert message.attachments == (Attachment("", "application/pgp-signature", 3, "1.2"),)


# Hostile input


def _nested(levels: int) -> bytes:
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(levels))
    tail = "".join(f"\r\n--b{i}--" for i in reversed(range(levels)))
    return _mail(_FROM, head + "Content-Type: text/plain\r\n\r\ndeep" + tail)


def test_300_level_nesting_is_cut_quickly() -> None:
    start = time.perf_counter()
    message = parse_message(_nested(300))
    assert time.perf_counter() - start < 0.1
    assert message.problems == ("MIME nesting deeper than 40 levels; inner parts not shown",)


def test_nesting_within_the_limit_is_shown() -> None:
    assert parse_message(_nested(39)).text == "deep"


def test_10000_parts_are_capped() -> None:
    parts = "--x\r\nContent-Type: application/octet-stream\r\n\r\nA\r\n" * 10_000
    raw = _mail(_FROM, "Content-Type: multipart/mixed; boundary=x", "", parts + "--x--")
    message = parse_message(raw)
    assert len(message.attachments) == 499  # the top multipart is the 500th entity
    assert message.problems == ("more than 500 MIME parts; the rest are not shown",)


def test_huge_header_block_is_capped_and_the_body_still_read() -> None:
    raw = _mail(_FROM, b"Subject: " + b"A" * 1_000_000, "", "body")
    message = parse_message(raw, ParseLimits(max_header_bytes=1000))
    assert message.text == "body"
    assert message.subject == "A" * (1000 - len(_FROM) - 11)
    assert message.problems == ("the headers of the message are larger than 1000 bytes; the rest is ignored",)


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00" * 1000, b"\r\n\r\n", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, b"\xff\xfe\x00\x00", b":\n:\n\n"],
)
def test_empty_and_non_mail_input_never_raises(raw: bytes) -> None:
    message = parse_message(raw)
    assert not any("internal parser error" in problem for problem in message.problems)


def test_problem_list_is_capped() -> None:
    parts = [f"Content-Type: text/plain; charset=x-{i}\r\n\r\ntext {i}" for i in range(60)]
    message = parse_message(_multipart("multipart/mixed", *parts), ParseLimits(max_problems=20))
    assert len(message.problems) == 21
    assert message.problems[-1] == "40 more problems are not listed"


def test_unexpected_error_keeps_a_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(parse_module, "walk", broken)
    message = parse_message(b"From: a@b.c\r\n\r\nx")
    assert message.problems == ("internal parser error (RuntimeError); only the raw message is kept",)


def test_memory_error_is_not_swallowed(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: object) -> None:
        raise MemoryError

    monkeypatch.setattr(parse_module, "walk", exhausted)
    with pytest.raises(MemoryError):
        parse_message(b"From: a@b.c\r\n\r\nx")
