"""The profile's key hierarchy (DESIGN.md §3).

Rules:
- The data key is 32 random bytes from the OS CSPRNG. It opens the vault as a raw SQLCipher key and is the root
  of every sub-key (audit MACs, ...), each derived with HKDF under its own label.
- At rest the data key exists only wrapped: AES-256-GCM under a key-encryption key derived from the passphrase
  with Argon2id. The profile id is the associated data, so a wrapped key cannot be moved to another profile.
- KDF parameters travel with the wrapped key, so they can be raised later without breaking old profiles.
- A wrong passphrase raises `UnlockError`; there is no other way to learn the outcome.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.errors import CryptoError, UnlockError

DATA_KEY_BYTES = 32
_NONCE_BYTES = 12


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_BYTES)


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id parameters. The defaults follow RFC 9106 §4's second recommended option (64 MiB, t=3, p=4)."""

    salt: bytes
    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4
    algorithm: str = "argon2id"

    @classmethod
    def fresh(cls) -> KdfParams:
        return cls(salt=os.urandom(16))

    def to_json(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "salt": _b64(self.salt),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KdfParams:
        if data.get("algorithm") != "argon2id":
            raise CryptoError(f"Unsupported key derivation {data.get('algorithm')!r} in the profile header.")
        return cls(
            salt=_unb64(data["salt"]),
            memory_kib=int(data["memory_kib"]),
            iterations=int(data["iterations"]),
            lanes=int(data["lanes"]),
        )


@dataclass(frozen=True, slots=True)
class WrappedKey:
    kdf: KdfParams
    nonce: bytes
    ciphertext: bytes

    def to_json(self) -> dict[str, Any]:
        return {"kdf": self.kdf.to_json(), "nonce": _b64(self.nonce), "ciphertext": _b64(self.ciphertext)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WrappedKey:
        try:
            return cls(KdfParams.from_json(data["kdf"]), _unb64(data["nonce"]), _unb64(data["ciphertext"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CryptoError("The profile header's wrapped key is damaged.") from exc


def derive_kek(passphrase: str, params: KdfParams) -> bytes:
    kdf = Argon2id(
        salt=params.salt,
        length=32,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return kdf.derive(passphrase.encode("utf-8"))


def wrap_data_key(data_key: bytes, passphrase: str, profile_id: str, params: KdfParams | None = None) -> WrappedKey:
    params = params or KdfParams.fresh()
    nonce = os.urandom(_NONCE_BYTES)
    kek = derive_kek(passphrase, params)
    ciphertext = AESGCM(kek).encrypt(nonce, data_key, profile_id.encode("utf-8"))
    return WrappedKey(params, nonce, ciphertext)


def unwrap_data_key(wrapped: WrappedKey, passphrase: str, profile_id: str) -> bytes:
    kek = derive_kek(passphrase, wrapped.kdf)
    try:
        data_key = AESGCM(kek).decrypt(wrapped.nonce, wrapped.ciphertext, profile_id.encode("utf-8"))
    except InvalidTag as exc:
        raise UnlockError("Wrong passphrase: the profile was not opened and nothing was changed.") from exc
    if len(data_key) != DATA_KEY_BYTES:
        raise CryptoError("The profile header holds a data key of the wrong length.")
    return data_key


def derive_subkey(data_key: bytes, purpose: str) -> bytes:
    """A key for one purpose only, so that no two uses ever share key material (RFC 5869 §3.2)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"salus/v1/" + purpose.encode("ascii"))
    return hkdf.derive(data_key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
