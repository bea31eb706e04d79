"""The portal's request rules as pure functions over one message's record (no I/O, no clock, no randomness).

Rules:
- K2 leaves the portal only in a successful verification's answer; a revoked or expired message has no K2 left
  (its record keeps K2 empty) and every request for it is refused as such.
- A one-time code lives `code_lifetime`, answers one successful verification, and is forgotten after it, after
  `attempts` wrong guesses, and when a new code replaces it. Only its SHA-256 digest is kept.
- Wrong codes or passphrases count per message; `attempts` of them lock the message for `lockout`, which is
  also when the pending code is burned. Codes are sent at most once per `code_interval` and `codes_per_hour`
  times an hour, so the portal cannot be used to flood a mailbox.
- Sender tokens and access tokens are kept only as SHA-256 digests and compared in constant time.
- A function that refuses without changing anything raises Refused; one whose refusal must still be stored
  (a wrong guess) returns a Step carrying the refusal, and the server raises it after storing the record.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from app.portal.protocol import EventKind, MessageState, ScryptVerifier, UploadMeta, VerificationMethod

HOUR = timedelta(hours=1)
_MAX_GRANTS = 8


class Refusal(Enum):
    """Every way a request can be refused: (HTTP status, machine code, what the person is told)."""

    BAD_REQUEST = (400, "bad_request", "The request was not understood.")
    UNAUTHORIZED = (401, "unauthorized", "This request is not authorised.")
    WRONG_SECRET = (401, "wrong_secret", "That code or passphrase is not right.")
    NOT_FOUND = (404, "not_found", "There is no message at this link. Check that you copied the whole link.")
    NO_CODE = (409, "no_code", "That code has expired or was already used. Ask for a new code.")
    WRONG_METHOD = (409, "wrong_method", "This message is opened another way.")
    EXPIRED = (410, "expired", "This link has expired. Ask the sender to send the message again.")
    REVOKED = (410, "revoked", "The sender has withdrawn this message.")
    TOO_LARGE = (413, "too_large", "That is too large to send.")
    LOCKED = (423, "locked", "This message is locked after too many wrong attempts. Try again later.")
    TOO_MANY = (429, "too_many", "Too many requests. Wait a little and try again.")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def code(self) -> str:
        return self.value[1]

    @property
    def text(self) -> str:
        return self.value[2]


class Refused(Exception):
    def __init__(self, refusal: Refusal, *, retry_after: int = 0, attempts_left: int | None = None) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal
        self.retry_after = retry_after
        self.attempts_left = attempts_left


@dataclass(frozen=True, slots=True)
class Limits:
    code_lifetime: timedelta = timedelta(minutes=10)
    code_interval: timedelta = timedelta(seconds=30)
    codes_per_hour: int = 5
    attempts: int = 5
    lockout: timedelta = timedelta(minutes=15)
    access_lifetime: timedelta = timedelta(hours=1)
    max_lifetime: timedelta = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class PendingCode:
    digest: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """Access to the envelope and to replying, given by a successful verification."""

    digest: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: str
    recipient: str
    k2: bytes
    reply_key: bytes
    sender_token_digest: str
    created_at: datetime
    expires_at: datetime
    passphrase: ScryptVerifier | None = None
    revoked_at: datetime | None = None
    code: PendingCode | None = None
    code_sends: tuple[datetime, ...] = ()
    failures: int = 0
    locked_until: datetime | None = None
    grants: tuple[Grant, ...] = ()

    @property
    def method(self) -> VerificationMethod:
        return VerificationMethod.CODE if self.passphrase is None else VerificationMethod.PASSPHRASE


@dataclass(frozen=True, slots=True)
class Step:
    """A new record, the events it adds, and the refusal to answer with once it is stored (if any)."""

    record: MessageRecord
    events: tuple[EventKind, ...] = ()
    refused: Refused | None = None
    drop_content: bool = False


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def code_digest(message_id: str, code: str) -> str:
    # The id is mixed in so one digest table cannot be matched against every message at once.
    return digest(f"code:{message_id}:{code}")


def new_record(meta: UploadMeta, message_id: str, sender_token: str, now: datetime, limits: Limits) -> MessageRecord:
    if meta.expires_at <= now or meta.expires_at - now > limits.max_lifetime:
        raise Refused(Refusal.BAD_REQUEST)
    return MessageRecord(
        id=message_id, recipient=meta.recipient, k2=meta.k2, reply_key=meta.reply_key,
        sender_token_digest=digest(sender_token), created_at=now, expires_at=meta.expires_at,
        passphrase=meta.passphrase,
    )  # fmt: skip


def state(record: MessageRecord, now: datetime) -> MessageState:
    if record.revoked_at is not None:
        return MessageState.REVOKED
    return MessageState.EXPIRED if now >= record.expires_at else MessageState.ACTIVE


def require_open(record: MessageRecord, now: datetime) -> None:
    current = state(record, now)
    if current is MessageState.REVOKED:
        raise Refused(Refusal.REVOKED)
    if current is MessageState.EXPIRED:
        raise Refused(Refusal.EXPIRED)


def require_unlocked(record: MessageRecord, now: datetime) -> None:
    if record.locked_until is not None and now < record.locked_until:
        raise Refused(Refusal.LOCKED, retry_after=_seconds(record.locked_until - now))


def require_sender(record: MessageRecord, token: str) -> None:
    if not hmac.compare_digest(digest(token), record.sender_token_digest):
        raise Refused(Refusal.UNAUTHORIZED)


def require_access(record: MessageRecord, now: datetime, token: str) -> None:
    require_open(record, now)
    wanted = digest(token)
    if not any(hmac.compare_digest(wanted, g.digest) and now < g.expires_at for g in record.grants):
        raise Refused(Refusal.UNAUTHORIZED)


def issue_code(record: MessageRecord, now: datetime, code: str, limits: Limits) -> Step:
    """Remember a fresh code for the server to email; refuse when sent too often."""
    require_open(record, now)
    if record.method is not VerificationMethod.CODE:
        raise Refused(Refusal.WRONG_METHOD)
    require_unlocked(record, now)
    recent = tuple(sent for sent in record.code_sends if now - sent < HOUR)
    if recent and now - recent[-1] < limits.code_interval:
        raise Refused(Refusal.TOO_MANY, retry_after=_seconds(limits.code_interval - (now - recent[-1])))
    if len(recent) >= limits.codes_per_hour:
        raise Refused(Refusal.TOO_MANY, retry_after=_seconds(HOUR - (now - recent[0])))
    pending = PendingCode(code_digest(record.id, code), now + limits.code_lifetime)
    return Step(replace(record, code=pending, code_sends=(*recent, now)), (EventKind.CODE_SENT,))


def verify_code(record: MessageRecord, now: datetime, code: str, access_token: str, limits: Limits) -> Step:
    require_open(record, now)
    if record.method is not VerificationMethod.CODE:
        raise Refused(Refusal.WRONG_METHOD)
    require_unlocked(record, now)
    pending = record.code
    if pending is None or now >= pending.expires_at:
        raise Refused(Refusal.NO_CODE)
    matches = hmac.compare_digest(code_digest(record.id, code), pending.digest)
    return _attempt(record, now, matches, access_token, limits)


def check_passphrase_allowed(record: MessageRecord, now: datetime) -> ScryptVerifier:
    """The verifier to check a passphrase against (the scrypt itself runs outside, on a worker thread)."""
    require_open(record, now)
    require_unlocked(record, now)
    if record.passphrase is None:
        raise Refused(Refusal.WRONG_METHOD)
    return record.passphrase


def verify_passphrase(record: MessageRecord, now: datetime, matches: bool, access_token: str, limits: Limits) -> Step:
    check_passphrase_allowed(record, now)
    return _attempt(record, now, matches, access_token, limits)


def _attempt(record: MessageRecord, now: datetime, matches: bool, access_token: str, limits: Limits) -> Step:
    if matches:
        grants = tuple(g for g in record.grants if now < g.expires_at)[-(_MAX_GRANTS - 1) :]
        grant = Grant(digest(access_token), now + limits.access_lifetime)
        opened = replace(record, code=None, failures=0, locked_until=None, grants=(*grants, grant))
        return Step(opened, (EventKind.OPENED,))
    failures = record.failures + 1
    if failures >= limits.attempts:
        locked = replace(record, code=None, failures=0, locked_until=now + limits.lockout)
        return Step(locked, (EventKind.LOCKED,), Refused(Refusal.LOCKED, retry_after=_seconds(limits.lockout)))
    left = limits.attempts - failures
    return Step(replace(record, failures=failures), (), Refused(Refusal.WRONG_SECRET, attempts_left=left))


def revoke(record: MessageRecord, now: datetime) -> Step:
    """Withdraw the message: K2 and the envelope are destroyed at once; the record stays as a tombstone."""
    if record.revoked_at is not None:
        return Step(record)
    gone = replace(record, k2=b"", revoked_at=now, code=None, grants=())
    return Step(gone, (EventKind.REVOKED,), drop_content=True)


def expire(record: MessageRecord, now: datetime) -> Step:
    """Forget K2 and the envelope of a message past its expiry (run by the server's purge)."""
    if state(record, now) is not MessageState.EXPIRED or not record.k2:
        return Step(record)
    return Step(replace(record, k2=b"", code=None, grants=()), drop_content=True)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def note_delivered(record: MessageRecord, now: datetime) -> Step:
    """The sender's client reports that its notice was accepted for delivery."""
    require_open(record, now)
    return Step(record, (EventKind.NOTICE_DELIVERED,))
