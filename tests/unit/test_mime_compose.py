"""Building messages: what goes on the wire, that the parser reads it back, and that nothing can be injected."""

from __future__ import annotations

import base64
import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mime.addresses import Address
from app.mime.charset import clean_body_text, escape_control_chars
from app.mime.compose import (
    OBSCURED_SUBJECT,
    Draft,
    Hp,
    OutgoingAttachment,
    build_message,
    outer_headers,
    pgp_encrypted,
    pgp_signed,
    protected_body,
    smime_enveloped,
    smime_signed,
    with_headers,
)
from app.mime.headers import decode_words, split_fields
from app.mime.parse import parse_message
from app.mime.structure import DEFAULT_LIMITS, walk
from app.mime.transfer import decode_transfer

_SENDER = Address("Dr. Jörg Müller", "joerg@clinic.example")
_ARMORED = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA0data\n=abcd\n-----END PGP MESSAGE-----\n"
_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAd\n=wxyz\n-----END PGP SIGNATURE-----\n"


def _draft(**changes: object) -> Draft:
    draft = Draft(
        sender=_SENDER,
        to=(Address("Front Desk", "desk@clinic.example"), Address("", "lab@partner.example")),
        cc=(Address("Ärztin Zoë", "zoe@partner.example"),),
        bcc=(Address("Hidden Person", "hidden@secret.example"),),
        subject="Befund für Frau Ölz",
        body_text="Guten Tag,\nanbei der Befund.\n",
        attachments=(),
        message_id="20240501.abc@clinic.example",
        date=datetime(2024, 5, 1, 12, 30, 5, tzinfo=timezone(timedelta(hours=2))),
        in_reply_to="parent@partner.example",
        references=("root@partner.example", "parent@partner.example"),
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def _headers(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def _part(raw: bytes, number: str) -> bytes:
    """The decoded body of part `number`, found the way the reader finds it."""
    for entity in walk(raw, DEFAULT_LIMITS, []):
        if entity.number == number and not entity.media.startswith("multipart/"):
            values = entity.fields.get("content-transfer-encoding", [b""])
            return decode_transfer(raw[entity.body_start : entity.body_end], values[0].decode().strip().lower(), "", [])
    raise AssertionError(f"no part {number}")


def _assert_canonical(raw: bytes) -> None:
    assert raw.isascii()
    assert re.search(rb"\r(?!\n)|(?<!\r)\n", raw) is None, "bare CR or LF"
    assert all(len(line) <= 998 and not line.endswith((b" ", b"\t")) for line in raw.split(b"\r\n"))


# Plain messages


def test_message_round_trips_through_the_parser() -> None:
    draft = _draft()
    message = parse_message(build_message(draft))
    assert message.subject == "Befund für Frau Ölz"
    assert message.sender == (_SENDER,)
    assert message.to == draft.to
    assert message.cc == draft.cc
    assert message.date == datetime(2024, 5, 1, 10, 30, 5, tzinfo=UTC)
    assert message.message_id == "20240501.abc@clinic.example"
    assert message.in_reply_to == "parent@partner.example"
    assert message.references == ("root@partner.example", "parent@partner.example")
    assert message.text == "Guten Tag,\nanbei der Befund."
    assert (message.attachments, message.problems) == ((), ())


def test_message_has_mime_version_date_and_qp_utf8_body() -> None:
    raw = build_message(_draft())
    head = _headers(raw)
    assert b"\r\nMIME-Version: 1.0\r\n" in head
    assert b"Date: Wed, 01 May 2024 12:30:05 +0200\r\n" in head
    assert b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable" in head
    assert b"\r\n\r\nGuten Tag,\r\nanbei der Befund.\r\n" in raw


def test_headers_are_encoded_only_where_needed() -> None:
    head = _headers(build_message(_draft(subject="Plain ASCII subject")))
    assert b"Subject: Plain ASCII subject\r\n" in head
    assert b"To: Front Desk <desk@clinic.example>, lab@partner.example\r\n" in head
    assert b"From: =?utf-8?" in head  # "Jörg" needs RFC 2047
    assert b"\xc3" not in head


def test_bcc_is_never_written() -> None:
    draft = _draft()
    for raw in (
        build_message(draft),
        protected_body(draft, Hp.CIPHER, legacy_display=True),
        protected_body(draft, Hp.CLEAR),
        with_headers(outer_headers(draft, encrypted=True), b"Content-Type: text/plain\r\n\r\nx"),
    ):
        assert b"hidden@secret.example" not in raw
        assert b"Hidden" not in raw
        assert b"bcc" not in raw.lower()


def test_message_is_deterministic() -> None:
    draft = _draft(attachments=(OutgoingAttachment("a.pdf", "application/pdf", b"%PDF-1.7"),))
    assert build_message(draft) == build_message(_draft(attachments=draft.attachments))


def test_every_line_is_crlf_7bit_and_short() -> None:
    long_subject = "Laborwerte " * 30 + "ÄÖÜ " * 10
    draft = _draft(subject=long_subject, body_text="x" * 500 + "\rmixed\r\nline ends\nend")
    raw = build_message(draft)
    _assert_canonical(raw)
    assert all(len(line) <= 78 for line in _headers(raw).split(b"\r\n"))
    assert parse_message(raw).subject == long_subject.strip()


def test_subject_that_looks_like_an_encoded_word_stays_literal() -> None:
    subject = "Re: =?utf-8?q?not_encoded?= really"
    assert parse_message(build_message(_draft(subject=subject))).subject == subject


def test_names_with_specials_are_quoted_and_read_back() -> None:
    to = (Address('Dr. "Quote" \\ Back, Slash', "a@clinic.example"), Address("Müller, Hans", "h@x.example"))
    assert parse_message(build_message(_draft(to=to))).to == to


def test_body_protects_from_lines_and_trailing_white_space() -> None:
    body = "From the lab:\ntrailing space \ntab\t\n.\n"
    raw = build_message(_draft(body_text=body))
    assert b"\r\n=46rom the lab:\r\n" in raw
    assert b"trailing space=20\r\n" in raw
    assert parse_message(raw).text == body.rstrip("\n")


def test_extra_headers_are_written_and_folded() -> None:
    keydata = " ".join(["mDMEZ" * 12] * 6)
    raw = build_message(_draft(extra_headers=(("Autocrypt", f"addr=joerg@clinic.example; keydata={keydata}"),)))
    head = _headers(raw)
    assert b"Autocrypt: addr=joerg@clinic.example;" in head
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parse_message(raw).autocrypt == f"addr=joerg@clinic.example; keydata={keydata}"


# Attachments


def test_attachments_round_trip_with_rfc2231_names() -> None:
    long_name = "Überweisung für Patientin Zoë Ölz – Befund " + "ä" * 40 + ".pdf"
    attachments = (
        OutgoingAttachment(long_name, "application/pdf", b"%PDF-1.7\x00\xff" * 100),
        OutgoingAttachment('plain "quoted".txt', "text/plain", b"hello"),
        OutgoingAttachment("日本語.png", "IMAGE/PNG", b"\x89PNG"),
    )
    raw = build_message(_draft(attachments=attachments))
    _assert_canonical(raw)
    message = parse_message(raw)
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        (long_name, "application/pdf", 1000),
        ('plain "quoted".txt', "text/plain", 5),
        ("日本語.png", "image/png", 4),
    ]
    assert _part(raw, "2") == attachments[0].data
    assert message.text == "Guten Tag,\nanbei der Befund."
    assert b"filename*0*=utf-8''%C3%9Cberweisung" in raw
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))


