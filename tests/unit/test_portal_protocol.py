"""The portal's wire format (app.portal.protocol): uploads, JSON documents, base64url and times."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.portal.protocol import (
    MESSAGE_MAGIC,
    ProtocolViolation,
    ScryptVerifier,
    UploadMeta,
    VerificationMethod,
    b64,
    dump_json,
    encode_upload,
    format_time,
    load_json,
    parse_time,
    parse_upload,
    unb64,
)

POINT = b"\x04" + bytes(range(64))
ENVELOPE = MESSAGE_MAGIC + POINT + bytes(12) + b"ciphertext and tag......"
EXPIRES = datetime(2030, 1, 31, 12, 0, tzinfo=UTC)


def _meta(**changes: object) -> UploadMeta:
    values: dict[str, object] = {
        "recipient": "patient@example.org", "k2": bytes(range(32)), "expires_at": EXPIRES, "reply_key": POINT,
    }  # fmt: skip
    values.update(changes)
    return UploadMeta(**values)  # type: ignore[arg-type]


def test_an_upload_round_trips() -> None:
    upload = parse_upload(encode_upload(_meta(), ENVELOPE))
    assert upload.meta == _meta() and upload.envelope == ENVELOPE
    assert upload.meta.method is VerificationMethod.CODE


def test_a_passphrase_verifier_round_trips() -> None:
    verifier = ScryptVerifier(b"salt" * 4, 1 << 15, 8, 1, b"d" * 32)
    upload = parse_upload(encode_upload(_meta(passphrase=verifier), ENVELOPE))
    assert upload.meta.passphrase == verifier and upload.meta.method is VerificationMethod.PASSPHRASE


def test_a_weak_scrypt_verifier_is_refused() -> None:
    weak = ScryptVerifier(b"salt", 1 << 10, 8, 1, b"d" * 32)
    with pytest.raises(ProtocolViolation, match="scrypt"):
        parse_upload(encode_upload(_meta(passphrase=weak), ENVELOPE))


def test_the_envelope_must_carry_the_uploaded_reply_key() -> None:
    other = MESSAGE_MAGIC + b"\x04" + bytes(64) + bytes(12) + b"ciphertext and tag......"
    with pytest.raises(ProtocolViolation, match="reply key"):
        parse_upload(encode_upload(_meta(), other))


@pytest.mark.parametrize(
    "change",
    [{"recipient": "no-at-sign"}, {"recipient": "a@b\r\nBcc: x@y.z"}, {"k2": bytes(31)}, {"reply_key": b"\x02" * 65}],
)
def test_malformed_fields_are_refused_without_echoing_them(change: dict[str, object]) -> None:
    with pytest.raises(ProtocolViolation) as failure:
        parse_upload(encode_upload(_meta(**change), ENVELOPE))
    assert "x@y.z" not in str(failure.value)


def test_documents_of_another_version_are_refused() -> None:
    with pytest.raises(ProtocolViolation, match="version 1"):
        load_json(b'{"v": 2}')
    assert load_json(dump_json({"a": 1})) == {"v": 1, "a": 1}


@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_raise_protocol_violation(data: bytes) -> None:
    with contextlib.suppress(ProtocolViolation):
        parse_upload(data)


@given(st.binary(max_size=64))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64(data)
    assert "=" not in text and unb64(text, "x") == data


@pytest.mark.parametrize("text", ["abc=", "a+b/", "a", "ab cd"])
def test_base64url_is_strict(text: str) -> None:
    with pytest.raises(ProtocolViolation):
        unb64(text, "field")


def test_times_are_rfc3339_utc() -> None:
    assert format_time(EXPIRES) == "2030-01-31T12:00:00Z"
    assert parse_time("2030-01-31T12:00:00Z") == EXPIRES
    with pytest.raises(ProtocolViolation):
        parse_time("2030-01-31 12:00")
