"""The pure audit chain: any edit, deletion, reordering or truncation is found and named."""

from __future__ import annotations

from dataclasses import replace

from app.audit.chain import GENESIS_MAC, AuditEntry, StoredEntry, chain_mac, verify

KEY = bytes(range(32))


def build(n: int) -> list[StoredEntry]:
    stored: list[StoredEntry] = []
    previous = GENESIS_MAC
    for seq in range(1, n + 1):
        entry = AuditEntry(seq, f"2026-01-01T00:00:{seq:02d}", "alice", "message.read", f"INBOX/{seq}", "{}")
        previous = chain_mac(KEY, previous, entry)
        stored.append(StoredEntry(entry, previous))
    return stored


def head_of(stored: list[StoredEntry]) -> tuple[int, bytes]:
    return stored[-1].entry.seq, stored[-1].mac


def test_intact_chain_verifies() -> None:
    stored = build(5)
    report = verify(KEY, stored, head_of(stored))
    assert report.ok and report.entries == 5


def test_empty_log_verifies() -> None:
    assert verify(KEY, [], None).ok


def test_altered_field_is_named() -> None:
    stored = build(5)
    stored[2] = StoredEntry(replace(stored[2].entry, target="INBOX/999"), stored[2].mac)
    report = verify(KEY, stored, head_of(stored))
    assert [p.seq for p in report.problems] == [3]
    assert "altered" in report.problems[0].description


def test_deleted_middle_entry_is_named() -> None:
    stored = build(5)
    del stored[1]
    report = verify(KEY, stored, head_of(stored))
    assert not report.ok
    assert any("entry 2 is missing" in p.description for p in report.problems)


def test_swapped_entries_are_detected() -> None:
    stored = build(5)
    a, b = stored[1], stored[2]
    stored[1] = StoredEntry(replace(b.entry, seq=2), b.mac)
    stored[2] = StoredEntry(replace(a.entry, seq=3), a.mac)
    report = verify(KEY, stored, head_of(stored))
    assert {p.seq for p in report.problems} >= {2, 3}


def test_truncated_newest_entries_are_detected_through_the_head() -> None:
    stored = build(5)
    head = head_of(stored)
    report = verify(KEY, stored[:3], head)
    assert not report.ok
    assert "truncated" in report.problems[0].description


def test_wrong_key_fails_every_entry() -> None:
    stored = build(3)
    report = verify(bytes(32), stored, head_of(stored))
    assert [p.seq for p in report.problems] == [1, 2, 3]