def test_forwarded_message_is_carried_7bit_when_canonical() -> None:
    canonical = b"From: a@b.example\r\nSubject: old\r\n\r\nhello\r\n"
    eight_bit = "Subject: alt\n\nGrüße\n".encode()
    raw = build_message(
        _draft(
            attachments=(
                OutgoingAttachment("old.eml", "message/rfc822", canonical),
                OutgoingAttachment("8bit.eml", "message/rfc822", eight_bit),
            )
        )
    )
    _assert_canonical(raw)
    assert b"Content-Type: message/rfc822\r\n" in raw
    # RFC 2046 §5.2.1 allows no base64 for message/rfc822, so 8-bit mail travels as an opaque file.
    assert b"Content-Type: application/octet-stream; name=8bit.eml\r\n" in raw
    assert _part(raw, "3") == eight_bit


def test_multipart_attachments_are_refused() -> None:
    with pytest.raises(ValueError, match="single-part"):
        OutgoingAttachment("x", "multipart/mixed", b"")
    with pytest.raises(ValueError, match="single-part"):
        OutgoingAttachment("x", "not a type", b"")


# Refusing what could inject


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: attacker@evil.example"},
        {"subject": "Hi\nX-Injected: 1"},
        {"subject": "nul\x00byte"},
        {"sender": Address("Evil\r\nBcc: x@evil.example", "a@clinic.example")},
        {"to": (Address("", "a@clinic.example\r\nBcc: x@evil.example"),)},
        {"to": (Address("", "a@clinic.example>, x@evil.example"),)},
        {"cc": (Address("", "not-an-address"),)},
        {"bcc": (Address("", "a b@evil.example"),)},
        {"extra_headers": (("X-Note", "line\r\nBcc: x@evil.example"),)},
        {"extra_headers": (("Bcc", "x@evil.example"),)},
        {"extra_headers": (("Content-Type", "text/html"),)},
        {"extra_headers": (("HP-Outer", "Subject: x"),)},
        {"extra_headers": (("Bad Name", "x"),)},
        {"extra_headers": (("X-Umlaut", "Grüße"),)},
        {"in_reply_to": "a@b>\r\nBcc: x@evil.example"},
        {"references": ("ok@x", "two words@x")},
        {"message_id": "<a@b.example>"},
        {"message_id": "no-at-sign"},
        {"message_id": "a b@c.example"},
        {"date": datetime(2024, 5, 1, 12, 0)},  # naive
        {"to": (), "cc": (), "bcc": ()},
        {"body_text": "lone surrogate \ud800"},
    ],
)
def test_unsafe_drafts_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError) as error:
        _draft(**changes)
    assert "evil" not in str(error.value), "errors never quote what the user typed"


