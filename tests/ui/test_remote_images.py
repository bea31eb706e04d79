"""Remote images load only when the user asks, for this message or this sender, and nothing else ever loads.

The request-counting server of test_hostile_html.py answers every request with a real PNG; the real window is
driven through the reader's bar. Policy allows remote content here (and images from loopback, where the
server runs); the default policy, which forbids it, is tested too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from app.core.models import MessageRowId
from app.services.profile import unlock
from app.services.remote_content import RemoteScope
from app.ui.models.messages import Column
from app.ui.windows.actions import Act
from app.ui.windows.main_window import MainWindow
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, html_message, make_profile, run
from tests.ui.test_hostile_html import Tracker

LAB = "Lab <lab@clinic.example>"
OTHER = "Newsletter <news@other.example>"


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    server = Tracker()
    yield server
    server.close()


@pytest.fixture
def allow_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"remote_content_allowed": True, "remote_images_private_networks": True}))
    monkeypatch.setenv("SALUS_POLICY_FILE", str(policy))


def mixed_page(base: str, image: str) -> str:
    """Two images the user may load, and every other kind of remote reference, which must never load."""
    return (
        f'<p>Results</p><img src="{base}/{image}?id=patient-42" alt="chart"><img src="{base}/pixel-{image}">'
        f'<div style="background-image: url({base}/bg.png)">styled</div>'
        f"<style>@import url({base}/import.css); body {{ background: url({base}/b.png) }}</style>"
        f'<link rel="stylesheet" href="{base}/style.css"><iframe src="{base}/frame.html">f</iframe>'
        f'<script src="{base}/evil.js"></script><table background="{base}/t.png"><tr><td>cell</td></tr></table>'
    )


def open_row(window: MainWindow, qtbot: QtBot, subject: str) -> None:
    row = next(r for r in range(window.messages.rowCount()) if window.messages.summary(r).subject == subject)
    window.message_view.setCurrentIndex(QModelIndex())
    window.message_view.setCurrentIndex(window.messages.index(row, Column.SUBJECT))
    wanted = window.messages.summary(row).id
    qtbot.waitUntil(lambda: window.reader.shown is not None and window.reader.shown.opened.id == wanted, timeout=15_000)
    window.reader.browser.viewport().repaint()


def audit_entries(profile: Path) -> list[tuple[str, str, dict[str, object]]]:
    session = unlock(profile, PASSPHRASE)
    try:
        assert session.audit.verify().ok
        return [(e.entry.event, e.entry.target, json.loads(e.entry.detail)) for e in session.audit.entries()]
    finally:
        session.close()


def test_load_for_this_message_fetches_exactly_its_images_and_nothing_else(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker, allow_remote: None
) -> None:
    profile = make_profile(tmp_path / "p", {"INBOX": [html_message("results", mixed_page(tracker.base, "a.png"))]})
    window = make_window(profile, PASSPHRASE)
    open_row(window, qtbot, "results")
    bar = window.reader.remote
    qtbot.wait(200)
    assert tracker.requests == []  # nothing before asking
    assert bar.text.startswith("Remote images blocked (2).")
    assert bar.load_button.isVisible() and bar.always_button.isVisible()
    for button in (bar.load_button, bar.always_button, bar.forget_button):
        assert button.accessibleName() and not button.shortcut().isEmpty()
    QTest.mouseClick(bar.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.text.startswith("Remote images loaded (2)"), timeout=15_000)
    window.reader.browser.viewport().repaint()
    qtbot.wait(200)
    assert sorted(tracker.requests) == ["/a.png?id=patient-42", "/pixel-a.png"]  # no CSS, frame, script, table
    assert window.reader.browser.blocked_loads == 0  # the viewer asked only for the images it was given
    assert "[image: chart]" not in window.reader.browser.toPlainText()
    assert not bar.load_button.isVisible()
    window.actions_by_name[Act.PLAIN_TEXT].trigger()  # shown again: the images come from memory, not the network
    qtbot.wait(200)
    assert len(tracker.requests) == 2 and "[image: chart]" not in window.reader.browser.toPlainText()
    (loaded,) = [e for e in audit_entries(profile) if e[0] == "remote_content.loaded"]
    assert loaded[1] == "Local/INBOX/1"
    assert loaded[2] == {"message": 1, "sender": "lab@clinic.example", "scope": "message", "images": 2,
                         "hosts": ["127.0.0.1"]}  # fmt: skip
    assert "patient-42" not in json.dumps(loaded) and "a.png" not in json.dumps(loaded)  # no paths, no queries


def test_other_messages_of_a_sender_load_only_after_always_and_stop_after_forgetting(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker, allow_remote: None
) -> None:
    def page(name: str) -> str:
        return f'<p>{name}</p><img src="{tracker.base}/{name}.png">'

    messages = [html_message("first", page("first"), sender=LAB), html_message("second", page("second"), sender=LAB),
                html_message("other", page("other"), sender=OTHER)]  # fmt: skip
    profile = make_profile(tmp_path / "p", {"INBOX": messages})
    window = make_window(profile, PASSPHRASE)
    bar = window.reader.remote
    open_row(window, qtbot, "first")
    QTest.mouseClick(bar.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tracker.requests == ["/first.png"], timeout=15_000)
    open_row(window, qtbot, "second")
    qtbot.wait(300)
    assert tracker.requests == ["/first.png"]  # "this message" said nothing about the sender's other mail
    QTest.mouseClick(bar.always_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tracker.requests == ["/first.png", "/second.png"], timeout=15_000)
    open_row(window, qtbot, "other")
    qtbot.wait(300)
    assert tracker.requests == ["/first.png", "/second.png"]  # another sender still asks
    assert bar.load_button.isVisible()
    open_row(window, qtbot, "first")  # the same sender now loads without asking, and says so
    qtbot.waitUntil(lambda: tracker.requests[-1:] == ["/first.png"] and len(tracker.requests) == 3, timeout=15_000)
    qtbot.waitUntil(bar.forget_button.isVisible, timeout=15_000)
    assert "always load them from this sender" in bar.text
    QTest.mouseClick(bar.forget_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "blocked again" in bar.text, timeout=15_000)
    open_row(window, qtbot, "second")
    qtbot.wait(300)
    assert len(tracker.requests) == 3 and bar.always_button.isVisible()
    events = [(event, target, detail.get("scope")) for event, target, detail in audit_entries(profile)]
    remote = [e for e in events if e[0].startswith("remote_content.")]
    assert remote == [
        ("remote_content.loaded", "Local/INBOX/1", "message"),
        ("remote_content.sender_allowed", "lab@clinic.example", None),
        ("remote_content.loaded", "Local/INBOX/2", "sender"),
        ("remote_content.loaded", "Local/INBOX/1", "sender-rule"),
        ("remote_content.sender_forgotten", "lab@clinic.example", None),
    ]


def test_with_the_default_policy_nothing_can_be_loaded_and_the_bar_says_why(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker
) -> None:
    profile = make_profile(tmp_path / "p", {"INBOX": [html_message("results", mixed_page(tracker.base, "a.png"))]})
    window = make_window(profile, PASSPHRASE)
    open_row(window, qtbot, "results")
    bar = window.reader.remote
    assert "disabled by your organisation" in bar.text
    assert not (bar.load_button.isVisible() or bar.always_button.isVisible())
    reader = window.controller.reader
    shown = window.reader.shown
    assert shown is not None and shown.html is not None
    coroutine = reader.load_remote_images(MessageRowId(shown.opened.id), "lab@clinic.example",
                                          shown.html.remote_images, RemoteScope.SENDER)  # fmt: skip
    with pytest.raises(AssertionError, match="does not allow loading remote images"):
        run(window.controller.bridge, qtbot, coroutine)
    qtbot.wait(200)
    assert tracker.requests == []
    assert not [e for e in audit_entries(profile) if e[0].startswith("remote_content.")]
