"""The pure half of the audit log: how an entry is serialised, chained and verified.

Rules:
- mac(n) = HMAC-SHA256(audit_key, mac(n-1) || canonical(entry n)), with mac(0) = 32 zero bytes.
- canonical() covers every stored field, the sequence number included, so editing a field, moving an entry to
  another position, or deleting one changes a MAC that cannot be recomputed without the key.
- The head (last seq and MAC) is kept apart from the entries, so removing the newest entries is detected too.
- Verification reports every broken entry it finds, not just the first, and never raises for tampering.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS_MAC = bytes(32)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    event: str
    target: str
    detail: str  # canonical JSON text

    def canonical(self) -> bytes:
        fields = [self.seq, self.at, self.actor, self.event, self.target, self.detail]
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    entry: AuditEntry
    mac: bytes


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    description: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def detail_json(detail: dict[str, object]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def chain_mac(key: bytes, previous_mac: bytes, entry: AuditEntry) -> bytes:
    return hmac.new(key, previous_mac + entry.canonical(), hashlib.sha256).digest()


def verify(key: bytes, stored: Iterable[StoredEntry], head: tuple[int, bytes] | None) -> VerifyReport:
    problems: list[Problem] = []
    previous_mac, expected_seq, count = GENESIS_MAC, 1, 0
    for item in stored:
        count += 1
        seq = item.entry.seq
        if seq != expected_seq:
            missing = (
                f"entry {expected_seq} is" if seq == expected_seq + 1 else f"entries {expected_seq} to {seq - 1} are"
            )
            problems.append(Problem(seq, f"{missing} missing: deleted from the log"))
        if not hmac.compare_digest(chain_mac(key, previous_mac, item.entry), item.mac):
            problems.append(Problem(seq, f"entry {seq} was altered, moved or inserted"))
        previous_mac, expected_seq = item.mac, seq + 1
    problems.extend(_check_head(head, expected_seq - 1, previous_mac))
    return VerifyReport(count, tuple(problems))


def _check_head(head: tuple[int, bytes] | None, last_seq: int, last_mac: bytes) -> list[Problem]:
    if head is None:
        return [] if last_seq == 0 else [Problem(last_seq, "the log's head record is missing")]
    head_seq, head_mac = head
    if head_seq > last_seq:
        return [Problem(last_seq + 1, f"entries {last_seq + 1} to {head_seq} are missing: the log was truncated")]
    if head_seq < last_seq or not hmac.compare_digest(head_mac, last_mac):
        return [Problem(last_seq, "the newest entries do not match the log's head record")]
    return []
