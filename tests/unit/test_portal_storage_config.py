"""`salus-portal`'s choice of storage: the embedded one by default, and a clear error for a storage section it
cannot use (nothing is opened or created then)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import AppError
from app.portal.main import build_app, load_config
from app.portal.storage import SqliteStorage
from app.portal.storage_config import open_storage


def _config(tmp_path: Path, storage: dict[str, object] | None) -> Path:
    document: dict[str, object] = {
        "public_url": "https://portal.example.org", "tls_cert": "c.pem", "tls_key": "k.pem", "data_dir": "data",
        "upload_key_digests": [], "smtp": {"host": "127.0.0.1", "port": 465, "from": "portal@example.org"},
    }  # fmt: skip
    if storage is not None:
        document["storage"] = storage
    path = tmp_path / "portal.json"
    path.write_text(json.dumps(document))
    return path


def test_without_a_storage_section_the_portal_uses_sqlite_under_data_dir(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, None))
    storage = open_storage(config.storage, config.data_dir, config.base)
    assert isinstance(storage, SqliteStorage) and (tmp_path / "data" / "portal.db").exists()
    storage.close()


@pytest.mark.parametrize(
    ("storage", "named"),
    [
        ({"backend": "mongodb"}, "storage.backend must be one of sqlite, postgres-s3"),
        ({"backend": "postgres-s3", "s3": {}}, "storage needs dsn_file"),
        ({"backend": "postgres-s3", "dsn_file": "missing.dsn", "s3": {}}, "missing.dsn"),
    ],
)
def test_a_storage_section_it_cannot_use_is_a_clear_error_naming_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage: dict[str, object], named: str
) -> None:
    monkeypatch.delenv("SALUS_PORTAL_DSN", raising=False)
    with pytest.raises(AppError, match="storage configuration cannot be used") as refused:
        build_app(load_config(_config(tmp_path, storage)))
    assert named in str(refused.value)
    assert not (tmp_path / "data").exists()
