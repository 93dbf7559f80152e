"""The scheduler: fires the timers that are due, each exactly once.

Exactly once is the database's doing, not the scheduler's: the action a timer causes records the
timer's firing in the same transaction as the action's events, and the firing's primary key
refuses a second one (`services.storage.timers`). A scheduler killed mid-batch leaves the timers it
had not fired pending and the ones it had fired fired; a clock stepped back finds nothing due that
fired already; a second scheduler racing the first loses the race without acting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from domain.errors import DomainError
from domain.events import AUTOMATION_ACTOR_PREFIX
from services.app.application import Context, CrmApplication
from services.app.errors import ConcurrencyConflict, NotFound
from services.app.timers import Firing, StoredTimer, TimerAlreadyFired
from services.automation.clock import Clock, system_clock
from services.automation.faults import is_infrastructure

log = logging.getLogger("crm.automation")

TimerHandler = Callable[[CrmApplication, StoredTimer, Context], object]
"""Does what a timer of one kind is for, by commands on the application with the given context."""


@dataclass(frozen=True)
class TimerKind:
    """What handles a kind of timer, and the policy it acts for (its actor is `automation:<policy>`)."""

    policy: str
    handle: TimerHandler


@dataclass
class SchedulerRun:
    """What one pass over the due timers did, by outcome (`done`, `no_change`, `skipped:<why>`,
    `already_fired`)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)
    """Seconds from each fired timer's due time to its firing, as the clock tells it."""

    @property
    def fired(self) -> int:
        """How many timers this pass fired (not counting those another scheduler had fired)."""
        return sum(n for outcome, n in self.outcomes.items() if outcome != "already_fired")

    def count(self, outcome: str) -> None:
        """Count one timer's outcome."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


CONFLICT_RETRIES = 3
"""How often a timer's action is retried when a concurrent command changed its aggregate first."""


class Scheduler:
    """Fires due timers through their kind's handler, in due order, a batch at a time."""

    def __init__(
        self,
        app: CrmApplication,
        kinds: Mapping[str, TimerKind],
        clock: Clock = system_clock,
        batch_size: int = 200,
    ) -> None:
        self.app = app
        self.kinds = dict(kinds)
        self.clock = clock
        self.batch_size = batch_size

    def run_due(self, limit: int | None = None) -> SchedulerRun:
        """Fire every timer due by now (at most `limit`); returns what happened."""
        run = SchedulerRun()
        now = self.clock()
        while limit is None or run.fired < limit:
            size = self.batch_size if limit is None else min(self.batch_size, limit - run.fired)
            due = self.app.timers.due_timers(now, size, list(self.kinds))
            if not due:
                break
            for stored in due:
                # due by the pass's start, fired (and logged) at the clock's time of the firing:
                # a long pass must not log its last firings as early as its first
                fired_at = self.clock()
                outcome = self.fire(stored, fired_at)
                run.count(outcome)
                if outcome != "already_fired":
                    run.delays.append((fired_at - stored.timer.due_at).total_seconds())
            if len(due) < size:
                break
        return run

    def fire(self, stored: StoredTimer, now: datetime) -> str:
        """Do what one due timer is for, and record its firing with it; returns the outcome."""
        kind = self.kinds[stored.timer.kind]
        ctx = Context(
            actor=f"{AUTOMATION_ACTOR_PREFIX}{kind.policy}",
            correlation_id=f"timer:{stored.timer.timer_id}#{stored.generation}",
            cause=stored.cause,
            clock=self.clock,
        )
        for _ in range(CONFLICT_RETRIES):
            try:
                with self.app.firing(stored, now) as firing:
                    kind.handle(self.app, stored, ctx)
                if firing.recorded:
                    return "done"
                return self._record_alone(stored, now, "no_change")
            except TimerAlreadyFired:
                return "already_fired"
            except (DomainError, NotFound) as error:
                # the record moved on (closed, erased, gone): the timer has nothing left to do
                return self._record_alone(stored, now, f"skipped:{type(error).__name__}")
            except ConcurrencyConflict:
                if self.app.timers.has_fired(stored.timer.timer_id, stored.generation):
                    return "already_fired"  # another scheduler's action won the race
            except Exception as error:
                if is_infrastructure(error):
                    raise  # the store is down: the timer stays due, and the pass is tried again
                # a fault of the action itself would fail the same way every time, holding up every
                # timer due after it: record it in the firing log, and go on
                log.exception("crm: timer %s failed", stored.timer.timer_id)
                return self._record_alone(stored, now, f"failed:{type(error).__name__}")
        return self._record_alone(stored, now, "skipped:conflict")

    def _record_alone(self, stored: StoredTimer, now: datetime, outcome: str) -> str:
        try:
            timer = stored.timer
            self.app.timers.write_timers(
                [], Firing(timer.timer_id, stored.generation, timer.kind, timer.due_at, now, outcome)
            )
        except TimerAlreadyFired:
            return "already_fired"
        return outcome
