"""Rich text or plain in the composer (issue 5): the toggle and its default, the formatting toolbar's shortcuts,
links limited to http(s) and mailto, asking before formatting is dropped, and drafts keeping the formatting."""

# ruff: noqa: F811 - the fixtures imported from test_composer are parameters of every test here

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox, QToolButton
from pytestqt.qtbot import QtBot

from app.core.lock import LockConfig
from app.services import user_settings
from app.services.demo import DEMO_PASSPHRASE
from app.ui.bridge import Bridge
from app.ui.lock_screen import attach_lock
from app.ui.widgets.link_dialog import REFUSED_TEXT
from app.ui.windows.actions import Act
from app.ui.windows.composer import ComposedMessage, ComposerWindow, DraftStart, composer_service
from tests.ui.conftest import OpenReader, WindowFactory
from tests.ui.support import PASSPHRASE, make_profile, plain_message, run
from tests.ui.test_composer import Opener, Policy, _wait_for_badges, open_composer, policy  # noqa: F401 - fixtures

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _type(qtbot: QtBot, window: ComposerWindow, text: str) -> None:
    qtbot.keyClicks(window.body, text)  # type: ignore[no-untyped-call]


def _key(qtbot: QtBot, window: ComposerWindow, key: Qt.Key, modifiers: Qt.KeyboardModifier = CTRL) -> None:
    qtbot.keyClick(window.body, key, modifiers)  # type: ignore[no-untyped-call]


