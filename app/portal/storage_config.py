"""Which storage `salus-portal serve` uses, from the configuration's "storage" section (docs/portal-protocol.md
§7). Without one, the embedded SQLite + files under data_dir.

    "storage": {"backend": "postgres-s3", "dsn_file": "postgres.dsn",
                "s3": {"endpoint": "https://s3.example.org", "bucket": "salus-portal", "region": "eu-central-1",
                       "access_key_id": "AKID...", "secret_key_file": "s3-secret", "ca_file": ""}}

Secrets stay out of the configuration file itself: the DSN (it may hold a password) and the S3 secret key are
read from files, or from the environment variables SALUS_PORTAL_DSN and SALUS_PORTAL_S3_SECRET_KEY, which win
(for containers). Relative paths are relative to the configuration file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from app.portal.s3 import S3ObjectStore, S3Settings
from app.portal.storage import PortalStorage, SqliteStorage

BACKENDS = ("sqlite", "postgres-s3")


def open_storage(raw: dict[str, Any] | None, data_dir: Path, base: Path) -> PortalStorage:
    section = raw or {"backend": "sqlite"}
    backend = str(section.get("backend", "sqlite"))
    if backend not in BACKENDS:
        raise ValueError(f"storage.backend must be one of {', '.join(BACKENDS)}")
    if backend == "sqlite":
        return SqliteStorage(data_dir)
    # Imported here so that a portal on the embedded storage runs without psycopg installed.
    from app.portal.storage_pg import PostgresS3Storage

    dsn = os.environ.get("SALUS_PORTAL_DSN") or _secret(base, section, "dsn_file")
    s3 = section["s3"]
    settings = S3Settings(
        endpoint=str(s3["endpoint"]), bucket=str(s3["bucket"]), region=str(s3.get("region", "us-east-1")),
        access_key=str(s3["access_key_id"]),
        secret_key=os.environ.get("SALUS_PORTAL_S3_SECRET_KEY") or _secret(base, s3, "secret_key_file"),
        ca_pem=(base / s3["ca_file"]).read_text(encoding="ascii") if s3.get("ca_file") else "",
    )  # fmt: skip
    return PostgresS3Storage(dsn, S3ObjectStore(settings))


def _secret(base: Path, section: dict[str, Any], key: str) -> str:
    if not section.get(key):
        raise ValueError(f"storage needs {key} (or its environment variable)")
    return (base / str(section[key])).read_text(encoding="utf-8").strip()
