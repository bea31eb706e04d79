"""The vault's side of recipient evidence: the discovery cache, key sources, S/MIME certificates, Autocrypt.

Addresses are stored as the decision engine normalises them (local part as given, domain lower-cased).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.store.vault import Vault


@dataclass(frozen=True, slots=True)
class CachedLookup:
    data: dict[str, Any]
    learned_at: datetime
    expires_at: datetime


def cached(vault: Vault, kind: str, subject: str, now: datetime) -> CachedLookup | None:
    """A cached lookup that has not expired, or None."""
    row = vault.execute(
        "SELECT data, learned_at, expires_at FROM discovery_cache WHERE kind = ? AND subject = ?", (kind, subject)
    ).fetchone()
    if row is None:
        return None
    entry = CachedLookup(json.loads(row[0]), datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]))
    return entry if entry.expires_at > now else None


def remember(
    vault: Vault, kind: str, subject: str, data: dict[str, Any], learned_at: datetime, expires_at: datetime
) -> None:
    with vault.transaction():
        vault.execute(
            "INSERT INTO discovery_cache (kind, subject, data, learned_at, expires_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT (kind, subject) DO UPDATE SET data = excluded.data, learned_at = excluded.learned_at, "
            "expires_at = excluded.expires_at",
            (kind, subject, json.dumps(data, sort_keys=True), learned_at.isoformat(), expires_at.isoformat()),
        )


@dataclass(frozen=True, slots=True)
class KeySource:
    fingerprint: str
    source: str
    verified: bool
    learned_at: datetime


def record_key_source(
    vault: Vault, fingerprint: str, addresses: Iterable[str], source: str, learned_at: datetime, *, verified: bool
) -> None:
    """Remembers how a key arrived. A stronger origin is never overwritten by a weaker one: a key imported by
    hand and later also seen in an Autocrypt header stays an imported key."""
    with vault.transaction():
        for address in addresses:
            vault.execute(
                "INSERT INTO pgp_key_sources (fingerprint, address, source, verified, learned_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT (fingerprint, address) DO UPDATE SET verified = max(verified, excluded.verified)",
                (fingerprint, address, source, verified, learned_at.isoformat()),
            )


def key_sources(vault: Vault, address: str) -> dict[str, KeySource]:
    rows = vault.execute(
        "SELECT fingerprint, source, verified, learned_at FROM pgp_key_sources WHERE address = ?", (address,)
    ).fetchall()
    return {r[0]: KeySource(r[0], r[1], bool(r[2]), datetime.fromisoformat(r[3])) for r in rows}


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    fingerprint: str
    der: bytes
    source: str
    learned_at: datetime


def store_certificate(
    vault: Vault, fingerprint: str, der: bytes, addresses: Iterable[str], source: str, learned_at: datetime
) -> bool:
    """Stores a certificate once; returns whether it was new."""
    with vault.transaction():
        cursor = vault.execute(
            "INSERT OR IGNORE INTO smime_certs (fingerprint, der, source, learned_at) VALUES (?,?,?,?)",
            (fingerprint, der, source, learned_at.isoformat()),
        )
        vault.executemany(
            "INSERT OR IGNORE INTO smime_cert_addresses (fingerprint, address) VALUES (?, ?)",
            [(fingerprint, a) for a in addresses],
        )
    return bool(cursor.rowcount)


def certificates_for(vault: Vault, address: str) -> list[StoredCertificate]:
    rows = vault.execute(
        "SELECT c.fingerprint, c.der, c.source, c.learned_at FROM smime_certs c "
        "JOIN smime_cert_addresses a ON a.fingerprint = c.fingerprint WHERE a.address = ?",
        (address,),
    ).fetchall()
    return [StoredCertificate(r[0], bytes(r[1]), r[2], datetime.fromisoformat(r[3])) for r in rows]


def all_certificates(vault: Vault) -> list[tuple[StoredCertificate, list[str]]]:
    certs = vault.execute("SELECT fingerprint, der, source, learned_at FROM smime_certs ORDER BY learned_at").fetchall()
    result = []
    for fp, der, source, learned in certs:
        addresses = [
            r[0] for r in vault.execute("SELECT address FROM smime_cert_addresses WHERE fingerprint = ?", (fp,))
        ]
        result.append((StoredCertificate(fp, bytes(der), source, datetime.fromisoformat(learned)), addresses))
    return result


@dataclass(frozen=True, slots=True)
class AutocryptPeer:
    address: str
    last_seen: datetime
    autocrypt_timestamp: datetime
    keydata: bytes
    prefer_mutual: bool


def autocrypt_peer(vault: Vault, address: str) -> AutocryptPeer | None:
    row = vault.execute(
        "SELECT address, last_seen, autocrypt_timestamp, keydata, prefer_mutual FROM autocrypt_peers WHERE address = ?",
        (address,),
    ).fetchone()
    if row is None:
        return None
    return AutocryptPeer(
        row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), bytes(row[3]), bool(row[4])
    )


def save_autocrypt_peer(vault: Vault, peer: AutocryptPeer) -> None:
    with vault.transaction():
        vault.execute(
            "INSERT INTO autocrypt_peers (address, last_seen, autocrypt_timestamp, keydata, prefer_mutual) "
            "VALUES (?,?,?,?,?) ON CONFLICT (address) DO UPDATE SET last_seen = excluded.last_seen, "
            "autocrypt_timestamp = excluded.autocrypt_timestamp, keydata = excluded.keydata, "
            "prefer_mutual = excluded.prefer_mutual",
            (peer.address, peer.last_seen.isoformat(), peer.autocrypt_timestamp.isoformat(), peer.keydata,
             peer.prefer_mutual),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OwnIdentity:
    fingerprint: str
    address: str
    certificate: bytes
    chain: tuple[bytes, ...]
    private_key: bytes  # PEM; it never leaves the vault except into memory for one operation

    def __repr__(self) -> str:
        return f"OwnIdentity({self.fingerprint}, {self.address})"


def save_identity(vault: Vault, identity: OwnIdentity, imported_at: datetime) -> None:
    chain = json.dumps([c.hex() for c in identity.chain])
    with vault.transaction():
        vault.execute(
            "INSERT INTO own_identities (fingerprint, address, certificate, chain, private_key, imported_at) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (fingerprint) DO UPDATE SET address = excluded.address",
            (identity.fingerprint, identity.address, identity.certificate, chain, identity.private_key,
             imported_at.isoformat()),
        )  # fmt: skip


def identities(vault: Vault, address: str | None = None) -> list[OwnIdentity]:
    sql = "SELECT fingerprint, address, certificate, chain, private_key FROM own_identities"
    rows = vault.execute(sql + " WHERE address = ?" if address else sql, (address,) if address else ()).fetchall()
    return [
        OwnIdentity(r[0], r[1], bytes(r[2]), tuple(bytes.fromhex(c) for c in json.loads(r[3])), bytes(r[4]))
        for r in rows
    ]
