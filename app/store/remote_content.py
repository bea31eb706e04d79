"""The senders whose messages may load remote images without asking each time (migration 9).

Addresses are kept lower-cased; the caller has already taken the addr-spec out of the From header.
"""

from __future__ import annotations

from datetime import datetime

from app.store.vault import Vault


def sender_allowed(vault: Vault, address: str) -> bool:
    row = vault.execute("SELECT 1 FROM remote_content_senders WHERE address = ?", (address.lower(),)).fetchone()
    return row is not None


def allow_sender(vault: Vault, address: str, at: datetime) -> None:
    """Inside the caller's transaction, so the choice and its audit entry are committed together."""
    vault.execute(
        "INSERT INTO remote_content_senders (address, allowed_at) VALUES (?, ?) "
        "ON CONFLICT (address) DO UPDATE SET allowed_at = excluded.allowed_at",
        (address.lower(), at.isoformat(timespec="seconds")),
    )


def forget_sender(vault: Vault, address: str) -> bool:
    """Inside the caller's transaction; True when there was a choice to forget."""
    cursor = vault.execute("DELETE FROM remote_content_senders WHERE address = ?", (address.lower(),))
    return bool(cursor.rowcount > 0)


def allowed_senders(vault: Vault) -> list[str]:
    return [str(r[0]) for r in vault.execute("SELECT address FROM remote_content_senders ORDER BY address")]
