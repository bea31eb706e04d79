"""Address completion in To/Cc/Bcc (issue 5): known contacts from the vault (the demo profile's stored mail and
real sends recorded in recipient_history), loaded through the bridge, dropped on lock, completing the token typed."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.store import contacts
from app.ui.bridge import Bridge
from app.ui.widgets.recipient_field import RecipientField
from app.ui.windows.composer import ComposerWindow
from tests.ui.support import run
from tests.ui.test_composer import Opener, open_composer, policy

__all__ = ["open_composer", "policy"]  # fixtures used by name below

HADDAD = "Dr. Amira Haddad <a.haddad@riverside-clinic.example>"  # a sender of the demo profile's mail


def _loaded(qtbot: QtBot, window: ComposerWindow) -> None:
    qtbot.waitUntil(lambda: all(f.completer.model().rowCount() > 0 for f in window.fields), timeout=15_000)


def _suggested(field: RecipientField) -> list[str]:
    completer = field.completer
    model = completer.completionModel()
    return [str(model.index(row, 0).data()) for row in range(completer.completionCount())]


def _choose_first(qtbot: QtBot, field: RecipientField) -> None:
    popup = field.completer.popup()
    assert popup is not None
    qtbot.waitUntil(popup.isVisible, timeout=5_000)
    qtbot.keyClick(popup, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]
    qtbot.keyClick(popup, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]


def test_typing_part_of_a_name_suggests_stored_senders_and_choosing_one_fills_the_address(
    open_composer: Opener, qtbot: QtBot, qtmodeltester: object
) -> None:
    window = open_composer()
    _loaded(qtbot, window)
    qtmodeltester.check(window.cc.completer.model())  # type: ignore[attr-defined]
    qtbot.keyClicks(window.cc.edit, "hadd")  # type: ignore[no-untyped-call]
    assert _suggested(window.cc) == [HADDAD]
    _choose_first(qtbot, window.cc)
    assert window.cc.addresses() == ("a.haddad@riverside-clinic.example",)
    assert window.cc.edit.text() == "a.haddad@riverside-clinic.example, "


def test_only_the_recipient_being_typed_is_completed(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer()
    _loaded(qtbot, window)
    window.bcc.edit.setText("x@other.example, ")
    window.bcc.edit.setCursorPosition(len(window.bcc.edit.text()))
    qtbot.keyClicks(window.bcc.edit, "labor-n")  # type: ignore[no-untyped-call]
    assert _suggested(window.bcc) == ["Jonas Weber <j.weber@labor-nord.example>"]
    _choose_first(qtbot, window.bcc)
    assert window.bcc.addresses() == ("x@other.example", "j.weber@labor-nord.example")


def test_addresses_sent_to_most_often_are_suggested_first(open_composer: Opener, bridge: Bridge, qtbot: QtBot) -> None:
    window = open_composer()
    now = datetime(2026, 11, 20, tzinfo=UTC)
    session = window.service._session()  # the composer's own open profile
    frequent = ("often@riverside-clinic.example",) * 301  # more sends than the demo profile has messages

    def record() -> None:
        for address in frequent:
            contacts.record_sent(session.vault, (address,), "tls", now)

    run(bridge, qtbot, bridge.engine.db(record), timeout=30_000)
    window.close()
    fresh = ComposerWindow(bridge, window.service)
    qtbot.addWidget(fresh)
    _loaded(qtbot, fresh)
    fresh.to.edit.setFocus()
    qtbot.keyClicks(fresh.to.edit, "riverside")  # type: ignore[no-untyped-call]
    suggested = _suggested(fresh.to)
    assert suggested[0] == "often@riverside-clinic.example"
    assert HADDAD in suggested


def test_a_lock_drops_the_suggestions_and_the_unlock_loads_them_again(
    open_composer: Opener, bridge: Bridge, qtbot: QtBot
) -> None:
    window = open_composer()
    _loaded(qtbot, window)
    window.to.edit.setText("someone@example.org")
    run(bridge, qtbot, window.service.save_draft(window.draft_content()))  # what a lock does before emptying
    window.empty_for_lock()
    assert all(f.completer.model().rowCount() == 0 for f in window.fields)
    qtbot.keyClicks(window.to.edit, "hadd")  # type: ignore[no-untyped-call]
    assert _suggested(window.to) == []
    window.restore_after_unlock()
    qtbot.waitUntil(lambda: not window.emptied_for_lock, timeout=15_000)
    _loaded(qtbot, window)
    assert window.to.addresses() == ("someone@example.org",)
