"""The two emails of the portal, as pure functions returning `app.mime.compose.Draft`s (build_message gives bytes).

Rules (DESIGN.md §6, issue 6):
- Neither email holds patient information: no subject, no text, no file name of the message. The notice names
  only the sender, the link and how to check it is genuine; the code email only the code and its lifetime.
- Both are plain text only: no HTML, no images, no tracking, nothing that looks like a phishing template.
- The notice's link is the only place K1 is written: `<portal>/m/<id>#<K1 in base64url>`. A fragment is never
  sent in an HTTP request (RFC 3986 §3.5; RFC 9110 §7.1), so the portal never sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from app.mime.addresses import Address
from app.mime.compose import Draft, build_message
from app.portal.protocol import VerificationMethod, b64

NOTICE_SUBJECT = "Secure message from {name}"
CODE_SUBJECT = "Your code to open a secure message"


@dataclass(frozen=True, slots=True)
class NoticeFacts:
    sender: Address  # the clinician; the name is shown, the address lets the recipient check who wrote
    recipient: str
    portal_url: str  # https://portal.example.org (the portal's public address, as configured by policy)
    message_id: str  # the portal's id of the upload
    k1: bytes
    expires_at: datetime
    method: VerificationMethod
    mail_message_id: str  # the notice's own Message-ID
    now: datetime


def portal_link(portal_url: str, message_id: str, k1: bytes) -> str:
    return f"{portal_url.rstrip('/')}/m/{message_id}#{b64(k1)}"


def notice_draft(facts: NoticeFacts) -> Draft:
    name = facts.sender.name.strip() or facts.sender.addr
    return Draft(
        sender=facts.sender, to=(Address("", facts.recipient),), cc=(), bcc=(),
        subject=NOTICE_SUBJECT.format(name=name), body_text=_notice_text(facts, name), attachments=(),
        message_id=facts.mail_message_id, date=facts.now,
    )  # fmt: skip


def notice_bytes(facts: NoticeFacts) -> bytes:
    return build_message(notice_draft(facts))


def _notice_text(facts: NoticeFacts, name: str) -> str:
    host = urlsplit(facts.portal_url).netloc or facts.portal_url
    how = (
        "The portal will email you a one-time code to this address; enter it on the page."
        if facts.method is VerificationMethod.CODE
        else f"You will need the passphrase that {name} gave you separately (not by email)."
    )
    return "\n".join(
        [
            f"{name} <{facts.sender.addr}> has sent you a secure message.",
            "",
            "To read it, open this link in any web browser:",
            "",
            portal_link(facts.portal_url, facts.message_id, facts.k1),
            "",
            how,
            f"The link works until {facts.expires_at:%d %B %Y}. No account or password is needed.",
            "You can reply securely from the same page.",
            "",
            "How to check that this email is genuine:",
            f"- The link must begin with https://{host}/m/ - do not open it if it points anywhere else.",
            "- The portal never asks for your password, date of birth, or payment details.",
            f"- If in doubt, call {name} on a number you already know, not one from an email.",
            "",
            "This email does not contain the message itself. Please do not forward it: the link opens the",
            "message for whoever has it and can read this mailbox.",
        ]
    )


def code_draft(sender: Address, recipient: str, code: str, minutes: int, mail_message_id: str, now: datetime) -> Draft:
    text = "\n".join(
        [
            f"Your one-time code is: {code}",
            "",
            f"Enter it on the secure message page. It works once, within {minutes} minutes.",
            "",
            "If you did not ask for a code, you can ignore this email: nobody can open the message without it.",
            "We will never ask you to read this code out on the phone.",
        ]
    )
    return Draft(
        sender=sender, to=(Address("", recipient),), cc=(), bcc=(), subject=CODE_SUBJECT, body_text=text,
        attachments=(), message_id=mail_message_id, date=now,
    )  # fmt: skip
