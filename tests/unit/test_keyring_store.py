"""Only OS keyrings that encrypt their secrets may hold a data key; everything else is refused by name."""

from __future__ import annotations

import pytest
from keyring.backends import SecretService, fail, null

from app.core.errors import KeyringError
from app.crypto.keyring_store import is_secure_backend, secure_backend


def test_secret_service_is_accepted() -> None:
    backend = SecretService.Keyring()  # type: ignore[no-untyped-call]
    assert is_secure_backend(backend)
    assert secure_backend(backend) is backend


INSECURE = [fail.Keyring(), null.Keyring()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("backend", INSECURE, ids=["fail", "null"])
def test_insecure_or_absent_backends_are_refused(backend: object) -> None:
    assert not is_secure_backend(backend)  # type: ignore[arg-type]
    with pytest.raises(KeyringError, match="No secure OS keyring"):
        secure_backend(backend)  # type: ignore[arg-type]


def test_a_lookalike_backend_from_another_module_is_refused() -> None:
    class PlaintextKeyring(SecretService.Keyring):  # a subclass living outside keyring.backends
        pass

    assert not is_secure_backend(PlaintextKeyring())  # type: ignore[no-untyped-call]
