"""The failures a command reports as one `crm: ...` line instead of a traceback."""

from __future__ import annotations

import sqlite3

from services.settings import Settings


def explain(error: Exception, settings: Settings) -> str | None:
    """The line to print for a failure the operator can act on; None for a bug (re-raised)."""
    from eventsourcing.persistence import InterfaceError, OperationalError

    from services.app.errors import NotFound
    from services.bootstrap import DatabaseUnavailable, KafkaUnavailable, MissingTopics
    from services.storage.schema import ReadModelSchemaMismatch

    if isinstance(error, NotFound | ReadModelSchemaMismatch | KafkaUnavailable):
        return str(error)
    if isinstance(error, MissingTopics):
        return f"{error}; CRM_KAFKA_CREATE_TOPICS=false"
    unreachable = OperationalError | InterfaceError | sqlite3.DatabaseError | DatabaseUnavailable
    if isinstance(error, unreachable) or _is_connection_error(error):
        return f"cannot reach the database {settings.redacted_database_url}: {_first_line(error)}"
    return None


def _is_connection_error(error: Exception) -> bool:
    """psycopg's own connection failures (and the pool's time-out waiting for a connection)."""
    try:
        import psycopg
        from psycopg_pool import PoolTimeout
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(error, psycopg.OperationalError | PoolTimeout)


def _first_line(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    text = str(error).strip() or (str(cause).strip() if cause else "") or type(error).__name__
    return text.splitlines()[0]
