"""Group commit: commands that append at the same time share one transaction.

Every append to the PostgreSQL event store takes the events table's lock (so that positions are
issued in commit order) and waits for its commit to reach the disk; under concurrency each
command queues behind the one holding the lock. Here the thread that finds no append under way
leads: it takes every append waiting at that moment (its own first) and writes them in one
transaction, with one table lock and one commit, while the next appends queue up to form the
next group. An append that finds none under way is written at once, alone: nothing waits for a
group to fill.

Each append keeps its own answer. The leader writes a group's events in one multi-row insert;
should that break a uniqueness rule (another writer took a version first, a timer fired
already), it rolls back to before the insert and writes each append under a savepoint of its
own, so the conflicting append fails alone with the error it would have had on its own, and the
others commit. What one append holds (a conversion's lead and contact, a firing and its
events) stays in one append, all or nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent

MAX_GROUP = 64
"""The most appends one transaction takes; the rest form the next group."""


@dataclass
class Append:
    """One caller's append: its events and the keyword arguments of `insert_events` (timers, a
    firing), then what became of it."""

    events: Sequence[StoredEvent]
    options: dict[str, Any]
    queued_at: float = field(default_factory=time.perf_counter)
    ids: Sequence[int] | None = None
    error: BaseException | None = None
    done: bool = False

    def answer(self) -> Sequence[int] | None:
        """The notification ids of its events, or the error it failed with."""
        if self.error is not None:
            raise self.error
        return self.ids


@dataclass
class GroupStats:
    """What the groups were: how many, how many appends in all, the largest, and how long the
    appends waited from queueing to the start of their group's transaction."""

    groups: int = 0
    appends: int = 0
    waited_seconds: float = 0.0
    sizes: dict[int, int] = field(default_factory=dict)
    """How many groups held each number of appends."""

    @property
    def largest(self) -> int:
        """The most appends one group held (0 before the first)."""
        return max(self.sizes, default=0)

    def record(self, group: Sequence[Append], started: float) -> None:
        """Count one group that started writing at `started` (perf_counter)."""
        self.groups += 1
        self.appends += len(group)
        self.sizes[len(group)] = self.sizes.get(len(group), 0) + 1
        self.waited_seconds += sum(started - a.queued_at for a in group)


class GroupCommit:
    """Leader and followers over one writer function: `write(group)` writes a group in one
    transaction and sets each append's `ids` or `error`; it may raise, and then every append of
    the group not answered yet fails with that error."""

    def __init__(self, write: Callable[[list[Append]], None], max_group: int = MAX_GROUP) -> None:
        self._write = write
        self._max_group = max_group
        self._changed = threading.Condition(threading.Lock())
        self._waiting: list[Append] = []
        self._leading = False
        self.stats = GroupStats()

    def queued(self) -> tuple[bool, int]:
        """Whether a group is being written, and how many appends wait for the next one."""
        with self._changed:
            return self._leading, len(self._waiting)

    def append(self, events: Sequence[StoredEvent], **options: Any) -> Sequence[int] | None:
        """Append `events` (with `options`) in the next group; their notification ids."""
        mine = Append(events, options)
        with self._changed:
            self._waiting.append(mine)
            while self._leading and not mine.done:
                self._changed.wait()
            if mine.done:
                return mine.answer()
            # no group is being written and mine is not answered: lead the next one, mine in it
            self._leading = True
            others = [append for append in self._waiting if append is not mine]
            group = [*others[: self._max_group - 1], mine]
            self._waiting = others[self._max_group - 1 :]
        started = time.perf_counter()
        try:
            self._write(group)
        except BaseException as error:
            for append in group:
                if append.ids is None and append.error is None:
                    append.error = error
        finally:
            with self._changed:
                self.stats.record(group, started)
                for append in group:
                    append.done = True
                self._leading = False
                self._changed.notify_all()
        return mine.answer()
