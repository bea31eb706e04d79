"""The idle lock state machine (DESIGN.md §7): a table of named scenarios on a fake clock, and its invariants.

Times are seconds on the fake clock; every scenario starts unlocked and active at 0, with a 300 s timeout, a
30 s warning and 3 allowed failures unless the row says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.lock import (
    Activity,
    AuditLockEvent,
    CloseProfile,
    Effect,
    HideWarning,
    Lock,
    LockConfig,
    LockEvent,
    LockPhase,
    LockReason,
    LockState,
    ManualLock,
    Minimised,
    OsLocked,
    OsSleep,
    Restored,
    ShowWarning,
    Tick,
    Unlock,
    UnlockFailed,
    UnlockRejected,
    UnlockSucceeded,
    step,
)

CONFIG = LockConfig(idle_timeout_seconds=300, warning_seconds=30, max_failures=3)
HOUR = 3600.0


def locked(reason: LockReason) -> tuple[Effect, ...]:
    return (AuditLockEvent(reason), Lock(reason))


IDLE = locked(LockReason.IDLE)
MANUAL = locked(LockReason.MANUAL)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    events: tuple[LockEvent, ...]
    phase: LockPhase
    effects: tuple[Effect, ...]  # every effect of every event, in order
    config: LockConfig = CONFIG


SCENARIOS = (
    # Warning and idle lock.
    Scenario("tick_before_warning_does_nothing", (Tick(269),), LockPhase.UNLOCKED, ()),
    Scenario("tick_in_warning_window_shows_countdown", (Tick(270),), LockPhase.WARNING, (ShowWarning(30),)),
    Scenario(
        "countdown_updates_each_tick_rounding_up",
        (Tick(271), Tick(272), Tick(285.5)),
        LockPhase.WARNING,
        (ShowWarning(29), ShowWarning(28), ShowWarning(15)),
    ),
    Scenario("tick_at_timeout_locks_as_idle", (Tick(300),), LockPhase.LOCKED, IDLE),
    Scenario(
        "warning_then_timeout_hides_countdown_and_locks",
        (Tick(290), Tick(300)),
        LockPhase.LOCKED,
        (ShowWarning(10), HideWarning(), *IDLE),
    ),
    Scenario(
        "zero_warning_locks_without_countdown",
        (Tick(299), Tick(300)),
        LockPhase.LOCKED,
        IDLE,
        LockConfig(idle_timeout_seconds=300, warning_seconds=0, max_failures=3),
    ),
    # Activity.
    Scenario("activity_resets_the_idle_period", (Activity(200), Tick(300), Tick(469)), LockPhase.UNLOCKED, ()),
    Scenario("idle_after_last_activity_locks", (Activity(200), Tick(500)), LockPhase.LOCKED, IDLE),
    Scenario(
        "activity_during_warning_cancels_it",
        (Tick(280), Activity(285), Tick(290)),
        LockPhase.UNLOCKED,
        (ShowWarning(20), HideWarning()),
    ),
    Scenario("activity_after_timeout_locks_instead_of_resetting", (Activity(301), Tick(302)), LockPhase.LOCKED, IDLE),
    Scenario(
        "activity_never_unlocks", (ManualLock(10), Activity(20), Tick(30), Activity(40)), LockPhase.LOCKED, MANUAL
    ),
    # Manual, OS and sleep locks.
    Scenario("manual_lock_locks_at_once", (ManualLock(5),), LockPhase.LOCKED, MANUAL),
    Scenario(
        "manual_lock_during_warning_hides_countdown",
        (Tick(280), ManualLock(281)),
        LockPhase.LOCKED,
        (ShowWarning(20), HideWarning(), *MANUAL),
    ),
    Scenario("os_session_lock_locks", (OsLocked(5),), LockPhase.LOCKED, locked(LockReason.OS)),
    Scenario("machine_sleep_locks", (OsSleep(5),), LockPhase.LOCKED, locked(LockReason.SLEEP)),
    Scenario("unreported_sleep_locks_as_idle_on_wake", (Tick(10), Tick(HOUR)), LockPhase.LOCKED, IDLE),
    Scenario("late_sleep_report_is_an_idle_lock", (OsSleep(HOUR),), LockPhase.LOCKED, IDLE),
    Scenario(
        "second_lock_while_locked_is_not_audited_again",
        (ManualLock(10), OsLocked(20), OsSleep(30), Tick(HOUR)),
        LockPhase.LOCKED,
        MANUAL,
    ),
    # Minimised windows. Activity while minimised stands for input in another Salus window.
    Scenario(
        "minimised_shorter_than_timeout_stays_unlocked",
        (Minimised(10), Activity(200), Restored(250), Tick(320)),
        LockPhase.UNLOCKED,
        (),
    ),
    Scenario(
        "minimised_longer_than_timeout_locks_on_restore",
        (Minimised(10), Activity(200), Restored(310)),
        LockPhase.LOCKED,
        locked(LockReason.MINIMISED),
    ),
    Scenario(
        "minimised_longer_than_timeout_locks_on_tick",
        (Minimised(10), Activity(200), Tick(310)),
        LockPhase.LOCKED,
        locked(LockReason.MINIMISED),
    ),
    Scenario("minimised_and_idle_names_the_earlier_deadline", (Minimised(10), Tick(310)), LockPhase.LOCKED, IDLE),
    Scenario(
        "second_minimise_does_not_restart_the_clock",
        (Minimised(10), Activity(200), Minimised(250), Tick(310)),
        LockPhase.LOCKED,
        locked(LockReason.MINIMISED),
    ),
    Scenario(
        "minimise_after_restore_starts_a_fresh_clock",
        (Minimised(10), Activity(200), Restored(250), Minimised(260), Activity(400), Tick(559), Tick(560)),
        LockPhase.LOCKED,
        locked(LockReason.MINIMISED),
    ),
    Scenario(
        "restore_is_not_activity",
        (Tick(280), Restored(285), Tick(286)),
        LockPhase.WARNING,
        (ShowWarning(20), ShowWarning(14)),
    ),
    # Unlocking.
    Scenario(
        "unlock_succeeded_unlocks", (ManualLock(10), UnlockSucceeded(20)), LockPhase.UNLOCKED, (*MANUAL, Unlock())
    ),
    Scenario(
        "unlock_starts_a_new_idle_period",
        (ManualLock(10), UnlockSucceeded(200), Tick(469), Tick(500)),
        LockPhase.LOCKED,
        (*MANUAL, Unlock(), *IDLE),
    ),
    Scenario(
        "unlock_failed_stays_locked_and_counts_down_attempts",
        (ManualLock(10), UnlockFailed(20)),
        LockPhase.LOCKED,
        (*MANUAL, UnlockRejected(2)),
    ),
    Scenario(
        "failures_up_to_the_limit_close_the_profile",
        (ManualLock(10), UnlockFailed(20), UnlockFailed(30), UnlockFailed(40)),
        LockPhase.CLOSED,
        (*MANUAL, UnlockRejected(2), UnlockRejected(1), CloseProfile()),
    ),
    Scenario(
        "success_resets_failures",
        (ManualLock(10), UnlockFailed(20), UnlockFailed(30), UnlockSucceeded(40), ManualLock(50), UnlockFailed(60)),
        LockPhase.LOCKED,
        (*MANUAL, UnlockRejected(2), UnlockRejected(1), Unlock(), *MANUAL, UnlockRejected(2)),
    ),
    Scenario(
        "unlock_answers_while_unlocked_are_ignored", (UnlockSucceeded(10), UnlockFailed(20)), LockPhase.UNLOCKED, ()
    ),
    Scenario("unlock_answer_after_timeout_is_not_honoured", (UnlockSucceeded(301),), LockPhase.LOCKED, IDLE),
    Scenario(
        "events_after_closed_are_ignored",
        (OsLocked(1), UnlockFailed(2), UnlockFailed(3), UnlockFailed(4), UnlockSucceeded(5), Activity(6), Tick(HOUR)),
        LockPhase.CLOSED,
        (*locked(LockReason.OS), UnlockRejected(2), UnlockRejected(1), CloseProfile()),
    ),
    # The clock changing under us.
    Scenario(
        "clock_set_back_keeps_accrued_idle_time",
        (Tick(200), Tick(200 - HOUR), Tick(299 - HOUR), Tick(300 - HOUR)),
        LockPhase.LOCKED,
        (ShowWarning(1), HideWarning(), *IDLE),
    ),
    Scenario(
        "clock_set_back_during_warning_keeps_the_countdown",
        (Tick(280), Tick(280 - HOUR)),
        LockPhase.WARNING,
        (ShowWarning(20), ShowWarning(20)),
    ),
    Scenario(
        "activity_after_clock_set_back_counts_from_the_machines_clock",
        (Tick(200), Activity(200 - HOUR), Tick(469 - HOUR), Tick(500 - HOUR)),
        LockPhase.LOCKED,
        IDLE,
    ),
    Scenario(
        "clock_set_back_does_not_extend_minimised_time",
        (Minimised(10), Activity(200), Tick(250), Tick(250 - HOUR), Restored(310 - HOUR)),
        LockPhase.LOCKED,
        locked(LockReason.MINIMISED),
    ),
    Scenario("clock_jump_forward_locks", (Tick(10), Tick(10 + 2 * HOUR)), LockPhase.LOCKED, IDLE),
)


def run(events: tuple[LockEvent, ...], config: LockConfig) -> tuple[LockState, list[Effect]]:
    state = LockState.start(0)
    effects: list[Effect] = []
    for event in events:
        state, produced = step(state, event, config)
        effects.extend(produced)
    return state, effects


def test_the_table_has_unique_names() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names)) >= 25


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario(scenario: Scenario) -> None:
    state, effects = run(scenario.events, scenario.config)

    assert (state.phase, effects) == (scenario.phase, list(scenario.effects))


def test_locked_state_remembers_the_reason_until_unlocked() -> None:
    state, _ = run((OsSleep(5),), CONFIG)
    assert state.reason is LockReason.SLEEP
    state, _ = step(state, UnlockSucceeded(10), CONFIG)
    assert state.reason is None


@pytest.mark.parametrize(
    ("timeout", "warning", "failures"),
    [(0, 0, 3), (-1, 0, 3), (300, 151, 3), (300, -1, 3), (300, 30, 0)],
)
def test_invalid_config_is_refused(timeout: float, warning: float, failures: int) -> None:
    with pytest.raises(ValueError):
        LockConfig(idle_timeout_seconds=timeout, warning_seconds=warning, max_failures=failures)


# Properties over any configuration and any sequence of events, with the clock jumping both ways.

EVENT_KINDS: tuple[Callable[[float], LockEvent], ...] = (
    Tick,
    Activity,
    ManualLock,
    OsLocked,
    OsSleep,
    Minimised,
    Restored,
    UnlockSucceeded,
    UnlockFailed,
)


@st.composite
def configs(draw: st.DrawFn) -> LockConfig:
    timeout = draw(st.floats(min_value=1, max_value=8 * HOUR))
    share = draw(st.floats(min_value=0, max_value=0.5))
    return LockConfig(timeout, timeout * share, draw(st.integers(min_value=1, max_value=6)))


@st.composite
def event_sequences(draw: st.DrawFn) -> list[LockEvent]:
    # Mostly small steps forward, sometimes large jumps either way (a clock change, a sleep).
    steps = st.one_of(st.floats(min_value=0, max_value=60), st.floats(min_value=-2 * HOUR, max_value=2 * HOUR))
    moves = draw(st.lists(st.tuples(st.sampled_from(EVENT_KINDS), steps), max_size=40))
    events: list[LockEvent] = []
    now = 0.0
    for kind, delta in moves:
        now += delta
        events.append(kind(now))
    return events


Step = tuple[LockState, LockEvent, LockState, tuple[Effect, ...]]  # before, event, after, effects


def trace(events: list[LockEvent], config: LockConfig) -> list[Step]:
    state = LockState.start(0)
    steps: list[Step] = []
    for event in events:
        after, effects = step(state, event, config)
        steps.append((state, event, after, effects))
        state = after
    return steps


def final_state(events: list[LockEvent], config: LockConfig) -> LockState:
    state = LockState.start(0)
    for event in events:
        state, _ = step(state, event, config)
    return state


@given(configs(), event_sequences(), st.floats(min_value=1, max_value=HOUR))
def test_any_tick_after_the_timeout_without_activity_locks(
    config: LockConfig, events: list[LockEvent], extra: float
) -> None:
    state = final_state(events, config)
    state, _ = step(state, Tick(state.wall + config.idle_timeout_seconds + extra), config)

    assert state.phase in (LockPhase.LOCKED, LockPhase.CLOSED)


@given(configs(), event_sequences())
def test_nothing_but_unlock_succeeded_leaves_locked(config: LockConfig, events: list[LockEvent]) -> None:
    for before, event, after, _ in trace(events, config):
        if not before.unlocked and after.unlocked:
            assert before.phase is LockPhase.LOCKED
            assert isinstance(event, UnlockSucceeded)


@given(configs(), event_sequences(), event_sequences())
def test_closed_is_absorbing(config: LockConfig, events: list[LockEvent], more: list[LockEvent]) -> None:
    state = final_state(events, config)
    failures: list[LockEvent] = [UnlockFailed(state.wall)] * config.max_failures
    state = final_state([*events, ManualLock(state.wall), *failures], config)
    assert state.phase is LockPhase.CLOSED

    for event in more:
        assert step(state, event, config) == (state, ())


@given(configs(), event_sequences())
def test_the_machines_clock_never_goes_back(config: LockConfig, events: list[LockEvent]) -> None:
    for before, _, after, _ in trace(events, config):
        assert after.clock >= before.clock


@given(configs(), event_sequences())
def test_only_activity_moves_the_deadline_while_unlocked(config: LockConfig, events: list[LockEvent]) -> None:
    for before, event, after, _ in trace(events, config):
        if before.unlocked and after.unlocked and not isinstance(event, Activity):
            assert after.idle_deadline(config) == before.idle_deadline(config)
            assert after.minimised_since in (None, before.minimised_since, after.clock)


@given(configs(), event_sequences())
def test_every_lock_is_audited_first_and_only_on_locking(config: LockConfig, events: list[LockEvent]) -> None:
    for before, _, after, effects in trace(events, config):
        locks = [e for e in effects if isinstance(e, Lock)]
        assert len(locks) == (1 if before.unlocked and not after.unlocked else 0)
        if locks:
            assert effects[-2:] == (AuditLockEvent(locks[0].reason), locks[0])
            assert after.reason is locks[0].reason


@given(configs(), event_sequences())
def test_countdown_is_shown_only_while_warning(config: LockConfig, events: list[LockEvent]) -> None:
    for _, _, after, effects in trace(events, config):
        for effect in effects:
            if isinstance(effect, ShowWarning):
                assert after.phase is LockPhase.WARNING
                assert 1 <= effect.seconds_left <= config.warning_seconds + 1


@given(configs(), event_sequences())
def test_failures_never_pass_the_limit(config: LockConfig, events: list[LockEvent]) -> None:
    for _, _, after, _ in trace(events, config):
        assert 0 <= after.failures <= config.max_failures
        assert (after.phase is LockPhase.CLOSED) == (after.failures == config.max_failures)
