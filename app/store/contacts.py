"""Who this profile has exchanged mail with: recipients and the method they last got, and stored senders.

Rules:
- `recipient_history` is written only after the submission server accepted a message, so it records what was
  actually sent, not what was planned.
- Addresses are stored normalised (domain lower case, local part as given: RFC 5321 §2.4).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses

from app.store.vault import Vault

# Addresses inside the `sender` column, which holds "Name <addr>, addr" as written by the sync.
_ADDRESS = re.compile(r"[^\s<>,\"']+@[^\s<>,\"']+")


def _normal(address: str) -> str:
    local, _, domain = address.strip().rpartition("@")
    return f"{local}@{domain.rstrip('.').lower()}"


def record_sent(vault: Vault, addresses: Iterable[str], method: str, now: datetime) -> None:
    with vault.transaction():
        vault.executemany(
            "INSERT INTO recipient_history (address, last_method, last_sent_at, messages) VALUES (?,?,?,1) "
            "ON CONFLICT (address) DO UPDATE SET last_method = excluded.last_method, "
            "last_sent_at = excluded.last_sent_at, messages = messages + 1",
            [(_normal(a), method, now.isoformat()) for a in addresses],
        )


def last_methods(vault: Vault, addresses: Iterable[str]) -> dict[str, str]:
    """The method each of `addresses` (normalised) was last sent with; absent when never sent to."""
    wanted = sorted({_normal(a) for a in addresses})
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = vault.execute(
        f"SELECT address, last_method FROM recipient_history WHERE address IN ({marks})",  # noqa: S608 - marks only
        wanted,
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def known_addresses(vault: Vault) -> frozenset[str]:
    """Every mailbox this profile has sent to or holds mail from (normalised)."""
    found = {str(r[0]) for r in vault.execute("SELECT address FROM recipient_history").fetchall()}
    for (sender,) in vault.execute("SELECT DISTINCT sender FROM messages WHERE sender != ''").fetchall():
        found.update(_normal(a) for a in _ADDRESS.findall(str(sender)))
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Contact:
    """One address the composer may complete: the name last seen with it, and how much it was used."""

    name: str
    address: str  # normalised
    uses: int  # messages sent to it plus stored messages from it
    last_used: str  # ISO 8601 (sent) or the stored message's date; compared as text, newest first

    def __repr__(self) -> str:  # addresses may identify patients
        return "Contact(...)"

    @property
    def display(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def contacts(vault: Vault, limit: int = 2000) -> list[Contact]:
    """Everyone sent to or heard from, most used first, then most recent (the composer's completion list)."""
    found: dict[str, Contact] = {}
    for address, sent, last in vault.execute(
        "SELECT address, messages, last_sent_at FROM recipient_history"
    ).fetchall():  # fmt: skip
        found[str(address)] = Contact("", str(address), int(sent), str(last))
    rows = vault.execute(
        "SELECT sender, count(*), max(date) FROM messages WHERE sender != '' GROUP BY sender"
    ).fetchall()  # fmt: skip
    for sender, count, last in rows:
        for name, raw in getaddresses([str(sender)]):
            if not _ADDRESS.fullmatch(raw):
                continue
            address = _normal(raw)
            old = found.get(address, Contact("", address, 0, ""))
            found[address] = Contact(name or old.name, address, old.uses + int(count), max(old.last_used, str(last)))
    ranked = sorted(found.values(), key=lambda c: c.last_used, reverse=True)
    return sorted(ranked, key=lambda c: c.uses, reverse=True)[:limit]
