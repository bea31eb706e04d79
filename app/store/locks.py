"""An exclusive lock on a small file beside the vault, held by one process at a time.

Rules:
- The lock is the operating system's (`flock` on POSIX, `msvcrt.locking` on Windows), not a row or a PID in a
  file: the OS drops it when the holder exits, however it exits, so a crashed or killed holder never blocks the
  next one and there is no stale lock to clean up.
- Each `FileLock` opens its own file description, so two holders in one process exclude each other too.
- `try_acquire` never blocks: callers on the engine loop poll it with `asyncio.sleep` between tries.
- The file holds nothing; it exists only to be locked (mode 0600, in the profile's private directory).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.core.errors import StoreError
from app.store.files import PRIVATE_FILE_MODE


class FileLock:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Takes the lock if no one holds it; False, at once, if someone does."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        except OSError as exc:
            raise StoreError(f"The lock file {self._path} cannot be opened: {exc}") from exc
        if _lock(fd):
            self._fd = fd
            return True
        os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # one byte at offset 0 stands for the whole file
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
