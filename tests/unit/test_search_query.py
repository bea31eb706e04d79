"""The search language: words, phrases, fields and dates parse into terms; nothing becomes FTS syntax."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.errors import UsageError
from app.core.query import Field, Term, parse_query
from app.store.search import fts_expression


def test_words_are_anded_terms() -> None:
    query = parse_query("Potassium results")
    assert query.terms == (Term(("potassium",)), Term(("results",)))


def test_quoted_phrase_is_one_term() -> None:
    assert parse_query('"referral letter"').terms == (Term(("referral", "letter")),)


def test_from_address_is_a_sender_phrase() -> None:
    assert parse_query("from:j.weber@labor-nord.example").terms == (
        Term(("j", "weber", "labor", "nord", "example"), Field.SENDER),
    )


def test_date_range_includes_both_days() -> None:
    query = parse_query("date:2024-01-01..2024-01-31")
    assert query.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert query.until == datetime(2024, 2, 1, tzinfo=UTC)


def test_bad_date_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_query("after:yesterday")


def test_prefix_search() -> None:
    assert parse_query("cardio*").terms == (Term(("cardio",), prefix=True),)


def test_fts_operators_typed_by_the_user_stay_words() -> None:
    expression = fts_expression(parse_query('NEAR(a b) OR body:x "unbalanced'))
    assert "OR" not in expression.replace('"or"', "")
    assert expression.count('"') % 2 == 0
    assert expression.startswith('"near a" AND')


def test_unbalanced_quote_still_searches_the_words() -> None:
    assert parse_query('"open phrase').terms == (Term(("open",)), Term(("phrase",)))
