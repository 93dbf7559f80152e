"""The time automation acts by: the system clock in production, a hand-set one in tests and
simulations (a timer is due when the clock says so, never because a test slept)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware."""


def system_clock() -> datetime:
    """The system's time, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved; it may be moved backwards (as a badly synchronised
    system clock can be), which must never fire a timer twice."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's time must be timezone-aware")
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (forwards or backwards)."""
        if moment.tzinfo is None:
            raise ValueError("the clock's time must be timezone-aware")
        with self._lock:
            self._now = moment

    def advance(self, by: timedelta) -> datetime:
        """Move the clock by `by` (negative steps back); returns the new time."""
        with self._lock:
            self._now += by
            return self._now
