"""Where the portal keeps what it holds: an interface, and the embedded SQLite + files implementation.

Rules:
- The portal stores ciphertext, K2, the recipient's address, digests of tokens and codes, times and event
  kinds. Nothing here ever sees K1, a plaintext, a code or a token (DESIGN.md §6).
- `apply` is the one way a record changes: read, run a pure rule (app.portal.rules), write the record and its
  events in one transaction. A rule that raises leaves everything as it was.
- Envelopes and replies are files written atomically with mode 0600 (temp file, fsync, os.replace); the
  database holds only their metadata. Dropped content is unlinked after the transaction that dropped it.
- A `SqliteStorage` is used from one thread at a time (the server gives it a single worker thread); SQLite's
  WAL journal lets that thread commit without waiting for readers.
- Schema changes are numbered migrations in `_MIGRATIONS`, recorded in PRAGMA user_version.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from app.portal.errors import PortalStorageError
from app.portal.protocol import EventKind, ScryptVerifier
from app.portal.rules import Grant, MessageRecord, PendingCode, Refusal, Refused, Step

_MIGRATIONS: tuple[str, ...] = (
    # 1: messages (one row per upload, kept as a tombstone after revocation or expiry), their status events,
    # and the replies' metadata (the envelopes themselves are files).
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        recipient TEXT NOT NULL,
        k2 BLOB NOT NULL,
        reply_key BLOB NOT NULL,
        sender_token_digest TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        passphrase TEXT NOT NULL DEFAULT '',
        revoked_at INTEGER NOT NULL DEFAULT 0,
        code_digest TEXT NOT NULL DEFAULT '',
        code_expires_at INTEGER NOT NULL DEFAULT 0,
        code_sends TEXT NOT NULL DEFAULT '[]',
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until INTEGER NOT NULL DEFAULT 0,
        grants TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE INDEX messages_expiry ON messages (expires_at);
    CREATE TABLE events (
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_message ON events (message_id);
    CREATE TABLE replies (
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        at INTEGER NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (message_id, n)
    ) STRICT;
    """,
)


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    at: datetime


@dataclass(frozen=True, slots=True)
class ReplyInfo:
    n: int
    at: datetime
    size: int


class PortalStorage(Protocol):
    """What the server needs from storage; SQLite + files here, PostgreSQL + S3 for larger deployments."""

    def create(self, record: MessageRecord, envelope: bytes) -> None: ...

    def load(self, message_id: str) -> MessageRecord | None: ...

    def apply(self, message_id: str, now: datetime, change: Callable[[MessageRecord], Step]) -> Step: ...

    def envelope(self, message_id: str) -> bytes: ...

    def add_reply(self, message_id: str, now: datetime, envelope: bytes) -> int: ...

    def replies(self, message_id: str) -> list[ReplyInfo]: ...

    def reply(self, message_id: str, n: int) -> bytes: ...

    def events(self, message_id: str) -> list[Event]: ...

    def expired_ids(self, now: datetime) -> list[str]: ...

    def retired_ids(self, before: datetime) -> list[str]: ...

    def forget(self, message_id: str) -> None: ...

    def close(self) -> None: ...