def _focus(qtbot: QtBot, window: ComposerWindow) -> None:
    """Shortcuts reach only the active window's focus widget, as on a desktop."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.body.setFocus()


def _rich(open_composer: Opener, policy: Policy, qtbot: QtBot) -> ComposerWindow:
    policy({"compose_rich_text": True})
    window = open_composer()
    _focus(qtbot, window)
    return window


def test_new_message_is_plain_by_default_with_no_formatting_shortcuts(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer()
    _focus(qtbot, window)
    assert not window.editor.is_rich() and not window.editor.toolbar.isVisible()
    _key(qtbot, window, Qt.Key.Key_B)
    _type(qtbot, window, "Potassium 5.1")
    assert window.draft_content().body_html is None
    assert window.draft_content().body == "Potassium 5.1"


def test_setting_starts_new_messages_rich_but_replies_stay_plain(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    assert window.editor.is_rich() and window.editor.toolbar.isVisible()
    names = {a.accessibleName() for a in window.editor.toolbar.findChildren(QToolButton)}
    assert {"Bold", "Italic", "Underline", "Bulleted list", "Numbered list", "Insert link"} <= names
    reply = open_composer(start=DraftStart(("a@example.org",), "Re: x", "\n\nYou wrote:\n> hi\n", in_reply_to="m@x"))
    assert not reply.editor.is_rich()


def test_ctrl_b_i_u_format_what_is_typed_next(open_composer: Opener, policy: Policy, qtbot: QtBot) -> None:
    window = _rich(open_composer, policy, qtbot)
    _type(qtbot, window, "Potassium ")
    _key(qtbot, window, Qt.Key.Key_B)
    _type(qtbot, window, "high")
    _key(qtbot, window, Qt.Key.Key_B)
    _type(qtbot, window, " and ")
    _key(qtbot, window, Qt.Key.Key_I)
    _type(qtbot, window, "rising")
    _key(qtbot, window, Qt.Key.Key_I)
    _key(qtbot, window, Qt.Key.Key_U)
    _type(qtbot, window, " today")
    content = window.draft_content()
    assert content.body_html == "<p>Potassium <b>high</b> and <i>rising</i><u> today</u></p>"
    assert content.body == "Potassium high and rising today"


def test_list_shortcuts_make_bulleted_and_numbered_lists_with_marks_in_the_plain_text(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    _type(qtbot, window, "Plan:")
    _key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier)
    _key(qtbot, window, Qt.Key.Key_8, CTRL_SHIFT)
    _type(qtbot, window, "bloods")
    _key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier)
    _type(qtbot, window, "ECG")
    assert window.editor.bullets.isChecked()
    _key(qtbot, window, Qt.Key.Key_7, CTRL_SHIFT)  # the same paragraphs, now numbered
    assert window.editor.numbers.isChecked() and not window.editor.bullets.isChecked()
    content = window.draft_content()
    assert content.body_html == "<p>Plan:</p>\n<ol>\n<li>bloods</li>\n<li>ECG</li>\n</ol>"
    assert content.body == "Plan:\n1. bloods\n2. ECG"
    _key(qtbot, window, Qt.Key.Key_7, CTRL_SHIFT)  # and plain paragraphs again
    assert window.draft_content().body_html == "<p>Plan:</p>\n<p>bloods</p>\n<p>ECG</p>"


def test_javascript_link_typed_into_the_link_dialog_is_refused(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    _type(qtbot, window, "results")
    window.body.selectAll()
    _key(qtbot, window, Qt.Key.Key_K, CTRL_SHIFT)
    dialog = window.editor.link_dialog
    assert dialog is not None and dialog.isVisible() and dialog.text.text() == "results"
    qtbot.keyClicks(dialog.url, "javascript:alert(document.cookie)")  # type: ignore[no-untyped-call]
    qtbot.keyClick(dialog.url, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert dialog.isVisible() and dialog.error.text() == REFUSED_TEXT
    assert window.draft_content().body_html == "<p>results</p>"

    dialog.url.setText("https://lab.example/results?id=7&view=1")
    qtbot.keyClick(dialog.url, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert not dialog.isVisible()
    content = window.draft_content()
    assert content.body_html == '<p><a href="https://lab.example/results?id=7&amp;view=1">results</a></p>'
    assert content.body == "results <https://lab.example/results?id=7&view=1>"


def test_pasted_markup_keeps_only_the_allow_list(open_composer: Opener, policy: Policy, qtbot: QtBot) -> None:
    window = _rich(open_composer, policy, qtbot)
    pasted = QMimeData()
    pasted.setHtml(
        '<p style="color:red">Hi <a href="javascript:alert(1)">click</a> <b onclick="x()">bold</b>'
        '<img src="https://tracker.example/p.gif"><script>alert(2)</script>'
        '<a href="https://ok.example/">ok</a> <a href="relative/page">rel</a></p>'
    )
    window.body.insertFromMimeData(pasted)
    html = window.draft_content().body_html
    assert html == '<p>Hi click <b>bold</b><a href="https://ok.example/">ok</a> rel</p>'
    # Even HTML that never went through a paste (a document loaded with it) leaves only through the allow-list.
    window.body.setHtml(
        '<p><a href="data:text/html,x">d</a><span style="background:url(https://t.example/)">s</span></p>'
    )
    assert window.draft_content().body_html == "<p>ds</p>"


def test_switching_to_plain_asks_before_dropping_formatting(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    _key(qtbot, window, Qt.Key.Key_B)
    _type(qtbot, window, "urgent")
    window.editor.rich_toggle.click()
    box = window.editor.confirm
    assert box is not None and box.isVisible()
    assert window.editor.is_rich()  # nothing changes until the user answers
    keep = next(b for b in box.buttons() if b.accessibleName() == "Keep rich text")
    keep.click()
    assert window.editor.is_rich() and window.draft_content().body_html == "<p><b>urgent</b></p>"

    window.editor.rich_toggle.click()
    box = window.editor.confirm
    assert isinstance(box, QMessageBox)
    next(b for b in box.buttons() if b.accessibleName() == "Drop formatting").click()
    assert not window.editor.is_rich() and not window.editor.toolbar.isVisible()
    assert (window.draft_content().body, window.draft_content().body_html) == ("urgent", None)


def test_plain_text_without_formatting_switches_without_asking(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    _type(qtbot, window, "no formatting here")
    window.editor.rich_toggle.click()
    assert window.editor.confirm is None and not window.editor.is_rich()
    assert window.draft_content().body == "no formatting here"


def test_draft_round_trip_keeps_the_formatting(
    bridge: Bridge, open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    window = _rich(open_composer, policy, qtbot)
    window.subject.setText("Handover")
    _type(qtbot, window, "Bed 4 ")
    _key(qtbot, window, Qt.Key.Key_B)
    _type(qtbot, window, "stable")
    _key(qtbot, window, Qt.Key.Key_B)
    _key(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier)
    _key(qtbot, window, Qt.Key.Key_8, CTRL_SHIFT)
    _type(qtbot, window, "recheck K+")
    saved = window.draft_content()
    with qtbot.waitSignal(window.draft_saved, timeout=10_000):
        window.save_draft()
    start = run(bridge, qtbot, window.service.load_draft(window.draft_id))
    assert start.body_html == saved.body_html == "<p>Bed 4 <b>stable</b></p>\n<ul>\n<li>recheck K+</li>\n</ul>"
    policy({})  # a draft comes back as it was written, whatever the setting says now
    reopened = open_composer(start=start)
    assert reopened.editor.is_rich()
    assert reopened.draft_content().body_html == saved.body_html
    assert reopened.draft_content().body == saved.body == "Bed 4 stable\n- recheck K+"
    cursor = reopened.body.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    reopened.body.setTextCursor(cursor)
    assert reopened.editor.bullets.isChecked()


def test_sending_rich_text_hands_the_clean_html_and_its_plain_text_to_the_service(
    open_composer: Opener, policy: Policy, qtbot: QtBot
) -> None:
    policy({"compose_rich_text": True})
    window = open_composer(pgp_for="frank@example.org")
    window.subject.setText("Results")
    _focus(qtbot, window)
    _key(qtbot, window, Qt.Key.Key_U)
    _type(qtbot, window, "Read")
    window.to.edit.setText("frank@example.org")
    _wait_for_badges(qtbot, window, {"frank@example.org": "pgp"})
    with qtbot.waitSignal(window.send_requested, timeout=5_000) as requested:
        window.send_button.click()
    message = requested.args[0]
    assert isinstance(message, ComposedMessage)
    assert (message.body, message.body_html) == ("Read", "<p><u>Read</u></p>")
    # The demo profile has no submission server: the send ends refused, in the window, before the test does.
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=15_000)
    assert "not sent" in window.banner.label.text()


def test_the_users_own_setting_starts_new_messages_rich(
    bridge: Bridge, open_reader: OpenReader, demo_profile: Path, qtbot: QtBot, policy: Policy
) -> None:
    reader = open_reader(demo_profile, DEMO_PASSPHRASE)
    settings = run(bridge, qtbot, reader.in_vault(user_settings.save, reader.policy, {"compose_rich_text": True}))
    reader.use_settings(settings)
    window = ComposerWindow(bridge, composer_service(reader))
    qtbot.addWidget(window)
    assert window.editor.is_rich()
    reader.use_settings(
        run(bridge, qtbot, reader.in_vault(user_settings.save, reader.policy, {"compose_rich_text": False}))
    )
    plain = ComposerWindow(bridge, composer_service(reader))
    qtbot.addWidget(plain)
    assert not plain.editor.is_rich()


def test_a_rich_draft_is_emptied_by_the_lock_and_comes_back_formatted(
    make_window: WindowFactory, policy: Policy, qtbot: QtBot, tmp_path: Path
) -> None:
    policy({"compose_rich_text": True})
    profile = make_profile(tmp_path / "p", {"INBOX": [plain_message("Hello", "Hi.", sender="Lab <lab@lab.example>")]})
    window = make_window(profile, PASSPHRASE)
    lock = attach_lock(
        window,
        make_window.bridge,
        LockConfig(idle_timeout_seconds=600.0, warning_seconds=10.0, max_failures=3),
        tick_seconds=0.02,
    )
    qtbot.waitUntil(lambda: window.messages.rowCount() > 0, timeout=15_000)
    composer = window.open_composer(DraftStart())
    _focus(qtbot, composer)
    _type(qtbot, composer, "Bed 4 ")
    _key(qtbot, composer, Qt.Key.Key_B)
    _type(qtbot, composer, "stable")
    window.actions_by_name[Act.LOCK].trigger()
    qtbot.waitUntil(lambda: lock.is_locked and window.controller.reader.locked, timeout=15_000)
    assert composer.body.toPlainText() == "" and not composer.editor.is_rich()  # emptied, formatting included

    lock.screen.passphrase.setText(PASSPHRASE)
    with qtbot.waitSignal(composer.draft_restored, timeout=15_000):
        QTest.mouseClick(lock.screen.unlock_button, Qt.MouseButton.LeftButton)
    assert composer.editor.is_rich()
    assert composer.draft_content().body_html == "<p>Bed 4 <b>stable</b></p>"
