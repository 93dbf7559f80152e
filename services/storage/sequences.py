"""The nurture sequences' definitions in a table beside the event store (`crm_nurture_sequences`):
one row per name, the definition as JSON, who defined it and when. The same kinds as the other
stores beside the events: the SQLite file and PostgreSQL (`memory://` keeps them in
`services.app.sequences.MemorySequences`)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING, Any

from domain.nurture import NurtureSequence
from domain.time import parse_time
from services.app.sequences import StoredSequence
from services.storage.postgres_pool import open_pool

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

SEQUENCES_TABLE = "crm_nurture_sequences"


def _row(sequence: StoredSequence) -> tuple[str, str, str, str]:
    return (
        sequence.name,
        sequence.definition.model_dump_json(),
        sequence.defined_by,
        sequence.defined_at.isoformat(),
    )


def _stored(row: Any) -> StoredSequence:
    definition, defined_by, defined_at = row
    return StoredSequence(NurtureSequence.model_validate_json(definition), defined_by, parse_time(defined_at))


class SqliteSequences:
    """Definitions in the event store's SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        with closing(self._connect()) as db, db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {SEQUENCES_TABLE} (name TEXT PRIMARY KEY, definition TEXT NOT NULL, "
                "defined_by TEXT NOT NULL, defined_at TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def add(self, sequence: StoredSequence) -> bool:
        """Keep a new definition; False when the name is taken."""
        with closing(self._connect()) as db, db:
            inserted = db.execute(
                f"INSERT OR IGNORE INTO {SEQUENCES_TABLE} (name, definition, defined_by, defined_at) "
                "VALUES (?, ?, ?, ?)",
                _row(sequence),
            )
            return inserted.rowcount == 1

    def get(self, name: str) -> StoredSequence | None:
        """The definition of that name, if any."""
        with closing(self._connect()) as db:
            row = db.execute(
                f"SELECT definition, defined_by, defined_at FROM {SEQUENCES_TABLE} WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else _stored(row)

    def all(self) -> list[StoredSequence]:
        """Every definition, by name."""
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT definition, defined_by, defined_at FROM {SEQUENCES_TABLE} ORDER BY name"
            ).fetchall()
        return [_stored(row) for row in rows]

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""


class PostgresSequences:
    """Definitions in the event store's PostgreSQL database."""

    def __init__(self, conninfo: str, timeout: float = 5.0, reconnect_timeout: float = 300.0) -> None:
        self._pool: ConnectionPool = open_pool(
            conninfo, "crm-sequences", timeout, max_size=2, reconnect_timeout=reconnect_timeout
        )
        with self._pool.connection() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {SEQUENCES_TABLE} (name TEXT PRIMARY KEY, definition TEXT NOT NULL, "
                "defined_by TEXT NOT NULL, defined_at TEXT NOT NULL)"
            )

    def add(self, sequence: StoredSequence) -> bool:
        """Keep a new definition; False when the name is taken."""
        with self._pool.connection() as db:
            inserted = db.execute(
                f"INSERT INTO {SEQUENCES_TABLE} (name, definition, defined_by, defined_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                _row(sequence),
            )
            return inserted.rowcount == 1

    def get(self, name: str) -> StoredSequence | None:
        """The definition of that name, if any."""
        with self._pool.connection() as db:
            row = db.execute(
                f"SELECT definition, defined_by, defined_at FROM {SEQUENCES_TABLE} WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else _stored(row)

    def all(self) -> list[StoredSequence]:
        """Every definition, by name."""
        with self._pool.connection() as db:
            rows = db.execute(
                f"SELECT definition, defined_by, defined_at FROM {SEQUENCES_TABLE} ORDER BY name"
            ).fetchall()
        return [_stored(row) for row in rows]

    def close(self) -> None:
        """Close the pool."""
        self._pool.close()
