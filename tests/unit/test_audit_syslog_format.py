"""The syslog copy of an audit entry (RFC 5424) and the policy's collector address, as tables."""

from __future__ import annotations

import pytest

from app.audit.chain import AuditEntry
from app.audit.eventlog import event_text
from app.audit.forward import DEFAULT_UNIX_SOCKET, SyslogAddress, Transport, parse_address, syslog_message
from app.core.errors import PolicyError
from tests.support.syslog_listener import parse

AT = "2026-11-28T08:00:00.123456+00:00"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SyslogAddress(Transport.UNIX, DEFAULT_UNIX_SOCKET)),
        ("unix:/run/log.sock", SyslogAddress(Transport.UNIX, "/run/log.sock")),
        ("udp://127.0.0.1:514", SyslogAddress(Transport.UDP, "127.0.0.1", 514)),
        ("tcp://logs.clinic.example:6514", SyslogAddress(Transport.TCP, "logs.clinic.example", 6514)),
        ("udp://[::1]:514", SyslogAddress(Transport.UDP, "::1", 514)),
    ],
)
def test_collector_addresses_parse(text: str, expected: SyslogAddress) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text",
    ["logs.example:514", "udp://logs.example", "udp://logs.example:0", "tcp://h:70000", "unix:dev/log", "http://h:1"],
)
def test_malformed_collector_addresses_are_policy_errors(text: str) -> None:
    with pytest.raises(PolicyError, match="audit_syslog_address"):
        parse_address(text)


def test_message_is_rfc5424_with_escaped_parameters_and_no_target_or_free_text() -> None:
    entry = AuditEntry(7, AT, 'front"desk]\\', "search", "Local/Patients Haddad/3", '{"query":"haddad","results":1}')
    message = parse(syslog_message(entry, bytes(range(32)), "p-1", "ws 01", 42))
    assert message.pri == 85 and message.msgid == "search" and message.timestamp == AT
    assert message.params == {"seq": "7", "actor": 'front"desk]\\', "profile": "p-1", "mac": "0001020304050607"}
    assert "Haddad" not in message.raw and "haddad" not in message.raw
    assert " ws01 " in message.raw  # header fields lose their spaces (RFC 5424 §6)


@pytest.mark.parametrize(
    ("event", "detail", "forwarded"),
    [
        ("lock", '{"reason":"idle"}', {"reason": "idle"}),
        ("unlock.succeeded", '{"method":"passphrase"}', {"method": "passphrase"}),
        ("audit.verified", '{"ok":false,"entries":12}', {"ok": "false", "entries": "12"}),
        ("settings.changed", '{"key":"idle_timeout_minutes","old":5,"new":2}', {"key": "idle_timeout_minutes"}),
        ("lock", '{"reason":"Dr. Haddad left"}', {}),  # not a closed-set value: left out
        ("attachment.saved", '{"destination":"/home/x/scan.pdf"}', {}),
        ("send", "not json", {}),
    ],
)
def test_only_allow_listed_closed_set_details_are_forwarded(event: str, detail: str, forwarded: dict[str, str]) -> None:
    message = parse(syslog_message(AuditEntry(1, AT, "me", event, "", detail), bytes(32), "p", "h", 1))
    assert {k: v for k, v in message.params.items() if k not in ("seq", "actor", "profile", "mac")} == forwarded


def test_unlock_failures_are_warnings() -> None:
    message = parse(syslog_message(AuditEntry(1, AT, "me", "unlock.failed", "", "{}"), bytes(32), "p", "h", 1))
    assert message.pri == 10 * 8 + 4


def test_event_log_text_carries_the_same_metadata() -> None:
    entry = AuditEntry(3, AT, "me", "message.read", "Local/INBOX/9", "{}")
    text = event_text(entry, bytes(32), "p-1")
    assert text == f"Salus audit entry: seq=3 at={AT} event=message.read actor=me profile=p-1 mac=0000000000000000"
