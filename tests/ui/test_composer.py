"""The composer: per-recipient badges planned on the engine thread, escalation, blocking, attachments, send."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from app.services.demo import DEMO_PASSPHRASE
from app.services.keys import import_keys
from app.ui.bridge import Bridge
from app.ui.windows.actions import Act
from app.ui.windows.composer import ComposerWindow, DraftStart, composer_service
from app.ui.windows.main_window import MainWindow
from tests.support.identities import pgp_identity
from tests.ui.conftest import OpenReader
from tests.ui.support import run
from tests.ui.test_main_window import select_row

Policy = Callable[[dict[str, object]], None]
Opener = Callable[..., ComposerWindow]


@pytest.fixture
def policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Policy:
    """Writes the policy file (no network: DNS goes to a dead port with a short timeout)."""

    def write(extra: dict[str, object]) -> None:
        path = tmp_path / "policy.json"
        settings = {"dns_resolvers": ["127.0.0.1:9"], "discovery_timeout_seconds": 1, **extra}
        path.write_text(json.dumps(settings), encoding="utf-8")
        monkeypatch.setenv("SALUS_POLICY_FILE", str(path))

    write({})
    return write


@pytest.fixture
def open_composer(
    bridge: Bridge, open_reader: OpenReader, demo_profile: Path, qtbot: QtBot, tmp_path: Path, policy: Policy
) -> Opener:
    def opener(*, pgp_for: str | None = None, start: DraftStart | None = None) -> ComposerWindow:
        reader = open_reader(demo_profile, DEMO_PASSPHRASE)
        if pgp_for is not None:
            identity = pgp_identity(tmp_path / "correspondent-gnupg", pgp_for)
            session = reader._session
            run(bridge, qtbot, bridge.engine.db(import_keys, session, identity.public, verified=True, origin="test"))
        window = ComposerWindow(bridge, composer_service(reader), start)
        qtbot.addWidget(window)
        window.show()
        return window

    return opener


def _wait_for_badges(qtbot: QtBot, window: ComposerWindow, expected: dict[str, str]) -> None:
    qtbot.waitUntil(lambda: window.to.badge_methods() == expected, timeout=15_000)


def test_badges_update_as_addresses_are_typed(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer(pgp_for="alice@example.org")
    qtbot.keyClicks(window.to.edit, "alice@example.org")  # type: ignore[no-untyped-call]
    assert window.to.badge_methods() == {"alice@example.org": "…"}  # pending until the debounced plan arrives
    _wait_for_badges(qtbot, window, {"alice@example.org": "pgp"})
    assert window.send_button.isEnabled()
    assert window.send_button.text() == "Send: 1 by OpenPGP"
    assert "OpenPGP" in window.to.badges[0].toolTip()

    qtbot.keyClicks(window.to.edit, ", bob@stranger.example")  # type: ignore[no-untyped-call]
    qtbot.waitUntil(
        lambda: len(window.to.badge_methods()) == 2 and "…" not in window.to.badge_methods().values(), timeout=15_000
    )
    methods = window.to.badge_methods()
    assert methods["alice@example.org"] == "pgp"
    assert methods["bob@stranger.example"] != "pgp"


def test_escalation_toggle_moves_every_recipient_to_the_portal(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer(pgp_for="carol@example.org")
    window.to.edit.setText("carol@example.org")
    _wait_for_badges(qtbot, window, {"carol@example.org": "pgp"})
    window.escalate.setChecked(True)
    assert window.to.badge_methods() == {"carol@example.org": "pgp"}  # no debounce: the plan is already asked for
    qtbot.waitUntil(lambda: window.outcome is not None and window.outcome.escalated, timeout=15_000)
    assert window.to.badge_methods() == {"carol@example.org": "portal"}
    assert "the sender chose the secure portal" in window.to.badges[0].toolTip()
    assert "secure portal" in window.send_button.text()


def test_subject_tag_escalates(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer(start=DraftStart(to=("dan@stranger.example",), subject="[secure] results"))
    _wait_for_badges(qtbot, window, {"dan@stranger.example": "portal"})
    assert window.outcome is not None and window.outcome.escalated
    assert window.outcome.subject == "results"


def test_blocked_recipient_disables_send_and_says_why(open_composer: Opener, qtbot: QtBot, policy: Policy) -> None:
    policy({"method_ladder": ["pgp", "smime", "tls"]})
    window = open_composer()
    window.to.edit.setText("erin@stranger.example")
    _wait_for_badges(qtbot, window, {"erin@stranger.example": "blocked"})
    assert not window.send_button.isEnabled()
    assert not window.send_action.isEnabled()
    assert window.blocked_label.isVisible()
    assert "Cannot send to erin@stranger.example" in window.blocked_label.text()
    assert "no OpenPGP key" in window.blocked_label.text()


def test_dropping_a_file_adds_an_attachment(open_composer: Opener, tmp_path: Path) -> None:
    window = open_composer()
    report = tmp_path / "lab-report.pdf"
    report.write_bytes(b"%PDF-1.4 test")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(report))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)
    assert window.attachments == [report]
    assert window.attachment_list.item(0).text() == "lab-report.pdf"


def test_ctrl_n_opens_a_composer_and_reply_fills_in_the_sender(
    demo_window: MainWindow, qtbot: QtBot, policy: Policy
) -> None:
    demo_window.actions_by_name[Act.NEW].trigger()
    assert len(demo_window.composers) == 1
    assert demo_window.composers[0].to.addresses() == ()
    select_row(demo_window, qtbot, 0)
    qtbot.waitUntil(lambda: demo_window.reader.shown is not None, timeout=10_000)
    shown = demo_window.reader.shown
    assert shown is not None
    demo_window.actions_by_name[Act.REPLY].trigger()
    reply = demo_window.composers[-1]
    message = shown.opened.message
    assert reply.to.addresses() == tuple(a.addr for a in (message.reply_to or message.sender))
    assert reply.subject.text().lower().startswith("re:")
    demo_window.actions_by_name[Act.FORWARD].trigger()  # opens once the attachments are read on the engine
    qtbot.waitUntil(lambda: len(demo_window.composers) == 3, timeout=10_000)
    assert demo_window.composers[-1].subject.text().lower().startswith("fwd:")
    assert demo_window.composers[-1].to.addresses() == ()


def test_reply_keeps_the_thread_and_remembers_the_original_was_encrypted() -> None:
    from datetime import UTC, datetime

    from app.mime.addresses import Address
    from app.mime.parse import ParsedMessage
    from app.ui.windows.composer import reply_start

    original = ParsedMessage(
        subject="Results", sender=(Address("Bob", "bob@keys.test"),), to=(Address("", "me@clinic.test"),), cc=(),
        reply_to=(), date=datetime(2026, 11, 1, tzinfo=UTC), message_id="m2@keys.test", in_reply_to="m1@clinic.test",
        references=("m1@clinic.test",), text="Hi", html=None, attachments=(), autocrypt=None, is_encrypted=True,
        is_signed=False, problems=(),
    )  # fmt: skip
    start = reply_start(original, to_all=False, encrypted=True, signed_by_sender=True)
    assert start.to == ("bob@keys.test",) and start.subject == "Re: Results"
    assert start.in_reply_to == "m2@keys.test"
    assert start.references == ("m1@clinic.test", "m2@keys.test")
    assert start.reply_to_encrypted
    assert "> Hi" in start.body and not start.notice
    # Not signed by its sender: a resent ciphertext would let the reply carry it to whoever forged the From.
    unsigned = reply_start(original, to_all=False, encrypted=True)
    assert unsigned.body == "" and unsigned.notice and unsigned.reply_to_encrypted
    assert "> Hi" in reply_start(replace(original, is_encrypted=False), to_all=False).body


def test_a_reply_that_does_not_quote_says_why_in_the_composer(open_composer: Opener) -> None:
    from app.ui.windows.compose_flow import UNQUOTED_NOTICE, DraftStart

    window = open_composer(start=DraftStart(to=("bob@keys.test",), subject="Re: Results", notice=UNQUOTED_NOTICE))
    assert window.notice.text == UNQUOTED_NOTICE and window.body.toPlainText() == ""


def test_badges_flag_first_time_and_lookalike_recipients_but_not_known_senders(
    open_composer: Opener, qtbot: QtBot
) -> None:
    window = open_composer()
    known, stranger, lookalike = "j.weber@labor-nord.example", "x@elsewhere.example", "j.weber@1abor-nord.example"
    window.to.edit.setText(f"{known}, {stranger}, {lookalike}")
    qtbot.waitUntil(lambda: "…" not in window.to.badge_methods().values(), timeout=15_000)
    labels = {label.accessibleName().split(": ")[0]: label for label in window.to.badges}
    assert labels[known].property("flags") == ""  # the demo profile holds mail from this sender
    assert "⚠" not in labels[known].text()
    assert labels[stranger].property("flags") == "first time"
    assert labels[stranger].text().endswith("⚠ first time")
    assert labels[lookalike].property("flags") == "first time,look-alike domain"
    tooltip = labels[lookalike].toolTip()
    assert tooltip.startswith("Check this recipient (first time, look-alike domain).")
    assert "looks like labor-nord.example" in tooltip
