"""A large folder opens, scrolls and sorts without loading every row, and without a query per row."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.services.reader import PAGE_SIZE
from app.store import browse
from app.ui.models.messages import Column
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, make_bulk_profile

COUNT = 3_000


@pytest.fixture(scope="module")
def bulk_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bulk_profile(tmp_path_factory.mktemp("bulk") / "p", COUNT)


def test_a_large_folder_is_shown_page_by_page_as_the_view_scrolls(
    make_window: WindowFactory, qtbot: QtBot, bulk_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[int] = []
    original = browse.page

    def counted(*args: object) -> browse.Page:
        queries.append(1)
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(browse, "page", counted)
    window = make_window(bulk_template, PASSPHRASE)
    assert window.messages.rowCount() == PAGE_SIZE < COUNT
    assert window.status_text.text() == f"Inbox: {COUNT} messages"
    for _ in range(3):  # the view reaching its end asks the model for more
        window.message_view.scrollToBottom()
        qtbot.waitUntil(lambda: not window.messages.loading, timeout=15_000)
    assert window.messages.rowCount() >= 2 * PAGE_SIZE
    for row in range(window.messages.rowCount()):  # reading every row shown never touches the store
        window.messages.index(row, Column.SUBJECT).data()
    assert len(queries) == window.messages.rowCount() // PAGE_SIZE
    ids = [window.messages.summary(r).id for r in range(window.messages.rowCount())]
    assert len(ids) == len(set(ids))


def test_sorting_a_large_folder_reloads_only_the_first_page(
    make_window: WindowFactory, qtbot: QtBot, bulk_template: Path
) -> None:
    window = make_window(bulk_template, PASSPHRASE)
    with qtbot.waitSignal(window.messages.folder_shown, timeout=15_000):
        window.message_view.header().setSortIndicator(Column.SUBJECT, Qt.SortOrder.AscendingOrder)
    subjects = [window.messages.summary(r).subject.lower() for r in range(window.messages.rowCount())]
    assert len(subjects) == PAGE_SIZE and subjects == sorted(subjects)
    window.message_view.scrollToBottom()
    qtbot.waitUntil(lambda: window.messages.rowCount() == 2 * PAGE_SIZE, timeout=15_000)
    more = [window.messages.summary(r).subject.lower() for r in range(window.messages.rowCount())]
    assert more == sorted(more)
