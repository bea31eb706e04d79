"""Drives a frozen (PyInstaller) `salus` executable through a real sync, for the installers' smoke tests:

    .venv/bin/python -m tests.support.frozen_sync_check dist/salus/salus

A real Dovecot is started on loopback with a throw-away CA; the frozen program creates a profile, adds the
account (implicit TLS, the CA given with --ca-file), syncs and searches. This is what a bundle most easily gets
wrong and the demo does not touch: TLS with the bundled OpenSSL, imapclient, and the "spawn" worker process the
sync parses in, which in a frozen program is the executable itself started again (app/__main__.py).
Exits 0 when everything matched, 1 with the failing step otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.corpus import make_message
from tests.support.dovecot import DovecotServer, MailUser, start_dovecot
from tests.support.pki import TestCA

MESSAGES = 40  # more than one parse batch would need; the worker process runs either way


def main(executable: str) -> int:
    with tempfile.TemporaryDirectory(prefix="salus-frozen-") as name:
        work = Path(name)
        server = start_dovecot(work / "dovecot", TestCA.create(work / "ca"))
        try:
            user = server.new_user("frozen")
            messages = [make_message(subject=f"Frozen check {i}", body=f"FROZENOTTER {i}") for i in range(MESSAGES)]
            server.seed(user, "INBOX", messages)
            return _drive(executable, work, server, user)
        finally:
            server.stop()


def _drive(executable: str, work: Path, server: DovecotServer, user: MailUser) -> int:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "SALUS_PROFILE": str(work / "profile"),
           "SALUS_PASSPHRASE": "frozen check passphrase"}  # fmt: skip

    def run(*args: str, **extra: str) -> str:
        done = subprocess.run(
            [executable, *args], env={**env, **extra}, capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"salus {args[0]} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    try:
        run("profile", "create")
        run("account", "add", "work", "--imap", f"{server.host}:{server.imaps_port}", "--smtp", f"{server.host}:1",
            "--user", user.name, "--ca-file", str(server.ca_file), SALUS_ACCOUNT_PASSWORD=user.password)  # fmt: skip
        synced = json.loads(run("sync", "--json"))["accounts"]["work"]["new"]
        found = json.loads(run("search", "FROZENOTTER", "--limit", "100", "--json"))["results"]
    except (RuntimeError, KeyError, json.JSONDecodeError) as exc:
        print(f"frozen sync check: FAILED: {exc}", file=sys.stderr)
        return 1
    if synced != MESSAGES or len(found) != MESSAGES:
        print(f"frozen sync check: FAILED: synced {synced}, found {len(found)}, expected {MESSAGES}", file=sys.stderr)
        return 1
    print(f"frozen sync check: synced and found {MESSAGES} messages over TLS", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
