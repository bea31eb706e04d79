"""The embedded storage (app.portal.storage.SqliteStorage) on a temporary directory: atomic changes, private
files, content dropped on revocation, and nothing kept that the rules did not put in a record."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.portal import rules
from app.portal.protocol import EventKind, UploadMeta
from app.portal.rules import Limits, Refusal, Refused
from app.portal.server import purge
from app.portal.storage import SqliteStorage

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
ID = "B" * 22


@pytest.fixture
def storage(tmp_path: Path) -> SqliteStorage:
    opened = SqliteStorage(tmp_path / "portal")
    meta = UploadMeta("patient@example.org", bytes(range(32)), NOW + timedelta(days=1), b"\x04" + bytes(64))
    opened.create(rules.new_record(meta, ID, "token", NOW, Limits()), b"SALUSPM1 envelope")
    return opened


def test_a_record_round_trips_and_its_files_are_private(storage: SqliteStorage, tmp_path: Path) -> None:
    record = rules.issue_code(storage.load(ID) or pytest.fail(), NOW, "123456", Limits()).record
    storage.apply(ID, NOW, lambda r: rules.issue_code(r, NOW, "123456", Limits()))
    assert storage.load(ID) == record
    for path in (tmp_path / "portal" / "portal.db", tmp_path / "portal" / "envelopes" / ID):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [e.kind for e in storage.events(ID)] == [EventKind.UPLOADED, EventKind.CODE_SENT]


def test_a_refusing_rule_changes_nothing(storage: SqliteStorage) -> None:
    before = storage.load(ID)

    def refuse(record: rules.MessageRecord) -> rules.Step:
        raise Refused(Refusal.LOCKED)

    with pytest.raises(Refused):
        storage.apply(ID, NOW, refuse)
    assert storage.load(ID) == before and len(storage.events(ID)) == 1


def test_an_unknown_id_is_not_found(storage: SqliteStorage) -> None:
    with pytest.raises(Refused) as refused:
        storage.apply("C" * 22, NOW, lambda r: rules.Step(r))
    assert refused.value.refusal is Refusal.NOT_FOUND


def test_revocation_unlinks_the_envelope_but_keeps_replies_numbered(storage: SqliteStorage) -> None:
    assert storage.add_reply(ID, NOW, b"SALUSPR1 one") == 1
    assert storage.add_reply(ID, NOW, b"SALUSPR1 two") == 2
    storage.apply(ID, NOW, lambda r: rules.revoke(r, NOW))
    with pytest.raises(Refused):
        storage.envelope(ID)
    assert storage.reply(ID, 2) == b"SALUSPR1 two"
    assert [r.n for r in storage.replies(ID)] == [1, 2]


def test_purge_drops_expired_content_then_forgets_the_message_after_retention(storage: SqliteStorage) -> None:
    storage.add_reply(ID, NOW, b"SALUSPR1 reply")
    expired = NOW + timedelta(days=1)
    purge(storage, expired, timedelta(days=30))
    record = storage.load(ID)
    assert record is not None and record.k2 == b""
    assert storage.expired_ids(expired) == []
    purge(storage, expired + timedelta(days=31), timedelta(days=30))
    assert storage.load(ID) is None and storage.replies(ID) == []
