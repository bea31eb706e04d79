"""The TOTP second factor at unlock (DESIGN.md §7: "policy may add a TOTP second factor").

Rules:
- A code is asked for when the policy sets `unlock_requires_totp`, and also whenever the profile has an
  authenticator enrolled: a person who enrolled one expects it to be needed, policy or not.
- The check runs after the passphrase opened the vault (the secret lives inside it) and before the unlock is
  recorded as a success, so the chain never shows a success for an unlock that then failed.
- A wrong or replayed code is recorded in the audit chain at once (the vault is open) and is an `UnlockError`:
  the lock screen counts it toward `unlock_max_failures` like a wrong passphrase; the CLI exits 3.
- After `unlock_max_failures` wrong codes in a row (counted in the chain since the last successful unlock),
  no code is tried for `LOCKOUT` after the last one: with the passphrase known, a million codes would
  otherwise fall to patient guessing (RFC 4226 §7.3 asks for throttling). The refusals are audited too.
- Under such a policy, a profile without an authenticator cannot be unlocked for anything but enrolling one.
- Enrolling again or disabling needs the profile unlocked, which needs a valid code when one is enrolled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from app.audit.events import AuditEvent
from app.audit.log import AuditLog
from app.core import totp
from app.core.errors import BlockedByPolicy, UnlockError
from app.core.settings import Settings
from app.store import workstation as store
from app.store.vault import Vault

if TYPE_CHECKING:
    from app.services.profile import Session

CODE_NEEDED = "This profile needs the 6-digit code from your authenticator app as well."
LOCKOUT = timedelta(minutes=5)
ENROL_HINT = "enrol an authenticator app with `salus profile totp enrol`, then unlock with its code"


class SecondFactorRequired(UnlockError):
    """Policy requires a second factor and this profile has none enrolled."""


class SecondFactorRejected(UnlockError):
    """The code was missing, wrong or used already."""


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret_base32: str
    uri: str

    def __repr__(self) -> str:
        return "Enrolment(...)"


def check_code(
    vault: Vault,
    audit: AuditLog,
    settings: Settings,
    code: str | None,
    now: datetime,
    *,
    enrolling: bool = False,
) -> int | None:
    """The TOTP step to remember when the unlock succeeds, or None when no second factor applies."""
    factor = store.second_factor(vault)
    if factor is None:
        if settings["unlock_requires_totp"] and not enrolling:
            audit.record(AuditEvent.UNLOCK_FAILED, now, detail={"factor": "totp", "problem": "not_enrolled"})
            raise SecondFactorRequired(f"Your organisation requires a second factor for this profile: {ENROL_HINT}.")
        return None
    if not code or not code.strip():
        raise SecondFactorRejected(CODE_NEEDED)
    _check_not_locked_out(vault, audit, settings["unlock_max_failures"], now)
    try:
        return totp.accept(factor.secret, code, now.timestamp(), factor.last_step).step
    except totp.CodeRejected as exc:
        audit.record(AuditEvent.UNLOCK_FAILED, now, detail={"factor": "totp"})
        raise SecondFactorRejected(f"Wrong authenticator code: {exc}") from exc


def _check_not_locked_out(vault: Vault, audit: AuditLog, max_failures: int, now: datetime) -> None:
    rows = vault.execute(
        "SELECT at, detail FROM audit_log WHERE event = ? AND seq > "
        "coalesce((SELECT max(seq) FROM audit_log WHERE event = ?), 0) ORDER BY seq",
        (str(AuditEvent.UNLOCK_FAILED), str(AuditEvent.UNLOCK_SUCCEEDED)),
    ).fetchall()
    wrong = [datetime.fromisoformat(at) for at, detail in rows if json.loads(detail) == {"factor": "totp"}]
    if len(wrong) < max_failures or now - wrong[-1] >= LOCKOUT:
        return
    audit.record(AuditEvent.UNLOCK_FAILED, now, detail={"factor": "totp", "problem": "locked_out"})
    minutes = max(1, math.ceil((wrong[-1] + LOCKOUT - now).total_seconds() / 60))
    raise SecondFactorRejected(
        f"Too many wrong authenticator codes: try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def remember_step(vault: Vault, step: int) -> None:
    """Inside the unlock's success transaction: from now on only later codes are accepted."""
    store.set_last_step(vault, step)


def enrol(session: Session, account: str, now: datetime) -> Enrolment:
    secret = totp.new_secret()
    with session.vault.transaction():
        replaced = store.second_factor(session.vault) is not None
        store.put_second_factor(session.vault, secret, now)
        action = "replaced" if replaced else "enrolled"
        session.audit.record_in_transaction(AuditEvent.SECOND_FACTOR_CHANGED, now, detail={"action": action})
    session.audit.forward_committed()
    return Enrolment(totp.to_base32(secret), totp.otpauth_uri(secret, account))


def disable(session: Session, settings: Settings, now: datetime) -> None:
    if settings["unlock_requires_totp"]:
        raise BlockedByPolicy("Your organisation's policy requires a second factor; it cannot be turned off.")
    with session.vault.transaction():
        if store.second_factor(session.vault) is None:
            raise UnlockError("This profile has no authenticator enrolled.")
        store.remove_second_factor(session.vault)
        session.audit.record_in_transaction(AuditEvent.SECOND_FACTOR_CHANGED, now, detail={"action": "disabled"})
    session.audit.forward_committed()
