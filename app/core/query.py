"""The search language, parsed without touching the store.

    word                 every word must occur (subject, addresses, body, attachment names)
    "a phrase"           the words next to each other, in that order
    pref*                a word starting with "pref"
    from:ADDR  to:ADDR  subject:WORD  attachment:NAME
    date:2024-01-01..2024-03-31  after:2024-01-01  before:2024-04-01   (UTC days; date: includes both ends)

Terms are AND-ed. Anything the grammar does not know is searched as plain words, never passed through as
index syntax: a query cannot inject FTS operators.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum

from app.core.errors import UsageError


class Field(Enum):
    ANY = "any"
    SENDER = "sender"
    RECIPIENTS = "recipients"
    SUBJECT = "subject"
    ATTACHMENT = "attachments"


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]  # more than one: a phrase
    field: Field = Field.ANY
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    terms: tuple[Term, ...] = ()
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    @property
    def is_empty(self) -> bool:
        return not self.terms and self.since is None and self.until is None


_FIELDS = {
    "from": Field.SENDER,
    "to": Field.RECIPIENTS,
    "cc": Field.RECIPIENTS,
    "subject": Field.SUBJECT,
    "attachment": Field.ATTACHMENT,
    "filename": Field.ATTACHMENT,
}
_WORD = re.compile(r"\w+", re.UNICODE)


def parse_query(text: str) -> SearchQuery:
    terms: list[Term] = []
    since: datetime | None = None
    until: datetime | None = None
    for token in _tokens(text):
        key, sep, value = token.partition(":")
        key = key.lower()
        if sep and key == "date" and ".." in value:
            since, until = _date_range(value)
        elif sep and key == "after":
            since = _day(value)
        elif sep and key == "before":
            until = _day(value)
        elif sep and key in _FIELDS and value:
            terms.extend(_terms(value, _FIELDS[key]))
        else:
            terms.extend(_terms(token, Field.ANY))
    return SearchQuery(tuple(terms), since, until)


def _tokens(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        # An unbalanced quote: search the words as they are rather than failing.
        return text.replace('"', " ").split()


def _terms(text: str, field_: Field) -> list[Term]:
    # "a.b@x.org" or a quoted phrase tokenises into several words that must stay adjacent: one phrase term.
    words = tuple(w.lower() for w in _WORD.findall(text))
    return [Term(words, field_, text.endswith("*"))] if words else []


def _date_range(value: str) -> tuple[datetime | None, datetime | None]:
    start, _, end = value.partition("..")
    since = _day(start) if start else None
    until = _day(end) + timedelta(days=1) if end else None
    return since, until


def _day(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError as exc:
        raise UsageError(f"{value!r} is not a date; use YYYY-MM-DD.") from exc