@pytest.mark.parametrize("filename", ["a\r\nContent-Type: text/html", "nul\x00.pdf", "   "])
def test_unsafe_file_names_are_refused(filename: str) -> None:
    with pytest.raises(ValueError):
        OutgoingAttachment(filename, "application/pdf", b"")


def test_with_headers_refuses_values_that_would_break_the_header() -> None:
    entity = b"Content-Type: text/plain\r\n\r\nx"
    for outer in ([("Subject", "a\r\nBcc: x")], [("Bcc", "x@y")], [("Content-Type", "text/html")], [("X", "é")]):
        with pytest.raises(ValueError):
            with_headers(outer, entity)
    with pytest.raises(ValueError, match="begin with its header"):
        with_headers([("Subject", "x")], b"\r\nbody")


# Header protection (RFC 9788)


def test_encrypted_outer_headers_hide_the_subject_and_the_thread() -> None:
    outer = dict(outer_headers(_draft(), encrypted=True))
    assert outer["Subject"] == OBSCURED_SUBJECT == "[...]"
    assert set(outer) == {"Date", "Message-ID", "From", "To", "Cc", "Subject", "MIME-Version"}
    assert outer["Message-ID"] == "<20240501.abc@clinic.example>"
    assert "lab@partner.example" in outer["To"]


