"""A real PostgreSQL server for tests: Debian's binaries on a temporary cluster, TLS from the test CA, SCRAM
passwords, on 127.0.0.1 and a free port.

PostgreSQL refuses to run as root; when the tests run as root the server runs as the `postgres` user that
Debian's package creates, and its directory is handed to that user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.pki import TestCA

_USER = "portal"


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str
    ca_file: Path

    def dsn(self, database: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} user={_USER} password={self.password} "
            f"sslmode=verify-full sslrootcert={self.ca_file}"
        )

    def new_database(self) -> str:
        """A fresh, empty database; its DSN."""
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")  # a generated identifier, never input
        return self.dsn(name)


@contextmanager
def running_postgres(ca: TestCA) -> Iterator[PostgresServer]:
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/bootstrap installs Debian's postgresql)")
    base = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    password = secrets.token_urlsafe(16)
    try:
        (base / "pw").write_text(password)
        cert = ca.issue_server_cert(base / "tls", dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        shutil.copy(cert.chain_file, base / "server.crt")
        shutil.copy(cert.key_file, base / "server.key")
        (base / "server.key").chmod(0o600)
        if as_postgres:
            shutil.chown(base, "postgres")
            for path in base.rglob("*"):
                shutil.chown(path, "postgres")
        port = _free_port()
        run = [*as_postgres, str(binaries / "initdb"), "-D", str(base / "data"), "-U", _USER]
        subprocess.run([*run, f"--pwfile={base / 'pw'}", "-A", "scram-sha-256", "--no-sync"], check=True,
                       capture_output=True)  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c ssl=on -c ssl_cert_file={base / 'server.crt'} "
            f"-c ssl_key_file={base / 'server.key'} -c fsync=off -c max_connections=40"
        )
        subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(base / "data"), "-l",
                        str(base / "log"), "-w", "-o", options, "start"], check=True, capture_output=True)  # fmt: skip
        try:
            yield PostgresServer(port, password, ca.cert_file)
        finally:
            subprocess.run([*as_postgres, str(binaries / "pg_ctl"), "-D", str(base / "data"), "-m", "fast",
                            "-w", "stop"], check=False, capture_output=True)  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    # PostgreSQL binds its own socket, so the port is found free and then handed over; the window in between
    # is tiny and another test taking it makes start-up fail loudly, never silently share a server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
