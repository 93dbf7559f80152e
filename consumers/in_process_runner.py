"""The embedded delivery: feed the projections straight from the application's notification log,
tracking by notification id. No Kafka; used by `crm serve`, `crm replay` and `crm verify`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.application import Application

from consumers.event_log import head_position, read_records
from consumers.ports import ReadModelWriter
from projections.event_record import EventRecord
from projections.row_changes import Projection, RowChange

log = logging.getLogger("crm.runner")

Progress = Callable[[int, int], None]


class InProcessRunner:
    """Follows the notification log and applies every event once to every projection."""

    def __init__(
        self,
        app: Application[Any],
        store: ReadModelWriter,
        batch_size: int = 500,
        poll_interval: float = 0.1,
        include: Callable[[EventRecord], bool] | None = None,
    ) -> None:
        self.app = app
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

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
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

    def __enter__(self) -> InProcessRunner:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
