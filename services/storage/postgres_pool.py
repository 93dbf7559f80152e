"""The connection pool of the CRM's own PostgreSQL tables (tokens, people's keys, the access log),
bounded for outages the same way everywhere: a request waits at most `timeout` for a connection,
so an outage answers fast; a connection a database restart broke is replaced on checkout; a slot
the pool could not reconnect for `reconnect_timeout` is made anew on the next request."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool


def open_pool(
    conninfo: str, name: str, timeout: float, max_size: int = 4, reconnect_timeout: float = 300.0
) -> ConnectionPool:
    """An open autocommit pool of one to `max_size` connections."""
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        open=True,
        timeout=timeout,
        kwargs={"autocommit": True},
        name=name,
        check=ConnectionPool.check_connection,
        reconnect_timeout=reconnect_timeout,
    )
