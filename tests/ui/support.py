"""Building profiles for the window's tests, and waiting for the engine from a test."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

from pytestqt.qtbot import QtBot

from app.core.clock import utc_now
from app.core.models import Endpoint, Security
from app.mail.imap.session import FetchedMessage
from app.services.profile import create_profile, unlock
from app.services.sync import build_records
from app.store import mail as store
from app.store.mail import MessageRecord, NewAccount
from app.ui.bridge import Bridge

T = TypeVar("T")
PASSPHRASE = "correct horse battery staple"
LOCAL = Endpoint("local.invalid", 993, Security.TLS)  # RFC 6761 §6.4: never resolves, so never a server


def make_profile(directory: Path, folders: dict[str, Sequence[bytes]], *, seen: bool = False) -> Path:
    """A profile with one server-less account whose folders hold `folders` (raw messages, oldest first)."""
    session = create_profile(directory, PASSPHRASE)
    try:
        account = NewAccount("Local", LOCAL, Endpoint("local.invalid", 465, Security.TLS), "me", "pw", "")
        account_id = store.add_account(session.vault, account, utc_now())
        for name, messages in folders.items():
            store.add_folder(session.vault, account_id, name, name, "/")
            folder = store.folders(session.vault, account_id)[name]
            store.store_messages(session.vault, folder.id, build_records(fetched(messages, seen=seen)))
    finally:
        session.close()
    return directory


def fetched(messages: Sequence[bytes], *, seen: bool = False, first_uid: int = 1) -> list[FetchedMessage]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    flags = ("\\Seen",) if seen else ()
    return [
        FetchedMessage(first_uid + i, flags, 0, start + timedelta(minutes=i), len(raw), raw)
        for i, raw in enumerate(messages)
    ]


def run(bridge: Bridge, qtbot: QtBot, coroutine: Coroutine[Any, Any, T], timeout: int = 10_000) -> T:
    """Submits `coroutine` through the bridge and waits (processing Qt events) for its outcome."""
    outcome: dict[str, Any] = {}
    bridge.submit(
        coroutine,
        lambda value: outcome.setdefault("value", value),
        lambda message: outcome.setdefault("error", message),
        lambda: outcome.setdefault("error", "cancelled"),
    )
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout)
    if "error" in outcome:
        raise AssertionError(f"the engine reported: {outcome['error']}")
    return outcome["value"]  # type: ignore[no-any-return]


def html_message(subject: str, html: str, *, sender: str = "Lab <lab@clinic.example>") -> bytes:
    return (
        f"From: {sender}\r\nTo: me@clinic.example\r\nSubject: {subject}\r\n"
        "Date: Mon, 06 Jan 2025 10:00:00 +0000\r\nMessage-ID: <{subject}@test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n"
    ).encode() + html.encode()


def plain_message(subject: str, body: str, *, sender: str, date: str = "Mon, 06 Jan 2025 10:00:00 +0000") -> bytes:
    return (
        f"From: {sender}\r\nTo: me@clinic.example\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <{abs(hash(subject + sender))}@test>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


def with_attachment(subject: str, filename: str, data: bytes) -> bytes:
    import base64

    encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (
        f"From: Lab <lab@clinic.example>\r\nTo: me@clinic.example\r\nSubject: {subject}\r\n"
        "Date: Tue, 07 Jan 2025 10:00:00 +0000\r\nMessage-ID: <att@test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n"
        f'--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="{filename}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--b1--\r\n"
    ).encode()


_SENDERS = [
    ("Dr. Amira Haddad", "a.haddad@riverside-clinic.example"),
    ("Jonas Weber", "j.weber@labor-nord.example"),
    ("Front Desk", "frontdesk@riverside-clinic.example"),
    ("Chloé Martin", "chloe.martin@cardio-partners.example"),
    ("Billing", "billing@insurer.example"),
    ("Dr. Kenji Sato", "k.sato@imaging-center.example"),
    ("Ward 3", "ward3@st-anna.example"),
]
_TOPICS = ["Lab results", "Referral", "Invoice", "Appointment", "MRI report", "Discharge letter", "Prescription"]
_WORDS = ["potassium", "sodium", "creatinine", "referral", "cardiology", "imaging", "invoice", "follow-up"]


def bulk_records(count: int, *, first_uid: int = 1) -> Iterator[MessageRecord]:
    """`count` plausible messages as vault records, built directly (no MIME parsing), oldest first.

    Fast enough to fill a folder with 100,000 messages for the window's benchmark and paging tests; each
    record still carries a real RFC 5322 message, so opening one exercises the parser as usual.
    """
    start = datetime(2021, 1, 1, tzinfo=UTC)
    for index in range(count):
        uid = first_uid + index
        name, addr = _SENDERS[index % len(_SENDERS)]
        subject = f"{_TOPICS[(index * 3 + index // 7) % len(_TOPICS)]} {uid}"
        when = start + timedelta(minutes=20 * index)
        body = " ".join(_WORDS[(index + k) % len(_WORDS)] for k in range(40)) + f"\nCase {uid}.\n"
        raw = (
            f"From: {name} <{addr}>\r\nTo: me@clinic.example\r\nSubject: {subject}\r\n"
            f"Date: {format_datetime(when)}\r\nMessage-ID: <{uid}@bulk.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        ).encode()
        yield MessageRecord(
            uid=uid, modseq=0, flags=("\\Seen",) if index % 4 else (), size=len(raw),
            internal_date=when.isoformat(timespec="seconds"), date=when.isoformat(timespec="seconds"),
            message_id=f"{uid}@bulk.example", subject=subject, sender=f"{name} <{addr}>",
            recipients="me@clinic.example", snippet=body[:200], body_text=body, attachments=(),
            is_encrypted=False, is_signed=False, problems="", raw=raw,
        )  # fmt: skip


def make_bulk_profile(directory: Path, count: int, *, batch: int = 5000) -> Path:
    """A profile whose server-less account has one INBOX of `count` messages."""
    make_profile(directory, {"INBOX": []})
    session = unlock(directory, PASSPHRASE)
    try:
        folder = store.folders(session.vault, store.list_accounts(session.vault)[0].id)["INBOX"]
        pending: list[MessageRecord] = []
        for record in bulk_records(count):
            pending.append(record)
            if len(pending) == batch:
                store.store_messages(session.vault, folder.id, pending)
                pending = []
        store.store_messages(session.vault, folder.id, pending)
    finally:
        session.close()
    return directory
