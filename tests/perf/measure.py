"""Timing a child process: wall time, CPU time and peak memory, from the kernel's own accounting (wait4)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Measurement:
    label: str
    wall: float
    cpu: float
    peak_mb: float  # the largest resident set of the process and the children it waited for
    output: str = ""

    def row(self) -> str:
        return f"{self.label:<48} {self.wall:8.2f} s wall {self.cpu:8.2f} s CPU {self.peak_mb:8.1f} MB peak"


def run_measured(
    label: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | None = None
) -> Measurement:
    start = time.perf_counter()
    process = subprocess.Popen(
        list(argv), env=dict(env) if env else None, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # communicate() would reap the child itself and lose its rusage; read the pipes, then wait4 for it.
    stdout = process.stdout.read() if process.stdout else b""
    stderr = process.stderr.read() if process.stderr else b""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{label}: {' '.join(argv)} exited {process.returncode}: {stderr.decode()[-2000:]}")
    return Measurement(label, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout.decode())


def timed(func: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start
