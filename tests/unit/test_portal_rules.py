"""The portal's request rules (app.portal.rules) as pure functions: codes, lockout, expiry, revocation, access."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.portal import rules
from app.portal.protocol import EventKind, MessageState, ScryptVerifier, UploadMeta
from app.portal.rules import Limits, MessageRecord, Refusal, Refused

NOW = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
LIMITS = Limits()
ID = "A" * 22


def _record(**changes: object) -> MessageRecord:
    meta = UploadMeta("patient@example.org", bytes(range(32)), NOW + timedelta(days=30), b"\x04" + bytes(64))
    record = rules.new_record(meta, ID, "sender-token", NOW, LIMITS)
    return replace(record, **changes) if changes else record  # type: ignore[arg-type]


def _with_code(code: str = "123456", at: datetime = NOW) -> MessageRecord:
    return rules.issue_code(_record(), at, code, LIMITS).record


def _refusal(call: object) -> Refusal:
    with pytest.raises(Refused) as refused:
        call()  # type: ignore[operator]
    return refused.value.refusal


def test_the_right_code_grants_access_once_and_records_an_opening() -> None:
    step = rules.verify_code(_with_code(), NOW, "123456", "access", LIMITS)
    assert step.refused is None and step.events == (EventKind.OPENED,)
    rules.require_access(step.record, NOW, "access")
    assert _refusal(lambda: rules.verify_code(step.record, NOW, "123456", "again", LIMITS)) is Refusal.NO_CODE


def test_a_code_expires() -> None:
    late = NOW + LIMITS.code_lifetime
    assert _refusal(lambda: rules.verify_code(_with_code(), late, "123456", "a", LIMITS)) is Refusal.NO_CODE


def test_wrong_codes_count_down_then_lock_and_burn_the_code() -> None:
    record = _with_code()
    for left in (4, 3, 2, 1):
        step = rules.verify_code(record, NOW, "000000", "a", LIMITS)
        assert step.refused is not None and step.refused.attempts_left == left
        record = step.record
    step = rules.verify_code(record, NOW, "000000", "a", LIMITS)
    assert step.refused is not None and step.refused.refusal is Refusal.LOCKED and step.events == (EventKind.LOCKED,)
    assert step.record.code is None
    assert _refusal(lambda: rules.verify_code(step.record, NOW, "123456", "a", LIMITS)) is Refusal.LOCKED
    assert _refusal(lambda: rules.issue_code(step.record, NOW, "654321", LIMITS)) is Refusal.LOCKED
    after = NOW + LIMITS.lockout
    assert rules.issue_code(step.record, after, "654321", LIMITS).record.code is not None


def test_codes_are_sent_at_most_once_per_interval_and_five_times_an_hour() -> None:
    record = _record()
    moment = NOW
    for _ in range(LIMITS.codes_per_hour):
        record = rules.issue_code(record, moment, "111111", LIMITS).record
        moment += LIMITS.code_interval
    with pytest.raises(Refused) as refused:
        rules.issue_code(record, moment, "111111", LIMITS)
    assert refused.value.refusal is Refusal.TOO_MANY and refused.value.retry_after > 0
    soon = rules.issue_code(_record(), NOW, "1", LIMITS).record
    assert _refusal(lambda: rules.issue_code(soon, NOW + timedelta(seconds=1), "2", LIMITS)) is Refusal.TOO_MANY


@pytest.mark.parametrize(
    ("record", "refusal"),
    [
        (_record(revoked_at=NOW, k2=b""), Refusal.REVOKED),
        (_record(expires_at=NOW), Refusal.EXPIRED),
        (_record(passphrase=ScryptVerifier(b"s", 1 << 15, 8, 1, b"d")), Refusal.WRONG_METHOD),
    ],
)
def test_codes_are_refused_for_messages_that_cannot_be_opened_by_code(record: MessageRecord, refusal: Refusal) -> None:
    assert _refusal(lambda: rules.issue_code(record, NOW, "123456", LIMITS)) is refusal


def test_revoking_destroys_k2_and_access_and_is_idempotent() -> None:
    opened = rules.verify_code(_with_code(), NOW, "123456", "access", LIMITS).record
    step = rules.revoke(opened, NOW)
    assert step.record.k2 == b"" and step.record.grants == () and step.drop_content
    assert step.events == (EventKind.REVOKED,)
    assert rules.revoke(step.record, NOW).events == ()
    assert rules.state(step.record, NOW) is MessageState.REVOKED
    assert _refusal(lambda: rules.require_access(step.record, NOW, "access")) is Refusal.REVOKED


def test_expiry_forgets_k2_only_after_the_link_expired() -> None:
    record = _record()
    assert not rules.expire(record, NOW).drop_content
    later = record.expires_at
    step = rules.expire(record, later)
    assert step.drop_content and step.record.k2 == b""


def test_access_tokens_expire_and_sender_tokens_must_match() -> None:
    opened = rules.verify_code(_with_code(), NOW, "123456", "access", LIMITS).record
    late = NOW + LIMITS.access_lifetime
    assert _refusal(lambda: rules.require_access(opened, late, "access")) is Refusal.UNAUTHORIZED
    rules.require_sender(opened, "sender-token")
    assert _refusal(lambda: rules.require_sender(opened, "sender-tokem")) is Refusal.UNAUTHORIZED


def test_an_expiry_in_the_past_or_beyond_a_year_is_refused() -> None:
    for expires in (NOW, NOW + timedelta(days=400)):
        meta = UploadMeta("p@example.org", bytes(32), expires, b"\x04" + bytes(64))
        assert _refusal(lambda m=meta: rules.new_record(m, ID, "t", NOW, LIMITS)) is Refusal.BAD_REQUEST


@given(st.lists(st.from_regex(r"[0-9]{6}", fullmatch=True), max_size=20))
def test_no_sequence_of_wrong_guesses_ever_releases_access(guesses: list[str]) -> None:
    record = _with_code("424242")
    for guess in guesses:
        if guess == "424242":
            continue
        try:
            step = rules.verify_code(record, NOW, guess, "a", LIMITS)
        except Refused:
            continue
        assert step.refused is not None
        record = step.record
    assert record.grants == ()
