"""Reading the cryptographic structure: ciphertext, exact signed bytes, the EFAIL rule, header protection."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mime.addresses import Address
from app.mime.compose import (
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
from app.mime.parse import parse_message
from app.mime.protected import (
    EncryptedPayload,
    Protocol,
    apply_header_protection,
    encrypted_payload,
    inner_headers,
    is_single_protected_entity,
    signed_payload,
)

_ARMORED = b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0data\r\n-----END PGP MESSAGE-----\r\n"
_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEB\r\n-----END PGP SIGNATURE-----\r\n"
_DER = b"\x30\x82\x01\x00" + bytes(range(256))


def _draft(**changes: object) -> Draft:
    draft = Draft(
        sender=Address("Dr. Ada", "ada@clinic.example"),
        to=(Address("Bob", "bob@partner.example"),),
        cc=(),
        bcc=(),
        subject="Befund Ölz",
        body_text="Der Befund ist unauffällig.",
        attachments=(),
        message_id="m1@clinic.example",
        date=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        in_reply_to="p@partner.example",
        references=("p@partner.example",),
    )
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def _mail(*lines: str) -> bytes:
    return "\r\n".join(lines).encode()


def _pgp_message(draft: Draft) -> bytes:
    return pgp_encrypted(outer_headers(draft, encrypted=True), _ARMORED)


# Encrypted payloads


def test_pgp_ciphertext_is_found() -> None:
    assert encrypted_payload(_pgp_message(_draft())) == EncryptedPayload(Protocol.PGP, _ARMORED)


@pytest.mark.parametrize("authenticated", [False, True])
def test_smime_ciphertext_is_found(authenticated: bool) -> None:
    raw = smime_enveloped(outer_headers(_draft(), encrypted=True), _DER, authenticated=authenticated)
    assert encrypted_payload(raw) == EncryptedPayload(Protocol.SMIME, _DER)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'protocol="application/pgp-encrypted"', b'protocol="application/other"'),
        (b"\r\n\r\nVersion: 1", b"\r\n\r\nVersion: 2"),
        (b"Content-Type: application/octet-stream", b"Content-Type: text/plain"),
        (b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n"),  # two Content-Types
    ],
)
def test_malformed_pgp_mime_is_not_offered(old: bytes, new: bytes) -> None:
    raw = _pgp_message(_draft())
    assert old in raw
    assert encrypted_payload(raw.replace(old, new, 1)) is None


def test_opaque_signed_smime_is_not_ciphertext_but_is_one_entity() -> None:
    raw = _mail(
        "From: a@b.example",
        "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m",
        "Content-Transfer-Encoding: base64",
        "",
        "MIIBAA==",
    )
    assert encrypted_payload(raw) is None
    assert is_single_protected_entity(raw)


# Signed payloads: the exact bytes


def test_pgp_signed_part_comes_back_byte_for_byte() -> None:
    entity = protected_body(_draft(), Hp.CLEAR)
    raw = with_headers(outer_headers(_draft(), encrypted=False), pgp_signed(entity, _SIGNATURE, "pgp-sha256"))
    payload = signed_payload(raw)
    assert payload is not None
    assert (payload.kind, payload.signed, payload.signature, payload.micalg) == (
        Protocol.PGP,
        entity,
        _SIGNATURE,
        "pgp-sha256",
    )


def test_smime_signed_part_with_attachments_comes_back_byte_for_byte() -> None:
    draft = _draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"%PDF" * 99),))
    entity = protected_body(draft, Hp.CLEAR)
    raw = with_headers(outer_headers(draft, encrypted=False), smime_signed(entity, _DER, "sha-256"))
    payload = signed_payload(raw)
    assert payload is not None
    assert (payload.kind, payload.signed, payload.signature, payload.micalg) == (
        Protocol.SMIME,
        entity,
        _DER,
        "sha-256",
    )


def test_signed_bytes_follow_the_wire_not_a_rebuild() -> None:
    # Transport padding after the delimiter, a preamble, a part ending in blank lines and a folded header:
    # the signed bytes are exactly those between the delimiter line's CRLF and the CRLF of the next one.
    first = b"Content-Type: text/plain;\r\n  charset=us-ascii\r\n\r\nline \r\n\r\n"
    raw = (
        b"From: a@b.example\r\n"
        b'Content-Type: multipart/signed; boundary="b"; protocol="application/pgp-signature"; micalg=pgp-sha1\r\n'
        b"\r\nThis is a preamble\r\n--b  \t\r\n" + first + b"\r\n--b\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\n" + _SIGNATURE + b"\r\n--b--\r\nepilogue\r\n"
    )
    payload = signed_payload(raw)
    assert payload is not None
    assert payload.signed == first
    assert payload.signature == _SIGNATURE


def test_lf_only_messages_give_their_bytes_unchanged() -> None:
    raw = (
        b'Content-Type: multipart/signed; boundary=b; protocol="application/pkcs7-signature"\n\n'
        b"--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/pkcs7-signature\n"
        b"Content-Transfer-Encoding: base64\n\nMIIB\n--b--\n"
    )
    payload = signed_payload(raw)
    assert payload is not None
    assert (payload.signed, payload.signature, payload.micalg) == (b"Content-Type: text/plain\n\nhi", b"0\x82\x01", "")


@pytest.mark.parametrize(
    "signature_type",
    ["application/pkcs7-signature", "text/plain"],  # must match protocol="application/pgp-signature"
)
def test_signature_part_must_match_the_protocol(signature_type: str) -> None:
    entity = protected_body(_draft(), Hp.CLEAR)
    raw = pgp_signed(entity, _SIGNATURE, "pgp-sha256").replace(
        b"application/pgp-signature;", signature_type.encode() + b";"
    )
    assert signed_payload(raw) is None


def test_multipart_signed_needs_exactly_two_parts() -> None:
    raw = _mail(
        'Content-Type: multipart/signed; boundary=b; protocol="application/pgp-signature"',
        "",
        "--b",
        "Content-Type: text/plain",
        "",
        "signed",
        "--b",
        "Content-Type: text/plain",
        "",
        "smuggled",
        "--b",
        "Content-Type: application/pgp-signature",
        "",
        "-----BEGIN PGP SIGNATURE-----",
        "--b--",
    )
    assert signed_payload(raw) is None
    assert not is_single_protected_entity(raw)


# The EFAIL rule


def test_whole_protected_messages_are_single_entities() -> None:
    draft = _draft()
    signed = with_headers(
        outer_headers(draft, encrypted=False), pgp_signed(protected_body(draft, Hp.CLEAR), _SIGNATURE, "pgp-sha256")
    )
    enveloped = smime_enveloped(outer_headers(draft, encrypted=True), _DER, authenticated=True)
    assert all(is_single_protected_entity(raw) for raw in (_pgp_message(draft), signed, enveloped))


def test_encrypted_part_beside_plain_text_is_not_a_protected_message() -> None:
    encrypted = _pgp_message(_draft()).split(b"MIME-Version: 1.0\r\n", 1)[1]
    raw = (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n"
        b'--outer\r\nContent-Type: text/html\r\n\r\n<img src="http://evil.example/?\r\n'
        b"--outer\r\n" + encrypted + b"\r\n--outer--\r\n"
    )
    assert not is_single_protected_entity(raw)
    assert encrypted_payload(raw) is None
    assert signed_payload(raw) is None


def test_plain_and_damaged_messages_are_not_protected() -> None:
    assert not is_single_protected_entity(build_message(_draft()))
    assert not is_single_protected_entity(b"")
    assert not is_single_protected_entity(b"Content-Type: multipart/encrypted\r\n\r\nno boundary")


# Header protection


def test_encrypted_payload_headers_replace_the_outer_ones() -> None:
    draft = _draft(cc=(Address("Carol", "carol@partner.example"),))
    outer = parse_message(_pgp_message(draft))
    assert outer.subject == "[...]"
    shown = apply_header_protection(outer, protected_body(draft, Hp.CIPHER), encrypted=True)
    assert shown.headers_protected
    assert shown.hp is Hp.CIPHER
    assert shown.message.subject == "Befund Ölz"
    assert shown.message.in_reply_to == "p@partner.example"
    assert shown.message.cc == (Address("Carol", "carol@partner.example"),)
    assert shown.message.text == "Der Befund ist unauffällig."
    assert shown.confidential == frozenset({"subject", "in-reply-to", "references"})
    assert shown.message.is_encrypted


def test_an_outer_cc_added_in_transit_is_not_shown() -> None:
    # RFC 9788 §4.4.4: a recipient added outside is who a reply would be encrypted to.
    draft = _draft()
    tampered = _pgp_message(draft).replace(b"MIME-Version", b"Cc: mallory@evil.example\r\nMIME-Version", 1)
    outer = parse_message(tampered)
    assert outer.cc
    shown = apply_header_protection(outer, protected_body(draft, Hp.CIPHER), encrypted=True)
    assert shown.message.cc == ()


def test_legacy_display_is_removed_from_text() -> None:
    draft = _draft()
    entity = protected_body(draft, Hp.CIPHER, legacy_display=True)
    assert parse_message(entity).text.startswith("Subject: Befund Ölz\n\n")
    shown = apply_header_protection(parse_message(_pgp_message(draft)), entity, encrypted=True)
    assert shown.legacy_display_removed
    assert shown.message.text == "Der Befund ist unauffällig."


def test_legacy_display_is_removed_from_html() -> None:
    entity = _mail(
        "From: a@b.example",
        "Subject: Dinner plans",
        'Content-Type: multipart/alternative; boundary=alt; hp="cipher"',
        "",
        "--alt",
        'Content-Type: text/html; charset=utf-8; hp-legacy-display="1"',
        "",
        '<html><body><div class="header-protection-legacy-display"><pre>Subject: Dinner plans</pre></div>',
        "<p>Let's meet at 8pm.</p></body></html>",
        "--alt--",
    )
    shown = apply_header_protection(parse_message(b"Subject: [...]\r\n\r\n"), entity, encrypted=True)
    assert shown.legacy_display_removed
    assert shown.message.html is not None
    assert "legacy-display" not in shown.message.html
    assert "Dinner" not in shown.message.text
    assert "Let's meet at 8pm." in shown.message.text


def test_legacy_display_is_kept_without_hp_or_when_it_is_not_header_lines() -> None:
    outer = parse_message(b"Subject: x\r\n\r\n")
    no_hp = _mail('Content-Type: text/plain; hp-legacy-display="1"', "", "Subject: real", "", "body")
    shown = apply_header_protection(outer, no_hp, encrypted=True)
    assert (shown.legacy_display_removed, shown.message.text) == (False, "Subject: real\n\nbody")
    prose = _mail('Content-Type: text/plain; hp="cipher"; hp-legacy-display="1"', "", "Dear Bob, hello", "", "body")
    assert apply_header_protection(outer, prose, encrypted=True).message.text == "Dear Bob, hello\n\nbody"


def test_signed_only_payload_is_clear_and_hides_nothing() -> None:
    draft = _draft()
    entity = protected_body(draft, Hp.CLEAR)
    outer = parse_message(
        with_headers(outer_headers(draft, encrypted=False), pgp_signed(entity, _SIGNATURE, "pgp-sha256"))
    )
    shown = apply_header_protection(outer, entity, encrypted=False)
    assert (shown.headers_protected, shown.hp, shown.confidential) == (True, Hp.CLEAR, frozenset())


def test_cipher_on_a_message_that_was_not_encrypted_promises_nothing() -> None:
    # RFC 9788 §2.1.1: "cipher" is only true of an encrypted message.
    entity = protected_body(_draft(), Hp.CIPHER)
    shown = apply_header_protection(parse_message(b"Subject: x\r\n\r\n"), entity, encrypted=False)
    assert (shown.hp, shown.confidential) == (Hp.CLEAR, frozenset())
    assert shown.message.subject == "Befund Ölz"


def test_payload_without_protection_keeps_the_outer_headers() -> None:
    outer = parse_message(
        _mail("From: Ada <ada@clinic.example>", "Subject: outer", "Content-Type: text/plain", "", "x")
    )
    inner = _mail("Content-Type: text/plain; charset=utf-8", "", "decrypted body")
    shown = apply_header_protection(outer, inner, encrypted=True)
    assert (shown.headers_protected, shown.hp) == (False, None)
    assert (shown.message.subject, shown.message.sender) == ("outer", (Address("Ada", "ada@clinic.example"),))
    assert shown.message.text == "decrypted body"
    assert shown.message.problems == ()  # a bare inner part has no From, and that is not a problem


def test_protected_headers_v1_is_read() -> None:
    inner = _mail(
        "Subject: Real subject",
        "From: ada@clinic.example",
        'Content-Type: text/plain; protected-headers="v1"',
        "",
        "body",
    )
    shown = apply_header_protection(parse_message(b"Subject: ...\r\n\r\n"), inner, encrypted=True)
    assert (shown.headers_protected, shown.hp, shown.confidential) == (True, None, frozenset({"subject"}))
    assert shown.message.subject == "Real subject"


def test_decrypted_signed_entity_is_read_through_to_its_payload() -> None:
    draft = _draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"%PDF"),))
    entity = protected_body(draft, Hp.CIPHER)
    signed = pgp_signed(entity, _SIGNATURE, "pgp-sha256")
    shown = apply_header_protection(parse_message(_pgp_message(draft)), signed, encrypted=True)
    assert shown.entity == entity
    assert shown.message.subject == "Befund Ölz"
    assert [(a.filename, a.part) for a in shown.message.attachments] == [("r.pdf", "2")]


def test_inner_headers_are_the_wire_values_without_hp_outer() -> None:
    headers = inner_headers(protected_body(_draft(), Hp.CIPHER))
    assert headers["subject"] == "=?utf-8?q?Befund_=C3=96lz?="
    assert headers["message-id"] == "<m1@clinic.example>"
    assert "hp-outer" not in headers
    assert 'hp="cipher"' in headers["content-type"]
    assert inner_headers(b"X-Evil: a\x1b[31m\r\n\r\n")["x-evil"] == "a\\u001b[31m"


# Hostile input


def _mutations() -> st.SearchStrategy[bytes]:
    draft = _draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"%PDF"),))
    seeds = [
        _pgp_message(draft),
        with_headers(
            outer_headers(draft, encrypted=False), pgp_signed(protected_body(draft, Hp.CLEAR), _SIGNATURE, "pgp-sha1")
        ),
        with_headers(
            outer_headers(draft, encrypted=False), smime_signed(protected_body(draft, Hp.CLEAR), _DER, "sha-256")
        ),
        protected_body(draft, Hp.CIPHER, legacy_display=True),
    ]

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        raw = draw(st.sampled_from(seeds))
        for _ in range(draw(st.integers(0, 4))):
            start = draw(st.integers(0, len(raw)))
            end = draw(st.integers(start, min(len(raw), start + 40)))
            raw = (
                raw[:start]
                + draw(st.binary(max_size=12) | st.sampled_from([b"\r\n", b"--", b"\n\n", b";"]))
                + raw[end:]
            )
        return raw

    return st.one_of(mutated(), st.binary(max_size=300))


@settings(max_examples=400)
@given(_mutations())
def test_nothing_raises_on_hostile_input(raw: bytes) -> None:
    encrypted_payload(raw)
    signed = signed_payload(raw)
    assert signed is None or signed.signed in raw
    is_single_protected_entity(raw)
    inner_headers(raw)
    shown = apply_header_protection(parse_message(raw), raw, encrypted=True)
    assert not any(problem.startswith("internal parser error") for problem in shown.message.problems)


@settings(max_examples=100)
@given(st.text(max_size=200), st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=80))
def test_any_protected_body_signs_and_comes_back_exactly(body: str, subject: str) -> None:
    entity = protected_body(_draft(body_text=body, subject=subject), Hp.CLEAR)
    for signed in (pgp_signed(entity, _SIGNATURE, "pgp-sha256"), smime_signed(entity, _DER, "sha-256")):
        payload = signed_payload(with_headers(outer_headers(_draft(), encrypted=False), signed))
        assert payload is not None
        assert payload.signed == entity
