"""An in-memory read-model store for unit tests: applies row changes with plain SQL on sqlite3
and answers `fetch`, so pure queries can be tested against what a projection wrote."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from projections.row_changes import Insert, Journal, NewVersion, Projection, RowChange, Table, Update, Upsert

_SQL_TYPES = {"text": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "INTEGER", "timestamp": "TEXT", "json": "TEXT"}


def to_db(value: Any) -> Any:
    """A value as the store keeps it: timestamps as ISO-8601 UTC text, ids as text, json as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


class SqliteReader:
    """The read-model tables of some projections in one in-memory SQLite database."""

    def __init__(self, tables: Iterable[Table]) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.row_factory = sqlite3.Row
        for t in tables:
            cols = ", ".join(f"{c} {_SQL_TYPES[kind]}" for c, kind in t.columns.items())
            self.db.execute(f"CREATE TABLE {t.name} ({cols}, PRIMARY KEY ({', '.join(t.primary_key)}))")

    @classmethod
    def of(cls, projection: Projection, records: Iterable[Any] = ()) -> SqliteReader:
        """A store with the projection's tables, after applying it to `records` in order."""
        store = cls(projection.tables)
        for record in records:
            store.apply(projection.apply(record))
        return store

    def apply(self, changes: Sequence[RowChange]) -> None:
        for change in changes:
            if isinstance(change, Insert):
                self._insert(change.table, change.row)
            elif isinstance(change, Upsert):
                sets = ", ".join(f"{c} = excluded.{c}" for c in change.row if c not in change.key)
                self._insert(change.table, change.row, f" ON CONFLICT ({', '.join(change.key)}) DO UPDATE SET {sets}")
            elif isinstance(change, Update):
                sets = ", ".join(f"{c} = ?" for c in change.values)
                where = " AND ".join(
                    [f"{c} = ?" for c in change.where]
                    + [f"{c} IS NULL" for c in change.where_null]
                    + [f"({c} IS NULL OR {c} <= ?)" for c in change.not_after]
                )
                self._run(
                    f"UPDATE {change.table} SET {sets} WHERE {where}",
                    [*change.values.values(), *change.where.values(), *change.not_after.values()],
                )
            elif isinstance(change, NewVersion):
                self._new_version(change)
            elif isinstance(change, Journal):
                continue  # the real store's to keep: events here are applied in business order
            else:
                raise TypeError(f"unknown row change {change!r}")
        self.db.commit()

    def _new_version(self, change: NewVersion) -> None:
        where = " AND ".join(f"{c} = ?" for c in change.key) + " AND valid_to IS NULL"
        key = list(change.key.values())
        open_rows = self.fetch(f"SELECT * FROM {change.table} WHERE {where} ORDER BY version DESC", key)
        if not open_rows:
            raise LookupError(f"no open version of {dict(change.key)} in {change.table}")
        new = {**open_rows[0], **change.changes, "version": change.version, "valid_from": change.at, "valid_to": None}
        self._insert(change.table, new)
        close = f"UPDATE {change.table} SET valid_to = ? WHERE {where} AND version <> ?"
        self._run(close, [change.at, *key, change.version])

    def _insert(self, table: str, row: Mapping[str, Any], suffix: str = "") -> None:
        marks = ", ".join("?" for _ in row)
        self._run(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks}){suffix}", list(row.values()))

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        self.db.execute(sql, [to_db(p) for p in params])

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a query with `?` placeholders, as dicts (timestamps come back as text)."""
        return [dict(row) for row in self.db.execute(sql, [to_db(p) for p in params])]
