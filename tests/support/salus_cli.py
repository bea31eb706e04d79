"""Runs the real `salus` command line in a subprocess, the way tests, benchmarks and IT scripts use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Salus:
    """One profile directory and the environment every command for it runs with."""

    profile: Path
    passphrase: str = PASSPHRASE
    env: dict[str, str] = field(default_factory=dict)

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALUS_")}
        env["SALUS_PROFILE"] = str(self.profile)
        if self.passphrase:
            env["SALUS_PASSPHRASE"] = self.passphrase
        env.update(self.env)
        env.update(extra or {})
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app", *args]

    def run(self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 300) -> Result:
        done = subprocess.run(
            self.command(*args),
            env=self.environment(extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, extra_env: dict[str, str] | None = None) -> Result:
        result = self.run(*args, extra_env=extra_env)
        assert result.code == 0, f"salus {' '.join(args)} exited {result.code}: {result.stderr}"
        return result

    def json(self, *args: str, extra_env: dict[str, str] | None = None) -> Any:
        return self.ok(*args, "--json", extra_env=extra_env).json()

    def add_account(
        self,
        name: str,
        *,
        host: str,
        port: int,
        security: str,
        user: str,
        password: str,
        ca_file: Path | None,
    ) -> Result:
        args = ["account", "add", name, "--imap", f"{host}:{port}", "--imap-security", security,
                "--smtp", f"{host}:1", "--smtp-security", "tls", "--user", user]  # fmt: skip
        if ca_file is not None:
            args += ["--ca-file", str(ca_file)]
        return self.run(*args, extra_env={"SALUS_ACCOUNT_PASSWORD": password})
