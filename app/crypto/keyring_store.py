"""Optional storage of a profile's data key in the OS keyring (DESIGN.md §3).

Only keyrings that keep secrets encrypted by the OS are accepted: Windows Credential Manager, the macOS
Keychain, and the Secret Service / KWallet on Linux. Anything else (the plaintext and "encrypted with a key in
the same file" backends of keyrings.alt, the null and fail backends, unknown third-party backends) is refused,
because a data key stored there would be as good as a data key on disk.
"""

from __future__ import annotations

import base64
import binascii

import keyring
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from keyring.errors import KeyringError as LibKeyringError

from app.core.errors import KeyringError

SERVICE = "Salus"

# Matched on the module that defines the backend class, so a subclass in another package is not trusted by name.
_SECURE_BACKEND_MODULES = (
    "keyring.backends.Windows",
    "keyring.backends.macOS",
    "keyring.backends.SecretService",
    "keyring.backends.libsecret",
    "keyring.backends.kwallet",
)


def is_secure_backend(backend: KeyringBackend) -> bool:
    return type(backend).__module__.startswith(_SECURE_BACKEND_MODULES)


def secure_backend(backend: KeyringBackend | None = None) -> KeyringBackend:
    """The keyring Salus may use, or `KeyringError` saying why there is none."""
    backend = backend or keyring.get_keyring()
    candidates = list(backend.backends) if isinstance(backend, ChainerBackend) else [backend]
    for candidate in candidates:
        if is_secure_backend(candidate):
            return candidate
    names = ", ".join(type(c).__name__ for c in candidates) or "none"
    raise KeyringError(f"No secure OS keyring is available (found: {names}); the passphrase is required.")


def store_data_key(profile_id: str, data_key: bytes, backend: KeyringBackend | None = None) -> None:
    try:
        secure_backend(backend).set_password(SERVICE, profile_id, base64.b64encode(data_key).decode("ascii"))
    except LibKeyringError as exc:
        raise KeyringError(f"The OS keyring refused to store the key: {exc}") from exc


def load_data_key(profile_id: str, backend: KeyringBackend | None = None) -> bytes | None:
    try:
        encoded = secure_backend(backend).get_password(SERVICE, profile_id)
    except LibKeyringError as exc:
        raise KeyringError(f"The OS keyring could not be read: {exc}") from exc
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError("The key stored in the OS keyring is damaged.") from exc


def delete_data_key(profile_id: str, backend: KeyringBackend | None = None) -> None:
    try:
        secure_backend(backend).delete_password(SERVICE, profile_id)
    except LibKeyringError as exc:
        raise KeyringError(f"The OS keyring could not remove the key: {exc}") from exc
