"""Leadership: exactly one automation process acts per store; a second one waits its turn.

PostgreSQL: a session-level advisory lock, held by a connection of its own for as long as the
process leads (it is released when the process or its connection dies, so a killed leader is
replaced at once). SQLite: an exclusive `flock` on a file beside the database. In memory: a lock
shared by the applications of one process. Leadership saves work, not correctness: each timer
fires once and each policy acts once per event even if two processes were to act."""

from __future__ import annotations

import fcntl
import hashlib
import threading
from pathlib import Path
from typing import IO, Any, Protocol


class LeaderLock(Protocol):
    """One holder per store at a time."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free (or already ours); never waits."""
        ...

    def held(self) -> bool:
        """True while the lock is ours (PostgreSQL: and its connection still answers)."""
        ...

    def release(self) -> None:
        """Give the lock up."""
        ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PostgresLeaderLock:
    """`pg_try_advisory_lock` on a connection of its own, kept open while leading and while
    waiting to lead (a waiting process asks again on the same session, rather than opening a
    new connection every poll)."""

    def __init__(self, conninfo: str, name: str, connect_timeout: int = 3) -> None:
        self.conninfo = conninfo
        self.key = lock_key(name)
        self.connect_timeout = connect_timeout
        self._conn: Any = None
        self._holding = False

    def try_acquire(self) -> bool:
        """Take the advisory lock if no other session holds it."""
        import psycopg

        if self.held():
            return True
        reused = self._conn is not None and not self._conn.closed
        if not reused:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout)
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            self.release()
            if not reused:
                raise
            return self.try_acquire()  # the waiting session was dropped: once more on a new one
        self._holding = row is not None and bool(row[0])
        return self._holding

    def held(self) -> bool:
        """True while our session holds the lock and answers."""
        if not self._holding or self._conn is None or self._conn.closed:
            return False
        try:
            self._conn.execute("SELECT 1")
        except Exception:
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give the lock back and close the session (its end would free the lock too, but only
        once the server has noticed it)."""
        holding, self._holding = self._holding, False
        if self._conn is not None:
            try:
                if holding and not self._conn.closed:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except Exception:
                pass  # a session already gone holds no lock
            finally:
                self._conn.close()
                self._conn = None


class FileLeaderLock:
    """An exclusive `flock` on a file (SQLite: beside the database file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the file lock if no other process holds it."""
        if self._file is not None:
            return True
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def held(self) -> bool:
        """True while ours."""
        return self._file is not None

    def release(self) -> None:
        """Unlock and close the file."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY = threading.Lock()


class ProcessLeaderLock:
    """A lock shared by everything in this process that names the same store (in-memory stores)."""

    def __init__(self, name: str) -> None:
        with _REGISTRY:
            self._lock = _PROCESS_LOCKS.setdefault(name, threading.Lock())
        self._held = False

    def try_acquire(self) -> bool:
        """Take the lock if free."""
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def held(self) -> bool:
        """True while ours."""
        return self._held

    def release(self) -> None:
        """Give it up."""
        if self._held:
            self._held = False
            self._lock.release()
