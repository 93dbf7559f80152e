"""The row changes of a batch not yet written, coalesced per table and key.

A batch of a thousand events changes the same rows again and again: a lead's row is upserted
when it is captured, then updated by its score, its owner and its stage. Written as they come,
that is one statement per change. Held here until something must see them, the changes of one
row become one: an update after an update of the same row sets both updates' values, an update
after an upsert of that row goes into the upsert, an upsert after an upsert sets both rows'
columns. The rest are written together, one `executemany` per statement shape.

Order is kept where it matters. A table's pending changes are a list of runs in arrival order:
a run of inserts, or a run of keyed changes (upserts and updates) whose keys have the same
columns, so that two changes of a run with different key values touch different rows. A change
joins the table's last run, or starts a new one; it merges only with a change of the same row
in that last run. Runs are written in order; a change that merges with nothing it may merge with
stays a change of its own. What cannot be held (a new version, a read of the table) writes the
table's runs first (`take`)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from projections.row_changes import Update, Upsert

Keyed = Update | Upsert
Shape = tuple[frozenset[str], tuple[str, ...]]
"""The columns that pick a keyed change's rows: its key (or `where`) columns and its
`where_null` columns."""


@dataclass
class InsertRun:
    """Inserts into one table, by column list in first-seen order."""

    rows: dict[tuple[str, ...], list[list[Any]]] = field(default_factory=dict)


@dataclass
class KeyedRun:
    """Upserts and updates of one table whose keys have the same columns, one per row."""

    shape: Shape
    changes: dict[tuple[Hashable, ...], Keyed] = field(default_factory=dict)


Run = InsertRun | KeyedRun


class PendingWrites:
    """The not yet written row changes of a batch, by physical table name."""

    def __init__(self, normal: Callable[[Any], Any]) -> None:
        self._normal = normal  # Python value -> stored value: keys compare as they are stored
        self._runs: dict[str, list[Run]] = {}

    def insert(self, table: str, columns: tuple[str, ...], values: Iterable[Any]) -> None:
        """Hold one row to insert into `table`."""
        runs = self._runs.setdefault(table, [])
        last = runs[-1] if runs else None
        if not isinstance(last, InsertRun):
            last = InsertRun()
            runs.append(last)
        last.rows.setdefault(columns, []).append(list(values))

    def keep(self, table: str, change: Keyed) -> None:
        """Hold an upsert or update of `table`, merged with an earlier change of its row where that
        is the same as applying both."""
        shape, key = _picked(change, self._normal)
        runs = self._runs.setdefault(table, [])
        last = runs[-1] if runs else None
        if isinstance(last, KeyedRun) and last.shape == shape:
            held = last.changes.get(key)
            if held is None:
                last.changes[key] = change
                return
            merged = merge(held, change)
            if merged is not None:
                last.changes[key] = merged
                return
        runs.append(KeyedRun(shape, {key: change}))

    def take(self, table: str | None = None) -> list[tuple[str, list[Run]]]:
        """Remove and return the held runs of `table` (of every table when None), in order."""
        if not self._runs:
            return []
        names = [table] if table is not None else list(self._runs)
        return [(name, self._runs.pop(name)) for name in names if name in self._runs]


def _picked(change: Keyed, normal: Callable[[Any], Any]) -> tuple[Shape, tuple[Hashable, ...]]:
    """The shape and key values (as stored: text, numbers) of the rows a keyed change touches."""
    if isinstance(change, Upsert):
        columns = tuple(sorted(change.key))
        shape: Shape = (frozenset(columns), ())
        key = tuple(normal(change.row[col]) for col in columns)
    else:
        columns = tuple(sorted(change.where))
        shape = (frozenset(columns), tuple(sorted(change.where_null)))
        key = tuple(normal(change.where[col]) for col in columns)
    return shape, key


def merge(held: Keyed, then: Keyed) -> Keyed | None:
    """One change that leaves the row as `held` then `then` would, or None when there is none.
    Both pick the same row (same shape and key values)."""
    if isinstance(then, Update):
        if then.not_after or set(then.values) & {*then.where, *then.where_null}:
            return None  # conditional on what the row holds, or moving the row out of its key
        if isinstance(held, Update):
            if held.not_after or set(held.values) & {*held.where, *held.where_null}:
                return None
            return Update(held.table, held.where, {**held.values, **then.values}, held.where_null)
        if _updates_on_conflict(held) and not then.where_null:
            return Upsert(held.table, held.key, {**held.row, **then.values})
        return None
    if isinstance(held, Upsert) and _updates_on_conflict(held) and _updates_on_conflict(then):
        return Upsert(held.table, held.key, {**held.row, **then.row})
    return None


def _updates_on_conflict(upsert: Upsert) -> bool:
    """True when an upsert sets its row's columns on an existing row (not DO NOTHING)."""
    return bool(set(upsert.row) - set(upsert.key))
