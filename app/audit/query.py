"""Reading the access log a page at a time, newest first, with the filters of the window's "Access log" view.

Rules:
- Pages are keyed by sequence number (`before`), not by offset, so entries appended while someone is reading
  never shift or repeat a page.
- The text filter matches the entry's target and detail (where a message, a folder or a file is named) as a
  plain substring, case-insensitively: no pattern syntax from the user reaches SQL (`instr`, not `LIKE`).
- Dates are compared as the ISO-8601 text the log stores (UTC, microseconds), which sorts like time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.audit.chain import AuditEntry
from app.audit.log import AuditDatabase


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    event: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    before: int | None  # pass as `before` for the next (older) page; None when this was the last


def select_page(db: AuditDatabase, where: AuditFilter, before: int | None, limit: int) -> AuditPage:
    clauses, params = _clauses(where)
    if before is not None:
        clauses.append("seq < ?")
        params.append(before)
    sql = "SELECT seq, at, actor, event, target, detail FROM audit_log"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY seq DESC LIMIT ?"
    rows = db.execute(sql, (*params, limit + 1)).fetchall()
    entries = tuple(AuditEntry(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows[:limit])
    more = len(rows) > limit
    return AuditPage(entries, entries[-1].seq if more and entries else None)


def _clauses(where: AuditFilter) -> tuple[list[str], list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if where.since is not None:
        clauses.append("at >= ?")
        params.append(where.since.isoformat(timespec="microseconds"))
    if where.until is not None:
        clauses.append("at < ?")
        params.append(where.until.isoformat(timespec="microseconds"))
    if where.event:
        clauses.append("event = ?")
        params.append(where.event)
    if where.text.strip():
        clauses.append("(instr(lower(target), lower(?)) > 0 OR instr(lower(detail), lower(?)) > 0)")
        params += [where.text.strip(), where.text.strip()]
    return clauses, params
