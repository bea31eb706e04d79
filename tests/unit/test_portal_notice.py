"""The notice and code emails (app.portal.notice): trustworthy, plain, and free of patient information."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from app.mime.addresses import Address
from app.portal.notice import NoticeFacts, code_draft, notice_bytes, portal_link
from app.portal.protocol import VerificationMethod, b64

NOW = datetime(2030, 3, 1, 10, 0, tzinfo=UTC)
K1 = bytes(range(32))


def _facts(method: VerificationMethod = VerificationMethod.CODE) -> NoticeFacts:
    return NoticeFacts(
        sender=Address("Dr Ada Example", "ada@clinic.test"), recipient="patient@example.org",
        portal_url="https://portal.clinic.test/", message_id="M" * 22, k1=K1,
        expires_at=datetime(2030, 3, 31, tzinfo=UTC), method=method, mail_message_id="notice.1@clinic.test", now=NOW,
    )  # fmt: skip


def _text(raw: bytes) -> tuple[EmailMessage, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return message, body.get_content()


def test_the_notice_names_the_sender_links_with_k1_in_the_fragment_and_says_how_to_verify() -> None:
    message, text = _text(notice_bytes(_facts()))
    assert message["Subject"] == "Secure message from Dr Ada Example"
    assert f"https://portal.clinic.test/m/{'M' * 22}#{b64(K1)}" in text
    assert "Dr Ada Example <ada@clinic.test>" in text
    assert "must begin with https://portal.clinic.test/m/" in text
    assert "one-time code" in text and "31 March 2030" in text
    assert message.get_content_type() == "text/plain" and not message.is_multipart()


def test_a_passphrase_notice_says_the_passphrase_comes_separately() -> None:
    _, text = _text(notice_bytes(_facts(VerificationMethod.PASSPHRASE)))
    assert "passphrase that Dr Ada Example gave you separately" in text


def test_the_link_puts_k1_only_after_the_hash() -> None:
    link = portal_link("https://portal.clinic.test", "M" * 22, K1)
    before, _, after = link.partition("#")
    assert after == b64(K1) and b64(K1) not in before


def test_the_code_email_holds_the_code_and_nothing_about_the_message() -> None:
    draft = code_draft(
        Address("Secure portal", "portal@clinic.test"), "patient@example.org", "042042", 10, "c@x.test", NOW
    )
    assert "042042" in draft.body_text and "10 minutes" in draft.body_text
    assert "Ada" not in draft.body_text and draft.attachments == ()
