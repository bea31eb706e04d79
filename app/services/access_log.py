"""The "Access log" use cases for the window: pages of entries, the chain's verification, and exports.

Rules:
- Each function takes the open `Session` and runs on the vault's thread (the reader calls it through
  `Reader.in_vault`); nothing here knows Qt.
- Verifying and exporting are themselves audited (DESIGN.md §8), as `salus audit verify|export` do; the
  verification entry is written after the check, so it never changes the result it reports.
- An export is written atomically with private permissions, and its audit entry is committed in the same
  transaction as the file appears, so an export whose file cannot be written leaves no entry behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from app.audit.chain import VerifyReport
from app.audit.events import AuditEvent
from app.audit.query import AuditFilter, AuditPage, select_page
from app.core.clock import utc_now
from app.core.errors import UsageError
from app.services.profile import Session
from app.store.files import write_private_atomic

PAGE_SIZE = 200


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class ChainStatus:
    ok: bool
    entries: int
    first_broken: int | None  # the sequence number of the first entry found broken
    problems: tuple[str, ...]

    @property
    def text(self) -> str:
        if self.ok:
            return f"Chain verified: all {self.entries} entries are intact."
        return f"Chain broken at entry {self.first_broken}: {self.problems[0]}"


def page(session: Session, where: AuditFilter, before: int | None, limit: int = PAGE_SIZE) -> AuditPage:
    return select_page(session.vault, where, before, limit)


def check_chain(session: Session) -> ChainStatus:
    report = session.audit.verify()
    session.audit.record(AuditEvent.AUDIT_VERIFIED, utc_now(), detail={"ok": report.ok, "entries": report.entries})
    return chain_status(report)


def chain_status(report: VerifyReport) -> ChainStatus:
    if report.ok:
        return ChainStatus(True, report.entries, None, ())
    first = min(p.seq for p in report.problems)
    return ChainStatus(False, report.entries, first, tuple(p.description for p in report.problems))


def export(session: Session, fmt: ExportFormat, destination: Path) -> int:
    """Writes the whole log to `destination`; returns the number of bytes written."""
    if not destination.parent.is_dir():
        raise UsageError(f"Cannot export the access log: the folder {destination.parent} does not exist.")
    with session.vault.transaction():
        session.audit.record_in_transaction(AuditEvent.AUDIT_EXPORTED, utc_now(), detail={"format": fmt.value})
        # Written after the entry, so the file holds its own export record, as `salus audit export` does.
        data = session.audit.export(fmt.value).encode("utf-8")
        try:
            write_private_atomic(destination, data)
        except OSError as exc:  # raised inside the transaction, so the export's entry is rolled back too
            raise UsageError(f"Cannot export the access log to {destination}: {exc.strerror}.") from exc
    return len(data)
