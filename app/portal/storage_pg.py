"""Storage for portals that outgrow one machine: PostgreSQL for records, events and reply metadata, an
S3-compatible object store for envelopes and replies. Same interface and rules as SqliteStorage.

Rules:
- What is stored is exactly what SqliteStorage stores (ciphertext, K2, digests, times, event kinds), in the same
  columns; rows are converted by the same functions (`_to_row`, `_from_row`), so both backends hold one format.
- `apply` reads the record with SELECT ... FOR UPDATE inside its transaction, so portal servers on several
  machines sharing one database never interleave two changes of one message (a code check and a lockout, say).
  `add_reply` locks the message row the same way, so reply numbers stay dense and unique.
- Objects are written before the row that refers to them is committed and deleted after the row that dropped
  them is committed: a crash can leave an unreferenced object (overwritten or forgotten later), never a row
  whose object is missing.
- Connections default to `sslmode=verify-full` (TLS, certificate and host name checked) unless the DSN says
  otherwise; the database holds K2.
- Schema changes are numbered migrations in `_MIGRATIONS`, applied under an advisory lock so that several
  servers starting at once apply each exactly once.
- Used from one thread at a time, like SqliteStorage (the server gives storage a single worker thread).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row

from app.portal.errors import PortalStorageError
from app.portal.protocol import EventKind
from app.portal.rules import MessageRecord, Refusal, Refused, Step
from app.portal.s3 import S3ObjectStore
from app.portal.storage import Event, ReplyInfo, _from_row, _ms, _time, _to_row

_MIGRATION_LOCK = 0x5A1A5  # any constant shared by every portal server of one database

_MIGRATIONS: tuple[str, ...] = (
    # 1: the same three tables as SqliteStorage's first migration; events get a sequence for their order.
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        recipient TEXT NOT NULL,
        k2 BYTEA NOT NULL,
        reply_key BYTEA NOT NULL,
        sender_token_digest TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        passphrase TEXT NOT NULL DEFAULT '',
        revoked_at BIGINT NOT NULL DEFAULT 0,
        code_digest TEXT NOT NULL DEFAULT '',
        code_expires_at BIGINT NOT NULL DEFAULT 0,
        code_sends TEXT NOT NULL DEFAULT '[]',
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until BIGINT NOT NULL DEFAULT 0,
        grants TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX messages_expiry ON messages (expires_at);
    CREATE TABLE events (
        seq BIGSERIAL PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE INDEX events_message ON events (message_id, seq);
    CREATE TABLE replies (
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        at BIGINT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (message_id, n)
    );
    """,
)


