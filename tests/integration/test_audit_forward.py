"""Policy `audit_forward = syslog` (issue 7): every committed audit entry reaches a real syslog listener on
loopback, exactly once, in order, as RFC 5424 carrying metadata only (never subjects, addresses, queries or
targets); an address that cannot work stops the command before it writes anything."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.salus_cli import Salus
from tests.support.syslog_listener import Listener, parse

SECRET_QUERY = "haddad-potassium-7731"


@pytest.fixture(params=["udp", "tcp", "unix"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    collector = Listener(request.param, tmp_path)
    yield collector
    collector.close()


def _policy(tmp_path: Path, document: dict[str, object]) -> dict[str, str]:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), "utf-8")
    return {"SALUS_POLICY_FILE": str(path)}


def test_forwarded_entries_match_the_chain_exactly_and_carry_no_content(listener: Listener, tmp_path: Path) -> None:
    env = _policy(tmp_path, {"audit_forward": "syslog", "audit_syslog_address": listener.address})
    salus = Salus(tmp_path / "profile", env=env)
    salus.ok("profile", "create")
    salus.ok("search", SECRET_QUERY)
    assert salus.run("stats", extra_env={"SALUS_PASSPHRASE": "wrong"}).code == 3
    salus.ok("audit", "verify")
    exported = salus.json("audit", "export", "--format", "json")["entries"]
    received = [parse(raw) for raw in listener.messages()]

    assert [int(m.params["seq"]) for m in received] == [e["seq"] for e in exported]
    for message, entry in zip(received, exported, strict=True):
        assert message.msgid == entry["event"]
        assert message.timestamp == entry["at"]
        assert message.app == "salus" and message.sd_id == "salus-audit@32473"
        assert message.params["mac"] == entry["mac"][:16]
        assert message.params["actor"] == entry["actor"]
        assert message.pri == (10 * 8 + (4 if entry["event"] == "unlock.failed" else 5))
    everything = "\n".join(m.raw for m in received)
    assert SECRET_QUERY not in everything
    assert str(salus.profile) not in everything
    assert "query" not in everything and "target" not in everything
    locks = {m.msgid: m.params for m in received}
    assert locks["unlock.succeeded"]["method"] == "passphrase"
    assert locks["audit.exported"]["format"] == "json"


def test_no_forwarding_without_the_policy(tmp_path: Path) -> None:
    collector = Listener("udp")
    try:
        salus = Salus(tmp_path / "profile", env=_policy(tmp_path, {"audit_syslog_address": collector.address}))
        salus.ok("profile", "create")
        salus.ok("search", "anything")
        assert collector.messages() == []
    finally:
        collector.close()


def test_bad_syslog_address_is_a_clear_error_before_anything_is_written(tmp_path: Path) -> None:
    env = _policy(tmp_path, {"audit_forward": "syslog", "audit_syslog_address": "syslog.example:514"})
    result = Salus(tmp_path / "profile", env=env).run("profile", "create")
    assert result.code == 1
    assert "audit_syslog_address" in result.stderr and "udp://HOST:PORT" in result.stderr
    assert not (tmp_path / "profile").exists() or not any((tmp_path / "profile").iterdir())


def test_eventlog_policy_is_refused_where_there_is_no_windows_event_log(tmp_path: Path) -> None:
    result = Salus(tmp_path / "profile", env=_policy(tmp_path, {"audit_forward": "eventlog"})).run("profile", "create")
    assert result.code == 1
    assert "only on Windows" in result.stderr


def test_collector_that_is_down_does_not_stop_work(tmp_path: Path) -> None:
    collector = Listener("tcp")
    address = collector.address
    collector.close()  # nothing listens there now: connections are refused
    salus = Salus(
        tmp_path / "profile", env=_policy(tmp_path, {"audit_forward": "syslog", "audit_syslog_address": address})
    )
    created = salus.run("profile", "create")
    assert created.code == 0
    assert created.stderr.count("cannot be forwarded to syslog") == 1  # once per outage, not once per entry
    assert "1 audit entries were not forwarded" in created.stderr
    assert salus.json("audit", "verify")["ok"] is True


def test_rolled_back_entries_are_never_forwarded_and_two_sessions_do_not_double_forward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app.audit.events import AuditEvent
    from app.services.profile import create_profile, unlock

    collector = Listener("udp")
    try:
        env = _policy(tmp_path, {"audit_forward": "syslog", "audit_syslog_address": collector.address})
        monkeypatch.setenv("SALUS_POLICY_FILE", env["SALUS_POLICY_FILE"])
        first = create_profile(tmp_path / "profile", "a passphrase")
        rolled_back_at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        with pytest.raises(RuntimeError), first.vault.transaction():
            first.audit.record_in_transaction(AuditEvent.SEARCH, rolled_back_at, detail={"results": 0})
            raise RuntimeError("the caller's change failed")
        second = unlock(tmp_path / "profile", "a passphrase")  # another window or command on the same vault
        second.audit.record(AuditEvent.SEARCH, datetime.now(UTC), detail={"results": 1})
        first.audit.record(AuditEvent.SEARCH, datetime.now(UTC), detail={"results": 2})
        second.close()
        first.close()
        received = [parse(raw) for raw in collector.messages()]
    finally:
        collector.close()
    seqs = [int(m.params["seq"]) for m in received]
    assert sorted(seqs) == list(range(1, max(seqs) + 1))  # every committed entry once, none twice
    assert rolled_back_at.isoformat(timespec="microseconds") not in {m.timestamp for m in received}


def test_entries_wait_for_a_collector_that_comes_back_and_arrive_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from app.audit.events import AuditEvent
    from app.audit.forward import SyslogForwarder
    from app.services.profile import create_profile

    down = Listener("tcp")
    port = int(down.address.rsplit(":", 1)[1])
    down.close()  # refused until a collector listens on this port again
    env = _policy(tmp_path, {"audit_forward": "syslog", "audit_syslog_address": f"tcp://127.0.0.1:{port}"})
    monkeypatch.setenv("SALUS_POLICY_FILE", env["SALUS_POLICY_FILE"])
    session = create_profile(tmp_path / "profile", "a passphrase")  # entry 1: refused, kept
    forwarder = session.audit.forwarder
    assert isinstance(forwarder, SyslogForwarder)
    forwarder.retry_seconds = 0.3
    collector = Listener("tcp", port=port)
    try:
        session.audit.record(AuditEvent.SEARCH, datetime.now(UTC), detail={"results": 0})  # within the pause
        assert session.audit.unforwarded == 2
        time.sleep(0.4)
        session.audit.record(AuditEvent.SEARCH, datetime.now(UTC), detail={"results": 1})
        assert session.audit.unforwarded == 0
        session.close()
        assert [int(parse(raw).params["seq"]) for raw in collector.messages()] == [1, 2, 3]
    finally:
        collector.close()
