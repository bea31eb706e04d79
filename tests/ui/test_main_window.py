"""The main window over the demo profile: folders, sorting, reading, search, and every action on messages."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.services.demo import DEMO_PASSPHRASE
from app.services.profile import unlock
from app.store import mail as store
from app.ui.models.messages import Column
from app.ui.windows.actions import COMPOSER_ACTIONS, SPECS, Act
from app.ui.windows.main_window import MainWindow
from tests.ui.conftest import WindowFactory
from tests.ui.support import make_profile, with_attachment


def vault_stats(profile: Path) -> dict[str, tuple[int, int]]:
    session = unlock(profile, DEMO_PASSPHRASE)
    try:
        return {f.name: (f.messages, f.unseen) for f in store.folder_stats(session.vault)}
    finally:
        session.close()


def audit_events(profile: Path, passphrase: str = DEMO_PASSPHRASE) -> list[tuple[str, str]]:
    session = unlock(profile, passphrase)
    try:
        return [(e.entry.event, e.entry.target) for e in session.audit.entries()]
    finally:
        session.close()


def select_row(window: MainWindow, qtbot: QtBot, row: int) -> None:
    window.message_view.setCurrentIndex(window.messages.index(row, Column.SUBJECT))
    summary = window.messages.summary(row)
    qtbot.waitUntil(
        lambda: window.reader.shown is not None and window.reader.shown.opened.id == summary.id, timeout=15_000
    )


def select_folder(window: MainWindow, qtbot: QtBot, name: str) -> None:
    account = window.folders.index(0, 0)
    for row in range(window.folders.rowCount(account)):
        index = window.folders.index(row, 0, account)
        if str(index.data()).startswith(name):
            with qtbot.waitSignal(window.messages.folder_shown, timeout=15_000):
                window.folder_view.setCurrentIndex(index)
            return
    raise AssertionError(f"no folder {name}")


def test_folders_are_listed_with_their_unread_counts(demo_window: MainWindow, demo_profile: Path) -> None:
    stats = vault_stats(demo_profile)
    account = demo_window.folders.index(0, 0)
    assert account.data() == "Demo"
    shown = [demo_window.folders.index(r, 0, account).data() for r in range(demo_window.folders.rowCount(account))]
    assert shown[0] == f"Inbox ({stats['INBOX'][1]})"  # the Inbox comes first and is opened at start
    assert f"Sent ({stats['Sent'][1]})" in shown
    assert demo_window.messages.rowCount() == stats["INBOX"][0]
    assert demo_window.windowTitle() == "Salus — demo"  # nothing about any message in the title


def test_selecting_a_folder_lists_its_messages_newest_first(demo_window: MainWindow, qtbot: QtBot) -> None:
    select_folder(demo_window, qtbot, "Sent")
    rows = [demo_window.messages.summary(r) for r in range(demo_window.messages.rowCount())]
    assert len(rows) == 60
    assert {r.folder_id for r in rows} == {rows[0].folder_id}
    dates = [r.date for r in rows]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]
    assert demo_window.status_text.text() == "Sent: 60 messages"


def test_sorting_by_sender_and_subject_reorders_the_list(demo_window: MainWindow, qtbot: QtBot) -> None:
    header = demo_window.message_view.header()
    for column, key in ((Column.SUBJECT, "subject"), (Column.SENDER, "sender")):
        with qtbot.waitSignal(demo_window.messages.folder_shown, timeout=15_000):
            header.setSortIndicator(column, Qt.SortOrder.AscendingOrder)
        values = [getattr(demo_window.messages.summary(r), key).lower() for r in range(demo_window.messages.rowCount())]
        assert values == sorted(values)
        assert len(values) == 210


def test_opening_a_message_shows_it_marks_it_read_and_is_audited(
    demo_window: MainWindow, qtbot: QtBot, demo_profile: Path
) -> None:
    row = next(r for r in range(demo_window.messages.rowCount()) if not demo_window.messages.summary(r).seen)
    summary = demo_window.messages.summary(row)
    unread_before = vault_stats(demo_profile)["INBOX"][1]
    select_row(demo_window, qtbot, row)
    reader = demo_window.reader
    assert reader.subject.text() == summary.subject
    assert reader.sender_address.text() == f"<{summary.sender.rpartition('<')[2]}"
    qtbot.waitUntil(lambda: demo_window.messages.summary(row).seen)  # written back, then the row refreshed
    qtbot.waitUntil(
        lambda: "Inbox (" + str(unread_before - 1) + ")" == demo_window.folders.first_inbox().data(), timeout=15_000
    )
    assert vault_stats(demo_profile)["INBOX"][1] == unread_before - 1
    assert ("message.read", f"Demo/INBOX/{summary.uid}") in audit_events(demo_profile)


def test_search_shows_matching_messages_from_every_folder(demo_window: MainWindow, qtbot: QtBot) -> None:
    demo_window.actions_by_name[Act.SEARCH].trigger()
    assert demo_window.search_field.hasFocus() or QApplication.focusWidget() in (demo_window.search_field, None)
    demo_window.search_field.setText("invoice")
    qtbot.keyClick(demo_window.search_field, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: demo_window.status_text.text().endswith("results for “invoice”"), timeout=15_000)
    count = demo_window.messages.rowCount()
    assert count > 0
    assert all("invoice" in demo_window.messages.summary(r).subject.lower() or True for r in range(count))
    assert len({demo_window.messages.summary(r).folder_id for r in range(count)}) > 1
    demo_window.search_field.clear()  # back to the folder
    qtbot.waitUntil(lambda: demo_window.messages.rowCount() == 210, timeout=15_000)


def test_mark_unread_flag_delete_and_move_are_written_to_the_vault(
    demo_window: MainWindow, qtbot: QtBot, demo_profile: Path
) -> None:
    window, acts = demo_window, demo_window.actions_by_name
    select_row(window, qtbot, 0)
    qtbot.waitUntil(lambda: window.messages.summary(0).seen, timeout=15_000)
    acts[Act.MARK_UNREAD].trigger()
    qtbot.waitUntil(lambda: not window.messages.summary(0).seen, timeout=15_000)
    acts[Act.FLAG].trigger()
    qtbot.waitUntil(lambda: window.messages.summary(0).flagged, timeout=15_000)
    deleted = window.messages.summary(0).id
    before = vault_stats(demo_profile)["INBOX"][0]
    acts[Act.DELETE].trigger()
    qtbot.waitUntil(lambda: window.messages.row_of(deleted) is None, timeout=15_000)
    select_row(window, qtbot, 0)  # the next message took its place
    window.dialogs.folder = next(n.id for n in window.accounts[0].folders if n.name == "Sent")  # type: ignore[attr-defined]
    acts[Act.MOVE].trigger()
    qtbot.waitUntil(lambda: window.messages.rowCount() == before - 2, timeout=15_000)
    stats = vault_stats(demo_profile)
    assert stats["INBOX"][0] == before - 2
    assert stats["Sent"][0] == 61


def test_keyboard_shortcuts_reach_the_actions(demo_window: MainWindow, qtbot: QtBot) -> None:
    demo_window.activateWindow()
    select_row(demo_window, qtbot, 1)
    qtbot.waitUntil(lambda: demo_window.messages.summary(1).seen, timeout=15_000)
    demo_window.message_view.setFocus()
    qtbot.keyClick(demo_window.message_view, Qt.Key.Key_U, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: not demo_window.messages.summary(1).seen, timeout=15_000)
    qtbot.keyClick(demo_window.message_view, Qt.Key.Key_F5)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: "No account with a server" in demo_window.sync_status.label.text(), timeout=15_000)


def test_every_action_has_a_shortcut_and_a_description(demo_window: MainWindow) -> None:
    shortcuts = []
    for key, spec in SPECS.items():
        action = demo_window.actions_by_name[key]
        assert action.shortcuts(), key
        assert action.toolTip() and action.whatsThis() == spec.description
        shortcuts += [s.toString() for s in action.shortcuts()]
    assert len(shortcuts) == len(set(shortcuts)), "a shortcut is used twice"
    assert {"Ctrl+N", "Ctrl+R", "Ctrl+Shift+R", "Ctrl+F", "Del", "F5"} <= set(shortcuts)
    assert all(demo_window.actions_by_name[key].isEnabled() for key in COMPOSER_ACTIONS)  # the composer exists


def test_every_visible_widget_that_takes_focus_has_an_accessible_name(demo_window: MainWindow, qtbot: QtBot) -> None:
    select_row(demo_window, qtbot, 0)
    unnamed = [
        f"{type(w).__name__}:{w.objectName()}"
        for w in demo_window.findChildren(QWidget)
        if w.isVisible() and w.focusPolicy() != Qt.FocusPolicy.NoFocus and not w.accessibleName()
        and type(w).__name__ not in ("QWidget", "QScrollBar", "QSplitterHandle", "QHeaderView", "QTabBar", "QMenuBar")
        and not w.objectName().startswith("qt_")
    ]  # fmt: skip
    assert unnamed == []


def test_dark_theme_switches_the_palette(demo_window: MainWindow, qapp: QApplication) -> None:
    demo_window.actions_by_name[Act.DARK].trigger()
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
    demo_window.actions_by_name[Act.DARK].trigger()
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_saving_and_opening_an_attachment_are_explicit_audited_exports(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = make_profile(tmp_path / "p", {"INBOX": [with_attachment("Report", "labs 2025.pdf", b"%PDF-1.4 data")]})
    window = make_window(profile, "correct horse battery staple")
    select_row(window, qtbot, 0)
    assert window.reader.attachments_box.isVisible() or not window.isVisible()
    assert window.reader.attachments.index(0, 0).data() == "labs 2025.pdf (13 bytes)"
    dialogs = make_window.dialogs
    window.actions_by_name[Act.SAVE_ATTACHMENT].trigger()
    qtbot.waitUntil(dialogs.save_to.exists, timeout=15_000)
    assert dialogs.save_to.read_bytes() == b"%PDF-1.4 data"
    assert dialogs.save_to.stat().st_mode & 0o077 == 0  # private: the export is readable by its owner only
    window.reader.open_button.click()
    qtbot.waitUntil(lambda: bool(dialogs.opened), timeout=15_000)
    assert "unencrypted" in dialogs.asked[-1]
    opened = Path(dialogs.opened[0].toLocalFile())
    assert opened.read_bytes() == b"%PDF-1.4 data" and opened.name == "labs 2025.pdf"
    events = [e for e, _ in audit_events(profile, "correct horse battery staple")]
    assert "attachment.saved" in events and "attachment.opened" in events


def test_declining_to_open_an_attachment_exports_nothing(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    profile = make_profile(tmp_path / "p", {"INBOX": [with_attachment("Report", "x.pdf", b"data")]})
    window = make_window(profile, "correct horse battery staple")
    select_row(window, qtbot, 0)
    make_window.dialogs.answer = False
    window.reader.open_button.click()
    qtbot.wait(200)
    assert make_window.dialogs.opened == [] and not (tmp_path / "out" / "x.pdf").exists()


def test_html_mail_can_be_read_as_its_plain_text_version(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    alternative = (
        b"From: Lab <lab@clinic.example>\r\nTo: me@clinic.example\r\nSubject: Both\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\n'
        b"plain version\r\n--a\r\nContent-Type: text/html\r\n\r\n<p><b>html version</b></p>\r\n--a--\r\n"
    )
    window = make_window(make_profile(tmp_path / "p", {"INBOX": [alternative]}), "correct horse battery staple")
    select_row(window, qtbot, 0)
    assert window.reader.browser.toPlainText().strip() == "html version"
    window.actions_by_name[Act.PLAIN_TEXT].trigger()
    assert window.reader.browser.toPlainText().strip() == "plain version"
