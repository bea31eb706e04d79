"""Reading hostile mail: nothing is fetched, nothing runs, links show where they lead, senders show who they are.

A local HTTP server counts every request while messages full of remote references are displayed in the real
window; the count must stay at zero.
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QUrl
from pytestqt.qtbot import QtBot

from app.ui.html_safety import sanitise_html
from app.ui.models.messages import Column
from app.ui.widgets.safe_browser import SafeTextBrowser
from tests.ui.conftest import WindowFactory
from tests.ui.support import PASSPHRASE, html_message, make_profile, plain_message


def png_pixel() -> bytes:
    """A valid 1x1 PNG (RFC 2083), so that an image the user asked for really decodes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


class Tracker:
    """An HTTP server on loopback that counts what it is asked for, and answers every request with an image."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tracker.requests.append(self.path)
                self.send_response(200)
                body = png_pixel()
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    server = Tracker()
    yield server
    server.close()


def hostile_pages(base: str) -> dict[str, str]:
    return {
        "remote image": f'<p>Results</p><img src="{base}/img.png" alt="chart">',
        "tracking pixel": f'<p>Hi</p><img src="{base}/pixel.gif?id=patient-42" width="1" height="1">',
        "css url": f'<div style="background-image: url({base}/bg.png)">styled</div>'
        f"<p style=\"list-style-image:url('{base}/li.png')\">x</p>",
        "style sheet": f"<style>@import url({base}/import.css); body {{ background: url({base}/b.png) }}</style>hi",
        "link": f'<link rel="stylesheet" href="{base}/style.css"><link rel="icon" href="{base}/fav.ico">text',
        "iframe": f'<iframe src="{base}/frame.html">fallback</iframe><frameset><frame src="{base}/f2"></frameset>',
        "script": f'<script src="{base}/evil.js"></script><script>fetch("{base}/x")</script>after',
        "embedded objects": f'<object data="{base}/o.swf"></object><embed src="{base}/e"><video poster="{base}/p.jpg" '
        f'src="{base}/v.mp4"></video><audio src="{base}/a.mp3"></audio>',
        "backgrounds": f'<table background="{base}/t.png"><tr><td background="{base}/td.png">cell</td></tr></table>',
        "svg and srcset": f'<svg><image href="{base}/svg.png"/></svg><img srcset="{base}/s 1x, {base}/s2 2x">',
        "meta and base": f'<meta http-equiv="refresh" content="0;url={base}/refresh"><base href="{base}/">'
        '<img src="rel.png">',
        "forms": f'<form action="{base}/post"><input type="image" src="{base}/in.png"><button>Go</button></form>',
        "local files": '<img src="file:///etc/passwd"><img src="/etc/hostname"><img src="cid:part1@x">',
        "escaped css": f'<div style="background:u\\72l({base}/esc.png)">e</div>',
    }


def test_no_remote_content_is_ever_fetched_while_reading(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker
) -> None:
    pages = hostile_pages(tracker.base)
    messages = [html_message(name.replace(" ", "-"), html) for name, html in pages.items()]
    window = make_window(make_profile(tmp_path / "p", {"INBOX": messages}), PASSPHRASE)
    assert window.messages.rowCount() == len(pages)
    for row in range(window.messages.rowCount()):
        # Start from no selection, so choosing the row is a change even if the window restored a selection.
        window.message_view.setCurrentIndex(QModelIndex())
        window.message_view.setCurrentIndex(window.messages.index(row, Column.SUBJECT))
        wanted = window.messages.summary(row).id

        def shown(wanted: int = wanted) -> bool:
            return window.reader.shown is not None and window.reader.shown.opened.id == wanted

        qtbot.waitUntil(shown, timeout=15_000)
        window.reader.browser.viewport().repaint()  # lay out and paint: where a viewer would load images
        qtbot.wait(20)
    qtbot.wait(200)
    assert tracker.requests == []
    assert window.reader.browser.blocked_loads == 0  # the sanitiser left nothing for the viewer to ask for


def test_the_reader_says_how_much_remote_content_it_blocked(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, tracker: Tracker
) -> None:
    page = f'<p>Results attached.</p><img src="{tracker.base}/a.png"><img src="{tracker.base}/pixel.gif" width=1>'
    window = make_window(make_profile(tmp_path / "p", {"INBOX": [html_message("pixels", page)]}), PASSPHRASE)
    window.message_view.setCurrentIndex(window.messages.index(0, Column.SUBJECT))
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)
    assert window.reader.remote.text.startswith("Remote images blocked (2).")
    assert "disabled by your organisation" in window.reader.remote.text  # the default policy
    assert not window.reader.remote.load_button.isVisible()
    assert "[image]" in window.reader.browser.toPlainText()
    assert tracker.requests == []


def test_the_viewer_itself_refuses_to_load_anything(qtbot: QtBot, tracker: Tracker) -> None:
    """The second wall: even unsanitised markup makes the viewer ask, never fetch."""
    browser = SafeTextBrowser()
    qtbot.addWidget(browser)
    browser.show()
    browser.setHtml(
        f'<link rel="stylesheet" href="{tracker.base}/s.css"><img src="{tracker.base}/i.png">'
        f'<img src="file:///etc/passwd"><table background="{tracker.base}/t.png"><tr><td>x</td></tr></table>'
    )
    browser.viewport().repaint()
    qtbot.wait(100)
    assert browser.blocked_loads >= 1  # it was asked, and answered nothing
    assert tracker.requests == []


@pytest.mark.parametrize("name", list(hostile_pages("http://127.0.0.1:9")))
def test_the_sanitiser_leaves_no_reference_to_load(name: str) -> None:
    markup = sanitise_html(hostile_pages("http://127.0.0.1:9")[name]).markup.lower()
    for forbidden in ("src=", "url(", "<link", "<iframe", "<frame", "<script", "<style", "<object", "<embed",
                      "<video", "<audio", "<svg", "<base", "<meta", "<form", "<input", "background=", "srcset",
                      "poster=", "fetch("):  # fmt: skip
        assert forbidden not in markup, f"{forbidden} survived in {name}"


@pytest.mark.parametrize("name", list(hostile_pages("http://127.0.0.1:9")))
def test_loading_every_remote_image_adds_only_salus_image_sources(name: str) -> None:
    safe = sanitise_html(hostile_pages("http://127.0.0.1:9")[name])
    markup = safe.showing(frozenset(range(len(safe.remote_images)))).lower()
    assert len(re.findall(r"\bsrc=", markup)) == len(re.findall(r'\bsrc="salus-image:\d+"', markup))
    assert len(re.findall(r'src="salus-image:', markup)) == len(safe.remote_images)
    assert all(url.startswith("http://127.0.0.1:9/") for url in safe.remote_images)
    for forbidden in ("url(", "<link", "<iframe", "<script", "<style", "background=", "srcset", "127.0.0.1", "slot."):
        assert forbidden not in markup, f"{forbidden} survived in {name}"


def test_dangerous_links_are_inert_and_safe_ones_show_their_target() -> None:
    safe = sanitise_html(
        '<a href="javascript:alert(1)">js</a> <a href="data:text/html,x">data</a> <a href="vbscript:x">vb</a>'
        ' <a href="https://bank.example.evil/login">Your bank</a>'
    ).markup
    assert "javascript" not in safe and "data:" not in safe and "vbscript" not in safe
    assert '<a href="https://bank.example.evil/login">Your bank</a>' in safe
    assert "&lt;https://bank.example.evil/login&gt;" in safe  # the real target, shown beside the text


def test_clicking_a_link_asks_first_and_shows_the_target(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    window = make_window(make_profile(tmp_path / "p", {"INBOX": [html_message("link", "<p>x</p>")]}), PASSPHRASE)
    dialogs = make_window.dialogs
    window.reader.browser.link_activated.emit(QUrl("javascript:alert(1)"))
    assert dialogs.asked == [] and dialogs.opened == []
    assert "disabled" in window.status_text.text()
    dialogs.answer = False
    window.reader.browser.link_activated.emit(QUrl("https://portal.example/results?id=7"))
    assert "https://portal.example/results?id=7" in dialogs.asked[-1] and dialogs.opened == []
    dialogs.answer = True
    window.reader.browser.link_activated.emit(QUrl("https://portal.example/results?id=7"))
    assert [u.toString() for u in dialogs.opened] == ["https://portal.example/results?id=7"]


@pytest.mark.parametrize(
    ("from_header", "shown_name"),
    [
        ('"boss@clinic.org" <evil@x.example>', "boss@clinic.org"),
        (
            "=?utf-8?q?boss=40clinic=2Eorg_=3Cboss=40clinic=2Eorg=3E?= <evil@x.example>",
            "boss@clinic.org <boss@clinic.org>",
        ),
        ("=?utf-8?q?Dr=2E_Boss=0Aboss=40clinic=2Eorg=00?= <evil@x.example>", "Dr. Boss\\u000aboss@clinic.org\\u0000"),
    ],
)
def test_a_display_name_cannot_hide_the_real_sender(
    make_window: WindowFactory, qtbot: QtBot, tmp_path: Path, from_header: str, shown_name: str
) -> None:
    message = plain_message("Urgent: wire transfer", "Please pay today.", sender=from_header)
    window = make_window(make_profile(tmp_path / "p", {"INBOX": [message]}), PASSPHRASE)
    assert window.messages.index(0, Column.SENDER).data().endswith("<evil@x.example>")
    window.message_view.setCurrentIndex(window.messages.index(0, Column.SUBJECT))
    qtbot.waitUntil(lambda: window.reader.shown is not None, timeout=15_000)
    assert window.reader.sender_name.text() == shown_name
    assert window.reader.sender_address.text() == "<evil@x.example>"
    assert "\n" not in window.reader.sender_name.text() and "\x00" not in window.reader.sender_name.text()
    assert "sent from <evil@x.example>" in window.reader.impersonation.text
