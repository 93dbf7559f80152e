"""The access log: every read of a person's data through the API, who made it (user and role),
which lead or contact it showed, when, through which route and in which request.

Entries live in a `crm_access_log` table beside the event store (SQLite or PostgreSQL), or in a
list for `memory://`; one row per record shown, so that "who saw this person" is one indexed
query. The log itself holds no personal data: ids, user names of the CRM's own users, routes.

A request never waits for the database here: `record` puts the entries in a buffer, and a
background thread writes the buffer in one batch every `flush_interval` seconds, or as soon as
`batch_size` entries are waiting. `close` stops the thread and writes what is left, so a clean
shutdown loses nothing; a write that fails keeps its entries buffered for the next try.
`services.bootstrap.open_access_log` picks the log that sits beside the settings' event store."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.auth.access import AccessEntry, PersonalDataRead
from services.storage.postgres_pool import open_pool
from services.storage.schema import lock_schema_changes

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

ACCESS_LOG_TABLE = "crm_access_log"
FLUSH_INTERVAL_SECONDS = 0.5
BATCH_SIZE = 200
MAX_BUFFERED = 100_000
"""Entries kept while the database does not answer; past this the oldest are dropped (and said so)."""

log = logging.getLogger("crm.access")

_COLUMNS = ("entry_id", "read_at", "user_name", "role", "method", "route", "request_id", "subject_id")


def _row(entry: AccessEntry) -> tuple[Any, ...]:
    return (
        entry.entry_id,
        entry.read_at,
        entry.user,
        entry.role,
        entry.method,
        entry.route,
        entry.request_id,
        entry.subject_id,
    )


class _TimeOrderedIds:
    """UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then a 12-bit counter within the
    millisecond (so ids made in one process sort in the order they were made), then random bits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = (0, 0)

    def next(self) -> str:
        with self._lock:
            millis, counter = time.time_ns() // 1_000_000, 0
            last_millis, last_counter = self._last
            if millis <= last_millis:
                millis, counter = last_millis, last_counter + 1
                if counter > 0xFFF:
                    millis, counter = last_millis + 1, 0
            self._last = (millis, counter)
        random_bits = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (millis << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | random_bits
        return str(uuid.UUID(int=value))


class AccessLog(ABC):
    """The log of reads of personal data (an `AccessRecorder`): buffered writes, newest-first reads."""

    def __init__(
        self,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        batch_size: int = BATCH_SIZE,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_buffered = max_buffered
        self._ids = _TimeOrderedIds()
        self._buffer: list[AccessEntry] = []
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        """One write at a time, so that entries reach the table in the order they were recorded."""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    def record(self, read: PersonalDataRead) -> None:
        """Buffer one entry per record the read showed; never touches the database."""
        if not read.subject_ids:
            return
        entries = [
            AccessEntry(
                self._ids.next(),
                read.at,
                read.user,
                read.role,
                read.method,
                read.route,
                read.request_id,
                str(subject),
            )
            for subject in read.subject_ids
        ]
        with self._buffer_lock:
            self._buffer.extend(entries)
            waiting = len(self._buffer)
            dropped = waiting - self.max_buffered
            if dropped > 0:
                del self._buffer[:dropped]
        if dropped > 0:
            log.error("access log: %d entries dropped, the database has not taken any for a while", dropped)
        if self._closed:
            self.flush()
            return
        self._start_flusher()
        if waiting >= self.batch_size:
            self._wake.set()

    def pending(self) -> int:
        """Entries recorded but not written yet."""
        with self._buffer_lock:
            return len(self._buffer)

    def flush(self) -> None:
        """Write every buffered entry now, in this thread; on failure they stay buffered and the
        error is raised."""
        with self._write_lock:
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                self._write(batch)
            except BaseException:
                with self._buffer_lock:
                    self._buffer[:0] = batch
                raise

    def entries(
        self, *, subject: str | None = None, user: str | None = None, before: str | None = None, limit: int = 50
    ) -> list[AccessEntry]:
        """Written entries, newest first, for one subject and/or one user, older than the entry
        `before` (a page cursor); call `flush` first to include this process's buffered ones."""
        return self._select(subject, user, before, limit)

    def close(self) -> None:
        """Stop the background writer and write what is left."""
        self._closed = True
        self._stopping.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join(timeout=30)
        try:
            self.flush()
        except Exception:
            log.exception("access log: %d entries could not be written at shutdown", self.pending())
        self._release()

    def _start_flusher(self) -> None:
        if self._flusher is None:
            with self._buffer_lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_regularly, name="access-log", daemon=True)
                    self._flusher.start()

    def _flush_regularly(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return  # close() writes the rest
            try:
                self.flush()
            except Exception as error:
                log.warning("access log: %d entries wait, the write failed: %s", self.pending(), error)

    def _release(self) -> None:  # noqa: B027 - only logs holding connections override it
        """Release connections."""

    @abstractmethod
    def _write(self, entries: Sequence[AccessEntry]) -> None: ...

    @abstractmethod
    def _select(self, subject: str | None, user: str | None, before: str | None, limit: int) -> list[AccessEntry]: ...


class MemoryAccessLog(AccessLog):
    """The access log of a `memory://` store: gone when the process ends, like the events."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._entries: list[AccessEntry] = []
        self._lock = threading.Lock()

    def _write(self, entries: Sequence[AccessEntry]) -> None:
        with self._lock:
            self._entries.extend(entries)

    def _select(self, subject: str | None, user: str | None, before: str | None, limit: int) -> list[AccessEntry]:
        with self._lock:
            found = [
                e
                for e in self._entries
                if (subject is None or e.subject_id == subject)
                and (user is None or e.user == user)
                and (before is None or e.entry_id < before)
            ]
        return sorted(found, key=lambda e: e.entry_id, reverse=True)[:limit]


def _where(subject: str | None, user: str | None, before: str | None, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of a page and its parameters (`mark`: the driver's placeholder)."""
    conditions, params = [], []
    for column, value, op in (("subject_id", subject, "="), ("user_name", user, "="), ("entry_id", before, "<")):
        if value is not None:
            conditions.append(f"{column} {op} {mark}")
            params.append(value)
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def _entry(row: Sequence[Any]) -> AccessEntry:
    read_at = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
    return AccessEntry(row[0], read_at.astimezone(UTC), *row[2:])


_CREATE_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS {ACCESS_LOG_TABLE}_by_subject ON {ACCESS_LOG_TABLE} (subject_id, entry_id)",
    f"CREATE INDEX IF NOT EXISTS {ACCESS_LOG_TABLE}_by_user ON {ACCESS_LOG_TABLE} (user_name, entry_id)",
)


class SqliteAccessLog(AccessLog):
    """The access log in a `crm_access_log` table of the event store's SQLite file."""

    def __init__(self, path: str, **options: Any) -> None:
        super().__init__(**options)
        self.path = path
        with closing(self._connect()) as db, db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {ACCESS_LOG_TABLE} (entry_id TEXT PRIMARY KEY, read_at TEXT NOT NULL, "
                "user_name TEXT NOT NULL, role TEXT NOT NULL, method TEXT NOT NULL, route TEXT NOT NULL, "
                "request_id TEXT NOT NULL, subject_id TEXT NOT NULL)"
            )
            for sql in _CREATE_INDEXES:
                db.execute(sql)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _write(self, entries: Sequence[AccessEntry]) -> None:
        rows = [(e.entry_id, e.read_at.astimezone(UTC).isoformat(), *_row(e)[2:]) for e in entries]
        with closing(self._connect()) as db, db:
            db.executemany(
                f"INSERT INTO {ACCESS_LOG_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                rows,
            )

    def _select(self, subject: str | None, user: str | None, before: str | None, limit: int) -> list[AccessEntry]:
        where, params = _where(subject, user, before, "?")
        with closing(self._connect()) as db:
            rows = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {ACCESS_LOG_TABLE}{where} ORDER BY entry_id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_entry(row) for row in rows]


