"""Drives the pure lock state machine (`app.core.lock`) with a clock, for the engine and the UI (DESIGN.md §7).

Rules:
- The controller belongs to the engine thread (DESIGN.md §2, rule 5): `tick`, `send` and `feed` are called
  there, and `on_effects` runs there, synchronously, with the effects in order.
- `note_activity` is the one method safe from any thread. The UI's activity filter sees every key press and
  mouse move; handing each to the engine would flood the bridge, so it only stamps the time and the next call
  on the engine thread feeds the stamps, with their own times, before anything else.
- The default clock is the wall clock: on some platforms the monotonic clock stops while the machine sleeps,
  and a sleep the OS did not report must still count as idle time. The state machine makes the wall clock's
  jumps safe (backwards never extends the unlocked period; forwards locks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.core.lock import (
    Activity,
    Effects,
    LockConfig,
    LockEvent,
    LockPhase,
    LockState,
    Tick,
    step,
)
from app.core.settings import Settings

Clock = Callable[[], float]
EffectsHandler = Callable[[Effects], None]


def lock_config(settings: Settings) -> LockConfig:
    """The lock configuration from the effective settings (policy, then user, then defaults)."""
    timeout = float(settings["idle_timeout_minutes"] * 60)
    warning = settings["lock_warning_seconds"]
    # The countdown may never take more than half the timeout (a 1-minute timeout warns for 30 s at most).
    return LockConfig(
        idle_timeout_seconds=timeout,
        warning_seconds=min(float(warning), timeout / 2),
        max_failures=settings["unlock_max_failures"],
    )


class LockController:
    def __init__(
        self, config: LockConfig, clock_fn: Clock = time.time, on_effects: EffectsHandler | None = None
    ) -> None:
        self._config = config
        self._clock = clock_fn
        self._on_effects = on_effects
        self._state = LockState.start(clock_fn())
        # Activity stamps from other threads: the first and the last since the previous feed. The first
        # matters when it came before a deadline and the last after it (someone answering the countdown).
        self._pending_lock = threading.Lock()
        self._pending: tuple[float, float] | None = None

    @property
    def state(self) -> LockState:
        return self._state

    @property
    def phase(self) -> LockPhase:
        return self._state.phase

    @property
    def config(self) -> LockConfig:
        return self._config

    def reconfigure(self, config: LockConfig) -> None:
        """On the engine thread, after the settings changed: the next event is judged by the new timeout."""
        self._config = config

    def note_activity(self) -> None:
        """Safe from any thread: remembers that input happened now; fed on the next engine-thread call."""
        now = self._clock()
        with self._pending_lock:
            first = self._pending[0] if self._pending is not None else now
            self._pending = (first, now)

    def tick(self) -> Effects:
        """Called by the engine about once a second."""
        return self.send(Tick)

    def send(self, kind: Callable[[float], LockEvent]) -> Effects:
        """Feeds an event of this kind happening now, e.g. `send(ManualLock)`."""
        effects = self._feed_pending()
        return effects + self._apply(kind(self._clock()))

    def feed(self, event: LockEvent) -> Effects:
        """Feeds an event that carries its own time (an OS notification may report when it happened)."""
        effects = self._feed_pending()
        return effects + self._apply(event)

    def _feed_pending(self) -> Effects:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return ()
        first, last = pending
        effects = self._apply(Activity(first))
        return effects + self._apply(Activity(last)) if last != first else effects

    def _apply(self, event: LockEvent) -> Effects:
        self._state, effects = step(self._state, event, self._config)
        if effects and self._on_effects is not None:
            self._on_effects(effects)
        return effects
