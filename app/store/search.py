"""Full-text search over the vault's FTS5 index.

Rules:
- The user's query arrives parsed (`app.core.query`); every word is emitted as an FTS5 string literal, so no
  character a user types can become an FTS operator.
- Every search answers "the `limit` newest matches by date, ties by row id", whatever plan is chosen: the plans
  below differ only in speed, never in hits (tests/integration/test_search_plans.py compares them with the
  plain query).
- SQL text is assembled from constant fragments only; every user value is a bound parameter.

Why plans. SQLite's planner, given `m.id IN (SELECT rowid FROM messages_fts ...)`, drives the join from the
word's hits: one primary-key lookup (one decrypted page read) per hit, then a sort. That is right for a rare
word and ruinous for a common one: "potassium after:2023-01-01" on a 100,000-message vault looked up all 100,000
messages (about 200 ms). So:
1. FTS5 is asked for the highest-rowid hits, at most `_CANDIDATES` (it reads its doclists backwards and stops).
2. Fewer than that: every hit is in hand; look them up by row id ("look up every hit").
3. Otherwise the word is common. If `limit` of those hits pass the date filter, the `limit`-th newest date among
   them is a floor no wanted hit is older than. The date range, narrowed by the floor, becomes a row-id range
   (a scan of the covering date index); when sync stored mail roughly in date order (the usual case) that range
   lies inside the hits already in hand ("walk dates over the newest hits").
4. The date index is walked from the newest end, each entry tested against the hits (those in hand, or FTS5's
   within the row range, which SQLite builds once with a Bloom filter: "walk dates over the index"), stopping
   at `limit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from app.core.models import SearchHit
from app.core.query import Field, SearchQuery, Term
from app.store.vault import Vault

_COLUMNS = {
    Field.SENDER: "sender",
    Field.RECIPIENTS: "recipients",
    Field.SUBJECT: "subject",
    Field.ATTACHMENT: "attachments",
}
# How many of the newest stored hits are read first. Fewer than this: the word is rare, and one primary-key
# lookup per hit is cheapest. Measured on the benchmark vault: 2,000 lookups cost about 4 ms.
_CANDIDATES = 2000


def fts_expression(query: SearchQuery) -> str:
    return " AND ".join(_term(t) for t in query.terms)


def _term(term: Term) -> str:
    phrase = '"' + " ".join(w.replace('"', '""') for w in term.words) + '"'
    if term.prefix:
        phrase += " *"
    column = _COLUMNS.get(term.field)
    return f"{column} : {phrase}" if column else phrase


@dataclass(frozen=True, slots=True)
class Filter:
    """The FROM source (with its index choice) and WHERE clause of a search over `messages m`."""

    source: str
    where: str
    params: tuple[object, ...]


_PLAIN_SOURCE = "messages m"
_BY_DATE_SOURCE = "messages m INDEXED BY messages_by_date"
NEWEST_FIRST = " ORDER BY m.date DESC, m.id DESC LIMIT ?"


def search_filter(vault: Vault, query: SearchQuery, limit: int) -> Filter:
    """The fastest filter for `query` on this vault; every choice selects the same `limit` newest rows."""
    where, params = unplanned_filter(query)
    if not query.terms:
        return Filter(_PLAIN_SOURCE, where, params)
    expression, dates = fts_expression(query), params[1:]
    newest = _newest_stored_hits(vault, expression)
    if len(newest) < _CANDIDATES:
        # Every hit is in hand: look them up by row id, without asking the index again.
        return Filter(_PLAIN_SOURCE, where.replace(_MATCH_ALL, _IN_LIST, 1), (json.dumps(newest), *dates))
    since = _iso(query.since) if query.since is not None else None
    until = _iso(query.until) if query.until is not None else None
    floor = _date_floor(vault, where, newest[:limit], dates, limit) or _date_floor(vault, where, newest, dates, limit)
    since = max(filter(None, (since, floor)), default=None)
    low, high = _row_range(vault, since, until)
    bounds = tuple(v for v in (since, until) if v is not None)
    in_range = [c for c, v in (("m.date >= ?", since), ("m.date < ?", until)) if v is not None]
    if low >= newest[-1]:
        # Every hit from row `low` up is among the newest stored ones, which are in hand.
        wanted = json.dumps([i for i in newest if low <= i <= high])
        return Filter(_BY_DATE_SOURCE, " AND ".join([_IN_LIST, *in_range]), (wanted, *bounds))
    return Filter(_BY_DATE_SOURCE, " AND ".join([_MATCH_ROWS, *in_range]), (expression, low, high, *bounds))


def _row_range(vault: Vault, since: str | None, until: str | None) -> tuple[int, int]:
    """The lowest and highest row id of the messages in the date range: no hit outside can be wanted."""
    if since is None and until is None:
        return 0, _LAST_ROW
    clauses = [c for c, v in (("m.date >= ?", since), ("m.date < ?", until)) if v is not None]
    sql = f"SELECT min(m.id), max(m.id) FROM {_BY_DATE_SOURCE} WHERE {' AND '.join(clauses)}"  # noqa: S608
    low, high = vault.execute(sql, tuple(v for v in (since, until) if v is not None)).fetchone()
    return (0, -1) if low is None else (int(low), int(high))


def _newest_stored_hits(vault: Vault, expression: str) -> list[int]:
    """The row ids of up to `_CANDIDATES` hits, highest first: FTS5 reads its doclists backwards and stops."""
    sql = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?"
    return [int(row[0]) for row in vault.execute(sql, (expression, _CANDIDATES)).fetchall()]


def _date_floor(vault: Vault, where: str, newest: list[int], dates: tuple[object, ...], limit: int) -> str | None:
    """A date no wanted hit is older than, learned from some of the newest stored hits.

    If `limit` of those hits pass the date filter, the `limit`-th newest date among them is a floor: at least
    `limit` wanted hits are that new, so the answer holds nothing older. When sync stores mail roughly in date
    order (the usual case) the floor is close to the newest message, and the walk is short. The caller asks
    with the first `limit` hits before all of them: each hit costs a row lookup.
    """
    if len(newest) < limit:
        return None
    among = where.replace(_MATCH_ALL, _IN_LIST, 1)
    sql = f"SELECT m.date FROM messages m WHERE {among} ORDER BY m.date DESC, m.id DESC LIMIT 1 OFFSET ?"  # noqa: S608
    row = vault.execute(sql, (json.dumps(newest), *dates, limit - 1)).fetchone()
    return None if row is None else str(row[0])


_MATCH_ALL = "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)"
_LAST_ROW = 2**63 - 1  # SQLite's largest rowid
_IN_LIST = "m.id IN (SELECT value FROM json_each(?))"
# FTS5 seeks to rowid bounds in every doclist, so hits outside them are never read.
_MATCH_ROWS = "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ?)"


def unplanned_filter(query: SearchQuery) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause alone, leaving the plan to SQLite: the reference the planned searches must equal."""
    clauses: list[str] = []
    params: list[object] = []
    if query.terms:
        clauses.append(_MATCH_ALL)
        params.append(fts_expression(query))
    if query.since is not None:
        clauses.append("m.date >= ?")
        params.append(_iso(query.since))
    if query.until is not None:
        clauses.append("m.date < ?")
        params.append(_iso(query.until))
    return (" AND ".join(clauses) or "1"), tuple(params)


_SELECT_HITS = "SELECT a.name, f.display_name, m.uid, m.subject, m.sender, m.date FROM "
_JOIN_FOLDERS = " JOIN folders f ON f.id = m.folder_id JOIN accounts a ON a.id = f.account_id WHERE "


def search(vault: Vault, query: SearchQuery, limit: int = 50) -> list[SearchHit]:
    chosen = search_filter(vault, query, limit)
    sql = _SELECT_HITS + chosen.source + _JOIN_FOLDERS + chosen.where + NEWEST_FIRST
    rows = vault.execute(sql, (*chosen.params, limit)).fetchall()
    return [SearchHit(a, f, int(uid), s, snd, _date(d)) for a, f, uid, s, snd, d in rows]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
