"""Full-text search over the vault's FTS5 index.

The user's query arrives parsed (`app.core.query`); every word is emitted as an FTS5 string literal, so no
character a user types can become an FTS operator.
"""

from __future__ import annotations

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


def fts_expression(query: SearchQuery) -> str:
    return " AND ".join(_term(t) for t in query.terms)


def _term(term: Term) -> str:
    phrase = '"' + " ".join(w.replace('"', '""') for w in term.words) + '"'
    if term.prefix:
        phrase += " *"
    column = _COLUMNS.get(term.field)
    return f"{column} : {phrase}" if column else phrase


_SELECT_HITS = (
    "SELECT a.name, f.display_name, m.uid, m.subject, m.sender, m.date FROM messages m "
    "JOIN folders f ON f.id = m.folder_id JOIN accounts a ON a.id = f.account_id WHERE "
)


def search(vault: Vault, query: SearchQuery, limit: int = 50) -> list[SearchHit]:
    where, params = _filters(query)
    # `where` is assembled from constant SQL fragments only; every user value is a bound parameter.
    sql = _SELECT_HITS + where + " ORDER BY m.date DESC, m.id DESC LIMIT ?"
    rows = vault.execute(sql, (*params, limit)).fetchall()
    return [SearchHit(a, f, int(uid), s, snd, _date(d)) for a, f, uid, s, snd, d in rows]


def _filters(query: SearchQuery) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if query.terms:
        clauses.append("m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)")
        params.append(fts_expression(query))
    if query.since is not None:
        clauses.append("m.date >= ?")
        params.append(_iso(query.since))
    if query.until is not None:
        clauses.append("m.date < ?")
        params.append(_iso(query.until))
    return (" AND ".join(clauses) or "1"), params


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _date(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
