"""Scrubbing an embedded SQLite file after an erasure: SQLite leaves the old content of updated
and deleted rows in free pages of the file and in its write-ahead log until they are reused.
Checkpointing the log into the file, rewriting the file without free pages (VACUUM) and
truncating the log leaves no copy of a person's old rows anywhere in the file or its WAL."""

from __future__ import annotations

import sqlite3
from contextlib import closing


def scrub_sqlite(path: str, timeout: float = 30.0) -> None:
    """Rewrite the SQLite file at `path` so that freed pages and the WAL hold nothing old."""
    with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
