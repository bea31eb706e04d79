"""Benchmark: the portal's two storages, side by side in one run.

    .venv/bin/python -m tests.perf.bench_portal_storage [--messages 200]

For each backend, the storage calls one recipient's visit makes, in order: create (upload, 64 KiB envelope),
apply (code issued), apply (code verified), envelope, add_reply (8 KiB), then the sender's status (events,
replies). The reference is the embedded SqliteStorage on the local disk; the other is PostgresS3Storage on a
real PostgreSQL (TLS, SCRAM, fsync off as in the tests) and moto's S3 over HTTPS (a simulation of S3, not
MinIO), all on 127.0.0.1. Prints the median and p95 per visit and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.portal import rules
from app.portal.protocol import UploadMeta
from app.portal.rules import Limits
from app.portal.storage import PortalStorage, SqliteStorage
from app.portal.storage_pg import PostgresS3Storage
from tests.support.pki import TestCA
from tests.support.postgres import running_postgres
from tests.support.s3_server import running_s3

ENVELOPE, REPLY = os.urandom(64 * 1024), os.urandom(8 * 1024)


def visit(storage: PortalStorage, n: int, now: datetime) -> None:
    message_id = f"{n:022d}"
    meta = UploadMeta("patient@example.org", os.urandom(32), now + timedelta(days=30), b"\x04" + bytes(64))
    storage.create(rules.new_record(meta, message_id, "token", now, Limits()), ENVELOPE)
    storage.apply(message_id, now, lambda r: rules.issue_code(r, now, "123456", Limits()))
    storage.apply(message_id, now, lambda r: rules.verify_code(r, now, "123456", "access", Limits()))
    storage.envelope(message_id)
    storage.add_reply(message_id, now, REPLY)
    storage.events(message_id)
    storage.replies(message_id)


def measure(name: str, storage: PortalStorage, count: int) -> list[float]:
    now = datetime.now(UTC)
    times = []
    for n in range(count):
        start = time.perf_counter()
        visit(storage, n, now)
        times.append((time.perf_counter() - start) * 1000)
    storage.close()
    return times


def report(name: str, times: list[float], reference: list[float] | None) -> None:
    median, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
    ratio = f"  ({median / statistics.median(reference):.1f}x the reference)" if reference else "  (reference)"
    print(f"{name:28} median {median:7.2f} ms  p95 {p95:7.2f} ms per visit{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    count = parser.parse_args().messages
    base = Path(tempfile.mkdtemp(prefix="bench-storage"))
    ca = TestCA.create(base / "ca")
    reference = measure("sqlite", SqliteStorage(base / "sqlite"), count)
    report("SqliteStorage (files)", reference, None)
    with running_postgres(ca) as postgres, running_s3(base / "s3", ca) as s3:
        storage = PostgresS3Storage(postgres.new_database(), s3.new_store())
        report("PostgresS3Storage", measure("postgres-s3", storage, count), reference)


if __name__ == "__main__":
    main()
