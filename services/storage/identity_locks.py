"""Serialising inbound submissions for the same person across the processes of a PostgreSQL
store: after the process's own locks (`services.app.inbound.InProcessIdentityLocks`), a
session-level advisory lock per key (normalised email, E.164 phone) on a connection of the
submission's own, released when the block ends (or the connection dies). Keys are always taken
in one order, so two submissions never wait for each other in a circle."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from services.app.errors import IdentityBusy
from services.app.inbound import LOCK_WAIT_SECONDS, InProcessIdentityLocks
from services.storage.leader_lock import lock_key


class PostgresIdentityLocks:
    """The process's own locks, then an advisory lock per key for every process of the store."""

    def __init__(self, conninfo: str, wait_seconds: float = LOCK_WAIT_SECONDS, connect_timeout: int = 3) -> None:
        self.conninfo = conninfo
        self.wait_seconds = wait_seconds
        self.connect_timeout = connect_timeout
        self.local = InProcessIdentityLocks(wait_seconds)

    @contextmanager
    def holding(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold every key's lock in this process and in the database for the block."""
        import psycopg

        ordered = sorted(set(keys))
        with self.local.holding(ordered):
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=self.connect_timeout) as conn:
                # an advisory lock waits like any lock: lock_timeout bounds it
                conn.execute(f"SET lock_timeout = '{int(self.wait_seconds * 1000)}ms'")
                try:
                    for key in ordered:
                        conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(f"identity:{key}"),))
                except psycopg.errors.LockNotAvailable:
                    raise IdentityBusy("another submission for this person is in progress; retry shortly") from None
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock_all()")
