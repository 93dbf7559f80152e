"""The read-model store: the public face of the read models of one database and namespace —
apply a batch of row changes with its position, read rows, wait for a position, checksum,
rebuild and swap, and the positions of delivery (Kafka offsets, the relay). Callers use this
class only; the SQL and eventsourcing's tracking recorders live in `services.storage.recorders`."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking

from projections.row_changes import Projection, RowChange, Table, folded_changes
from services.storage import tracking
from services.storage.recorders import AppliedBatch, PositionTaken, ReadModelRecorder

_FOLD_BATCH = 1000
"""Change lists per transaction when folds are applied."""


class ReadModelStore:
    """The read models of one database (and namespace): apply, read, wait, checksum, swap."""

    def __init__(self, recorder: ReadModelRecorder, projections: Sequence[Projection]) -> None:
        self.recorder = recorder
        self.projections = {p.name: p for p in projections}
        owners = {t.name: p.name for p in projections for t in p.tables}
        recorder.create_read_model_tables((t for p in projections for t in p.tables), owners)

    @property
    def namespace(self) -> str:
        """Table-name prefix: empty for the live read models."""
        return self.recorder.namespace

    def apply(
        self,
        projection: str,
        batch: Sequence[tuple[int, Sequence[RowChange]]],
        source: str = "log",
        offset: int | None = None,
    ) -> AppliedBatch:
        """Apply a batch of (position, row changes) of one projection atomically (with the next
        Kafka offset to read, for a consumer)."""
        try:
            return self.recorder.apply_changes(self.projections[projection], source, batch, offset)
        except PositionTaken:
            # A concurrent applier recorded a newer position first: nothing of ours was committed.
            return AppliedBatch(0, len(batch), self.position(projection, source))

    def apply_folds(self, per_aggregate: Iterable[Sequence[Any]]) -> None:
        """Apply every projection to each aggregate's records from scratch in business order
        (`folded_changes`), one aggregate after another, into this (scratch) store. Positions
        here only count the change lists applied: the order is not the log's."""
        for projection in self.projections.values():
            changes = [c for records in per_aggregate for c in folded_changes(projection, records)]
            batch = list(enumerate(changes, start=1))
            for first in range(0, len(batch), _FOLD_BATCH):
                self.apply(projection.name, batch[first : first + _FOLD_BATCH])

    def position(self, projection: str, source: str = "log") -> int:
        """Last applied position of a projection from a source."""
        return self.recorder.position(projection, source)

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read query against this store's tables."""
        return self.recorder.fetch(sql, params)

    def wait(self, position: int, timeout: float = 2.0, source: str = "log") -> bool:
        """Read-your-writes: wait until every projection has applied `position`; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self.position(name, source) >= position for name in self.projections):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def offset(self, projection: str, source: str) -> int:
        """The next Kafka offset to read for a projection from a topic partition (0 when none)."""
        return self.recorder.offset(projection, source)

    def sources(self, projection: str) -> list[str]:
        """Where a projection has been fed from: `log`, or `topic:partition` per partition."""
        return self.recorder.sources(projection)

    def fed_by_kafka(self) -> bool:
        """True when Kafka consumers, not the in-process runner, keep these read models."""
        sources = {source for name in self.projections for source in self.sources(name)}
        return bool(sources) and tracking.LOG_SOURCE not in sources

    def relay_position(self) -> int:
        """The last log position the Kafka relay saw acknowledged (0 before the first)."""
        return self.recorder.max_tracking_id(tracking.RELAY) or 0

    def save_relay_position(self, position: int) -> None:
        """Save the relay's position; an older one (history republished) keeps the saved one."""
        try:
            self.recorder.insert_tracking(Tracking(application_name=tracking.RELAY, notification_id=position))
        except IntegrityError:
            pass

    def policy_position(self, policy: str) -> int | None:
        """The last log position an automation policy reacted to (None before its first)."""
        return self.recorder.max_tracking_id(tracking.policy_position(policy))

    def save_policy_position(self, policy: str, position: int) -> None:
        """Save a policy's newer position (an older one leaves the saved one)."""
        try:
            self.recorder.insert_tracking(
                Tracking(application_name=tracking.policy_position(policy), notification_id=position)
            )
        except IntegrityError:
            pass

    @property
    def tables(self) -> list[Table]:
        """Every table of every projection of this store."""
        return [t for p in self.projections.values() for t in p.tables]

    def reset(self) -> None:
        """Empty this (rebuild) namespace: its tables are dropped and made anew, its positions
        forgotten, so that a replay starts from the beginning of the log."""
        if not self.namespace:
            raise ValueError("the live read models are rebuilt in a namespace, never reset in place")
        self.recorder.drop_read_model_tables(self.tables)
        self.recorder.drop_positions(self.projections)
        self.recorder.create_read_model_tables(self.tables)

    def drop(self) -> None:
        """Drop this (rebuild) namespace's tables and positions."""
        if not self.namespace:
            raise ValueError("the live read models are never dropped")
        self.recorder.drop_read_model_tables(self.tables)
        self.recorder.drop_positions(self.projections)

    def swap_into_live(self) -> None:
        """Make this namespace's tables and positions the live ones, in one transaction."""
        self.recorder.swap_into_live(self.tables, list(self.projections))

    def checksums(self) -> dict[str, tuple[int, str]]:
        """Checksum of every table of every projection."""
        return {t.name: self.recorder.checksum(t) for t in self.tables}

    def close(self) -> None:
        """Release the connections."""
        self.recorder.datastore.close()
