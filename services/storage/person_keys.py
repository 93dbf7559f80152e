"""The people's wrapped data keys and which aggregates belong to whom, in two tables beside the
event store (`crm_person_keys`, `crm_person_links`) — never in the events. Destroying a key
deletes its row; on SQLite the row's bytes are overwritten too (`secure_delete`).

The same three kinds as the token store: a dict for `memory://`, the SQLite file, PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.storage.postgres_pool import open_pool
from services.storage.schema import lock_schema_changes

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

KEYS_TABLE = "crm_person_keys"
LINKS_TABLE = "crm_person_links"


class MemoryKeyStore:
    """Keys of a `memory://` store: gone when the process ends, like the events."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._links: dict[str, str] = {}
        self._lock = threading.Lock()

    def add_person(self, person: str, wrapped_key: bytes, aggregate_id: str) -> None:
        with self._lock:
            self._keys.setdefault(person, wrapped_key)
            self._links.setdefault(aggregate_id, person)

    def link(self, aggregate_id: str, person: str) -> None:
        with self._lock:
            self._links.setdefault(aggregate_id, person)

    def person_of(self, aggregate_id: str) -> str | None:
        with self._lock:
            return self._links.get(aggregate_id)

    def aggregates_of(self, person: str) -> list[str]:
        with self._lock:
            return sorted(a for a, p in self._links.items() if p == person)

    def wrapped_key(self, person: str) -> bytes | None:
        with self._lock:
            return self._keys.get(person)

    def destroy(self, person: str) -> bool:
        with self._lock:
            return self._keys.pop(person, None) is not None

    def close(self) -> None:
        pass


class SqliteKeyStore:
    """Keys in the event store's SQLite file, through one connection kept open (shared by the
    threads, one at a time): a replay opens every person's key, and a connection per lookup cost
    more than the lookup."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, check_same_thread=False)
        self._db.execute("PRAGMA secure_delete = ON")  # a destroyed key's bytes are overwritten, not just unlinked
        with self._writing() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} "
                "(person_id TEXT PRIMARY KEY, wrapped_key BLOB NOT NULL, created_at TEXT NOT NULL)"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {LINKS_TABLE} (aggregate_id TEXT PRIMARY KEY, person_id TEXT NOT NULL)"
            )
            db.execute(f"CREATE INDEX IF NOT EXISTS {LINKS_TABLE}_person_idx ON {LINKS_TABLE} (person_id)")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone, in a transaction that commits at the end."""
        with self._lock, self._db:
            yield self._db

    def _read(self, sql: str, params: tuple[str, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def add_person(self, person: str, wrapped_key: bytes, aggregate_id: str) -> None:
        with self._writing() as db:
            db.execute(
                f"INSERT OR IGNORE INTO {KEYS_TABLE} (person_id, wrapped_key, created_at) VALUES (?, ?, ?)",
                (person, wrapped_key, datetime.now(UTC).isoformat()),
            )
            db.execute(
                f"INSERT OR IGNORE INTO {LINKS_TABLE} (aggregate_id, person_id) VALUES (?, ?)", (aggregate_id, person)
            )

    def link(self, aggregate_id: str, person: str) -> None:
        with self._writing() as db:
            db.execute(
                f"INSERT OR IGNORE INTO {LINKS_TABLE} (aggregate_id, person_id) VALUES (?, ?)", (aggregate_id, person)
            )

    def person_of(self, aggregate_id: str) -> str | None:
        rows = self._read(f"SELECT person_id FROM {LINKS_TABLE} WHERE aggregate_id = ?", (aggregate_id,))
        return rows[0][0] if rows else None

    def aggregates_of(self, person: str) -> list[str]:
        rows = self._read(
            f"SELECT aggregate_id FROM {LINKS_TABLE} WHERE person_id = ? ORDER BY aggregate_id", (person,)
        )
        return [r[0] for r in rows]

    def wrapped_key(self, person: str) -> bytes | None:
        rows = self._read(f"SELECT wrapped_key FROM {KEYS_TABLE} WHERE person_id = ?", (person,))
        return bytes(rows[0][0]) if rows else None

    def destroy(self, person: str) -> bool:
        with self._writing() as db:
            return db.execute(f"DELETE FROM {KEYS_TABLE} WHERE person_id = ?", (person,)).rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresKeyStore:
    """Keys in the event store's PostgreSQL database."""

    def __init__(self, conninfo: str, timeout: float = 5.0, reconnect_timeout: float = 300.0) -> None:
        self._pool: ConnectionPool = open_pool(conninfo, "crm-keys", timeout, reconnect_timeout=reconnect_timeout)
        with self._pool.connection() as db, db.transaction():
            lock_schema_changes(db)  # processes started together create the tables in turn
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} "
                "(person_id TEXT PRIMARY KEY, wrapped_key BYTEA NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
            )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {LINKS_TABLE} (aggregate_id TEXT PRIMARY KEY, person_id TEXT NOT NULL)"
            )
            db.execute(f"CREATE INDEX IF NOT EXISTS {LINKS_TABLE}_person_idx ON {LINKS_TABLE} (person_id)")

    def add_person(self, person: str, wrapped_key: bytes, aggregate_id: str) -> None:
        with self._pool.connection() as db, db.transaction():
            db.execute(
                f"INSERT INTO {KEYS_TABLE} (person_id, wrapped_key, created_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (person_id) DO NOTHING",
                (person, wrapped_key),
            )
            db.execute(
                f"INSERT INTO {LINKS_TABLE} (aggregate_id, person_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (aggregate_id, person),
            )

    def link(self, aggregate_id: str, person: str) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"INSERT INTO {LINKS_TABLE} (aggregate_id, person_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (aggregate_id, person),
            )

    def person_of(self, aggregate_id: str) -> str | None:
        with self._pool.connection() as db:
            row = db.execute(f"SELECT person_id FROM {LINKS_TABLE} WHERE aggregate_id = %s", (aggregate_id,)).fetchone()
        return row[0] if row else None

    def aggregates_of(self, person: str) -> list[str]:
        with self._pool.connection() as db:
            rows = db.execute(
                f"SELECT aggregate_id FROM {LINKS_TABLE} WHERE person_id = %s ORDER BY aggregate_id", (person,)
            ).fetchall()
        return [r[0] for r in rows]

    def wrapped_key(self, person: str) -> bytes | None:
        with self._pool.connection() as db:
            row = db.execute(f"SELECT wrapped_key FROM {KEYS_TABLE} WHERE person_id = %s", (person,)).fetchone()
        return bytes(row[0]) if row else None

    def destroy(self, person: str) -> bool:
        with self._pool.connection() as db:
            return db.execute(f"DELETE FROM {KEYS_TABLE} WHERE person_id = %s", (person,)).rowcount > 0

    def close(self) -> None:
        self._pool.close()
