"""Where blocking work runs (DESIGN.md §2, rule 5).

One event loop owns the flows; blocking libraries run on dedicated threads: one for the IMAP connection (a
connection is a conversation, never used by two threads at once) and one for the vault (the single writer).
CPU-heavy message parsing can go to a separate process so it overlaps with network and disk work on a
two-core machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, *, parse_in_process: bool = True) -> None:
        self._imap = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salus-imap")
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salus-vault")
        # GnuPG runs as a subprocess per call; its own thread keeps key work from queueing behind the vault.
        self._crypto = ThreadPoolExecutor(max_workers=1, thread_name_prefix="salus-crypto")
        self._parse_in_process = parse_in_process
        self._cpu: Executor | None = None

    async def imap(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await _run(self._imap, func, *args, **kwargs)

    async def db(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await _run(self._db, func, *args, **kwargs)

    async def crypto(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await _run(self._crypto, func, *args, **kwargs)

    async def cpu(self, func: Callable[..., T], *args: Any) -> T:
        if not self._parse_in_process:
            return func(*args)
        if self._cpu is None:
            # Started on first use (it costs a fresh interpreter). "spawn", not fork: a forked child would
            # inherit a copy of the unlocked data key and the open sockets.
            self._cpu = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return await _run(self._cpu, func, *args)

    def shutdown(self) -> None:
        for executor in (self._imap, self._db, self._crypto, self._cpu):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)


async def _run(executor: Executor, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, partial(func, *args, **kwargs))
