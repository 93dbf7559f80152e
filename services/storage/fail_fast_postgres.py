"""eventsourcing's PostgreSQL persistence, bounded for outages: while the database does not
answer, a call fails within the pool wait (`POSTGRES_CONNECT_TIMEOUT`, which eventsourcing uses
as how long to wait for a pooled connection) instead of retrying for most of a minute, and when
the database is back the pool refills within seconds, without a restart.

eventsourcing wraps each recorder call in a retry (10 attempts, 0.2 s apart), each attempt
waiting up to the pool wait for a connection: during an outage a request took 10 x (pool wait +
0.2 s) to fail. The recorders here make one attempt, the caller decides what next (the API
answers 503 with `Retry-After`, the in-process runner tries again a second later, a worker exits
with one line). What the retry was good for, a pooled connection that a database restart broke,
is done by the pool's check on checkout instead (`POSTGRES_PRE_PING`).

The factory also sets two things eventsourcing does not expose on its pool: how long the pool
keeps trying to replace a lost connection before giving the slot up (psycopg_pool retries with
doubling delays, so after a long outage the next try could be minutes away; a slot given up is
made anew at once on the next request), and libpq's connect timeout for new connections.
`services.bootstrap.eventsourcing_env` sets every number; nothing here has a default of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import Environment, EnvType

from services.storage.schema import schema_locked

RECONNECT_TIMEOUT = "POSTGRES_RECONNECT_TIMEOUT"
"""Seconds the pool keeps trying to replace a lost connection before it gives the slot up."""
LIBPQ_CONNECT_TIMEOUT = "POSTGRES_LIBPQ_CONNECT_TIMEOUT"
"""Seconds libpq waits for a new connection to be established (an unreachable host)."""

F = TypeVar("F", bound=Callable[..., Any])


def attempted_once(method: F) -> F:
    """eventsourcing's recorder method without its retry decorator (`functools.wraps` keeps the
    undecorated function as `__wrapped__`)."""
    original = getattr(method, "__wrapped__", None)
    if original is None:  # eventsourcing changed how it retries: review this module
        raise TypeError(f"{method.__qualname__} has no retry decorator to take off")
    return original  # type: ignore[no-any-return]


class FailFastAggregateRecorder(PostgresAggregateRecorder):
    """Events of one aggregate kind (snapshots), one attempt per call."""

    insert_events = attempted_once(PostgresAggregateRecorder.insert_events)
    select_events = attempted_once(PostgresAggregateRecorder.select_events)


class FailFastApplicationRecorder(PostgresApplicationRecorder):
    """The event store and its notification log, one attempt per call."""

    insert_events = attempted_once(PostgresApplicationRecorder.insert_events)
    select_events = attempted_once(PostgresApplicationRecorder.select_events)
    select_notifications = attempted_once(PostgresApplicationRecorder.select_notifications)
    max_notification_id = attempted_once(PostgresApplicationRecorder.max_notification_id)

    def create_table(self) -> None:
        """eventsourcing's table creation, one process at a time (`schema_locked`)."""
        with schema_locked(self.datastore):
            super().create_table()


class FailFastTrackingRecorder(PostgresTrackingRecorder):
    """Tracking positions, one attempt per call (the read-model recorder builds on it)."""

    insert_tracking = attempted_once(PostgresTrackingRecorder.insert_tracking)
    max_tracking_id = attempted_once(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = attempted_once(PostgresTrackingRecorder.has_tracking_id)

    def create_table(self) -> None:
        """eventsourcing's table creation, one process at a time (`schema_locked`)."""
        with schema_locked(self.datastore):
            super().create_table()


class FailFastPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory with the recorders above and a pool that refills soon
    after an outage (`PERSISTENCE_MODULE` names this class)."""

    aggregate_recorder_class = FailFastAggregateRecorder
    application_recorder_class = FailFastApplicationRecorder
    tracking_recorder_class = FailFastTrackingRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        # the pool is made closed and opens on first use: nothing has connected yet
        pool = self.datastore.pool
        reconnect_timeout = self.env.get(RECONNECT_TIMEOUT)
        if reconnect_timeout:
            pool.reconnect_timeout = float(reconnect_timeout)
        connect_timeout = self.env.get(LIBPQ_CONNECT_TIMEOUT)
        if connect_timeout and isinstance(pool.kwargs, dict):
            pool.kwargs["connect_timeout"] = int(connect_timeout)
