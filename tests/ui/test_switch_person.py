"""Switch person (issue 7): from the lock screen, close this profile and open another; afterwards nothing on
screen (window titles, widget texts, every view's model, counts) and no Python object shows the first person's
mail. Both profiles are real vaults on disk."""

from __future__ import annotations

import gc
import secrets
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QAbstractItemModel, QCoreApplication, QEvent, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from app.services.policy import current_settings
from app.ui.app import Startup
from app.ui.bridge import Bridge
from app.ui.recent import remember_profile
from app.ui.windows.actions import Act
from tests.support.memory_scan import find_strings, scan
from tests.ui.conftest import OpenReader
from tests.ui.support import PASSPHRASE, make_profile, plain_message

SETTINGS = current_settings()[1]
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole)


def _model_texts(model: QAbstractItemModel, parent: QModelIndex) -> Iterator[str]:
    for row in range(model.rowCount(parent)):
        for column in range(max(model.columnCount(parent), 1)):
            index = model.index(row, column, parent)
            for role in ROLES:
                value = index.data(role)
                if value is not None:
                    yield str(value)
        yield from _model_texts(model, model.index(row, 0, parent))


def _widget_texts(widget: QWidget) -> Iterator[str]:
    yield from (widget.windowTitle(), widget.toolTip(), widget.accessibleName(), widget.statusTip())
    if isinstance(widget, QLabel | QAbstractButton | QLineEdit):
        yield widget.text()
    if isinstance(widget, QLineEdit):
        yield widget.placeholderText()
    if isinstance(widget, QTextEdit | QPlainTextEdit):
        yield widget.toPlainText()
    if isinstance(widget, QComboBox):
        yield from (widget.itemText(i) for i in range(widget.count()))
    if isinstance(widget, QAbstractItemView) and widget.model() is not None:
        yield from _model_texts(widget.model(), QModelIndex())


def everything_shown() -> str:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    texts: list[str] = []
    for widget in QApplication.allWidgets():
        texts.extend(_widget_texts(widget))
        texts.extend(action.text() + action.toolTip() for action in widget.actions())
    return "\n".join(texts)


def test_switching_person_leaves_nothing_of_the_first_profile(
    bridge: Bridge, qtbot: QtBot, tmp_path: Path, open_reader: OpenReader
) -> None:
    first = [secrets.token_hex(8) for _ in range(4)]  # subject, body, sender, folder: made at run time
    inbox = [plain_message(f"Results {first[0]}", f"Diagnosis {first[1]}", sender=f"Dr {first[2]} <a@x.example>")]
    inbox += [plain_message(f"Note {n}", "Routine.", sender="lab@x.example") for n in range(6)]
    alice = make_profile(tmp_path / "alice", {"INBOX": inbox, f"Patients-{first[3]}": []})
    del inbox  # the test's own copy of the mail; only Salus's copies are in question
    second = secrets.token_hex(8)
    bob = make_profile(tmp_path / "bob", {"INBOX": [plain_message(f"Rota {second}", "Shift.", sender="hr@x.example")]})
    remember_profile(bob)
    remember_profile(alice)  # Alice opened Salus last, so she is offered first

    startup = Startup(bridge, SETTINGS, profile=None, demo=False, sync_on_start=False)
    startup.begin()
    assert startup.dialog is not None and startup.dialog.selected_profile() == alice.resolve()
    _read_first_persons_mail(startup, qtbot, first)
    _lock_and_switch(startup, qtbot)
    dialog = startup.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.selected_profile() == bob.resolve()  # someone else's profile is offered first
    dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(startup.window_opened, timeout=15_000):
        dialog.unlock_button.click()
    new_window = startup.window
    assert new_window is not None
    open_reader.readers.append(new_window.controller.reader)
    qtbot.waitUntil(lambda: new_window.messages.rowCount() == 1, timeout=15_000)

    shown = everything_shown()
    assert second in shown  # the walk sees the second person's mail
    assert [word for word in first if word in shown] == []
    assert "of 7" not in shown and "7 messages" not in shown
    assert new_window.windowTitle() == "Salus — bob"
    gc.collect()
    left = scan(first)
    # Not covered (see tests/support/memory_scan.py): Qt's C++ buffers, SQLCipher's page cache, freed memory.
    assert left == [], left


def _read_first_persons_mail(startup: Startup, qtbot: QtBot, first: list[str]) -> None:
    """Kept in a function of its own, so the test's frame holds no reference to the first window."""
    assert startup.dialog is not None
    startup.dialog.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(startup.window_opened, timeout=15_000):
        startup.dialog.unlock_button.click()
    window = startup.window
    assert window is not None
    qtbot.waitUntil(lambda: window.messages.rowCount() == 7, timeout=15_000)
    row = next(r for r in range(7) if first[0] in window.messages.summary(r).subject)
    window.message_view.setCurrentIndex(window.messages.index(row, 0))
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)
    shown = everything_shown()
    assert all(word in shown for word in first) and "of 7" in shown  # the walk does see mail and counts
    assert find_strings(first) == first


def _lock_and_switch(startup: Startup, qtbot: QtBot) -> None:
    window, lock = startup.window, startup.lock
    assert window is not None and lock is not None
    window.actions_by_name[Act.LOCK].trigger()
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    with qtbot.waitSignal(lock.left_profile, timeout=10_000):
        lock.screen.switch_button.click()
    assert startup.window is None
