"""The embedded delivery: feed the projections straight from the application's notification log,
tracking by notification id. No Kafka; used by `crm serve`, `crm replay` and `crm verify`.

Given a `Leadership` lock, a runner in the background applies events only while it holds it, so
that of several server processes on one store (`crm serve --workers N`, or several servers)
exactly one keeps the read models and the others take over when it goes. Leadership saves work,
not correctness: each projection's batch and its position are written in one transaction, and a
position already written is refused, so two runners never apply an event twice."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.application import Application

from consumers.event_log import head_position, read_records
from consumers.ports import Leadership, ReadModelWriter
from projections.event_record import EventRecord
from projections.row_changes import Projection, RowChange

log = logging.getLogger("crm.runner")

Progress = Callable[[int, int], None]

LEADERSHIP_CHECK_SECONDS = 1.0
"""How often a background runner asks its lock whether it leads (or may lead now)."""


class InProcessRunner:
    """Follows the notification log and applies every event once to every projection."""

    def __init__(
        self,
        app: Application[Any],
        store: ReadModelWriter,
        batch_size: int = 500,
        poll_interval: float = 0.1,
        include: Callable[[EventRecord], bool] | None = None,
        lock: Leadership | None = None,
    ) -> None:
        self.app = app
        self.lock = lock
        self._leading = lock is None
        self._leadership_checked = float("-inf")
        self.store = store
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.include = include
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def catch_up(self, until: int | None = None, progress: Progress | None = None) -> int:
        """Apply every event after the tracked positions up to `until` (the head by default);
        returns how many notifications were read."""
        head = head_position(self.app) if until is None else until
        projections = list(self.store.projections.values())
        positions = {p.name: self.store.position(p.name) for p in projections}
        start = min(positions.values(), default=head) + 1
        read = 0
        while start <= head:
            limit = min(self.batch_size, head - start + 1)
            records = read_records(self.app, start, limit, stop=head)
            if not records:
                break
            for projection in projections:
                self._apply(projection, records, positions[projection.name])
            read += len(records)
            start = records[-1].position + 1
            if progress:
                progress(records[-1].position, head)
        return read

    def _apply(self, projection: Projection, records: Sequence[EventRecord], position: int) -> None:
        batch: list[tuple[int, Sequence[RowChange]]] = []
        for record in records:
            if record.position <= position:
                continue
            changes = projection.apply(record) if self.include is None or self.include(record) else []
            batch.append((record.position, changes))
        if batch:
            self.store.apply(projection.name, batch)

    def wait(self, position: int, timeout: float = 2.0) -> bool:
        """Read-your-writes: block until every projection applied `position` (False on timeout)."""
        return self.store.wait(position, timeout)

    # --- background mode ------------------------------------------------------------------

    def start(self) -> None:
        """Follow the log in a background thread until `stop()`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="crm-projections", daemon=True)
        self._thread.start()

    def leads(self) -> bool:
        """True when this runner keeps the read models: it has no lock, or holds it (asked at
        most every `LEADERSHIP_CHECK_SECONDS`; taken when it is free)."""
        if self.lock is None:
            return True
        now = time.monotonic()
        if now - self._leadership_checked >= LEADERSHIP_CHECK_SECONDS:
            self._leadership_checked = now
            was_leading = self._leading
            self._leading = self.lock.held() or self.lock.try_acquire()
            if self._leading != was_leading:
                kept = "keeps" if self._leading else "no longer keeps"
                log.info("crm: process %d %s the read models", os.getpid(), kept)
        return self._leading

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.leads():
                    self._stop.wait(self.poll_interval)
                    continue
                caught_up = not self.catch_up()
                self.error = None
                if caught_up:
                    self._stop.wait(self.poll_interval)
            except Exception as error:  # keep following: a database blip must not stop the read models
                self.error = error
                log.exception("projection runner failed; retrying")
                self._stop.wait(1.0)

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current batch and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.lock is not None:
            self.lock.release()
            self._leading, self._leadership_checked = False, float("-inf")

    def __enter__(self) -> InProcessRunner:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
