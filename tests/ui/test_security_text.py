"""The reading pane states encryption and signatures from the verification verdict only, one row per state."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.core.models import MessageRowId
from app.mime.parse import parse_message
from app.services.opening import Encryption, OpenedMessage, SignatureState
from app.services.reader import OpenedMessage as ReaderMessage
from app.ui.controller import RenderedMessage
from app.ui.security_text import Level, security_text
from app.ui.widgets.banner import BannerKind
from app.ui.widgets.reader_pane import ReaderPane
from tests.ui.support import plain_message

# A message that *claims* to be signed and encrypted in its own text and headers.
CLAIMS = plain_message(
    "Signed and encrypted (verified)", "-----BEGIN PGP SIGNATURE----- trust me", sender="Lab <lab@clinic.example>"
)
FPR = "0123456789ABCDEF0123456789ABCDEF01234567"


@pytest.mark.parametrize(
    ("encryption", "signature", "level", "words"),
    [
        (Encryption.NONE, SignatureState.NONE, Level.GOOD, ""),
        (Encryption.PGP, SignatureState.NONE, Level.GOOD, "Encrypted with OpenPGP."),
        (Encryption.SMIME, SignatureState.VALID, Level.GOOD, "Signature verified"),
        (Encryption.NONE, SignatureState.UNTRUSTED, Level.WARNING, "not established as the sender"),
        (Encryption.NONE, SignatureState.UNKNOWN_KEY, Level.NOTICE, "cannot be checked"),
        (Encryption.NONE, SignatureState.INVALID, Level.DANGER, "may have been altered"),
        (Encryption.FAILED, SignatureState.NONE, Level.DANGER, "could not be opened"),
        (Encryption.PGP, SignatureState.INVALID, Level.DANGER, "does not verify"),
    ],
)
def test_every_verdict_has_its_sentence_and_level(
    encryption: Encryption, signature: SignatureState, level: Level, words: str
) -> None:
    verdict = OpenedMessage(
        parse_message(CLAIMS), encryption, signature, FPR if signature is not SignatureState.NONE else ""
    )
    shown_level, text = security_text(verdict)
    assert shown_level is level
    assert words in text if words else text == ""


def test_the_short_fingerprint_is_the_last_sixteen_digits() -> None:
    verdict = OpenedMessage(parse_message(CLAIMS), Encryption.NONE, SignatureState.VALID, FPR)
    assert "key 89AB CDEF 0123 4567" in security_text(verdict)[1]


def test_a_message_that_only_claims_protection_is_shown_as_plain(qtbot: QtBot) -> None:
    pane = ReaderPane()
    qtbot.addWidget(pane)
    pane.show()
    verdict = OpenedMessage(parse_message(CLAIMS), Encryption.NONE, SignatureState.NONE)
    pane.show_message(RenderedMessage(ReaderMessage(MessageRowId(1), "work", "INBOX", 1, verdict), None))
    assert pane.security.text == ""
    failed = OpenedMessage(parse_message(CLAIMS), Encryption.FAILED, SignatureState.NONE, problems=("Cannot decrypt.",))
    pane.show_message(RenderedMessage(ReaderMessage(MessageRowId(1), "work", "INBOX", 1, failed), None))
    assert "could not be opened" in pane.security.text and "Cannot decrypt." in pane.security.text
    assert pane.security.kind is BannerKind.ERROR


def test_a_verification_note_is_never_shown_in_the_colour_of_a_good_message() -> None:
    """An S/MIME CBC message without a valid signature is encrypted, but its text could have been altered
    (EFAIL): the note must not sit in the calm banner of a fully good message."""
    note = "This S/MIME encryption (CBC, without authentication) does not detect changes."
    verdict = OpenedMessage(parse_message(CLAIMS), Encryption.SMIME, SignatureState.NONE, problems=(note,))
    level, text = security_text(verdict)
    assert level is Level.NOTICE and text.endswith(note)
    assert security_text(OpenedMessage(parse_message(CLAIMS), Encryption.SMIME, SignatureState.NONE))[0] is Level.GOOD
