"""What delivery needs from the program that runs it, as protocols: the event store is an
eventsourcing `Application` (its notification log, mapper and recorder are public API), and the
read models are a store that applies row changes with their position in one transaction.
Delivery is handed these by the composition root; it never imports the program itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from projections.row_changes import Projection, RowChange

Batch = Sequence[tuple[int, Sequence[RowChange]]]
"""(log position, row changes of the event at that position), in log order."""


class Applied(Protocol):
    """What one `apply` did."""

    @property
    def applied(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def position(self) -> int: ...


class ReadModelWriter(Protocol):
    """The read models' store as projection runners and consumers use it."""

    @property
    def projections(self) -> Mapping[str, Projection]:
        """The projections this store keeps, by name."""
        ...

    def apply(self, projection: str, batch: Batch, source: str = "log", offset: int | None = None) -> Applied:
        """Apply a batch's row changes and its last position (and the next Kafka offset) atomically;
        events at or below the stored position are skipped."""
        ...

    def position(self, projection: str, source: str = "log") -> int:
        """The last log position applied from a source (0 when none)."""
        ...

    def offset(self, projection: str, source: str) -> int:
        """The next Kafka offset to read of a topic partition (0 when none)."""
        ...

    def wait(self, position: int, timeout: float = 2.0, source: str = "log") -> bool:
        """Block until every projection applied `position` from `source`; False on timeout."""
        ...


class RelayPositions(Protocol):
    """Where the relay keeps the last log position the broker acknowledged."""

    def relay_position(self) -> int:
        """The saved position (0 before the first)."""
        ...

    def save_relay_position(self, position: int) -> None:
        """Save a newer position; an older one (republishing history) leaves the saved one."""
        ...


class Leadership(Protocol):
    """A lock that one process per store holds at a time (services/storage/leader_lock.py)."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or ours already); never waits."""
        ...

    def held(self) -> bool:
        """True while the lock is ours."""
        ...

    def release(self) -> None:
        """Give the lock up."""
        ...
