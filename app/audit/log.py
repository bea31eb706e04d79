"""The append-only writer and reader of the audit chain, over the vault's `audit_log` and `audit_head` tables.

The vault is passed in as anything with `execute` and `transaction` (the store's `Vault`), so this adapter does
not import the store (DESIGN.md §2, rule 3).
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from app.audit.chain import GENESIS_MAC, AuditEntry, StoredEntry, VerifyReport, chain_mac, detail_json, verify
from app.audit.events import AuditEvent
from app.core.errors import AuditError

log = logging.getLogger("salus.audit")


class AuditDatabase(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Any: ...

    def transaction(self) -> AbstractContextManager[None]: ...


MAX_UNFORWARDED = 10_000  # entries kept for a collector that is down, before the oldest copies are given up


class ForwardingFailed(AuditError):
    """The collector did not take the entry now; it is kept and offered again with the next one."""


class Forwarder(Protocol):
    """Receives a copy of each committed entry (syslog, the Windows event log: `app.audit.forward`); raises
    `ForwardingFailed` when it cannot take it now."""

    def __call__(self, entry: AuditEntry, mac: bytes) -> None: ...

    def close(self) -> None: ...


class AuditLog:
    """`forward`, when given, receives a copy of each entry once it is committed (see `forward_committed`)."""

    def __init__(self, db: AuditDatabase, key: bytes, actor: str, forward: Forwarder | None = None) -> None:
        self._db = db
        self._key = key
        self._actor = actor
        self._forward = forward
        # The entries (sequence number and MAC) this log wrote and has not forwarded yet. Only its own: entries
        # another process appends to the same vault are forwarded by that process.
        self._pending: dict[int, bytes] = {}

    def record(
        self, event: AuditEvent, at: datetime, *, target: str = "", detail: dict[str, object] | None = None
    ) -> int:
        """Appends one entry in its own transaction and returns its sequence number."""
        with self._db.transaction():
            seq = self.record_in_transaction(event, at, target=target, detail=detail)
        self.forward_committed()
        return seq

    def record_in_transaction(
        self, event: AuditEvent, at: datetime, *, target: str = "", detail: dict[str, object] | None = None
    ) -> int:
        """For callers that want the entry committed atomically with their own change. It is forwarded by the
        next `record` or `forward_committed` (called after such transactions and when the session closes), so an
        entry that was rolled back is never forwarded."""
        last_seq, last_mac = self._head() or (0, GENESIS_MAC)
        entry = AuditEntry(
            seq=last_seq + 1,
            at=at.isoformat(timespec="microseconds"),
            actor=self._actor,
            event=str(event),
            target=target,
            detail=detail_json(detail or {}),
        )
        mac = chain_mac(self._key, last_mac, entry)
        if self._forward is not None:
            self._pending[entry.seq] = mac
        self._db.execute(
            "INSERT INTO audit_log (seq, at, actor, event, target, detail, mac) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.seq, entry.at, entry.actor, entry.event, entry.target, entry.detail, mac),
        )
        self._db.execute(
            "INSERT INTO audit_head (id, seq, mac) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, mac = excluded.mac",
            (entry.seq, mac),
        )
        return entry.seq

    def forward_committed(self) -> None:
        """Hands every entry this log wrote and that is committed to `forward`, oldest first. An entry rolled back
        with its caller's transaction is not in the table, or its number now holds another entry (written here
        or by another process) with another MAC: either way it is never forwarded."""
        if self._forward is None or not self._pending:
            return
        pending, self._pending = sorted(self._pending.items()), {}
        for position, (wanted, written_mac) in enumerate(pending):
            row = self._db.execute(
                "SELECT seq, at, actor, event, target, detail, mac FROM audit_log WHERE seq = ?", (wanted,)
            ).fetchone()
            if row is None or not hmac.compare_digest(bytes(row[6]), written_mac):
                continue
            seq, at, actor, event, target, detail, mac = row
            try:
                self._forward(AuditEntry(int(seq), at, actor, event, target, detail), bytes(mac))
            except ForwardingFailed:
                # Kept, in order, for the next attempt; a collector down for very long costs only the oldest copies
                # (the entries themselves stay in the chain).
                kept = dict(pending[position:])
                self._pending = dict(sorted({**kept, **self._pending}.items())[-MAX_UNFORWARDED:])
                return

    @property
    def forwarder(self) -> Forwarder | None:
        return self._forward

    @property
    def unforwarded(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Forwards what is still pending and releases the forwarder's socket; the vault is closed by its owner."""
        if self._forward is not None:
            self.forward_committed()
            self._forward.close()
            if self._pending:
                log.warning(
                    "%d audit entries were not forwarded; they remain in the vault's chain.", len(self._pending)
                )

    def _head(self) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT seq, mac FROM audit_head WHERE id = 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def entries(self) -> Iterator[StoredEntry]:
        cursor = self._db.execute("SELECT seq, at, actor, event, target, detail, mac FROM audit_log ORDER BY seq")
        for seq, at, actor, event, target, detail, mac in cursor:
            yield StoredEntry(AuditEntry(int(seq), at, actor, event, target, detail), bytes(mac))

    def verify(self) -> VerifyReport:
        return verify(self._key, self.entries(), self._head())

    def export(self, fmt: str) -> str:
        rows = [_export_row(item) for item in self.entries()]
        if fmt == "json":
            return json.dumps({"entries": rows}, ensure_ascii=False, indent=2)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["seq", "at", "actor", "event", "target", "detail", "mac"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "detail": json.dumps(row["detail"], ensure_ascii=False, sort_keys=True)})
        return buffer.getvalue()


def _export_row(item: StoredEntry) -> dict[str, Any]:
    entry = item.entry
    return {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "event": entry.event,
        "target": entry.target,
        "detail": json.loads(entry.detail),
        "mac": item.mac.hex(),
    }