class SqliteStorage:
    """The embedded default: `<root>/portal.db` and `<root>/envelopes/`, `<root>/replies/`."""

    def __init__(self, root: Path) -> None:
        self._root = root
        for folder in (root, root / "envelopes", root / "replies"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(root / "portal.db", isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            # NORMAL under WAL loses at most the last commits on power loss, never consistency (sqlite.org/wal).
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise PortalStorageError(f"The portal database cannot be opened: {exc}") from exc
        (root / "portal.db").chmod(0o600)

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            with self._transaction():
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def create(self, record: MessageRecord, envelope: bytes) -> None:
        _write_private(self._envelope_path(record.id), envelope)
        row = _to_row(record)
        with self._transaction():
            self._db.execute(
                f"INSERT INTO messages ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608 - our columns
                tuple(row.values()),
            )
            self._add_events(record.id, record.created_at, (EventKind.UPLOADED,))

    def load(self, message_id: str) -> MessageRecord | None:
        cursor = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        return _from_row(dict(zip([c[0] for c in cursor.description], row, strict=True)))

    def apply(self, message_id: str, now: datetime, change: Callable[[MessageRecord], Step]) -> Step:
        with self._transaction():
            record = self.load(message_id)
            if record is None:
                raise Refused(Refusal.NOT_FOUND)
            step = change(record)
            row = _to_row(step.record)
            assignments = ", ".join(f"{name} = ?" for name in row)
            self._db.execute(f"UPDATE messages SET {assignments} WHERE id = ?", (*row.values(), message_id))  # noqa: S608 - column names are ours
            self._add_events(message_id, now, step.events)
        if step.drop_content:
            self._envelope_path(message_id).unlink(missing_ok=True)
        return step

    def envelope(self, message_id: str) -> bytes:
        try:
            return self._envelope_path(message_id).read_bytes()
        except FileNotFoundError as exc:
            raise Refused(Refusal.NOT_FOUND) from exc

    def add_reply(self, message_id: str, now: datetime, envelope: bytes) -> int:
        with self._transaction():
            if self._db.execute("SELECT 1 FROM messages WHERE id = ?", (message_id,)).fetchone() is None:
                raise Refused(Refusal.NOT_FOUND)
            n = int(self._db.execute("SELECT COUNT(*) FROM replies WHERE message_id = ?", (message_id,)).fetchone()[0])
            _write_private(self._reply_path(message_id, n + 1), envelope)
            self._db.execute(
                "INSERT INTO replies (message_id, n, at, size) VALUES (?, ?, ?, ?)",
                (message_id, n + 1, _ms(now), len(envelope)),
            )
            self._add_events(message_id, now, (EventKind.REPLIED,))
        return n + 1

    def replies(self, message_id: str) -> list[ReplyInfo]:
        rows = self._db.execute("SELECT n, at, size FROM replies WHERE message_id = ? ORDER BY n", (message_id,))
        return [ReplyInfo(n, _time(at), size) for n, at, size in rows]

    def reply(self, message_id: str, n: int) -> bytes:
        try:
            return self._reply_path(message_id, n).read_bytes()
        except FileNotFoundError as exc:
            raise Refused(Refusal.NOT_FOUND) from exc

    def events(self, message_id: str) -> list[Event]:
        rows = self._db.execute("SELECT kind, at FROM events WHERE message_id = ? ORDER BY rowid", (message_id,))
        return [Event(EventKind(kind), _time(at)) for kind, at in rows]

    def expired_ids(self, now: datetime) -> list[str]:
        rows = self._db.execute("SELECT id FROM messages WHERE expires_at <= ? AND k2 != x''", (_ms(now),))
        return [row[0] for row in rows]

    def retired_ids(self, before: datetime) -> list[str]:
        rows = self._db.execute("SELECT id FROM messages WHERE expires_at <= ?", (_ms(before),))
        return [row[0] for row in rows]

    def forget(self, message_id: str) -> None:
        """Delete a message entirely, replies included (after its retention has passed)."""
        numbers = [info.n for info in self.replies(message_id)]
        with self._transaction():
            self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        self._envelope_path(message_id).unlink(missing_ok=True)
        for n in numbers:
            self._reply_path(message_id, n).unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()

    def _add_events(self, message_id: str, now: datetime, kinds: tuple[EventKind, ...]) -> None:
        self._db.executemany(
            "INSERT INTO events (message_id, at, kind) VALUES (?, ?, ?)",
            [(message_id, _ms(now), kind.value) for kind in kinds],
        )

    def _envelope_path(self, message_id: str) -> Path:
        return self._root / "envelopes" / message_id

    def _reply_path(self, message_id: str, n: int) -> Path:
        return self._root / "replies" / f"{message_id}.{n}"


def _to_row(record: MessageRecord) -> dict[str, Any]:
    code = record.code
    return {
        "id": record.id, "recipient": record.recipient, "k2": record.k2, "reply_key": record.reply_key,
        "sender_token_digest": record.sender_token_digest, "created_at": _ms(record.created_at),
        "expires_at": _ms(record.expires_at),
        "passphrase": json.dumps(record.passphrase.to_json()) if record.passphrase else "",
        "revoked_at": _ms(record.revoked_at), "code_digest": code.digest if code else "",
        "code_expires_at": _ms(code.expires_at if code else None),
        "code_sends": json.dumps([_ms(sent) for sent in record.code_sends]), "failures": record.failures,
        "locked_until": _ms(record.locked_until),
        "grants": json.dumps([[g.digest, _ms(g.expires_at)] for g in record.grants]),
    }  # fmt: skip


def _from_row(row: dict[str, Any]) -> MessageRecord:
    return MessageRecord(
        id=row["id"], recipient=row["recipient"], k2=bytes(row["k2"]), reply_key=bytes(row["reply_key"]),
        sender_token_digest=row["sender_token_digest"], created_at=_time(row["created_at"]),
        expires_at=_time(row["expires_at"]),
        passphrase=ScryptVerifier.from_json(json.loads(row["passphrase"])) if row["passphrase"] else None,
        revoked_at=_optional_time(row["revoked_at"]),
        code=PendingCode(row["code_digest"], _time(row["code_expires_at"])) if row["code_digest"] else None,
        code_sends=tuple(_time(ms) for ms in json.loads(row["code_sends"])), failures=row["failures"],
        locked_until=_optional_time(row["locked_until"]),
        grants=tuple(Grant(d, _time(ms)) for d, ms in json.loads(row["grants"])),
    )  # fmt: skip


def _ms(moment: datetime | None) -> int:
    return 0 if moment is None else int(moment.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _optional_time(ms: int) -> datetime | None:
    return _time(ms) if ms else None


def _write_private(path: Path, data: bytes) -> None:
    """Atomic write with mode 0600 (CONVENTIONS: sensitive files)."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise PortalStorageError(f"The portal could not store a file: {exc.strerror}") from exc
