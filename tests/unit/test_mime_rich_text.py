"""Rich text: multipart/alternative (text/plain first, then text/html) wherever the plain text part used to be,
inside header protection and every cryptographic wrapping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

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
    smime_signed,
)
from app.mime.headers import split_fields
from app.mime.parse import parse_message
from app.mime.structure import DEFAULT_LIMITS, Entity, walk
from app.mime.transfer import decode_transfer

_HTML = '<p>Please see <b>Mrs Ölz</b> on <a href="https://clinic.example/ward">ward 4</a>.</p>'
_TEXT = "Please see Mrs Ölz on ward 4 <https://clinic.example/ward>.\n"
_SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAd\n=wxyz\n-----END PGP SIGNATURE-----\n"
_ARMORED = b"-----BEGIN PGP MESSAGE-----\n\nhQEMA0data\n=abcd\n-----END PGP MESSAGE-----\n"


def _draft(**changes: object) -> Draft:
    draft = Draft(
        sender=Address("", "joerg@clinic.example"), to=(Address("", "lab@partner.example"),), cc=(), bcc=(),
        subject="Befund für Frau Ölz", body_text=_TEXT, attachments=(), message_id="rich.1@clinic.example",
        date=datetime(2024, 5, 1, 12, 30, tzinfo=UTC), body_html=_HTML,
    )  # fmt: skip
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def _entities(raw: bytes) -> dict[str, Entity]:
    return {entity.path: entity for entity in walk(raw, DEFAULT_LIMITS, [])}


def _decoded(raw: bytes, entity: Entity) -> str:
    values = entity.fields.get("content-transfer-encoding", [b""])
    data = decode_transfer(raw[entity.body_start : entity.body_end], values[0].decode().strip().lower(), "", [])
    return data.decode("utf-8")


def _assert_alternative(raw: bytes, path: str) -> None:
    """At `path`: multipart/alternative holding the plain text, then the HTML around the cleaned fragment."""
    entities = _entities(raw)
    prefix = f"{path}." if path else ""
    assert entities[path].media == "multipart/alternative"
    plain, markup = entities[f"{prefix}1"], entities[f"{prefix}2"]
    assert (plain.media, markup.media) == ("text/plain", "text/html")
    assert _decoded(raw, plain).replace("\r\n", "\n") == _TEXT
    assert _HTML in _decoded(raw, markup)
    assert f"{prefix}3" not in entities


def test_rich_message_is_multipart_alternative_with_plain_text_first() -> None:
    raw = build_message(_draft())
    _assert_alternative(raw, "")
    message = parse_message(raw)
    assert message.text == _TEXT.strip()
    assert message.html is not None and "<b>Mrs Ölz</b>" in message.html


def test_plain_message_has_no_alternative() -> None:
    raw = build_message(_draft(body_html=None))
    assert b"multipart/alternative" not in raw and b"text/html" not in raw


def test_alternative_comes_first_in_mixed_with_attachments() -> None:
    raw = build_message(_draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"%PDF"),)))
    entities = _entities(raw)
    assert entities[""].media == "multipart/mixed"
    _assert_alternative(raw, "1")
    assert entities["2"].media == "application/pdf"


def test_encrypted_payload_keeps_header_protection_on_the_alternative() -> None:
    draft = _draft()
    entity = protected_body(draft, Hp.CIPHER)
    fields, malformed = split_fields(entity.split(b"\r\n\r\n", 1)[0])
    assert malformed == 0
    assert b'hp="cipher"' in fields["content-type"][0]
    assert b"multipart/alternative" in fields["content-type"][0]
    assert b"Subject: [...]" in [value.strip() for value in fields["hp-outer"]]
    _assert_alternative(entity, "")
    inner = parse_message(entity)
    assert inner.subject == draft.subject


def test_hp_stays_on_the_root_when_rich_text_has_attachments() -> None:
    draft = _draft(attachments=(OutgoingAttachment("r.pdf", "application/pdf", b"%PDF"),))
    entities = _entities(protected_body(draft, Hp.CIPHER))
    assert (entities[""].media, entities[""].params["hp"]) == ("multipart/mixed", "cipher")
    assert "hp" not in entities["1"].params


def test_legacy_display_is_on_both_alternatives_and_escaped_in_html() -> None:
    entity = protected_body(_draft(subject="<script>x</script>"), Hp.CIPHER, legacy_display=True)
    entities = _entities(entity)
    assert entities["1"].params["hp-legacy-display"] == entities["2"].params["hp-legacy-display"] == "1"
    assert _decoded(entity, entities["1"]).startswith("Subject: <script>x</script>\r\n\r\n")
    markup = _decoded(entity, entities["2"])
    assert '<div class="header-protection-legacy-display"><pre>Subject: &lt;script&gt;' in markup
    assert "<script>" not in markup


def test_pgp_signed_rich_payload_is_canonical_and_kept_whole() -> None:
    entity = protected_body(_draft(), Hp.CLEAR)
    signed = pgp_signed(entity, _SIGNATURE, "pgp-sha256")
    assert _entities(signed)["1"].media == "multipart/alternative"
    _assert_alternative(signed, "1")


def test_smime_signed_rich_payload_keeps_the_alternative_as_first_part() -> None:
    signed = smime_signed(protected_body(_draft(), Hp.CIPHER), b"\x30\x00", "sha-256")
    _assert_alternative(signed, "1")


def test_pgp_encrypted_outer_layer_says_nothing_about_the_alternative() -> None:
    raw = pgp_encrypted(outer_headers(_draft(), encrypted=True), _ARMORED)
    assert b"alternative" not in raw and b"Befund" not in raw
