"""The vault's tables for shared workstations (migration 7): the TOTP second factor and the user's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.store.vault import Vault


@dataclass(frozen=True, slots=True)
class SecondFactor:
    secret: bytes
    enrolled_at: str
    last_step: int

    def __repr__(self) -> str:  # the secret must not end up in a traceback or a log
        return f"SecondFactor(enrolled_at={self.enrolled_at!r}, last_step={self.last_step})"


def second_factor(vault: Vault) -> SecondFactor | None:
    row = vault.execute("SELECT secret, enrolled_at, last_step FROM second_factor WHERE id = 1").fetchone()
    return None if row is None else SecondFactor(bytes(row[0]), row[1], int(row[2]))


def put_second_factor(vault: Vault, secret: bytes, now: datetime) -> None:
    """Inside the caller's transaction (the enrolment is audited with it)."""
    vault.execute(
        "INSERT INTO second_factor (id, secret, enrolled_at, last_step) VALUES (1, ?, ?, 0) "
        "ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, enrolled_at = excluded.enrolled_at, last_step = 0",
        (secret, now.isoformat()),
    )


def remove_second_factor(vault: Vault) -> None:
    vault.execute("DELETE FROM second_factor WHERE id = 1")


def set_last_step(vault: Vault, step: int) -> None:
    vault.execute("UPDATE second_factor SET last_step = ? WHERE id = 1 AND last_step < ?", (step, step))


def user_settings(vault: Vault) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in vault.execute("SELECT key, value FROM user_settings")}


def put_user_setting(vault: Vault, key: str, value: Any, now: datetime) -> None:
    vault.execute(
        "INSERT INTO user_settings (key, value, changed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, changed_at = excluded.changed_at",
        (key, json.dumps(value), now.isoformat()),
    )


def remove_user_setting(vault: Vault, key: str) -> None:
    vault.execute("DELETE FROM user_settings WHERE key = ?", (key,))
