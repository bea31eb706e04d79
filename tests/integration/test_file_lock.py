"""The profile's one-sender lock (`app.store.locks.FileLock`) with real processes: it excludes other holders, in
this process and in others, and the OS releases it when a holder dies, however it dies."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from app.store.locks import FileLock

HOLD = """
import sys, time
from pathlib import Path
from app.store.locks import FileLock
lock = FileLock(Path(sys.argv[1]))
assert lock.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_second_holder_in_the_same_process_is_refused_until_the_first_releases(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "outbox.lock"), FileLock(tmp_path / "outbox.lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_lock_file_is_private(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "outbox.lock")
    assert lock.try_acquire()
    lock.release()
    assert (tmp_path / "outbox.lock").stat().st_mode & 0o777 == 0o600


def test_a_killed_holder_releases_the_lock_for_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "outbox.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = FileLock(path)
        assert not lock.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert lock.try_acquire()  # no stale lock: the OS dropped it with the process
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=30)
