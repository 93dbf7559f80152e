"""Timers as the application sees them: what it hands the event store to write with its events
(`TimerSetting`, `Firing`), what the store gives back (`StoredTimer`, `FiringRecord`), and the
store's protocol; `services.storage.timers` keeps them in the event store's transactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from eventsourcing.persistence import IntegrityError

from domain.timers import Timer


@dataclass(frozen=True)
class TimerSetting:
    """A timer to write, with the id of the event that set it (the cause of what it will do)."""

    timer: Timer
    cause: str | None


@dataclass(frozen=True)
class Firing:
    """A timer's firing: which generation of it (of what kind, due when), when, and what came of it."""

    timer_id: str
    generation: int
    kind: str
    due_at: datetime
    fired_at: datetime
    outcome: str = "done"


@dataclass(frozen=True)
class StoredTimer:
    """A timer as stored: its latest generation, and when that one fired (None while pending)."""

    timer: Timer
    generation: int
    cause: str | None
    set_at: datetime
    fired_at: datetime | None


@dataclass(frozen=True)
class FiringRecord:
    """One row of the firing log: what was due when, and when it fired."""

    timer_id: str
    generation: int
    kind: str
    due_at: datetime
    fired_at: datetime
    outcome: str


class TimerAlreadyFired(IntegrityError):
    """This generation of the timer fired already; the transaction that tried again rolled back."""


class TimerStore(Protocol):
    """What the scheduler needs of the event store's timers."""

    def due_timers(self, now: datetime, limit: int, kinds: Sequence[str]) -> list[StoredTimer]:
        """Pending timers of these kinds due at or before `now`, earliest first."""
        ...

    def stored_timer(self, timer_id: str) -> StoredTimer | None:
        """A timer's latest generation, fired or not."""
        ...

    def has_fired(self, timer_id: str, generation: int) -> bool:
        """True when that generation of the timer fired."""
        ...

    def write_timers(self, settings: Sequence[TimerSetting], firing: Firing | None = None) -> None:
        """Write timers and a firing in one transaction, without events; TimerAlreadyFired when
        the firing's generation fired already (nothing is then written)."""
        ...

    def firing_log(self, after: datetime | None = None, limit: int = 1000) -> list[FiringRecord]:
        """Firings in the order they fired (after a time, if given)."""
        ...
