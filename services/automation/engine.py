"""The automation engine: the policy runner and the scheduler, run by whoever holds leadership.

In embedded mode `crm serve` runs it in a thread; in production `crm automate` runs it in its
own process. Every pass: react to the new events, then fire the due timers. A process that is not
the leader checks again every `poll_interval`; a leader that loses its lock (PostgreSQL session
gone) stops acting until it wins it back."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from services.automation.policy_runner import PolicyRunner
from services.automation.scheduler import Scheduler, SchedulerRun
from services.storage.leader_lock import LeaderLock

log = logging.getLogger("crm.automation")


@dataclass(frozen=True)
class Pass:
    """What one pass did: events the policies read, and the timers fired."""

    events_read: int
    timers: SchedulerRun


class Automation:
    """Runs the policies and the timers while leading."""

    def __init__(
        self, runner: PolicyRunner, scheduler: Scheduler, lock: LeaderLock, poll_interval: float = 0.5
    ) -> None:
        self.runner = runner
        self.scheduler = scheduler
        self.lock = lock
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.leading = threading.Event()
        """Set while this engine holds leadership (tests and `crm automate` wait on it)."""

    def run_pass(self) -> Pass:
        """React to new events, then fire due timers (the caller must lead)."""
        events = self.runner.catch_up()
        return Pass(events, self.scheduler.run_due())

    @property
    def stopping(self) -> threading.Event:
        """Set to make `run` return after the current action (SIGTERM sets it)."""
        return self._stop

    def run(self, until_idle: bool = False) -> None:
        """Lead when possible and work until `stop()` (or, with `until_idle`, until a pass as
        leader finds nothing to do); errors are logged and retried."""
        while not self._stop.is_set():
            try:
                if not (self.lock.held() or self.lock.try_acquire()):
                    if self.leading.is_set():
                        log.warning("crm: automation lost leadership (pid %d); waiting to lead again", os.getpid())
                    self.leading.clear()
                    self._stop.wait(self.poll_interval)
                    continue
                if not self.leading.is_set():
                    log.info("crm: automation leading (pid %d)", os.getpid())
                self.leading.set()
                done = self.run_pass()
                self.error = None
                if not done.events_read and not done.timers.fired:
                    if until_idle:
                        break
                    self._stop.wait(self.poll_interval)
            except Exception as error:  # a database blip must not end automation
                self.error = error
                log.exception("crm: automation pass failed; retrying")
                self._stop.wait(1.0)
        self.lock.release()
        self.leading.clear()

    def start(self) -> None:
        """Run in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="crm-automation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current action and stop; leadership is given up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Automation:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
