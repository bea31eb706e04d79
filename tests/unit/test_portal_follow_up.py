"""The client's reading of a portal message's state, and how a decrypted reply becomes a vault record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from app.portal.client import PortalStatus, ReplyRef, StatusEvent
from app.portal.protocol import EventKind, MessageState
from app.services.portal_replies import derive_state, reply_message
from app.store.portal import PortalState

AT = datetime(2030, 1, 1, tzinfo=UTC)
K = EventKind


def _status(state: MessageState, kinds: tuple[EventKind, ...], replies: int = 0) -> PortalStatus:
    events = tuple(StatusEvent(kind, AT + timedelta(minutes=i)) for i, kind in enumerate(kinds))
    refs = tuple(ReplyRef(n, AT, 100) for n in range(1, replies + 1))
    return PortalStatus("A" * 22, state, AT + timedelta(days=30), events, refs)


@pytest.mark.parametrize(
    ("state", "kinds", "replies", "expected"),
    [
        (MessageState.ACTIVE, (K.UPLOADED,), 0, PortalState.UPLOADED),
        (MessageState.ACTIVE, (K.UPLOADED, K.NOTICE_DELIVERED), 0, PortalState.DELIVERED),
        (MessageState.ACTIVE, (K.UPLOADED, K.NOTICE_DELIVERED, K.CODE_SENT), 0, PortalState.DELIVERED),
        (MessageState.ACTIVE, (K.UPLOADED, K.NOTICE_DELIVERED, K.CODE_SENT, K.OPENED), 0, PortalState.OPENED),
        (MessageState.ACTIVE, (K.UPLOADED, K.OPENED, K.LOCKED), 0, PortalState.OPENED),
        (MessageState.ACTIVE, (K.UPLOADED, K.OPENED, K.REPLIED), 1, PortalState.REPLIED),
        (MessageState.ACTIVE, (K.UPLOADED, K.OPENED), 1, PortalState.REPLIED),  # a reply listed before its event
        (MessageState.EXPIRED, (K.UPLOADED, K.OPENED, K.REPLIED), 1, PortalState.EXPIRED),
        (MessageState.REVOKED, (K.UPLOADED, K.NOTICE_DELIVERED, K.REVOKED), 0, PortalState.REVOKED),
        (MessageState.REVOKED, (K.UPLOADED, K.OPENED, K.REPLIED, K.REVOKED), 2, PortalState.REVOKED),
    ],
)
def test_state_is_the_furthest_the_message_got_and_an_ended_message_says_how_it_ended(
    state: MessageState, kinds: tuple[EventKind, ...], replies: int, expected: PortalState
) -> None:
    assert derive_state(_status(state, kinds, replies)) is expected


def _reply(sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "doctor@clinic.test"
    message["Subject"] = "Re: Results"
    message.set_content("Thank you, heliotrope.")
    message.add_attachment(b"diary", maintype="text", subtype="plain", filename="diary.txt")
    return message.as_bytes()


def test_a_reply_from_the_verified_address_becomes_a_searchable_unread_record() -> None:
    record = reply_message(_reply('"Pat, Patient" <Pat@Example.org>'), 3, AT, "pat@example.org")
    assert record.uid == 3 and record.flags == () and record.problems == ""
    assert "heliotrope" in record.body_text and record.subject == "Re: Results"
    assert [a.filename for a in record.attachments] == ["diary.txt"]
    assert record.internal_date == AT.isoformat(timespec="seconds")


def test_a_reply_naming_another_sender_is_kept_with_a_note_that_says_who_was_verified() -> None:
    record = reply_message(_reply("someone.else@example.org"), 1, AT, "pat@example.org")
    assert "the portal verified pat@example.org" in record.problems
    assert "someone.else@example.org" in record.problems