def test_signed_only_outer_headers_show_every_field() -> None:
    outer = dict(outer_headers(_draft(), encrypted=False))
    assert decode_words(outer["Subject"], "", []) == "Befund für Frau Ölz"
    assert outer["References"] == "<root@partner.example> <parent@partner.example>"


def test_protected_body_carries_the_real_fields_hp_and_hp_outer() -> None:
    draft = _draft()
    entity = protected_body(draft, Hp.CIPHER)
    fields, malformed = split_fields(_headers(entity))
    assert malformed == 0
    assert b'hp="cipher"' in fields["content-type"][0]
    hp_outer = [value.strip() for value in fields["hp-outer"]]
    assert b"Subject: [...]" in hp_outer
    assert b"Message-ID: <20240501.abc@clinic.example>" in hp_outer
    assert not any(value.startswith((b"References", b"In-Reply-To", b"MIME-Version")) for value in hp_outer)
    inner = parse_message(entity)
    assert (inner.subject, inner.sender, inner.to, inner.cc) == (draft.subject, (_SENDER,), draft.to, draft.cc)
    assert inner.references == draft.references
    assert inner.text == "Guten Tag,\nanbei der Befund."
    _assert_canonical(entity)


def test_signed_only_protected_body_says_clear_and_has_no_hp_outer() -> None:
    entity = protected_body(_draft(), Hp.CLEAR, legacy_display=True)
    fields, _ = split_fields(_headers(entity))
    assert b'hp="clear"' in fields["content-type"][0]
    assert "hp-outer" not in fields
    assert b"hp-legacy-display" not in entity  # nothing is hidden, so nothing needs displaying


def test_hp_sits_on_the_root_of_a_payload_with_attachments() -> None:
    draft = _draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"x"),))
    entity = protected_body(draft, Hp.CIPHER, legacy_display=True)
    top = next(walk(entity, DEFAULT_LIMITS, []))
    assert (top.media, top.params["hp"]) == ("multipart/mixed", "cipher")
    text_part = next(e for e in walk(entity, DEFAULT_LIMITS, []) if e.path == "1")
    assert text_part.params["hp-legacy-display"] == "1"
    assert "hp" not in text_part.params
    assert parse_message(entity).text.startswith("Subject: Befund für Frau Ölz\n\nGuten Tag")


# Cryptographic wrappers


def test_pgp_encrypted_follows_rfc_3156_section_4() -> None:
    raw = pgp_encrypted(outer_headers(_draft(), encrypted=True), _ARMORED)
    _assert_canonical(raw)
    top = next(walk(raw, DEFAULT_LIMITS, []))
    assert (top.media, top.params["protocol"]) == ("multipart/encrypted", "application/pgp-encrypted")
    assert _part(raw, "1") == b"Version: 1\r\n"
    assert _part(raw, "2") == _ARMORED.replace(b"\n", b"\r\n")
    message = parse_message(raw)
    assert (message.is_encrypted, message.subject, message.attachments) == (True, "[...]", ())


def test_pgp_data_must_be_armored() -> None:
    with pytest.raises(ValueError, match="ASCII-armored"):
        pgp_encrypted([], b"\x85\x01binary")
    with pytest.raises(ValueError, match="ASCII-armored"):
        pgp_signed(b"Content-Type: text/plain\r\n\r\nx\r\n", _ARMORED, "pgp-sha256")


def test_pgp_signed_keeps_the_entity_and_lower_cases_micalg() -> None:
    entity = protected_body(_draft(), Hp.CLEAR)
    signed = pgp_signed(entity, _SIGNATURE, "PGP-SHA512")
    top = next(walk(signed, DEFAULT_LIMITS, []))
    assert top.params["micalg"] == "pgp-sha512"
    assert top.params["protocol"] == "application/pgp-signature"
    assert b"\r\n\r\n--" + top.params["boundary"].encode() + b"\r\n" + entity + b"\r\n--" in signed
    _assert_canonical(with_headers(outer_headers(_draft(), encrypted=False), signed))


