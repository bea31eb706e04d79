"""Adding mail accounts to an unlocked profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.audit.events import AuditEvent
from app.core.clock import utc_now
from app.core.errors import UsageError
from app.core.models import Endpoint, Security
from app.services.profile import Session
from app.store import mail as store
from app.store.mail import NewAccount


@dataclass(frozen=True, slots=True)
class AccountSettings:
    name: str
    imap: Endpoint
    smtp: Endpoint
    username: str
    ca_file: Path | None = None
    address: str = ""


def parse_endpoint(text: str, security: str, *, what: str) -> Endpoint:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--{what} must be HOST:PORT, not {text!r}.")
    try:
        mode = Security(security)
    except ValueError as exc:
        raise UsageError(f"--{what}-security must be 'tls' or 'starttls', not {security!r}.") from exc
    return Endpoint(host.strip("[]"), int(port), mode)


def add_account(session: Session, settings: AccountSettings, password: str) -> None:
    if not password:
        raise UsageError("The account password is missing: set SALUS_ACCOUNT_PASSWORD.")
    ca_pem = _read_ca(settings.ca_file) if settings.ca_file else ""
    now = utc_now()
    store.add_account(
        session.vault,
        NewAccount(settings.name, settings.imap, settings.smtp, settings.username, password, ca_pem, settings.address),
        now,
    )
    session.audit.record(
        AuditEvent.ACCOUNT_ADDED,
        now,
        target=settings.name,
        detail={
            "imap": f"{settings.imap.host}:{settings.imap.port}/{settings.imap.security}",
            "smtp": f"{settings.smtp.host}:{settings.smtp.port}/{settings.smtp.security}",
            "private_ca": bool(ca_pem),
        },
    )


def _read_ca(path: Path) -> str:
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"Cannot read the CA file {path}: {exc}") from exc
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise UsageError(f"{path} holds no PEM certificate.")
    return text