def secure_dsn(dsn: str) -> str:
    """The DSN with `sslmode=verify-full` added when it names no sslmode."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise PortalStorageError(f"The PostgreSQL connection string cannot be read: {exc}") from exc
    return dsn if "sslmode" in parts else make_conninfo(dsn, sslmode="verify-full")


class PostgresS3Storage:
    def __init__(self, dsn: str, objects: S3ObjectStore) -> None:
        self._dsn = secure_dsn(dsn)
        self._objects = objects
        self._db = self._connect()
        self._migrate()

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        try:
            return psycopg.connect(self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=30)
        except psycopg.Error as exc:
            raise PortalStorageError(f"The portal database cannot be opened: {_reason(exc)}") from exc

    def _conn(self) -> psycopg.Connection[dict[str, Any]]:
        if self._db.closed or self._db.broken:
            self._db = self._connect()  # a restarted database server costs one request, not the portal
        return self._db

    def _migrate(self) -> None:
        with self._guard(), self._conn().transaction():
            db = self._conn()
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS portal_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) AS v FROM portal_schema").fetchone()
            version = int(row["v"] or 0) if row else 0
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement.encode())
                db.execute("INSERT INTO portal_schema (version) VALUES (%s)", (number,))

    def create(self, record: MessageRecord, envelope: bytes) -> None:
        self._objects.put(_envelope_key(record.id), envelope)
        row = _to_row(record)
        insert = sql.SQL("INSERT INTO messages ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row))
        )
        with self._guard(), self._conn().transaction():
            self._conn().execute(insert, tuple(row.values()))
            self._add_events(record.id, record.created_at, (EventKind.UPLOADED,))

    def load(self, message_id: str) -> MessageRecord | None:
        with self._guard():
            return self._load(message_id, lock=False)

    def _load(self, message_id: str, *, lock: bool) -> MessageRecord | None:
        query = "SELECT * FROM messages WHERE id = %s FOR UPDATE" if lock else "SELECT * FROM messages WHERE id = %s"
        row = self._conn().execute(query, (message_id,)).fetchone()
        return None if row is None else _from_row(row)

    def apply(self, message_id: str, now: datetime, change: Callable[[MessageRecord], Step]) -> Step:
        with self._guard(), self._conn().transaction():
            record = self._load(message_id, lock=True)
            if record is None:
                raise Refused(Refusal.NOT_FOUND)
            step = change(record)
            row = _to_row(step.record)
            update = sql.SQL("UPDATE messages SET {} WHERE id = %s").format(
                sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in row)
            )
            self._conn().execute(update, (*row.values(), message_id))
            self._add_events(message_id, now, step.events)
        if step.drop_content:
            self._objects.delete(_envelope_key(message_id))
        return step

    def envelope(self, message_id: str) -> bytes:
        data = self._objects.get(_envelope_key(message_id))
        if data is None:
            raise Refused(Refusal.NOT_FOUND)
        return data

    def add_reply(self, message_id: str, now: datetime, envelope: bytes) -> int:
        with self._guard(), self._conn().transaction():
            db = self._conn()
            if db.execute("SELECT id FROM messages WHERE id = %s FOR UPDATE", (message_id,)).fetchone() is None:
                raise Refused(Refusal.NOT_FOUND)
            row = db.execute("SELECT count(*) AS n FROM replies WHERE message_id = %s", (message_id,)).fetchone()
            n = int(row["n"] if row else 0) + 1
            self._objects.put(_reply_key(message_id, n), envelope)
            db.execute(
                "INSERT INTO replies (message_id, n, at, size) VALUES (%s, %s, %s, %s)",
                (message_id, n, _ms(now), len(envelope)),
            )
            self._add_events(message_id, now, (EventKind.REPLIED,))
        return n

    def replies(self, message_id: str) -> list[ReplyInfo]:
        with self._guard():
            rows = (
                self._conn()
                .execute("SELECT n, at, size FROM replies WHERE message_id = %s ORDER BY n", (message_id,))
                .fetchall()
            )
        return [ReplyInfo(r["n"], _time(r["at"]), r["size"]) for r in rows]

    def reply(self, message_id: str, n: int) -> bytes:
        data = self._objects.get(_reply_key(message_id, n))
        if data is None:
            raise Refused(Refusal.NOT_FOUND)
        return data

    def events(self, message_id: str) -> list[Event]:
        with self._guard():
            rows = (
                self._conn()
                .execute("SELECT kind, at FROM events WHERE message_id = %s ORDER BY seq", (message_id,))
                .fetchall()
            )
        return [Event(EventKind(r["kind"]), _time(r["at"])) for r in rows]

    def expired_ids(self, now: datetime) -> list[str]:
        with self._guard():
            rows = (
                self._conn()
                .execute("SELECT id FROM messages WHERE expires_at <= %s AND octet_length(k2) > 0", (_ms(now),))
                .fetchall()
            )
        return [r["id"] for r in rows]

    def retired_ids(self, before: datetime) -> list[str]:
        with self._guard():
            rows = self._conn().execute("SELECT id FROM messages WHERE expires_at <= %s", (_ms(before),)).fetchall()
        return [r["id"] for r in rows]

    def forget(self, message_id: str) -> None:
        """Delete a message entirely, replies included (after its retention has passed)."""
        numbers = [info.n for info in self.replies(message_id)]
        with self._guard(), self._conn().transaction():
            self._conn().execute("DELETE FROM messages WHERE id = %s", (message_id,))
        self._objects.delete(_envelope_key(message_id))
        for n in numbers:
            self._objects.delete(_reply_key(message_id, n))

    def close(self) -> None:
        self._db.close()
        self._objects.close()

    def _add_events(self, message_id: str, now: datetime, kinds: tuple[EventKind, ...]) -> None:
        if kinds:
            self._conn().cursor().executemany(
                "INSERT INTO events (message_id, at, kind) VALUES (%s, %s, %s)",
                [(message_id, _ms(now), kind.value) for kind in kinds],
            )

    def _guard(self) -> _Translate:
        return _Translate()


class _Translate:
    """Turns psycopg's errors into PortalStorageError at this adapter's edge; Refused passes through."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        if isinstance(error, psycopg.Error):
            raise PortalStorageError(f"The portal database could not be read or written: {_reason(error)}") from error


def _reason(error: psycopg.Error) -> str:
    # psycopg's messages name tables and constraints, never bound values; the first line is enough.
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _envelope_key(message_id: str) -> str:
    return f"envelopes/{message_id}"


def _reply_key(message_id: str, n: int) -> str:
    return f"replies/{message_id}/{n}"
