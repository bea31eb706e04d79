"""The split-key envelope format (app.crypto.portal_keys): sealing, opening, tampering and the reply key."""

from __future__ import annotations

import pytest

from app.core.errors import CryptoError
from app.crypto import portal_keys
from app.crypto.portal_keys import ReplyKey, open_message, open_reply, reply_key_of, seal_message, seal_reply, split_key
from app.portal import protocol

MIME = b"Subject: test\r\n\r\nconfidential words\r\n"


def test_both_shares_open_the_message_and_neither_alone_is_the_key() -> None:
    key = ReplyKey.generate()
    sealed = seal_message(MIME, key.public_point)
    assert open_message(sealed.envelope, sealed.k1, sealed.k2) == MIME
    assert sealed.k1 != sealed.k2 and len(sealed.k1) == len(sealed.k2) == 32
    assert MIME not in sealed.envelope


def test_every_seal_uses_a_fresh_key_and_nonce() -> None:
    point = ReplyKey.generate().public_point
    first, second = seal_message(MIME, point), seal_message(MIME, point)
    assert first.envelope != second.envelope and first.k2 != second.k2


@pytest.mark.parametrize("position", [0, 20, 80, -1])
def test_any_changed_byte_fails_to_decrypt_with_a_sentence(position: int) -> None:
    sealed = seal_message(MIME, ReplyKey.generate().public_point)
    tampered = bytearray(sealed.envelope)
    tampered[position] ^= 0x01
    with pytest.raises(CryptoError) as failure:
        open_message(bytes(tampered), sealed.k1, sealed.k2)
    assert str(failure.value).endswith(".")


def test_a_swapped_reply_key_makes_the_message_fail_to_open() -> None:
    sealed = seal_message(MIME, ReplyKey.generate().public_point)
    other = ReplyKey.generate().public_point
    swapped = sealed.envelope[:8] + other + sealed.envelope[8 + 65 :]
    assert reply_key_of(swapped) == other
    with pytest.raises(CryptoError, match="could not be decrypted"):
        open_message(swapped, sealed.k1, sealed.k2)


def test_a_wrong_share_fails_to_open() -> None:
    sealed = seal_message(MIME, ReplyKey.generate().public_point)
    with pytest.raises(CryptoError):
        open_message(sealed.envelope, bytes(32), sealed.k2)


def test_replies_open_only_with_the_matching_private_key() -> None:
    key, stranger = ReplyKey.generate(), ReplyKey.generate()
    reply = seal_reply(MIME, key.public_point)
    assert open_reply(reply, key.private_pkcs8) == MIME
    with pytest.raises(CryptoError):
        open_reply(reply, stranger.private_pkcs8)


def test_unknown_versions_and_foreign_data_are_named_as_such() -> None:
    sealed = seal_message(MIME, ReplyKey.generate().public_point)
    with pytest.raises(CryptoError, match="format version"):
        open_message(b"SALUSPM9" + sealed.envelope[8:], sealed.k1, sealed.k2)
    with pytest.raises(CryptoError, match="not a portal message"):
        open_message(b"%PDF-1.7" + bytes(200), sealed.k1, sealed.k2)


def test_a_reply_key_must_be_a_point_on_p256() -> None:
    with pytest.raises(CryptoError):
        seal_message(MIME, b"\x04" + bytes(64))


def test_split_is_xor() -> None:
    assert split_key(bytes(range(32)), bytes(range(32))) == bytes(32)


def test_the_server_and_the_crypto_module_agree_on_the_envelope_layout() -> None:
    assert protocol.MESSAGE_MAGIC == portal_keys.MESSAGE_MAGIC
    assert protocol.REPLY_MAGIC == portal_keys.REPLY_MAGIC
    assert protocol.POINT_BYTES == portal_keys.POINT_BYTES
    assert protocol.MIN_ENVELOPE == portal_keys.HEADER_BYTES + portal_keys.TAG_BYTES
