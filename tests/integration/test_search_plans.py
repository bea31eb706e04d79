"""Search and sorted paging on a real SQLCipher vault: the fast plans return exactly what the plain queries
return, and they use the indexes they were built for.

Two vaults: one stored in date order (what sync usually does; the fast plan's bounds are tight) and one where
row ids do not follow dates at all (an old folder synced last); in both many messages share a date. Words are
common (in every message), frequent, rare and absent, so both search plans are exercised.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.core.models import Endpoint, FolderId, Security
from app.core.query import parse_query
from app.services.profile import Session, create_profile
from app.store import browse
from app.store import mail as store
from app.store import search as store_search
from app.store.browse import Order, PageCursor, SortField
from app.store.mail import MessageRecord, NewAccount
from app.store.vault import Vault

COUNT = 5_000
LOCAL = Endpoint("local.invalid", 993, Security.TLS)
QUERIES = (
    "potassium",
    "potassium after:2023-01-01",
    "potassium before:2022-06-01",
    "potassium date:2022-03-01..2022-03-31",
    "from:weber",
    "from:weber after:2023-06-01",
    "subject:invoice",
    "cardio*",
    "cardio* after:2022-01-01",
    '"case 77"',
    '"case 77" after:2021-01-01',
    "sodium",
    "nothingmatchesthis",
    "after:2023-01-01",
    "before:2021-02-01",
)
SENDERS = ("Dr. Weber <weber@a.example>", "anna <anna@b.example>", "Bob <bob@c.example>", "zoe <zoe@d.example>")


def _records(in_date_order: bool) -> Iterator[MessageRecord]:
    shuffled = random.Random(7)  # a fixed seed: the same vault every run
    start = datetime(2021, 1, 1, tzinfo=UTC)
    for uid in range(1, COUNT + 1):
        # Dates are on a coarse grid, so many messages share one and ties must be broken by row id.
        step = uid // 7 if in_date_order else shuffled.randrange(COUNT // 7)
        when = start + timedelta(minutes=2000 * step)
        words = ["potassium", "cardiology" if uid % 3 else "imaging", "sodium" if uid % 997 == 0 else ""]
        subject = f"{('Invoice', 'referral', 'Lab')[uid % 3]} {uid}"
        body = " ".join(words) + f"\nCase {uid}.\n"
        yield MessageRecord(
            uid=uid, modseq=0, flags=(), size=len(body), internal_date=when.isoformat(timespec="seconds"),
            date=when.isoformat(timespec="seconds"), message_id=f"{uid}@plans.example", subject=subject,
            sender=SENDERS[uid % len(SENDERS)], recipients="me@clinic.example", snippet=body, body_text=body,
            attachments=(), is_encrypted=False, is_signed=False, problems="", raw=body.encode(),
        )  # fmt: skip


@pytest.fixture(scope="module", params=["stored in date order", "stored out of date order"])
def session(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Session]:
    opened = create_profile(tmp_path_factory.mktemp("plans") / "p", "search plans passphrase")
    vault = opened.vault
    account = NewAccount("Local", LOCAL, Endpoint("local.invalid", 465, Security.TLS), "me", "pw", "")
    account_id = store.add_account(vault, account, datetime(2025, 1, 1, tzinfo=UTC))
    for name in ("INBOX", "Archive"):
        store.add_folder(vault, account_id, name, name, "/")
    folders = store.folders(vault, account_id)
    records = list(_records(request.param == "stored in date order"))
    store.store_messages(vault, folders["INBOX"].id, records[: COUNT // 2])
    store.store_messages(vault, folders["Archive"].id, records[COUNT // 2 :])
    try:
        yield opened
    finally:
        opened.close()


def _reference_ids(vault: Vault, text: str, limit: int) -> list[int]:
    where, params = store_search.unplanned_filter(parse_query(text))
    sql = f"SELECT m.id FROM messages m WHERE {where} ORDER BY m.date DESC, m.id DESC LIMIT ?"  # noqa: S608
    return [int(row[0]) for row in vault.execute(sql, (*params, limit)).fetchall()]


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("limit", [1, 50, 500, COUNT])
def test_planned_search_returns_exactly_the_unplanned_querys_hits(session: Session, text: str, limit: int) -> None:
    expected = _reference_ids(session.vault, text, limit)
    found = browse.search(session.vault, parse_query(text), limit)
    assert [s.id for s in found] == expected
    hits = store_search.search(session.vault, parse_query(text), limit)
    assert [(h.uid, h.subject) for h in hits] == [(s.uid, s.subject) for s in found]


def _plan_kind(chosen: store_search.Filter) -> str:
    if "INDEXED BY" not in chosen.source:
        return "look up every hit"
    return "walk dates over the index" if "MATCH" in chosen.where else "walk dates over the newest hits"


def test_a_common_word_walks_the_date_index_and_a_rare_one_looks_up_its_hits(session: Session) -> None:
    common = store_search.search_filter(session.vault, parse_query("potassium"), 50)
    rare = store_search.search_filter(session.vault, parse_query("sodium"), 50)
    assert _plan_kind(common) != _plan_kind(rare) == "look up every hit"


def test_the_compared_queries_exercise_the_plan_each_vault_shape_calls_for(
    session: Session, request: pytest.FixtureRequest
) -> None:
    kinds = {
        _plan_kind(store_search.search_filter(session.vault, parse_query(q), n)) for q in QUERIES for n in (50, 500)
    }
    # Stored in date order, the newest stored hits always bound the answer; out of order, they often cannot.
    walk = (
        "walk dates over the newest hits"
        if "in date order" in request.node.callspec.id
        else "walk dates over the index"
    )
    assert {"look up every hit", walk} <= kinds


def _plan(vault: Vault, field: SortField, descending: bool, after: PageCursor | None) -> str:
    expression = {SortField.SENDER: "m.sender", SortField.SUBJECT: "m.subject"}[field] + " COLLATE NOCASE"
    direction, compare = ("DESC", "<") if descending else ("ASC", ">")
    where = "m.folder_id = ?"
    params: list[object] = [1]
    if after is not None:
        where += f" AND {expression} {compare}= ? AND ({expression} {compare} ? OR m.id {compare} ?)"
        params += [after.value, after.value, after.row_id]
    sql = f"SELECT m.id FROM messages m WHERE {where} ORDER BY {expression} {direction}, m.id {direction} LIMIT 5"  # noqa: S608
    return " / ".join(str(row[3]) for row in vault.execute("EXPLAIN QUERY PLAN " + sql, (*params,)).fetchall())


@pytest.mark.parametrize("field", [SortField.SENDER, SortField.SUBJECT])
@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_sender_or_subject_seeks_an_index_instead_of_sorting_the_folder(
    session: Session, field: SortField, descending: bool
) -> None:
    for after in (None, PageCursor("Lab 2", 40)):
        plan = _plan(session.vault, field, descending, after)
        assert f"messages_by_folder_{field.value}" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("field", [SortField.SENDER, SortField.SUBJECT])
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_in_sender_or_subject_order_cover_the_folder_once_in_order(
    session: Session, field: SortField, descending: bool
) -> None:
    folder = FolderId(1)
    shown: list[browse.MessageSummary] = []
    cursor: PageCursor | None = None
    while True:
        page = browse.page(session.vault, folder, Order(field, descending), cursor, 400)
        shown += page.rows
        if page.cursor is None:
            break
        cursor = page.cursor
    keys = [(getattr(s, field.value).lower(), s.id) for s in shown]
    assert keys == sorted(keys, reverse=descending)
    assert len(shown) == len({s.id for s in shown}) == COUNT // 2
