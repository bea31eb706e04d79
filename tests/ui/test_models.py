"""Every Qt model passes Qt's own model tester, pages instead of loading everything, and keeps snapshots.

The tester is Qt's C++ QAbstractItemModelTester (pytest-qt's default), which reports problems as Qt warnings,
so warnings fail these tests. pytest-qt's pure-Python tester is not used: with PySide6 6.12 on Python 3.11 it
leaves a reference-count error that aborts the interpreter at exit, even for a trivial list model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QModelIndex, Qt
from pytestqt.modeltest import ModelTester

from app.core.models import AccountId, FolderId, MessageRowId
from app.mime.parse import Attachment
from app.services.reader import AccountNode, FolderNode
from app.store.browse import MessageSummary, Order, Page, PageCursor, SortField
from app.ui.models.attachments import AttachmentListModel
from app.ui.models.folders import FOLDER_ID_ROLE, FolderTreeModel
from app.ui.models.messages import SUMMARY_ROLE, Column, MessageListModel

pytestmark = pytest.mark.qt_log_level_fail("WARNING")


def summary(i: int, *, seen: bool = False) -> MessageSummary:
    return MessageSummary(
        id=MessageRowId(i), folder_id=FolderId(1), uid=i, date=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=i),
        sender=f"Person {i % 7} <p{i % 7}@clinic.example>", subject=f"Subject {(i * 37) % 101}", seen=seen,
        flagged=i % 5 == 0, has_attachments=i % 3 == 0, is_encrypted=False, is_signed=False, size=1000 + i,
    )  # fmt: skip


class FakeSource:
    """A synchronous page source over a list, recording what the model asked for."""

    def __init__(self, total: int, page_size: int = 50, *, answer: bool = True) -> None:
        self.rows = [summary(i) for i in range(1, total + 1)]
        self.page_size = page_size
        self.answer = answer
        self.requests: list[tuple[FolderId, Order, PageCursor | None]] = []
        self.waiting: list[Callable[[], None]] = []

    def request_page(
        self, folder: FolderId, order: Order, after: PageCursor | None, on_done: Callable[[Page], None]
    ) -> None:
        self.requests.append((folder, order, after))
        start = 0 if after is None else after.row_id
        chunk = tuple(self.rows[start : start + self.page_size])
        cursor = PageCursor("", start + len(chunk)) if start + len(chunk) < len(self.rows) else None

        def reply() -> None:
            on_done(Page(chunk, cursor))

        if self.answer:
            reply()
        else:
            self.waiting.append(reply)


def test_message_model_passes_the_model_tester_while_paging(qtmodeltester: ModelTester) -> None:
    # Pages arrive later, as they do from the engine; the tester's own fetchMore calls only queue requests.
    source = FakeSource(120, answer=False)
    model = MessageListModel(source)
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    model.show_folder(FolderId(1))
    deliver(source)
    while model.canFetchMore(QModelIndex()):
        model.fetchMore(QModelIndex())
        deliver(source)
    assert model.rowCount() == 120
    model.sort(Column.SUBJECT, Qt.SortOrder.AscendingOrder)
    deliver(source)
    model.update_rows([replace(model.summary(3), seen=True)])
    model.remove_rows([model.summary(0).id, model.summary(10).id])
    model.show_results([summary(i) for i in range(5)])
    model.sort(Column.SENDER, Qt.SortOrder.DescendingOrder)
    model.clear()


def deliver(source: FakeSource) -> None:
    while source.waiting:
        source.waiting.pop(0)()


def test_a_large_folder_is_loaded_one_page_at_a_time(qtbot: object) -> None:
    source = FakeSource(10_000, page_size=500)
    model = MessageListModel(source)
    model.show_folder(FolderId(1))
    assert model.rowCount() == 500
    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert model.rowCount() == 1000
    assert [r[2] for r in source.requests] == [None, PageCursor("", 500)]


def test_sorting_a_folder_asks_the_store_for_the_new_order(qtbot: object) -> None:
    source = FakeSource(10)
    model = MessageListModel(source)
    model.show_folder(FolderId(1))
    model.sort(Column.SUBJECT, Qt.SortOrder.AscendingOrder)
    assert source.requests[-1] == (FolderId(1), Order(SortField.SUBJECT, descending=False), None)
    model.sort(Column.SENDER, Qt.SortOrder.DescendingOrder)
    assert source.requests[-1][1] == Order(SortField.SENDER, descending=True)


def test_a_page_for_a_folder_the_user_left_is_dropped(qtbot: object) -> None:
    source = FakeSource(10, answer=False)
    model = MessageListModel(source)
    model.show_folder(FolderId(1))
    model.show_folder(FolderId(2))
    source.waiting[1]()
    shown = model.rowCount()
    source.waiting[0]()  # the late answer for folder 1
    assert model.rowCount() == shown
    assert model.folder == FolderId(2)


def test_message_rows_show_unread_in_bold_and_carry_their_snapshot(qtbot: object) -> None:
    model = MessageListModel(FakeSource(0))
    model.show_results([summary(1, seen=False), summary(2, seen=True)])
    unread = next(r for r in range(2) if not model.summary(r).seen)
    read = 1 - unread
    assert model.index(unread, Column.SUBJECT).data(Qt.ItemDataRole.FontRole).bold()
    assert model.index(read, Column.SUBJECT).data(Qt.ItemDataRole.FontRole) is None
    assert model.index(read, Column.SENDER).data(SUMMARY_ROLE) == model.summary(read)
    assert "unread" in model.index(unread, Column.STATUS).data(Qt.ItemDataRole.AccessibleTextRole)


def tree() -> tuple[AccountNode, ...]:
    inbox = FolderNode(FolderId(1), "INBOX", "INBOX", 10, 3, (FolderNode(FolderId(4), "Labs", "INBOX/Labs", 2, 2),))
    archive = FolderNode(None, "Archive", "Archive", 0, 0, (FolderNode(FolderId(5), "2024", "Archive/2024", 7, 0),))
    other = AccountNode(AccountId(2), "Home", (FolderNode(FolderId(6), "INBOX", "INBOX", 1, 0),))
    return (AccountNode(AccountId(1), "Work", (inbox, archive, FolderNode(FolderId(3), "Sent", "Sent", 4, 0))), other)


def test_folder_model_passes_the_model_tester(qtmodeltester: ModelTester) -> None:
    model = FolderTreeModel()
    model.set_accounts(tree())
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    model.set_accounts(tree())  # same folders, new counts: updated in place
    model.set_accounts(tree()[:1])  # an account went: reset
    model.clear()


def test_folder_model_shows_unread_counts_and_nests_folders(qtbot: object) -> None:
    model = FolderTreeModel()
    model.set_accounts(tree())
    work = model.index(0, 0)
    inbox = model.index(0, 0, work)
    assert inbox.data() == "Inbox (3)"
    assert inbox.data(FOLDER_ID_ROLE) == FolderId(1)
    assert inbox.data(Qt.ItemDataRole.AccessibleTextRole) == "Inbox, 3 unread of 10"
    assert model.index(0, 0, inbox).data() == "Labs (2)"
    archive = model.index(1, 0, work)
    assert not archive.flags() & Qt.ItemFlag.ItemIsSelectable  # a bare hierarchy level holds no messages
    assert model.index(0, 0, archive).data(FOLDER_ID_ROLE) == FolderId(5)
    assert model.first_inbox() == inbox


@pytest.mark.parametrize("count", [0, 3])
def test_attachment_model_passes_the_model_tester(qtmodeltester: ModelTester, count: int) -> None:
    model = AttachmentListModel()
    model.set_attachments(tuple(Attachment(f"r{i}.pdf", "application/pdf", 2048 * i, str(i + 2)) for i in range(count)))
    qtmodeltester.check(model)  # type: ignore[no-untyped-call]
    if count:
        assert model.index(1, 0).data() == "r1.pdf (2 KB)"
