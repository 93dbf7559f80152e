"""Fingerprints of the read-model tables' definitions, so that a store never reads or writes a
live table that an older version of the code built with another shape.

Each table's definition (name, columns with their portable and physical types, primary key,
indexes) hashes to a fingerprint, stored beside the table in `crm_read_model_schema` when the
store creates it. Opening the live read models compares the stored fingerprints with the code's:
a live table without one, or with another, stops the store with `ReadModelSchemaMismatch` and
changes nothing. Rebuild namespaces drop and recreate their tables, so they always carry fresh
fingerprints, and swapping a rebuild in moves them to the live names in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from projections.row_changes import ColumnType, Table

SCHEMA_TABLE = "crm_read_model_schema"
SCHEMA_LOCK = "crm-schema"
"""The name of the PostgreSQL advisory lock that whoever creates tables holds until it commits."""


def lock_schema_changes(c: Any) -> None:
    """PostgreSQL: wait for, and hold until this transaction ends, the database's lock on table
    creation. Two sessions running `CREATE TABLE IF NOT EXISTS` for the same table at the same
    moment both find it missing, and one fails (a duplicate in `pg_type`): processes started
    together on a fresh database create their tables one after another instead."""
    c.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SCHEMA_LOCK,))


@contextmanager
def schema_locked(datastore: Any) -> Iterator[None]:
    """PostgreSQL: hold the same lock for a block that creates tables in several transactions
    (eventsourcing's `create_table` reads, creates types, then tables), on a pooled connection
    of its own (eventsourcing's pool connections are in autocommit mode: a session lock)."""
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (SCHEMA_LOCK,))


class ReadModelSchemaMismatch(Exception):
    """A live read-model table was built from another definition than this version's; only a
    replay can rebuild it (its rows were projected by other code, its columns may differ)."""

    def __init__(self, projection: str, table: str) -> None:
        super().__init__(f'read model "{projection}" was built by an older version; run crm replay --swap')
        self.projection = projection
        self.table = table


def fingerprint(table: Table, column_types: Mapping[ColumnType, str]) -> str:
    """sha256 of the canonical JSON of a table's definition and its columns' physical types."""
    definition = {
        "name": table.name,
        "columns": [[column, kind, column_types[kind]] for column, kind in table.columns.items()],
        "primary_key": list(table.primary_key),
        "indexes": [list(index) for index in table.indexes],
    }
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Cursor(Protocol):
    def execute(self, sql: Any, params: Any = ...) -> Any: ...
    def fetchone(self) -> Any: ...


class SchemaRecords:
    """The fingerprint rows of one database, read and written inside the caller's transaction.

    Rows are keyed by physical table name (namespace included), fingerprints by logical
    definition, so a rebuilt table's fingerprint is the live table's once swapped in."""

    def __init__(self, c: _Cursor, column_types: Mapping[ColumnType, str], postgres: bool) -> None:
        self._c = c
        self._column_types = column_types
        self._postgres = postgres
        c.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} "
            "(table_name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL)"
        )

    def check(self, tables: Sequence[tuple[str, Table]], live: bool, owners: Mapping[str, str]) -> list[str]:
        """The physical names of the tables still to be created. A live table that exists must
        carry its definition's fingerprint; namespaces are rebuilt (dropped first), so their
        leftovers are not checked."""
        missing = []
        for name, table in tables:
            if not self._exists(name):
                missing.append(name)
            elif live and self._stored(name) != fingerprint(table, self._column_types):
                raise ReadModelSchemaMismatch(owners.get(table.name, table.name), name)
        return missing

    def record(self, tables: Iterable[tuple[str, Table]]) -> None:
        """Store the fingerprints of freshly created tables (by physical name)."""
        created_at = datetime.now(UTC).isoformat(timespec="microseconds")
        for name, table in tables:
            self._execute(
                f"INSERT INTO {SCHEMA_TABLE} (table_name, fingerprint, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (table_name) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "created_at = excluded.created_at",
                [name, fingerprint(table, self._column_types), created_at],
            )

    def forget(self, names: Iterable[str]) -> None:
        """Drop the fingerprints of dropped tables."""
        for name in names:
            self._execute(f"DELETE FROM {SCHEMA_TABLE} WHERE table_name = ?", [name])

    def carry_over(self, renames: Iterable[tuple[str, str]]) -> None:
        """Give each renamed table (from -> to) its fingerprint under the new name, replacing the
        fingerprint of the table it replaces. A table renamed without one keeps none."""
        for source, target in renames:
            self._execute(f"DELETE FROM {SCHEMA_TABLE} WHERE table_name = ?", [target])
            self._execute(f"UPDATE {SCHEMA_TABLE} SET table_name = ? WHERE table_name = ?", [target, source])

    def _exists(self, name: str) -> bool:
        if self._postgres:  # resolved on the search path, as the unqualified CREATE TABLE is
            self._execute("SELECT to_regclass(?) IS NOT NULL AS found", [name])
        else:
            self._execute("SELECT count(*) AS found FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return bool(self._c.fetchone()["found"])

    def _stored(self, name: str) -> str | None:
        self._execute(f"SELECT fingerprint FROM {SCHEMA_TABLE} WHERE table_name = ?", [name])
        row = self._c.fetchone()
        return None if row is None else str(row["fingerprint"])

    def _execute(self, sql: str, params: Sequence[Any]) -> None:
        self._c.execute(sql.replace("?", "%s") if self._postgres else sql, list(params))
