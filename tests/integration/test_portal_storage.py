"""The portal's storage contract, run against both backends: the embedded SqliteStorage on a temporary
directory, and PostgresS3Storage on a real PostgreSQL server (TLS, SCRAM) with an S3-compatible object store
(moto's S3 over HTTPS: a protocol-level simulation, not MinIO). Atomic changes, content dropped on revocation,
replies numbered, purge, and nothing kept that the rules did not put in a record."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.portal import rules
from app.portal.errors import PortalStorageError
from app.portal.protocol import EventKind, UploadMeta
from app.portal.rules import Limits, Refusal, Refused
from app.portal.server import purge
from app.portal.storage import PortalStorage, SqliteStorage
from app.portal.storage_pg import PostgresS3Storage, secure_dsn
from tests.support.pki import TestCA
from tests.support.postgres import PostgresServer, postgres_bin, running_postgres
from tests.support.s3_server import S3Server, running_s3

pytestmark = pytest.mark.integration

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
ID = "B" * 22


@pytest.fixture(scope="module")
def postgres(test_ca: TestCA) -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        pytest.skip("Debian's postgresql is not installed (scripts/bootstrap installs it)")
    with running_postgres(test_ca) as server:
        yield server


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[S3Server]:
    with running_s3(tmp_path_factory.mktemp("s3"), test_ca) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres-s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PortalStorage]:
    opened: PortalStorage
    if request.param == "sqlite":
        opened = SqliteStorage(tmp_path / "portal")
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        objects: S3Server = request.getfixturevalue("s3")
        opened = PostgresS3Storage(server.new_database(), objects.new_store())
    meta = UploadMeta("patient@example.org", bytes(range(32)), NOW + timedelta(days=1), b"\x04" + bytes(64))
    opened.create(rules.new_record(meta, ID, "token", NOW, Limits()), b"SALUSPM1 envelope")
    yield opened
    opened.close()


def test_a_record_round_trips_with_its_events(storage: PortalStorage) -> None:
    record = rules.issue_code(storage.load(ID) or pytest.fail(), NOW, "123456", Limits()).record
    storage.apply(ID, NOW, lambda r: rules.issue_code(r, NOW, "123456", Limits()))
    assert storage.load(ID) == record
    assert storage.envelope(ID) == b"SALUSPM1 envelope"
    assert [e.kind for e in storage.events(ID)] == [EventKind.UPLOADED, EventKind.CODE_SENT]


def test_the_embedded_storage_files_are_private(tmp_path: Path) -> None:
    SqliteStorage(tmp_path / "portal").close()
    opened = SqliteStorage(tmp_path / "portal")
    meta = UploadMeta("patient@example.org", bytes(range(32)), NOW + timedelta(days=1), b"\x04" + bytes(64))
    opened.create(rules.new_record(meta, ID, "token", NOW, Limits()), b"SALUSPM1 envelope")
    opened.add_reply(ID, NOW, b"SALUSPR1 reply")
    opened.close()
    for path in ("portal.db", f"envelopes/{ID}", f"replies/{ID}.1"):
        assert stat.S_IMODE((tmp_path / "portal" / path).stat().st_mode) == 0o600


def test_a_refusing_rule_changes_nothing(storage: PortalStorage) -> None:
    before = storage.load(ID)

    def refuse(record: rules.MessageRecord) -> rules.Step:
        raise Refused(Refusal.LOCKED)

    with pytest.raises(Refused):
        storage.apply(ID, NOW, refuse)
    assert storage.load(ID) == before and len(storage.events(ID)) == 1


def test_an_unknown_id_is_not_found(storage: PortalStorage) -> None:
    with pytest.raises(Refused) as refused:
        storage.apply("C" * 22, NOW, lambda r: rules.Step(r))
    assert refused.value.refusal is Refusal.NOT_FOUND


def test_revocation_unlinks_the_envelope_but_keeps_replies_numbered(storage: PortalStorage) -> None:
    assert storage.add_reply(ID, NOW, b"SALUSPR1 one") == 1
    assert storage.add_reply(ID, NOW, b"SALUSPR1 two") == 2
    storage.apply(ID, NOW, lambda r: rules.revoke(r, NOW))
    with pytest.raises(Refused):
        storage.envelope(ID)
    assert storage.reply(ID, 2) == b"SALUSPR1 two"
    assert [r.n for r in storage.replies(ID)] == [1, 2]


def test_purge_drops_expired_content_then_forgets_the_message_after_retention(storage: PortalStorage) -> None:
    storage.add_reply(ID, NOW, b"SALUSPR1 reply")
    expired = NOW + timedelta(days=1)
    purge(storage, expired, timedelta(days=30))
    record = storage.load(ID)
    assert record is not None and record.k2 == b""
    assert storage.expired_ids(expired) == []
    purge(storage, expired + timedelta(days=31), timedelta(days=30))
    assert storage.load(ID) is None and storage.replies(ID) == []


def test_a_reply_to_an_unknown_message_is_not_found_and_unknown_replies_are_not_found(storage: PortalStorage) -> None:
    with pytest.raises(Refused):
        storage.add_reply("C" * 22, NOW, b"SALUSPR1 stray")
    with pytest.raises(Refused):
        storage.reply(ID, 7)
    assert storage.load("C" * 22) is None


def test_postgres_storage_refuses_a_server_whose_certificate_is_not_trusted(
    postgres: PostgresServer, s3: S3Server, tmp_path: Path
) -> None:
    other = TestCA.create(tmp_path / "other-ca")
    dsn = postgres.dsn().replace(str(postgres.ca_file), str(other.cert_file))
    with pytest.raises(PortalStorageError, match="cannot be opened"):
        PostgresS3Storage(dsn, s3.new_store())


def test_a_dsn_without_sslmode_gets_verify_full() -> None:
    assert "sslmode=verify-full" in secure_dsn("host=db.example.org dbname=portal")
    assert "sslmode=require" in secure_dsn("host=db.example.org sslmode=require")


def test_two_servers_sharing_postgres_number_concurrent_replies_without_gaps_or_duplicates(
    postgres: PostgresServer, s3: S3Server
) -> None:
    dsn, objects = postgres.new_database(), s3.new_store()
    first, second = PostgresS3Storage(dsn, objects), PostgresS3Storage(dsn, objects)
    meta = UploadMeta("patient@example.org", bytes(range(32)), NOW + timedelta(days=1), b"\x04" + bytes(64))
    first.create(rules.new_record(meta, ID, "token", NOW, Limits()), b"SALUSPM1 envelope")

    def reply(storage: PostgresS3Storage, tag: str) -> list[int]:
        return [storage.add_reply(ID, NOW, f"SALUSPR1 {tag}{i}".encode()) for i in range(8)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        running = [pool.submit(reply, first, "a"), pool.submit(reply, second, "b")]
        numbers = [n for future in running for n in future.result()]
    assert sorted(numbers) == list(range(1, 17))
    stored = {first.reply(ID, n) for n in numbers}
    assert stored == {f"SALUSPR1 {t}{i}".encode() for t in "ab" for i in range(8)}
    assert [r.n for r in second.replies(ID)] == list(range(1, 17))
    first.close()
    second.close()
