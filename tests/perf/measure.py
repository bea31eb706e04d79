"""Timing a command: wall time, CPU time and peak memory, from the kernel's own accounting (wait4).

Commands are started by a small launcher process created before the benchmark loads its corpus. A child
forked from the big benchmark process would inherit that process's resident size into its own high-water mark
(Linux folds the pre-exec memory into `ru_maxrss`), and every tool would look as large as the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

_LAUNCHER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    child = subprocess.Popen(job["argv"], env=job["env"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = child.stdout.read(), child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    print(json.dumps({
        "wall": time.perf_counter() - start, "cpu": usage.ru_utime + usage.ru_stime,
        "maxrss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status),
        "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")[-4000:],
    }), flush=True)
"""


@dataclass(frozen=True)
class Measurement:
    label: str
    wall: float
    cpu: float
    peak_mb: float  # the largest resident set of the command and of the children it waited for
    output: str = ""

    def row(self) -> str:
        memory = f"{self.peak_mb:8.1f} MB peak" if self.peak_mb else "         (in process)"
        return f"{self.label:<58} {self.wall:8.2f} s wall {self.cpu:8.2f} s CPU {memory}"


class Launcher:
    """A small process that runs commands for us and reports their resource usage."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def run(self, label: str, argv: Sequence[str], env: Mapping[str, str]) -> Measurement:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"argv": list(argv), "env": dict(env)}) + "\n")
        self._process.stdin.flush()
        report = json.loads(self._process.stdout.readline())
        if report["code"] != 0:
            raise RuntimeError(f"{label}: {' '.join(argv)} exited {report['code']}: {report['stderr']}")
        return Measurement(label, report["wall"], report["cpu"], report["maxrss_kb"] / 1024, report["stdout"])

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


def timed(func: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start
