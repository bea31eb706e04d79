"""The data key is only ever stored wrapped, bound to its profile, and a wrong passphrase is an UnlockError."""

from __future__ import annotations

import pytest

from app.core.errors import UnlockError
from app.crypto.keys import KdfParams, WrappedKey, derive_subkey, new_data_key, unwrap_data_key, wrap_data_key

# Small Argon2 parameters keep this unit test fast; the defaults are checked separately.
FAST = KdfParams(salt=b"0123456789abcdef", memory_kib=1024, iterations=1, lanes=1)


def test_round_trip() -> None:
    key = new_data_key()
    wrapped = wrap_data_key(key, "correct horse", "profile-1", FAST)
    assert unwrap_data_key(WrappedKey.from_json(wrapped.to_json()), "correct horse", "profile-1") == key


def test_wrong_passphrase_raises_unlock_error() -> None:
    wrapped = wrap_data_key(new_data_key(), "correct horse", "profile-1", FAST)
    with pytest.raises(UnlockError):
        unwrap_data_key(wrapped, "battery staple", "profile-1")


def test_wrapped_key_is_bound_to_its_profile() -> None:
    wrapped = wrap_data_key(new_data_key(), "pw", "profile-1", FAST)
    with pytest.raises(UnlockError):
        unwrap_data_key(wrapped, "pw", "profile-2")


def test_default_kdf_is_memory_hard() -> None:
    params = KdfParams.fresh()
    assert params.algorithm == "argon2id"
    assert params.memory_kib >= 64 * 1024 and params.iterations >= 3
    assert len(params.salt) == 16


def test_subkeys_differ_by_purpose() -> None:
    key = new_data_key()
    assert derive_subkey(key, "audit-chain") != derive_subkey(key, "other")
    assert derive_subkey(key, "audit-chain") != key
