"""The demo profile: a vault with a few hundred realistic messages and no server, for a first look at Salus.

Everything here is invented. The demo account points at `demo.invalid`, a name that never resolves (RFC 6761
§6.4), so nothing can leave the machine from it.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from app.core.clock import utc_now
from app.core.models import Endpoint, Security
from app.mail.imap.session import FetchedMessage
from app.services.profile import create_profile
from app.services.sync import build_records
from app.store import mail as store
from app.store.mail import NewAccount

DEMO_PASSPHRASE = "demo"  # noqa: S105 - published on purpose: the demo holds no real mail
_PEOPLE = [
    ("Dr. Amira Haddad", "a.haddad@riverside-clinic.example"),
    ("Jonas Weber", "j.weber@labor-nord.example"),
    ("Front Desk", "frontdesk@riverside-clinic.example"),
    ("Chloé Martin", "chloe.martin@cardio-partners.example"),
    ("Billing", "billing@insurer.example"),
    ("Dr. Kenji Sato", "k.sato@imaging-center.example"),
]
_SUBJECTS = [
    "Lab results for your patient",
    "Referral: cardiology consult",
    "Invoice {n} for October",
    "Appointment moved to Thursday",
    "MRI report ready",
    "Überweisung Dermatologie",
    "Prior authorisation approved",
    "Staff meeting agenda",
]
_BODIES = [
    "Hello,\n\nthe results are attached. Potassium is slightly elevated; please review before Friday.\n\nBest,\n{n}",
    "Hi,\n\nplease find the referral letter for the cardiology consult. The patient prefers mornings.\n\n{n}",
    "Dear colleague,\n\nthe invoice for last month is attached. Payment within 30 days.\n\nKind regards,\n{n}",
    "Guten Tag,\n\nanbei die Überweisung. Bitte um einen Termin in den nächsten zwei Wochen.\n\nViele Grüße\n{n}",
]


def demo_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "salus" / "demo"


def ensure_demo_profile(directory: Path | None = None, count: int = 300) -> tuple[Path, str]:
    directory = directory or demo_dir()
    if (directory / "profile.json").exists():
        return directory, DEMO_PASSPHRASE
    session = create_profile(directory, DEMO_PASSPHRASE)
    try:
        demo = Endpoint("demo.invalid", 993, Security.TLS)
        account = NewAccount("Demo", demo, Endpoint("demo.invalid", 465, Security.TLS), "demo", "demo", "")
        account_id = store.add_account(session.vault, account, utc_now())
        for folder, share in (("INBOX", 0.7), ("Sent", 0.2), ("Überweisungen", 0.1)):
            store.add_folder(session.vault, account_id, folder, folder, "/")
            row = store.folders(session.vault, account_id)[folder]
            messages = [_demo_message(i, random.Random(i)) for i in range(int(count * share))]
            store.store_messages(session.vault, row.id, build_records(messages))
    finally:
        session.close()
    return directory, DEMO_PASSPHRASE


def _demo_message(uid_index: int, rng: random.Random) -> FetchedMessage:
    name, addr = rng.choice(_PEOPLE)
    message = EmailMessage()
    message["From"] = f"{name} <{addr}>"
    message["To"] = "You <you@riverside-clinic.example>"
    message["Subject"] = rng.choice(_SUBJECTS).format(n=1000 + uid_index)
    when = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=uid_index * 7 + rng.randint(0, 6))
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="demo.invalid")
    message.set_content(rng.choice(_BODIES).format(n=name))
    raw = message.as_bytes()
    flags = ("\\Seen",) if rng.random() < 0.6 else ()
    return FetchedMessage(uid_index + 1, flags, 0, when, len(raw), raw)
