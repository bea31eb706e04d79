"""The lock driver on a fake clock: ticks, activity stamped from any thread, effects delivered in order, and the
mapping from effective settings to the lock configuration."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.lock import (
    AuditLockEvent,
    CloseProfile,
    Effect,
    Effects,
    HideWarning,
    Lock,
    LockConfig,
    LockPhase,
    LockReason,
    ManualLock,
    OsSleep,
    ShowWarning,
    Unlock,
    UnlockFailed,
    UnlockRejected,
    UnlockSucceeded,
)
from app.core.settings import Effective, Settings, Source, effective
from app.services.lock import LockController, lock_config

CONFIG = LockConfig(idle_timeout_seconds=300, warning_seconds=30, max_failures=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Effects] = []

    def __call__(self, effects: Effects) -> None:
        self.calls.append(effects)

    @property
    def effects(self) -> list[Effect]:
        return [effect for call in self.calls for effect in call]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def controller(clock: FakeClock, seen: Recorder) -> LockController:
    return LockController(CONFIG, clock, seen)


def test_tick_after_the_timeout_locks_and_delivers_the_effects(
    controller: LockController, clock: FakeClock, seen: Recorder
) -> None:
    clock.advance(300)

    returned = controller.tick()

    assert returned == (AuditLockEvent(LockReason.IDLE), Lock(LockReason.IDLE))
    assert seen.calls == [returned]
    assert controller.phase is LockPhase.LOCKED


def test_quiet_ticks_call_no_handler(controller: LockController, clock: FakeClock, seen: Recorder) -> None:
    for _ in range(10):
        clock.advance(1)
        controller.tick()

    assert seen.calls == []


def test_countdown_is_shown_while_ticking(controller: LockController, clock: FakeClock, seen: Recorder) -> None:
    clock.advance(280)
    controller.tick()
    clock.advance(1)
    controller.tick()

    assert seen.effects == [ShowWarning(20), ShowWarning(19)]
    assert controller.phase is LockPhase.WARNING


def test_noted_activity_postpones_the_lock(controller: LockController, clock: FakeClock) -> None:
    clock.advance(200)
    controller.note_activity()
    clock.advance(200)
    controller.tick()

    assert controller.phase is LockPhase.UNLOCKED


def test_activity_counts_at_its_own_time_not_when_fed(controller: LockController, clock: FakeClock) -> None:
    # Typed at 299 s, fed by the tick at 301 s: the person was there before the deadline.
    clock.advance(299)
    controller.note_activity()
    clock.advance(2)
    controller.tick()

    assert controller.phase is LockPhase.UNLOCKED


def test_first_and_last_activity_between_feeds_both_count(controller: LockController, clock: FakeClock) -> None:
    # Only the last stamp (305 s) would be past the 300 s deadline; the first (299 s) renewed it in time.
    clock.advance(299)
    controller.note_activity()
    clock.advance(6)
    controller.note_activity()
    clock.advance(1)
    controller.tick()

    assert controller.phase is LockPhase.UNLOCKED
    assert controller.state.last_activity == clock.now - 1


def test_activity_during_the_countdown_hides_it_before_the_next_event(
    controller: LockController, clock: FakeClock, seen: Recorder
) -> None:
    clock.advance(280)
    controller.tick()
    controller.note_activity()
    clock.advance(1)
    controller.send(ManualLock)

    assert seen.effects == [
        ShowWarning(20),
        HideWarning(),
        AuditLockEvent(LockReason.MANUAL),
        Lock(LockReason.MANUAL),
    ]


def test_activity_while_locked_does_not_unlock(controller: LockController, clock: FakeClock) -> None:
    controller.send(ManualLock)
    clock.advance(1)
    controller.note_activity()
    controller.tick()

    assert controller.phase is LockPhase.LOCKED


def test_feed_takes_an_event_with_its_own_time(controller: LockController, clock: FakeClock, seen: Recorder) -> None:
    controller.feed(OsSleep(clock.now))

    assert seen.effects == [AuditLockEvent(LockReason.SLEEP), Lock(LockReason.SLEEP)]


def test_unlock_then_repeated_failures_close_the_profile(controller: LockController, seen: Recorder) -> None:
    controller.send(ManualLock)
    controller.send(UnlockSucceeded)
    controller.send(ManualLock)
    controller.send(UnlockFailed)
    controller.send(UnlockFailed)
    controller.send(UnlockSucceeded)

    assert controller.phase is LockPhase.CLOSED
    assert seen.effects[2:] == [
        Unlock(),
        AuditLockEvent(LockReason.MANUAL),
        Lock(LockReason.MANUAL),
        UnlockRejected(1),
        CloseProfile(),
    ]


def test_activity_may_be_noted_from_other_threads(controller: LockController, clock: FakeClock) -> None:
    def type_a_lot() -> None:
        for _ in range(2000):
            controller.note_activity()

    threads = [threading.Thread(target=type_a_lot) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):
        controller.tick()
    for thread in threads:
        thread.join()
    clock.advance(299)
    controller.tick()

    assert controller.phase is LockPhase.WARNING


def test_the_default_clock_is_the_wall_clock() -> None:
    # The wall clock keeps counting while the machine sleeps; see the module's rules.
    before = time.time()
    controller = LockController(CONFIG)

    assert before <= controller.state.wall <= time.time()


def with_warning(settings: Settings, seconds: int, source: Source = Source.POLICY) -> Settings:
    return Settings({**settings.values, "lock_warning_seconds": Effective(seconds, source)})


def test_lock_config_from_default_settings() -> None:
    config = lock_config(effective({}, {}))

    assert config == LockConfig(idle_timeout_seconds=300, warning_seconds=30, max_failures=5)


def test_lock_config_takes_policy_and_a_shorter_user_timeout() -> None:
    settings = effective({"idle_timeout_minutes": 10, "unlock_max_failures": 3}, {"idle_timeout_minutes": 2})

    config = lock_config(with_warning(settings, 20))

    assert config == LockConfig(idle_timeout_seconds=120, warning_seconds=20, max_failures=3)


def test_lock_config_keeps_the_warning_within_half_the_timeout() -> None:
    settings = effective({"idle_timeout_minutes": 1}, {})

    assert lock_config(with_warning(settings, 45)).warning_seconds == 30


def test_lock_config_zero_warning_means_none() -> None:
    assert lock_config(with_warning(effective({}, {}), 0)).warning_seconds == 0
