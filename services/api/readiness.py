"""Readiness, for `GET /readyz`: the event store answers (its head position) and the read models
follow the log (their lag), found out within a budget. Liveness (`GET /healthz`) is not here: it
touches nothing, so a database outage never makes a load balancer restart a healthy process.

The checks run in a thread of their own and the probe waits for them at most the budget: a
database that hangs instead of refusing (no answer, no error) still gets a 503 in time. While one
run is still going, a new probe waits for that run rather than starting another, so a hung
database does not pile up threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from services.api.problems import STORE_RETRY_AFTER_SECONDS, NotReady

READY_BUDGET_SECONDS = 1.0
"""How long `/readyz` takes at most to answer."""
READY_MAX_LAG = 10_000
"""More events than this between the head of the log and a read model: not ready. The runner
applies a few thousand events a second, so a read model this far behind cannot answer a
read-your-writes read within its 2 s wait."""
EVENT_STORE, READ_MODELS = "event_store", "read_models"


@dataclass(frozen=True)
class Ready:
    """Both checks passed: the head of the log, and how far behind it each read model is."""

    head_position: int
    lag: dict[str, int]


@dataclass
class _Run:
    """One run of the checks, in its thread: which check it is at, and how it ended."""

    stage: str = EVENT_STORE
    ready: Ready | None = None
    failure: NotReady | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Readiness:
    """The checks of one app: `head()` must answer, and with `positions` (None when this process
    does not keep the read models) no read model may be more than `max_lag` events behind."""

    def __init__(
        self,
        head: Callable[[], int],
        positions: Callable[[], dict[str, int]] | None,
        budget: float = READY_BUDGET_SECONDS,
        max_lag: int = READY_MAX_LAG,
    ) -> None:
        self.head = head
        self.positions = positions
        self.budget = budget
        self.max_lag = max_lag
        self._lock = threading.Lock()
        self._run: _Run | None = None

    def check(self) -> Ready:
        """The readiness now; NotReady naming the check that failed, or did not finish in time."""
        run = self._current_run()
        if not run.done.wait(self.budget):
            raise self._not_ready(run.stage, f"did not answer within {self.budget:g} s")
        if run.failure is not None:
            raise run.failure
        assert run.ready is not None
        return run.ready

    def _current_run(self) -> _Run:
        with self._lock:
            if self._run is None or self._run.done.is_set():
                self._run = _Run()
                threading.Thread(target=self._checks, args=(self._run,), name="crm-readiness", daemon=True).start()
            return self._run

    def _checks(self, run: _Run) -> None:
        try:
            try:
                head = self.head()
            except Exception as error:
                run.failure = self._not_ready(EVENT_STORE, f"the event store does not answer ({type(error).__name__})")
                return
            if self.positions is None:
                run.ready = Ready(head_position=head, lag={})
                return
            run.stage = READ_MODELS
            try:
                positions = self.positions()
            except Exception as error:
                run.failure = self._not_ready(READ_MODELS, f"the read models do not answer ({type(error).__name__})")
                return
            lag = {name: max(head - position, 0) for name, position in sorted(positions.items())}
            behind = {name: events for name, events in lag.items() if events > self.max_lag}
            if behind:
                names = ", ".join(f"{name} {events}" for name, events in behind.items())
                run.failure = self._not_ready(READ_MODELS, f"events behind the log: {names} (at most {self.max_lag})")
                return
            run.ready = Ready(head_position=head, lag=lag)
        finally:
            run.done.set()

    def _not_ready(self, failed: str, reason: str) -> NotReady:
        order = [EVENT_STORE, READ_MODELS]
        checks = {
            name: "ok" if order.index(name) < order.index(failed) else "failed" if name == failed else "skipped"
            for name in order
        }
        if self.positions is None:
            checks[READ_MODELS] = "skipped"
        return NotReady(failed, reason, checks, STORE_RETRY_AFTER_SECONDS)
