"""Row changes: what a projection asks the read-model store to do for one event.

Projections return these plain values; the store turns them into SQL for SQLite or PostgreSQL and
applies them together with the tracking position in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ColumnType = Literal["text", "int", "float", "bool", "timestamp", "json"]
"""Portable column types. Timestamps are stored as ISO-8601 UTC text (fixed width, so they
compare correctly as text), ids as text, money as integer minor units."""


@dataclass(frozen=True)
class Table:
    """A read-model table: columns in order, primary key, secondary indexes."""

    name: str
    columns: Mapping[str, ColumnType]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Insert:
    """Insert one row (no row with its primary key may exist)."""

    table: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Upsert:
    """Insert a row, or update the columns given when a row with the same key exists."""

    table: str
    key: tuple[str, ...]
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Update:
    """Set `values` on every row matching `where` (equality) and whose `where_null` columns are null.

    With `not_after`, only rows whose given columns are null or at most the given values: a
    column that holds the business time (or log position) of what last set a value lets an event
    set it only when it stands later, so the row ends the same whatever order the events come in."""

    table: str
    where: Mapping[str, Any]
    values: Mapping[str, Any]
    where_null: tuple[str, ...] = ()
    not_after: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewVersion:
    """Close the open version of an entity at `at` and open a new one: a copy of the open row with
    `changes` applied. Tables that keep history this way have `valid_from` and `valid_to` columns
    and a `version` column in their key."""

    table: str
    key: Mapping[str, Any]
    version: int
    at: Any
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Journal:
    """Keep an event in its aggregate's journal (`table`, one row per event: the columns of `key`,
    then `version`, `occurred_at`, `recorded_at` and the `record` as JSON), so that the
    aggregate's rows follow business time whatever order its events were recorded in.

    A projection that journals puts this change first in an event's list. When the event stands
    after every journaled event of its aggregate in business order, the store goes on with the
    event's other changes. When it is back-dated before one of them, the store deletes the
    aggregate's rows from the projection's other tables and applies the projection to the
    journal's events from scratch in business order (creation first, then `occurred_at`, then
    version), then the changes in `then` (what holds whatever the order, such as the newest
    version), instead of the event's other changes.

    The journal keeps no personal data (`record` comes with its personal fields as they read once
    erased): the columns in `keep` (per table) hold it, and a rebuild carries them over from the
    rows it replaces, so that crypto-shredding leaves no copy here."""

    table: str
    key: Mapping[str, Any]
    record: Any
    then: tuple[Any, ...] = ()
    keep: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


RowChange = Insert | Upsert | Update | NewVersion | Journal


class Reader(Protocol):
    """Read access to the read-model store, as queries need it (the store implements it)."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query written with `?` placeholders and unqualified table names."""
        ...


class Projection(Protocol):
    """A read model: its tables and a pure function from an event record to row changes."""

    name: str
    tables: tuple[Table, ...]

    def apply(self, record: Any) -> list[RowChange]:
        """Row changes for one event (an empty list for events it does not care about)."""
        ...


def business_key(record: Any) -> tuple[bool, Any, int]:
    """Where an event record stands among its aggregate's: creation first, then `occurred_at`, then version."""
    return (record.aggregate_version != 1, record.occurred_at, record.aggregate_version)


def folded_changes(projection: Projection, records: Sequence[Any]) -> list[list[RowChange]]:
    """The row changes of one aggregate's records applied from scratch in business order, each
    event's list in turn, then what its newest event's journal entry says holds whatever the
    order (the newest version): what a journal rebuild writes, by a path that runs none."""
    folded = [projection.apply(record) for record in sorted(records, key=business_key)]
    newest = projection.apply(max(records, key=lambda r: r.aggregate_version))
    if newest and isinstance(newest[0], Journal):
        folded.append(list(newest[0].then))
    return folded
