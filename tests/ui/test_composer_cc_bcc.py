"""Cc and Bcc in the composer (issue 5): badged and planned like To, counted by Send, kept in drafts, filled by
reply-all; what leaves the machine is proven in tests/integration/test_send_cli.py (real SMTP and GnuPG)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.mime.addresses import Address
from app.mime.parse import ParsedMessage
from app.ui.bridge import Bridge
from app.ui.windows.composer import ComposerWindow, composer_service, reply_start
from tests.support.pki import TestCA
from tests.support.refusing_world import PARTNER, RefusingWorld, sending_profile
from tests.support.salus_cli import PASSPHRASE
from tests.support.smtp_server import SmtpServer
from tests.ui.conftest import OpenReader
from tests.ui.support import run
from tests.ui.test_composer import Opener, open_composer, policy
from tests.ui.test_failed_sends import servers

__all__ = ["open_composer", "policy", "servers"]  # fixtures used by name below

PGP = "alice@example.org"
CC = "bob@stranger.example"
BCC = "carla@stranger.example"


def _decided(window: ComposerWindow) -> bool:
    methods = [m for f in window.fields for m in f.badge_methods().values()]
    return len(methods) == 3 and "…" not in methods


def test_cc_and_bcc_recipients_are_badged_planned_and_counted_like_to(open_composer: Opener, qtbot: QtBot) -> None:
    window = open_composer(pgp_for=PGP)
    window.to.edit.setText(PGP)
    window.cc.edit.setText(CC)
    window.bcc.edit.setText(BCC)
    assert window.cc.badge_methods() == {CC: "…"} and window.bcc.badge_methods() == {BCC: "…"}
    qtbot.waitUntil(lambda: _decided(window), timeout=15_000)
    assert window.to.badge_methods() == {PGP: "pgp"}
    assert window.cc.badge_methods()[CC] != "pgp" and window.bcc.badge_methods()[BCC] != "pgp"
    assert window.outcome is not None
    assert {d.address for d in window.outcome.plan.decisions} == {PGP, CC, BCC}
    counts = [int(n) for n in re.findall(r"(\d+) by", window.send_button.text())]
    assert sum(counts) == 3, window.send_button.text()


def test_a_bcc_recipient_alone_is_enough_to_plan_and_a_bad_cc_address_is_named(
    open_composer: Opener, qtbot: QtBot
) -> None:
    window = open_composer(pgp_for=PGP)
    window.bcc.edit.setText(PGP)
    qtbot.waitUntil(lambda: window.bcc.badge_methods() == {PGP: "pgp"}, timeout=15_000)
    assert window.send_button.isEnabled() and window.send_button.text() == "Send: 1 by OpenPGP"
    window.cc.edit.setText("not-an-address")
    assert not window.send_button.isEnabled()
    assert window.blocked_label.text() == "Not an email address: not-an-address"


def test_cc_and_bcc_fields_have_accessible_names_and_mnemonic_labels(open_composer: Opener) -> None:
    window = open_composer()
    assert window.cc.edit.accessibleName() == "Cc recipients"
    assert window.bcc.edit.accessibleName() == "Bcc recipients"
    labels = {w.text(): w.buddy() for w in window.findChildren(QLabel) if w.buddy() is not None}
    assert labels["&Cc:"] is window.cc.edit and labels["&Bcc:"] is window.bcc.edit


def test_cc_and_bcc_are_saved_in_the_draft_and_restored(open_composer: Opener, bridge: Bridge, qtbot: QtBot) -> None:
    window = open_composer()
    window.to.edit.setText("a@example.org")
    window.cc.edit.setText("b@example.org, c@example.org")
    window.bcc.edit.setText("d@example.org")
    run(bridge, qtbot, window.service.save_draft(window.draft_content()))
    start = run(bridge, qtbot, window.service.load_draft(window.draft_id))
    assert start.to == ("a@example.org",)
    assert start.cc == ("b@example.org", "c@example.org") and start.bcc == ("d@example.org",)
    reopened = ComposerWindow(bridge, window.service, start)
    qtbot.addWidget(reopened)
    assert reopened.cc.addresses() == ("b@example.org", "c@example.org")
    assert reopened.bcc.addresses() == ("d@example.org",)


def test_reply_all_puts_the_other_recipients_in_cc_and_the_sender_in_to() -> None:
    original = ParsedMessage(
        subject="Results", sender=(Address("Bob", "bob@keys.test"),),
        to=(Address("", "me@clinic.test"), Address("", "Bob@keys.test")), cc=(Address("", "lab@lab.test"),),
        reply_to=(), date=datetime(2026, 11, 1, tzinfo=UTC), message_id="m2@keys.test", in_reply_to=None,
        references=(), text="Hi", html=None, attachments=(), autocrypt=None, is_encrypted=False, is_signed=False,
        problems=(),
    )  # fmt: skip
    everyone = reply_start(original, to_all=True)
    assert everyone.to == ("bob@keys.test",)
    assert everyone.cc == ("me@clinic.test", "lab@lab.test")  # the sender, in any case, only once
    assert reply_start(original, to_all=False).cc == ()


def test_bcc_from_the_composer_goes_out_as_its_own_copy_named_in_no_other(
    servers: tuple[Path, RefusingWorld], test_ca: TestCA, bridge: Bridge, open_reader: OpenReader, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, world = servers
    hidden = "second@partner.test"  # partner.test enforces MTA-STS: planned tls, like the To recipient
    monkeypatch.setenv("SALUS_POLICY_FILE", str(world.policy))
    with SmtpServer(test_ca.issue_server_cert(base / "smtp2"), requiretls=True) as smtp:
        salus = sending_profile(base, world.policy, test_ca, smtp.port)
        window = ComposerWindow(bridge, composer_service(open_reader(salus.profile, PASSPHRASE)))
        qtbot.addWidget(window)
        window.show()
        window.to.edit.setText(PARTNER)
        window.bcc.edit.setText(hidden)
        window.subject.setText("Referral")
        window.body.setPlainText("Please see the patient this week.")
        qtbot.waitUntil(lambda: window.bcc.badge_methods() == {hidden: "tls"}, timeout=30_000)
        assert window.send_button.text() == "Send: 2 by verified TLS"
        with qtbot.waitSignal(window.sent, timeout=60_000):
            QTest.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    arrived = {tuple(a.rcpt_tos): a.data for a in smtp.accepted}
    assert set(arrived) == {(PARTNER,), (hidden,)}
    assert hidden.encode() not in arrived[(PARTNER,)] and b"bcc:" not in arrived[(PARTNER,)].lower()
    assert b"Please see the patient" in arrived[(hidden,)]
