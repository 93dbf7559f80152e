"""The SQL of the read models on SQLite and PostgreSQL, built on eventsourcing's tracking
recorders (`SQLiteTrackingRecorder`, `PostgresTrackingRecorder`): their tracking table refuses a
position that is not newer than the recorded one, so an already-applied event can never be
applied twice, and the rows written for it commit or roll back with its position.

This is the one module that uses eventsourcing's private API, and why: the public
`TrackingRecorder.insert_tracking` and `max_tracking_id` each run in a transaction of their own,
but a batch's rows and its position must commit in ONE transaction. The recorders' private
`_insert_tracking(cursor, tracking)` and `_max_tracking_id(name, cursor)` take the caller's
cursor; they are used here and nowhere else (pinned by eventsourcing 9.5.x in pyproject.toml)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

from projections.event_record import record_from_json, record_to_json
from projections.row_changes import (
    ColumnType,
    Insert,
    Journal,
    NewVersion,
    Projection,
    RowChange,
    Table,
    Update,
    Upsert,
)
from services.storage import tracking
from services.storage.fail_fast_postgres import FailFastTrackingRecorder
from services.storage.pending_writes import InsertRun, PendingWrites
from services.storage.schema import ReadModelSchemaMismatch, SchemaRecords, lock_schema_changes

_SQLITE_TYPES: dict[ColumnType, str] = {
    "text": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "timestamp": "TEXT",
    "json": "TEXT",
}
_POSTGRES_TYPES: dict[ColumnType, str] = {
    "text": "TEXT",
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
    "timestamp": "TEXT",
    "json": "TEXT",
}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOOKUP_CHUNK = 400
"""Aggregates per query when a batch looks up its journaled aggregates (bound parameters stay
well below SQLite's limit of 32,766)."""


def to_db(value: Any) -> Any:
    """Python value -> column value: datetimes as fixed-width ISO UTC text, ids as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


@dataclass(frozen=True)
class AppliedBatch:
    """What one `apply` call did."""

    applied: int
    skipped: int
    position: int


class PositionTaken(Exception):
    """A concurrent applier recorded this (or a newer) position first; this batch rolled back."""

    def __init__(self, tracking_name: str, position: int) -> None:
        super().__init__(f"{tracking_name} already at or past {position}")


class _Cursor(Protocol):
    def execute(self, sql: Any, params: Any = ...) -> Any: ...
    def executemany(self, sql: Any, params: Any) -> Any: ...
    def fetchall(self) -> Any: ...
    def fetchone(self) -> Any: ...


class ReadModelRecorder(TrackingRecorder):
    """Mixin: SQL generation shared by the SQLite and PostgreSQL read-model recorders."""

    column_types: dict[ColumnType, str]
    placeholder = "?"
    namespace = ""
    datastore: Any
    # provided by eventsourcing's SQLite/PostgreSQL tracking recorders this mixes into
    _max_tracking_id: Any
    _insert_tracking: Any

    # --- names ------------------------------------------------------------------------

    def table_name(self, name: str) -> str:
        """The physical name of a read-model table in this store's namespace."""
        full = f"{self.namespace}{name}"
        if not _IDENTIFIER.match(full):
            raise ValueError(f"bad table name {full!r}")
        return full

    def tracking_name(self, projection: str, source: str) -> str:
        """The tracking row of a projection fed from one source (the log, or a topic partition)."""
        return tracking.projection_position(self.namespace, projection, source)

    # --- schema -----------------------------------------------------------------------

    def create_read_model_tables(self, tables: Iterable[Table], owners: Mapping[str, str] | None = None) -> None:
        """Create each table and its indexes if missing, recording its fingerprint. A live table
        built from another definition raises `ReadModelSchemaMismatch` naming its owner in
        `owners` (projection by table name), and nothing changes."""
        tables = list(tables)
        self.known_tables = {t.name for t in tables}
        with self.datastore.transaction(commit=True) as c:
            self._take_write_lock(c)  # SQLite: the check reads before the creation writes
            self._lock_schema(c)
            schema = self._schema_records(c)
            named = [(self.table_name(t.name), t) for t in tables]
            missing = set(schema.check(named, live=not self.namespace, owners=owners or {}))
            if not self.namespace:
                _refuse_partly_built(named, missing, owners or {})
            for table in tables:
                name = self.table_name(table.name)
                columns = ", ".join(f"{col} {self.column_types[kind]}" for col, kind in table.columns.items())
                c.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} ({columns}, PRIMARY KEY ({', '.join(table.primary_key)}))"
                )
                for index in table.indexes:
                    c.execute(f"CREATE INDEX IF NOT EXISTS {name}_{'_'.join(index)}_idx ON {name} ({', '.join(index)})")
            schema.record((name, table) for name, table in named if name in missing)

    def drop_read_model_tables(self, tables: Iterable[Table]) -> None:
        """Drop the tables of this namespace (used for rebuilds)."""
        tables = list(tables)
        with self.datastore.transaction(commit=True) as c:
            for table in tables:
                c.execute(f"DROP TABLE IF EXISTS {self.table_name(table.name)}")
            self._schema_records(c).forget(self.table_name(t.name) for t in tables)

    def _schema_records(self, c: _Cursor) -> SchemaRecords:
        """The table fingerprints of this database (services/storage/schema.py), in transaction `c`."""
        return SchemaRecords(c, self.column_types, postgres=isinstance(self, PostgresTrackingRecorder))

    # --- writing ----------------------------------------------------------------------

    def apply_changes(
        self,
        projection: Projection,
        source: str,
        batch: Sequence[tuple[int, Sequence[RowChange]]],
        offset: int | None = None,
    ) -> AppliedBatch:
        """Apply the row changes of a batch of events and the batch's last position in ONE
        transaction. Events at or below the recorded position are skipped (re-delivery). A Kafka
        consumer also records the next offset to read, in the same transaction."""
        tracking_name = self.tracking_name(projection.name, source)
        tables = {t.name: t for t in projection.tables}
        with self.datastore.transaction(commit=True) as c:
            self._take_write_lock(c)
            current = self._max_tracking_id(tracking_name, c) or 0
            fresh = []
            for position, changes in batch:  # a batch may repeat itself (the relay published twice)
                if position > current:
                    fresh.append((position, changes))
                    current = position
            if not fresh:
                if offset is not None and offset > (self._max_tracking_id(tracking.next_offset(tracking_name), c) or 0):
                    # nothing new (duplicates, dead letters), but the partition moved on
                    self._insert_tracking(
                        c, Tracking(application_name=tracking.next_offset(tracking_name), notification_id=offset)
                    )
                return AppliedBatch(0, len(batch), current)
            # one query per batch for where each journaled aggregate stands, instead of one per
            # event: a read per event would make psycopg's pipeline wait for every statement
            # queued before it, one round trip per event
            latest = self._journal_latest(c, fresh)
            pending = PendingWrites(to_db)
            with self._batched(c):
                for _, changes in fresh:
                    self._execute_event(c, projection, tables, changes, latest, pending)
                self._flush(c, pending)
            last = fresh[-1][0]
            try:
                self._insert_tracking(c, Tracking(application_name=tracking_name, notification_id=last))
                if offset is not None:
                    self._insert_tracking(
                        c, Tracking(application_name=tracking.next_offset(tracking_name), notification_id=offset)
                    )
            except IntegrityError as error:
                raise PositionTaken(tracking_name, last) from error
        return AppliedBatch(len(fresh), len(batch) - len(fresh), last)

    def _take_write_lock(self, c: _Cursor) -> None:
        """Hold the write lock from the start of the transaction (PostgreSQL needs nothing)."""

    def _lock_schema(self, c: _Cursor) -> None:
        """Create tables one process at a time (SQLite: the write lock does it already)."""

    def _batched(self, c: Any) -> AbstractContextManager[Any]:
        """Send a batch's statements without waiting for each answer, where the driver can."""
        return nullcontext()

    def _execute_event(
        self,
        c: _Cursor,
        projection: Projection,
        tables: Mapping[str, Table],
        changes: Sequence[RowChange],
        latest: dict[tuple[Any, ...], Any],
        pending: PendingWrites,
    ) -> None:
        """One event's row changes; a journaled event back-dated before another of its aggregate
        rebuilds the aggregate's rows in business order instead (see `Journal`)."""
        if changes and isinstance(changes[0], Journal) and self._journal(changes[0], latest, pending):
            self._flush(c, pending)  # the rebuild reads the journal and the rows it replaces
            self._refold(c, projection, tables, changes[0])
            return
        for change in changes:
            if not isinstance(change, Journal):
                self._execute_change(c, tables, change, pending)

    def _journal_latest(
        self, c: _Cursor, batch: Sequence[tuple[int, Sequence[RowChange]]]
    ) -> dict[tuple[Any, ...], Any]:
        """Where each aggregate journaled in the batch stands before it: the latest `occurred_at`
        (as stored) of its journaled events other than its creation, by `_journal_slot`; an
        aggregate with none is absent."""
        keys: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], Mapping[str, Any]]] = {}
        for _, changes in batch:
            if changes and isinstance(changes[0], Journal):
                entry = changes[0]
                keys.setdefault((entry.table, tuple(entry.key)), {})[self._journal_slot(entry)] = entry.key
        latest: dict[tuple[Any, ...], Any] = {}
        for (table, columns), by_slot in keys.items():
            entries = list(by_slot.values())
            for first in range(0, len(entries), _LOOKUP_CHUNK):
                chunk = entries[first : first + _LOOKUP_CHUNK]
                if len(columns) == 1:
                    matching = f"{columns[0]} IN ({self._marks(len(chunk))})"
                else:
                    one = "(" + " AND ".join(f"{col} = ?" for col in columns) + ")"
                    matching = "(" + " OR ".join([one] * len(chunk)) + ")"
                self._run(
                    c,
                    f"SELECT {', '.join(columns)}, MAX(occurred_at) AS latest FROM {self.table_name(table)} "
                    f"WHERE version > 1 AND {matching} GROUP BY {', '.join(columns)}",
                    [value for key in chunk for value in key.values()],
                )
                for row in c.fetchall():
                    found = self._row(c, row)
                    latest[(table, *(found[col] for col in columns))] = found["latest"]
        return latest

    def _journal_slot(self, entry: Journal) -> tuple[Any, ...]:
        """An aggregate's place in `_journal_latest`: its journal table and key values as stored."""
        return (entry.table, *(to_db(value) for value in entry.key.values()))

    def _journal(self, entry: Journal, latest: dict[tuple[Any, ...], Any], pending: PendingWrites) -> bool:
        """Keep the event in its aggregate's journal; True when it is dated before an event of
        the aggregate already there (other than its creation, which comes first in any case).
        `latest` (from `_journal_latest`) says where the aggregate stands and follows the batch."""
        name = self.table_name(entry.table)
        record = entry.record
        slot = self._journal_slot(entry)
        occurred_at = to_db(record.occurred_at)
        stands = latest.get(slot)
        # stored timestamps are fixed-width ISO UTC text, so text order is time order, as in SQL
        later = stands is not None and stands > occurred_at
        if record.aggregate_version > 1 and not later:
            latest[slot] = occurred_at
        row = {
            **entry.key,
            "version": record.aggregate_version,
            "occurred_at": record.occurred_at,
            "recorded_at": record.recorded_at,
            "record": record_to_json(record),
        }
        pending.insert(name, tuple(row), row.values())
        return later

    def _refold(self, c: _Cursor, projection: Projection, tables: Mapping[str, Table], entry: Journal) -> None:
        """Rebuild one aggregate's rows from its journal, in business order."""
        where, params = self._where(entry.key)
        kept = []
        for kept_table, columns in entry.keep.items():
            self._run(c, f"SELECT {', '.join(columns)} FROM {self.table_name(kept_table)} WHERE {where}", params)
            kept += [Update(kept_table, entry.key, self._row(c, row)) for row in c.fetchall()]
        for name in tables:
            if name != entry.table:
                self._run(c, f"DELETE FROM {self.table_name(name)} WHERE {where}", params)
        self._run(
            c,
            f"SELECT record FROM {self.table_name(entry.table)} WHERE {where} "
            "ORDER BY CASE WHEN version = 1 THEN 0 ELSE 1 END, occurred_at, version",
            params,
        )
        for text in [self._row(c, row)["record"] for row in c.fetchall()]:
            for change in projection.apply(record_from_json(text)):
                if not isinstance(change, Journal):
                    self._execute_change(c, tables, change)
        for change in (*entry.then, *kept):
            self._execute_change(c, tables, change)

    def _execute_change(
        self, c: _Cursor, tables: Mapping[str, Table], change: RowChange, pending: PendingWrites | None = None
    ) -> None:
        """Write one row change, or hold it in `pending` (coalesced with the batch's other changes
        of its row) until the batch ends or something must see the table's rows."""
        name = self.table_name(change.table)
        if pending is not None:
            if isinstance(change, Insert):
                pending.insert(name, tuple(change.row), change.row.values())
                return
            if isinstance(change, Update | Upsert):
                pending.keep(name, change)
                return
            self._flush(c, pending, name)  # what follows reads or changes that table's rows
        if isinstance(change, Insert | Upsert | Update):
            self._run(c, *self._statement(name, change))
        elif isinstance(change, NewVersion):
            self._new_version(c, tables[change.table], name, change)
        elif isinstance(change, Journal):
            raise TypeError("a journal entry is kept by _execute_event, first among its event's changes")
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"unknown row change {change!r}")

    def _statement(self, name: str, change: Insert | Upsert | Update) -> tuple[str, list[Any]]:
        """The SQL (with `?` placeholders) and parameters of an insert, upsert or update."""
        if isinstance(change, Insert):
            return self._insert_sql(name, tuple(change.row)), list(change.row.values())
        if isinstance(change, Upsert):
            updates = [col for col in change.row if col not in change.key]
            action = (
                "DO UPDATE SET " + ", ".join(f"{col} = excluded.{col}" for col in updates) if updates else "DO NOTHING"
            )
            sql = f"{self._insert_sql(name, tuple(change.row))} ON CONFLICT ({', '.join(change.key)}) {action}"
            return sql, list(change.row.values())
        where, params = self._where(change.where, change.where_null)
        for col, bound in change.not_after.items():
            where += f" AND ({col} IS NULL OR {col} <= ?)"
            params.append(bound)
        sets = ", ".join(f"{col} = ?" for col in change.values)
        return f"UPDATE {name} SET {sets} WHERE {where}", [*change.values.values(), *params]

    def _insert_sql(self, name: str, cols: Sequence[str]) -> str:
        return f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({self._marks(len(cols))})"

    def _flush(self, c: _Cursor, pending: PendingWrites, table: str | None = None) -> None:
        """Write the held changes (of one table, or all), run by run: one `executemany` per
        statement shape, so that a statement is parsed once and, on PostgreSQL, its rows go out
        in one exchange with the server instead of one per row."""
        for name, runs in pending.take(table):
            for run in runs:
                if isinstance(run, InsertRun):
                    shaped = {self._insert_sql(name, cols): rows for cols, rows in run.rows.items()}
                else:
                    shaped = {}
                    for change in run.changes.values():
                        sql, params = self._statement(name, change)
                        shaped.setdefault(sql, []).append(params)
                for sql, rows in shaped.items():
                    c.executemany(self._dialect(sql), [[to_db(value) for value in row] for row in rows])

    def _new_version(self, c: _Cursor, table: Table, name: str, change: NewVersion) -> None:
        overrides = {**change.changes, "version": change.version, "valid_from": change.at, "valid_to": None}
        cols = list(table.columns)
        select = ", ".join("?" if col in overrides else col for col in cols)
        where, params = self._where(change.key, ("valid_to",))
        self._run(
            c,
            f"INSERT INTO {name} ({', '.join(cols)}) SELECT {select} FROM {name} WHERE {where}",
            [*(overrides[col] for col in cols if col in overrides), *params],
        )
        self._run(
            c,
            f"UPDATE {name} SET valid_to = ? WHERE {where} AND version <> ?",
            [change.at, *params, change.version],
        )

    @staticmethod
    def _where(equal: Mapping[str, Any], null: Sequence[str] = ()) -> tuple[str, list[Any]]:
        parts = [f"{col} = ?" for col in equal] + [f"{col} IS NULL" for col in null]
        return " AND ".join(parts) or "1 = 1", list(equal.values())

    @staticmethod
    def _marks(n: int) -> str:
        return ", ".join("?" * n)

    def _run(self, c: _Cursor, sql: str, params: Iterable[Any] = ()) -> None:
        c.execute(self._dialect(sql), [to_db(p) for p in params])

    def _dialect(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    # --- reading ----------------------------------------------------------------------

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query written with `?` placeholders and logical table names."""
        sql = self._dialect(self._qualify(sql))
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, [to_db(p) for p in params])
            return [self._row(c, r) for r in c.fetchall()]

    known_tables: set[str] = set()

    def _qualify(self, sql: str) -> str:
        if not self.namespace:
            return sql
        for name in self.known_tables:
            sql = re.sub(rf"\b{name}\b", self.table_name(name), sql)
        return sql

    def swap_into_live(self, tables: Sequence[Table], projections: Iterable[str]) -> None:
        """Make this namespace's tables and positions the live ones, in one transaction."""
        if not self.namespace:
            raise ValueError("the live read models cannot be swapped into themselves")
        tracking = self.tracking_table
        with self.datastore.transaction(commit=True) as c:
            for table in tables:
                name = self.table_name(table.name)
                for index in table.indexes:
                    c.execute(f"DROP INDEX IF EXISTS {name}_{'_'.join(index)}_idx")
                c.execute(f"DROP TABLE IF EXISTS {table.name}")
                c.execute(f"ALTER TABLE {name} RENAME TO {table.name}")
                for index in table.indexes:
                    c.execute(
                        f"CREATE INDEX IF NOT EXISTS {table.name}_{'_'.join(index)}_idx "
                        f"ON {table.name} ({', '.join(index)})"
                    )
            self._schema_records(c).carry_over((self.table_name(t.name), t.name) for t in tables)
            for projection in projections:
                self._run(c, f"DELETE FROM {tracking} WHERE application_name LIKE ?", [f"{projection}@%"])
                self._run(
                    c,
                    f"UPDATE {tracking} SET application_name = substr(application_name, ?) "
                    "WHERE application_name LIKE ?",
                    [len(self.namespace) + 1, f"{self.namespace}{projection}@%"],
                )

    def drop_positions(self, projections: Iterable[str]) -> None:
        """Forget this namespace's positions (used before a rebuild into it)."""
        with self.datastore.transaction(commit=True) as c:
            for projection in projections:
                self._run(
                    c,
                    f"DELETE FROM {self.tracking_table} WHERE application_name LIKE ?",
                    [f"{self.namespace}{projection}@%"],
                )

    @property
    def tracking_table(self) -> str:
        """Name of eventsourcing's tracking table in this database."""
        return str(getattr(self, "tracking_table_name", "tracking"))

    def _row(self, c: Any, row: Any) -> dict[str, Any]:
        return dict(row)

    def position(self, projection: str, source: str = "log") -> int:
        """The last position applied for a projection from a source (0 when none)."""
        return self.max_tracking_id(self.tracking_name(projection, source)) or 0

    def offset(self, projection: str, source: str) -> int:
        """The next Kafka offset to read for a projection from a topic partition (0 when none)."""
        return self.max_tracking_id(tracking.next_offset(self.tracking_name(projection, source))) or 0

    def sources(self, projection: str) -> list[str]:
        """Where a projection has been fed from: `log`, or `topic:partition` for each partition."""
        prefix = self.tracking_name(projection, "")
        rows = self.fetch(
            f"SELECT application_name FROM {self.tracking_table} WHERE application_name LIKE ?", [f"{prefix}%"]
        )
        names = (r["application_name"][len(prefix) :] for r in rows)
        return sorted(n for n in names if not tracking.is_offset(n))

    def checksum(self, table: Table) -> tuple[int, str]:
        """(row count, sha256 of the rows in primary-key order): equal tables, equal checksums."""
        order = ", ".join(table.primary_key)
        rows = self.fetch(f"SELECT {', '.join(table.columns)} FROM {table.name} ORDER BY {order}")
        digest = hashlib.sha256()
        for row in rows:
            digest.update(json.dumps([_normal(row[c]) for c in table.columns], default=str).encode())
        return len(rows), digest.hexdigest()


def _refuse_partly_built(named: Sequence[tuple[str, Table]], missing: set[str], owners: Mapping[str, str]) -> None:
    """A live projection some of whose tables exist and some not was built by a version that had
    fewer tables (a journal added since, say): its rows cannot be trusted to be complete."""
    built: dict[str, set[bool]] = {}
    for name, table in named:
        built.setdefault(owners.get(table.name, table.name), set()).add(name in missing)
    for projection, states in built.items():
        if states == {True, False}:
            absent = next(name for name, t in named if owners.get(t.name, t.name) == projection and name in missing)
            raise ReadModelSchemaMismatch(projection, absent)


def _normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


class SQLiteReadModelRecorder(ReadModelRecorder, SQLiteTrackingRecorder):
    """Read models in the SQLite file of the embedded mode."""

    column_types = _SQLITE_TYPES

    def _take_write_lock(self, c: _Cursor) -> None:
        # eventsourcing opens a deferred transaction ("BEGIN"); one that reads first and writes
        # later fails at once with "database is locked" when another connection wrote meanwhile.
        # A write as the first statement waits for the lock (busy timeout) instead.
        c.execute("UPDATE tracking SET notification_id = notification_id WHERE 0")

    def _row(self, c: Any, row: Any) -> dict[str, Any]:
        names = [d[0] for d in c.sqlite_cursor.description]
        return dict(zip(names, row, strict=True))


class PostgresReadModelRecorder(ReadModelRecorder, FailFastTrackingRecorder):
    """Read models in PostgreSQL, beside the event store (one attempt per call, like the event
    store's recorder: see `services.storage.fail_fast_postgres`)."""

    column_types = _POSTGRES_TYPES
    placeholder = "%s"

    def _lock_schema(self, c: _Cursor) -> None:
        lock_schema_changes(c)

    def _batched(self, c: Any) -> AbstractContextManager[Any]:
        # psycopg's pipeline mode: one round trip per batch instead of one per row change; an
        # error still surfaces before the commit, and the transaction rolls back whole.
        return c.connection.pipeline()  # type: ignore[no-any-return]


def read_model_recorder(env: Mapping[str, str], namespace: str = "") -> ReadModelRecorder:
    """A read-model recorder on the database the eventsourcing `env` points at."""
    env = dict(env)
    module = env.get("PERSISTENCE_MODULE", "")
    if module == "services.storage.timers:MemoryTimerFactory":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}
        module = "eventsourcing.sqlite"
    factory = InfrastructureFactory.construct(Environment("crm_read_models", env))
    cls = SQLiteReadModelRecorder if module == "eventsourcing.sqlite" else PostgresReadModelRecorder
    recorder: ReadModelRecorder = factory.tracking_recorder(cls)  # type: ignore[arg-type, assignment]
    recorder.namespace = namespace
    return recorder
