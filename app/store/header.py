"""The profile header: the one readable file in a profile directory.

It holds what is needed before the vault can be opened, and nothing about mail: the profile id, the wrapped
data key with its KDF parameters, whether the keyring also holds the key, and the times of failed unlock
attempts (recorded here because a wrong passphrase cannot open the vault; they are moved into the audit chain
at the next successful unlock).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.errors import ProfileError
from app.store.files import write_private_atomic

HEADER_NAME = "profile.json"
VAULT_NAME = "vault.db"
FORMAT = "salus-profile"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ProfileHeader:
    profile_id: str
    created_at: str
    wrapped_key: dict[str, Any]
    keyring: bool = False
    unlock_failures: tuple[str, ...] = field(default=())

    def with_failure(self, at: str) -> ProfileHeader:
        # Bounded, so a script hammering wrong passphrases cannot grow the file without limit.
        return replace(self, unlock_failures=(*self.unlock_failures, at)[-1000:])

    def without_failures(self) -> ProfileHeader:
        return replace(self, unlock_failures=())


def header_path(profile_dir: Path) -> Path:
    return profile_dir / HEADER_NAME


def vault_path(profile_dir: Path) -> Path:
    return profile_dir / VAULT_NAME


def read_header(profile_dir: Path) -> ProfileHeader:
    path = header_path(profile_dir)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ProfileError(f"{profile_dir} is not a Salus profile (no {HEADER_NAME}).") from exc
    except (OSError, ValueError) as exc:
        raise ProfileError(f"The profile header {path} cannot be read: {exc}") from exc
    return _header_from_json(data, path)


def write_header(profile_dir: Path, header: ProfileHeader) -> None:
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "profile_id": header.profile_id,
        "created_at": header.created_at,
        "wrapped_key": header.wrapped_key,
        "keyring": header.keyring,
        "unlock_failures": list(header.unlock_failures),
    }
    write_private_atomic(header_path(profile_dir), json.dumps(document, indent=2).encode("utf-8"))


def _header_from_json(data: Any, path: Path) -> ProfileHeader:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProfileError(f"{path} is not a Salus profile header.")
    if data.get("version") != FORMAT_VERSION:
        raise ProfileError(f"{path} has header version {data.get('version')!r}; this Salus reads {FORMAT_VERSION}.")
    try:
        return ProfileHeader(
            profile_id=str(data["profile_id"]),
            created_at=str(data["created_at"]),
            wrapped_key=dict(data["wrapped_key"]),
            keyring=bool(data.get("keyring", False)),
            unlock_failures=tuple(str(t) for t in data.get("unlock_failures", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"The profile header {path} is incomplete: {exc}") from exc