class PostgresAccessLog(AccessLog):
    """The access log in a `crm_access_log` table of the event store's PostgreSQL database."""

    def __init__(self, conninfo: str, timeout: float = 5.0, **options: Any) -> None:
        super().__init__(**options)
        # the writer and the admin's reads share two connections; a read waits at most `timeout`
        self._pool: ConnectionPool = open_pool(conninfo, "crm-access-log", timeout, max_size=2)
        with self._pool.connection() as db, db.transaction():
            lock_schema_changes(db)  # processes started together create the table in turn
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {ACCESS_LOG_TABLE} (entry_id UUID PRIMARY KEY, "
                "read_at TIMESTAMPTZ NOT NULL, user_name TEXT NOT NULL, role TEXT NOT NULL, method TEXT NOT NULL, "
                "route TEXT NOT NULL, request_id TEXT NOT NULL, subject_id TEXT NOT NULL)"
            )
            for sql in _CREATE_INDEXES:
                db.execute(sql)

    def _write(self, entries: Sequence[AccessEntry]) -> None:
        with self._pool.connection() as db, db.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {ACCESS_LOG_TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})",
                [_row(e) for e in entries],
            )

    def _select(self, subject: str | None, user: str | None, before: str | None, limit: int) -> list[AccessEntry]:
        where, params = _where(subject, user, before, "%s")
        with self._pool.connection() as db:
            rows = db.execute(
                f"SELECT entry_id::text, {', '.join(_COLUMNS[1:])} FROM {ACCESS_LOG_TABLE}{where} "
                "ORDER BY entry_id DESC LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    def _release(self) -> None:
        self._pool.close()