@pytest.mark.parametrize(
    "entity",
    [
        b"Content-Type: text/plain\n\nbare LF\n",
        b"Content-Type: text/plain\r\n\r\ntrailing space \r\n",
        "Content-Type: text/plain\r\n\r\nGrüße\r\n".encode(),
    ],
)
def test_only_canonical_entities_can_be_signed(entity: bytes) -> None:
    with pytest.raises(ValueError, match="canonical"):
        pgp_signed(entity, _SIGNATURE, "pgp-sha256")
    with pytest.raises(ValueError, match="canonical"):
        smime_signed(entity, b"\x30\x00", "sha-256")


@pytest.mark.parametrize(
    ("micalg", "pgp"), [("sha-256", True), ("pgp sha256", True), ("pgp-sha256", False), ("", False)]
)
def test_micalg_must_fit_the_protocol(micalg: str, pgp: bool) -> None:
    entity = b"Content-Type: text/plain\r\n\r\nx\r\n"
    with pytest.raises(ValueError, match="micalg"):
        pgp_signed(entity, _SIGNATURE, micalg) if pgp else smime_signed(entity, b"\x30\x00", micalg)


def test_smime_signed_follows_rfc_8551() -> None:
    der = bytes(range(256)) * 3
    signed = smime_signed(protected_body(_draft(), Hp.CLEAR), der, "SHA-256")
    top = next(walk(signed, DEFAULT_LIMITS, []))
    assert (top.params["protocol"], top.params["micalg"]) == ("application/pkcs7-signature", "sha-256")
    assert b"Content-Type: application/pkcs7-signature; name=smime.p7s\r\n" in signed
    assert _part(signed, "2") == der


@pytest.mark.parametrize(("authenticated", "smime_type"), [(False, "enveloped-data"), (True, "authEnveloped-data")])
def test_smime_enveloped_names_its_type(authenticated: bool, smime_type: str) -> None:
    der = b"\x30\x82" + bytes(range(200))
    raw = smime_enveloped(outer_headers(_draft(), encrypted=True), der, authenticated=authenticated)
    _assert_canonical(raw)
    assert f"Content-Type: application/pkcs7-mime; smime-type={smime_type};\r\n name=smime.p7m".encode() in raw
    assert base64.b64decode(raw.split(b"\r\n\r\n", 1)[1]) == der
    assert parse_message(raw).is_encrypted


# Properties

_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=120)
_NAMES = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)


@st.composite
def _drafts(draw: st.DrawFn) -> Draft:
    names = draw(st.lists(_NAMES, min_size=1, max_size=3))
    to = tuple(Address(name, f"r{index}@example.org") for index, name in enumerate(names))
    return _draft(sender=Address(draw(_NAMES), "s@example.org"), to=to, subject=draw(_TEXT), body_text=draw(st.text()))


@settings(max_examples=200)
@given(_drafts())
def test_built_messages_are_canonical(draft: Draft) -> None:
    for raw in (build_message(draft), protected_body(draft, Hp.CIPHER, legacy_display=True)):
        _assert_canonical(raw)
        assert all(len(line) <= 78 for line in _headers(raw).split(b"\r\n"))


@settings(max_examples=200)
@given(_drafts())
def test_parse_gives_back_subject_names_and_body(draft: Draft) -> None:
    body = clean_body_text(draft.body_text.replace("\r\n", "\n").replace("\r", "\n"))
    expected_text = body.strip("\n") if body.strip() else ""
    for raw in (build_message(draft), protected_body(draft, Hp.CIPHER)):
        message = parse_message(raw)
        assert message.subject == escape_control_chars(draft.subject.strip()).strip()
        assert [a.name for a in message.to] == [escape_control_chars(a.name.strip()).strip() for a in draft.to]
        assert message.text == expected_text
        # A generated name may look like another address ("a@b.c"); saying so is the only problem allowed.
        assert not [p for p in message.problems if "display name shows the address" not in p]
