"""One open vault used from several threads at once, as the window does (the reader's engine, a send's own
engine, the crypto thread): statements and transactions never interleave, and closing waits for the user."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from app.core.errors import StoreError
from app.store.vault import Vault


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    opened = Vault.open(tmp_path / "vault.db", os.urandom(32), create=True)
    opened.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, worker INTEGER NOT NULL, n INTEGER NOT NULL) STRICT")
    return opened


def test_transactions_from_several_threads_on_one_vault_never_interleave(vault: Vault) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(150):
                with vault.transaction():
                    before = vault.execute("SELECT count(*) FROM t WHERE worker = ?", (worker,)).fetchone()[0]
                    vault.execute("INSERT INTO t (worker, n) VALUES (?, ?)", (worker, before))
                rows = vault.execute("SELECT n FROM t WHERE worker = ? ORDER BY id", (worker,)).fetchall()
                assert [r[0] for r in rows] == list(range(n + 1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert vault.execute("SELECT count(*) FROM t").fetchone()[0] == 600
    vault.close()


def test_closing_waits_for_a_transaction_in_another_thread_then_refuses_cleanly(vault: Vault) -> None:
    inside, committed = threading.Event(), threading.Event()

    def long_transaction() -> None:
        with vault.transaction():
            vault.execute("INSERT INTO t (worker, n) VALUES (1, 1)")
            inside.set()
            time.sleep(0.3)
        committed.set()

    writer = threading.Thread(target=long_transaction)
    writer.start()
    assert inside.wait(timeout=30)
    vault.close()  # blocks until the writer's transaction is over, instead of pulling the connection away
    assert committed.is_set()
    writer.join(timeout=30)
    with pytest.raises(StoreError):
        vault.execute("SELECT count(*) FROM t")


def test_rows_read_under_the_lock_behave_like_a_cursor(vault: Vault) -> None:
    vault.executemany("INSERT INTO t (worker, n) VALUES (?, ?)", [(1, i) for i in range(3)])
    rows = vault.execute("SELECT n FROM t ORDER BY n")
    assert rows.fetchone() == (0,)
    assert [r[0] for r in rows] == [1, 2]
    assert rows.fetchone() is None
    changed = vault.execute("UPDATE t SET n = n + 10 WHERE n >= 1")
    assert changed.rowcount == 2
    inserted = vault.execute("INSERT INTO t (worker, n) VALUES (2, 99)")
    assert inserted.lastrowid == 4
    vault.close()
