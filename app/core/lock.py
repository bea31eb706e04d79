"""The idle lock as a pure state machine (DESIGN.md §7): events in, a new state and effects out.

It never reads a clock, a setting or a window: every event carries its own `now` (seconds on any scale that
only moves forward in normal use, such as `time.time()`), and the caller acts on the returned effects.

Rules:
- Activity never unlocks. Only `UnlockSucceeded` leaves LOCKED, and only while LOCKED.
- CLOSED is final: every event after it is ignored and yields no effect. The profile must be reopened.
- Time catches up before an event acts: an event that arrives after a deadline has passed (the engine was
  late, the machine slept without saying so) first locks, and is then dropped. Activity at 5:01 after a
  5-minute timeout does not rescue the session; an unlock answer to a lock screen that was not yet shown is
  not honoured.
- Time going backwards never extends the unlocked period. The machine keeps its own clock (`LockState.clock`)
  that advances by each forward step of `now` and stands still when `now` goes back, so idle time already
  accrued is kept. A forward jump counts in full: a clock change cannot be told apart from an unreported
  sleep, and locking is the safe mistake.
- Only `Activity` and `UnlockSucceeded` push the idle deadline back. `Restored` is not activity: a window can
  be raised by the program, and the person's next keystroke will count anyway.
- Every lock emits `AuditLockEvent(reason)` before `Lock(reason)`: locking closes the vault, and the audit log
  lives inside it (DESIGN.md §8), so the entry must be written first. Consumers act on effects in order.
- The countdown warning follows the idle deadline only. A minimised window locks silently: nobody can see a
  countdown in a window that is not shown.
- Unlock failures cannot be audited here (the vault is closed); `app.services.profile.unlock` records them in
  the profile header and moves them into the chain at the next successful unlock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum


class LockPhase(StrEnum):
    UNLOCKED = "unlocked"
    WARNING = "warning"  # unlocked, with the countdown shown shortly before the idle timeout
    LOCKED = "locked"
    CLOSED = "closed"  # too many failed unlocks: the profile must be reopened


class LockReason(StrEnum):
    """Why the session locked; written to the audit log as is."""

    IDLE = "idle"
    MANUAL = "manual"
    OS = "os"
    SLEEP = "sleep"
    MINIMISED = "minimised"


@dataclass(frozen=True, slots=True)
class LockConfig:
    idle_timeout_seconds: float
    warning_seconds: float  # how long before the idle timeout the countdown appears; 0 shows none
    max_failures: int  # failed unlocks that close the profile

    def __post_init__(self) -> None:
        # A countdown longer than half the timeout would be on screen more than it is off; the settings
        # mapping clamps, so a value past that here is a programming error.
        if self.idle_timeout_seconds <= 0:
            raise ValueError("idle_timeout_seconds must be positive")
        if not 0 <= self.warning_seconds <= self.idle_timeout_seconds / 2:
            raise ValueError("warning_seconds must be between 0 and half the idle timeout")
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")


# Events. Each carries the moment it happened.


@dataclass(frozen=True, slots=True)
class Tick:
    """The engine's periodic tick (about once a second)."""

    now: float


@dataclass(frozen=True, slots=True)
class Activity:
    """Keyboard or mouse input in any Salus window."""

    now: float


@dataclass(frozen=True, slots=True)
class ManualLock:
    """The person chose "Lock now" (Ctrl+L)."""

    now: float


@dataclass(frozen=True, slots=True)
class OsLocked:
    """The OS session was locked or switched away."""

    now: float


@dataclass(frozen=True, slots=True)
class OsSleep:
    """The machine is about to sleep, or has just woken from it."""

    now: float


@dataclass(frozen=True, slots=True)
class Minimised:
    """No Salus window is visible any more (the last one was minimised)."""

    now: float


@dataclass(frozen=True, slots=True)
class Restored:
    """A Salus window is visible again."""

    now: float


@dataclass(frozen=True, slots=True)
class UnlockSucceeded:
    now: float


@dataclass(frozen=True, slots=True)
class UnlockFailed:
    now: float


LockEvent = Tick | Activity | ManualLock | OsLocked | OsSleep | Minimised | Restored | UnlockSucceeded | UnlockFailed


# Effects: what the UI, the engine and the audit log must do, in order.


@dataclass(frozen=True, slots=True)
class ShowWarning:
    """Show (or update) the countdown."""

    seconds_left: int


@dataclass(frozen=True, slots=True)
class HideWarning:
    pass


@dataclass(frozen=True, slots=True)
class AuditLockEvent:
    """Record the lock in the audit chain; comes before `Lock`, while the vault is still open."""

    reason: LockReason


@dataclass(frozen=True, slots=True)
class Lock:
    """Cover every window, drop decrypted snapshots, close the vault and drop the data key."""

    reason: LockReason


@dataclass(frozen=True, slots=True)
class Unlock:
    """The passphrase was accepted: remove the lock screen."""


@dataclass(frozen=True, slots=True)
class UnlockRejected:
    """A wrong passphrase; the lock screen may say how many attempts are left."""

    attempts_left: int


@dataclass(frozen=True, slots=True)
class CloseProfile:
    """Too many failures: close the profile; only a restart (or another profile) goes on."""


