"""Opening the SQLCipher vault (DESIGN.md §3).

Rules:
- The vault is opened with the 32-byte data key as a raw key (`x'…'`), so SQLCipher's own KDF is skipped: the
  passphrase KDF already ran once when the key was unwrapped.
- Temporary tables and sort spills stay in memory (`temp_store = MEMORY`) so no decrypted page is written to an
  unencrypted temp file.
- WAL journal: readers do not block the single writer, and a crash at any moment leaves a vault that opens.
- `sqlcipher3` is imported here and nowhere else in Salus; its exceptions become `StoreError`.
- One connection, many threads: the reader's engine, a send's own engine and the crypto thread all reach the
  same open vault. Every use of the connection holds the vault's lock, a transaction for its whole length, and a
  query's rows are read in full before the lock is let go. Without it two threads interleaved statements on one
  connection ("cannot start a transaction within a transaction") and, at worst, corrupted the heap inside the
  driver's statement cache.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlcipher3

from app.core.errors import StoreError, UnlockError
from app.store.migrations import LATEST_VERSION, MIGRATIONS

DatabaseError = sqlcipher3.DatabaseError


class Rows:
    """A statement's result, read in full while the vault's lock was held: the rows, and for a change how many
    rows it touched and the last inserted row id (the parts of a DB-API cursor that Salus uses)."""

    __slots__ = ("_next", "_rows", "lastrowid", "rowcount")

    def __init__(self, rows: Sequence[Any], rowcount: int, lastrowid: Any) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = list(self._rows[self._next :])
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class Vault:
    """One open connection to a profile's vault, safe to use from several threads (see the rules above)."""

    def __init__(self, connection: Any, path: Path) -> None:
        self._conn = connection
        self.path = path
        self._lock = threading.RLock()  # re-entrant: statements run inside this thread's own transaction

    @classmethod
    def open(cls, path: Path, data_key: bytes, *, create: bool = False) -> Vault:
        if not create and not path.exists():
            raise StoreError(f"The vault {path} does not exist.")
        try:
            conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        except sqlcipher3.Error as exc:
            raise StoreError(f"The vault {path} cannot be opened: {exc}") from exc
        vault = cls(conn, path)
        try:
            vault._configure(data_key)
            vault._migrate()
        except BaseException:
            conn.close()
            raise
        return vault

    def _configure(self, data_key: bytes) -> None:
        # SQLCipher otherwise prints its own diagnostics on stderr; our errors say what went wrong.
        self._conn.execute("PRAGMA cipher_log_level = NONE")
        self._conn.execute(f"PRAGMA key = \"x'{data_key.hex()}'\"")
        try:
            # The first read is where a wrong key shows: SQLCipher cannot decrypt page 1.
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError as exc:
            raise UnlockError("The vault does not open with this key; it is damaged or belongs elsewhere.") from exc
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "temp_store = MEMORY",
            "foreign_keys = ON",
            "cache_size = -32000",
        ):
            self._conn.execute(f"PRAGMA {pragma}")

    def _migrate(self) -> None:
        current = self.scalar("PRAGMA user_version")
        if current > LATEST_VERSION:
            raise StoreError(f"The vault has schema {current}, newer than this Salus ({LATEST_VERSION}).")
        for migration in MIGRATIONS:
            if migration.version > current:
                with self.transaction():
                    for statement in _split_sql(migration.sql):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {migration.version}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception; no other thread uses the vault meanwhile."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Any = ()) -> Rows:
        with self._lock:
            try:
                cursor = self._conn.execute(sql, params)
                return Rows(cursor.fetchall(), cursor.rowcount, cursor.lastrowid)
            except sqlcipher3.Error as exc:
                raise StoreError(f"The vault could not be read or written: {exc}") from exc

    def executemany(self, sql: str, rows: Any) -> Rows:
        with self._lock:
            try:
                cursor = self._conn.executemany(sql, rows)
                return Rows((), cursor.rowcount, cursor.lastrowid)
            except sqlcipher3.Error as exc:
                raise StoreError(f"The vault could not be written: {exc}") from exc

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:  # waits for a statement or transaction another thread is in the middle of
            with contextlib.suppress(sqlcipher3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()


def _split_sql(script: str) -> list[str]:
    """Splits a migration into statements; `sqlite3.complete_statement` knows where triggers end."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlcipher3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
