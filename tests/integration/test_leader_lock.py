"""Leadership on PostgreSQL, as the database sees it: a process waiting to lead asks again on
one session (not a new connection every poll), and outlives the server ending that session."""

from __future__ import annotations

import psycopg
import pytest

from services.bootstrap import leader_lock
from services.settings import Settings

pytestmark = pytest.mark.postgres


def waiting_sessions(admin: psycopg.Connection) -> set[int]:
    """The sessions of this database that last asked for the lock and do not hold it."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE 'SELECT pg_try_advisory_lock%%' "
        "AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
    ).fetchall()
    return {int(row[0]) for row in rows}


def test_a_process_waiting_to_lead_asks_on_one_session_and_outlives_its_end(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url)
    leader, waiting = leader_lock(settings), leader_lock(settings)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        try:
            assert leader.try_acquire()
            # while another leads, the waiting process asks again and again on the same session
            seen = set()
            for _ in range(5):
                assert not waiting.try_acquire()
                seen |= waiting_sessions(admin)
            assert len(seen) == 1, f"the waiting process asked from {len(seen)} sessions"
            # when the server ends that session (a restart, a timeout, an operator)
            admin.execute("SELECT pg_terminate_backend(%s)", (seen.pop(),))
            # then the next try asks on a new one, without an error
            assert not waiting.try_acquire()
            assert len(waiting_sessions(admin)) == 1
            # and it leads as soon as the leader gives up
            leader.release()
            assert waiting.try_acquire() and waiting.held()
            assert not leader.try_acquire() and not leader.held()
        finally:
            leader.release()
            waiting.release()