Effect = ShowWarning | HideWarning | AuditLockEvent | Lock | Unlock | UnlockRejected | CloseProfile
Effects = tuple[Effect, ...]


@dataclass(frozen=True, slots=True)
class LockState:
    phase: LockPhase
    clock: float  # the machine's own time: never goes back (see the rules above)
    wall: float  # the `now` of the last event, to measure the next forward step from
    last_activity: float  # on `clock`'s scale
    minimised_since: float | None  # on `clock`'s scale; None while a window is visible
    failures: int  # failed unlocks since the last successful one
    reason: LockReason | None  # why it is LOCKED (or was, when CLOSED); None while unlocked

    @classmethod
    def start(cls, now: float) -> LockState:
        """The state right after the profile was opened: unlocked, active now."""
        return cls(LockPhase.UNLOCKED, now, now, now, None, 0, None)

    @property
    def unlocked(self) -> bool:
        return self.phase in (LockPhase.UNLOCKED, LockPhase.WARNING)

    def idle_deadline(self, config: LockConfig) -> float:
        return self.last_activity + config.idle_timeout_seconds


def step(state: LockState, event: LockEvent, config: LockConfig) -> tuple[LockState, Effects]:
    """The one transition function: the state after `event`, and what must be done about it."""
    if state.phase is LockPhase.CLOSED:
        return state, ()
    state = _advance(state, event.now)
    if state.unlocked and (reason := _expired(state, config)) is not None:
        # The deadline passed before this event: it locks, and the event is dropped (rules above).
        return _lock(state, reason)
    return _handle(state, event, config)


def _advance(state: LockState, now: float) -> LockState:
    return replace(state, clock=state.clock + max(0.0, now - state.wall), wall=now)


def _expired(state: LockState, config: LockConfig) -> LockReason | None:
    """The reason of the earliest deadline that has passed; on a tie, idle."""
    deadlines = [(state.idle_deadline(config), 0, LockReason.IDLE)]
    if state.minimised_since is not None:
        deadlines.append((state.minimised_since + config.idle_timeout_seconds, 1, LockReason.MINIMISED))
    deadline, _, reason = min(deadlines)
    return reason if state.clock >= deadline else None


def _lock(state: LockState, reason: LockReason) -> tuple[LockState, Effects]:
    if not state.unlocked:
        return state, ()  # already locked: no second audit entry
    hide: Effects = (HideWarning(),) if state.phase is LockPhase.WARNING else ()
    locked = replace(state, phase=LockPhase.LOCKED, minimised_since=None, reason=reason)
    return locked, (*hide, AuditLockEvent(reason), Lock(reason))


def _handle(state: LockState, event: LockEvent, config: LockConfig) -> tuple[LockState, Effects]:
    match event:
        case Tick():
            return _on_tick(state, config)
        case Activity():
            return _on_activity(state)
        case ManualLock():
            return _lock(state, LockReason.MANUAL)
        case OsLocked():
            return _lock(state, LockReason.OS)
        case OsSleep():
            return _lock(state, LockReason.SLEEP)
        case Minimised():
            return _on_minimised(state)
        case Restored():
            return _on_restored(state)
        case UnlockSucceeded():
            return _on_unlock_succeeded(state)
        case UnlockFailed():
            return _on_unlock_failed(state, config)


def _on_tick(state: LockState, config: LockConfig) -> tuple[LockState, Effects]:
    if not state.unlocked:
        return state, ()
    seconds_left = state.idle_deadline(config) - state.clock
    if seconds_left > config.warning_seconds:
        return state, ()
    # Rounded up, so the countdown never shows 0 while still unlocked.
    return replace(state, phase=LockPhase.WARNING), (ShowWarning(math.ceil(seconds_left)),)


def _on_activity(state: LockState) -> tuple[LockState, Effects]:
    if not state.unlocked:
        return state, ()  # activity never unlocks
    hide: Effects = (HideWarning(),) if state.phase is LockPhase.WARNING else ()
    return replace(state, phase=LockPhase.UNLOCKED, last_activity=state.clock), hide


def _on_minimised(state: LockState) -> tuple[LockState, Effects]:
    if not state.unlocked or state.minimised_since is not None:
        return state, ()  # a second report does not restart the minimised clock
    return replace(state, minimised_since=state.clock), ()


def _on_restored(state: LockState) -> tuple[LockState, Effects]:
    # A restore after the timeout already locked in `step`; here the window came back in time.
    if not state.unlocked:
        return state, ()
    return replace(state, minimised_since=None), ()


def _on_unlock_succeeded(state: LockState) -> tuple[LockState, Effects]:
    if state.phase is not LockPhase.LOCKED:
        return state, ()
    # The passphrase was typed into a visible lock screen, so no window is minimised now.
    unlocked = replace(
        state, phase=LockPhase.UNLOCKED, last_activity=state.clock, minimised_since=None, failures=0, reason=None
    )
    return unlocked, (Unlock(),)


def _on_unlock_failed(state: LockState, config: LockConfig) -> tuple[LockState, Effects]:
    if state.phase is not LockPhase.LOCKED:
        return state, ()
    failures = state.failures + 1
    if failures >= config.max_failures:
        return replace(state, phase=LockPhase.CLOSED, failures=failures), (CloseProfile(),)
    return replace(state, failures=failures), (UnlockRejected(config.max_failures - failures),)
