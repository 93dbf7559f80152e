"""The operational tables of outbound webhooks, beside the event store (SQLite or PostgreSQL),
or in dicts for `memory://`:

- `crm_webhook_secrets`: each subscription's signing secrets by key id. The secrets are never in
  an event nor on Kafka; the subscription's events name only the key id.
- `crm_webhook_state`: per subscription, its cursor (`delivered_position`: the last log position
  delivered or passed over), the delivery it is retrying (the log position of its event, how many
  attempts were made, when the next one is due), and a replay under way (the next position to
  send again and the last one).
- `crm_webhook_attempts`: every attempt made, for `GET /v1/webhooks/{id}/deliveries`.

An attempt, the retry state after it and the cursor it moved are written in one transaction
(`record_attempt`): the log of attempts and the cursor never disagree, and a delivery costs one
commit.

Times are fixed-width ISO 8601 text in UTC in both databases, so that text order is time order."""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.time import parse_time
from services.storage.postgres_pool import open_pool

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

SECRETS_TABLE = "crm_webhook_secrets"
STATE_TABLE = "crm_webhook_state"
ATTEMPTS_TABLE = "crm_webhook_attempts"


@dataclass(frozen=True)
class RetryState:
    """Where a subscription's deliveries stand apart from its cursor."""

    position: int | None = None
    """The log position of the event being retried; None when no delivery failed."""
    attempts: int = 0
    """Attempts made at that event so far."""
    next_attempt_at: datetime | None = None
    """When the next attempt is due."""
    replay_next: int | None = None
    """A replay under way: the next position to send again (None: no replay)."""
    replay_until: int | None = None
    """The last position the replay sends again (the cursor when it was asked for)."""


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as the delivery log shows it."""

    id: int
    subscription_id: str
    attempted_at: datetime
    event_id: str
    position: int
    attempt: int
    status_code: int | None
    latency_ms: int
    error: str | None
    response_body: str | None


def _db_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: Any) -> datetime | None:
    return None if value is None else parse_time(value)


class WebhookStore(ABC):
    """Secrets, retry state and the attempts of the webhook subscriptions."""

    @abstractmethod
    def add_secret(self, subscription_id: str, key_id: str, secret: str, created_at: datetime) -> None:
        """Keep a new signing secret of a subscription."""

    @abstractmethod
    def secrets(self, subscription_id: str) -> dict[str, str]:
        """A subscription's secrets by key id."""

    @abstractmethod
    def subscription_ids(self) -> list[str]:
        """Every subscription that has a secret (that is, every one ever made), in id order."""

    @abstractmethod
    def retry_state(self, subscription_id: str) -> RetryState:
        """The subscription's retry and replay state (the empty state before the first)."""

    @abstractmethod
    def save_retry_state(self, subscription_id: str, state: RetryState) -> None:
        """Replace the subscription's retry and replay state."""

    @abstractmethod
    def webhook_position(self, subscription_id: str) -> int | None:
        """The subscription's cursor: the last position delivered or passed over (None before)."""

    @abstractmethod
    def save_webhook_position(self, subscription_id: str, position: int) -> None:
        """Move the cursor to `position` (an older one leaves it where it is)."""

    @abstractmethod
    def record_attempt(self, attempt: Attempt, state: RetryState, position: int | None) -> None:
        """In one transaction: log an attempt (its `id` is given by the store), make `state` the
        retry state, and move the cursor to `position` when given."""

    @abstractmethod
    def attempts(self, subscription_id: str, after: int | None, limit: int) -> list[Attempt]:
        """A subscription's attempts with ids after `after`, oldest first, at most `limit`."""

    def close(self) -> None:  # noqa: B027 - only stores holding connections override it
        """Release connections."""


class MemoryWebhookStore(WebhookStore):
    """The tables of a `memory://` store: gone when the process ends, like the events."""

    def __init__(self) -> None:
        self._secrets: dict[str, dict[str, str]] = {}
        self._states: dict[str, RetryState] = {}
        self._positions: dict[str, int] = {}
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()

    def add_secret(self, subscription_id: str, key_id: str, secret: str, created_at: datetime) -> None:
        with self._lock:
            self._secrets.setdefault(subscription_id, {})[key_id] = secret

    def secrets(self, subscription_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self._secrets.get(subscription_id, {}))

    def subscription_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._secrets)

    def retry_state(self, subscription_id: str) -> RetryState:
        with self._lock:
            return self._states.get(subscription_id, RetryState())

    def save_retry_state(self, subscription_id: str, state: RetryState) -> None:
        with self._lock:
            self._states[subscription_id] = state

    def webhook_position(self, subscription_id: str) -> int | None:
        with self._lock:
            return self._positions.get(subscription_id)

    def save_webhook_position(self, subscription_id: str, position: int) -> None:
        with self._lock:
            self._positions[subscription_id] = max(position, self._positions.get(subscription_id, 0))

    def record_attempt(self, attempt: Attempt, state: RetryState, position: int | None) -> None:
        with self._lock:
            self._attempts.append(replace(attempt, id=len(self._attempts) + 1))
            self._states[attempt.subscription_id] = state
            if position is not None:
                key = attempt.subscription_id
                self._positions[key] = max(position, self._positions.get(key, 0))

    def attempts(self, subscription_id: str, after: int | None, limit: int) -> list[Attempt]:
        with self._lock:
            found = [a for a in self._attempts if a.subscription_id == subscription_id and a.id > (after or 0)]
        return found[:limit]


_RETRY_COLUMNS = "position, attempts, next_attempt_at, replay_next, replay_until"
_ATTEMPT_COLUMNS = (
    "attempt_id, subscription_id, attempted_at, event_id, position, attempt, status_code, latency_ms, error, "
    "response_body"
)


def _state(row: Sequence[Any] | None) -> RetryState:
    if row is None:
        return RetryState()
    position, attempts, next_at, replay_next, replay_until = row
    return RetryState(position, int(attempts), _time(next_at), replay_next, replay_until)


def _attempt(row: Sequence[Any]) -> Attempt:
    id_, subscription, at, event_id, position, attempt, status, latency, error, body = row
    return Attempt(
        int(id_), subscription, parse_time(at), event_id, int(position), int(attempt), status, int(latency), error, body
    )


class _SqlWebhookStore(WebhookStore):
    """The same SQL on both databases, but for the placeholder and the id column."""

    mark = "?"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    greatest = "max"

    @abstractmethod
    def _connection(self) -> Any:
        """A context manager yielding a connection whose block is one transaction."""

    def _create(self, db: Any) -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {SECRETS_TABLE} (subscription_id TEXT NOT NULL, key_id TEXT NOT NULL, "
            "secret TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (subscription_id, key_id))"
        )
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (subscription_id TEXT PRIMARY KEY, delivered_position BIGINT, "
            "position BIGINT, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT, replay_next BIGINT, "
            "replay_until BIGINT)"
        )
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {ATTEMPTS_TABLE} (attempt_id {self.serial}, subscription_id TEXT NOT NULL, "
            "attempted_at TEXT NOT NULL, event_id TEXT NOT NULL, position BIGINT NOT NULL, attempt INTEGER NOT NULL, "
            "status_code INTEGER, latency_ms INTEGER NOT NULL, error TEXT, response_body TEXT)"
        )
        db.execute(
            f"CREATE INDEX IF NOT EXISTS {ATTEMPTS_TABLE}_subscription "
            f"ON {ATTEMPTS_TABLE} (subscription_id, attempt_id)"
        )

    def add_secret(self, subscription_id: str, key_id: str, secret: str, created_at: datetime) -> None:
        m = self.mark
        with self._connection() as db:
            db.execute(
                f"INSERT INTO {SECRETS_TABLE} (subscription_id, key_id, secret, created_at) "
                f"VALUES ({m}, {m}, {m}, {m})",
                (subscription_id, key_id, secret, _db_time(created_at)),
            )

    def secrets(self, subscription_id: str) -> dict[str, str]:
        with self._connection() as db:
            rows = db.execute(
                f"SELECT key_id, secret FROM {SECRETS_TABLE} WHERE subscription_id = {self.mark}", (subscription_id,)
            ).fetchall()
        return {key_id: secret for key_id, secret in rows}

    def subscription_ids(self) -> list[str]:
        with self._connection() as db:
            rows = db.execute(
                f"SELECT DISTINCT subscription_id FROM {SECRETS_TABLE} ORDER BY subscription_id"
            ).fetchall()
        return [row[0] for row in rows]

    def retry_state(self, subscription_id: str) -> RetryState:
        with self._connection() as db:
            row = db.execute(
                f"SELECT {_RETRY_COLUMNS} FROM {STATE_TABLE} WHERE subscription_id = {self.mark}", (subscription_id,)
            ).fetchone()
        return _state(row)

    def save_retry_state(self, subscription_id: str, state: RetryState) -> None:
        with self._connection() as db:
            self._save_state(db, subscription_id, state)

    def webhook_position(self, subscription_id: str) -> int | None:
        with self._connection() as db:
            row = db.execute(
                f"SELECT delivered_position FROM {STATE_TABLE} WHERE subscription_id = {self.mark}", (subscription_id,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def save_webhook_position(self, subscription_id: str, position: int) -> None:
        with self._connection() as db:
            self._save_position(db, subscription_id, position)

    def record_attempt(self, attempt: Attempt, state: RetryState, position: int | None) -> None:
        m = self.mark
        columns = _ATTEMPT_COLUMNS.removeprefix("attempt_id, ")
        with self._connection() as db:
            db.execute(
                f"INSERT INTO {ATTEMPTS_TABLE} ({columns}) VALUES ({', '.join([m] * 9)})",
                (
                    attempt.subscription_id,
                    _db_time(attempt.attempted_at),
                    attempt.event_id,
                    attempt.position,
                    attempt.attempt,
                    attempt.status_code,
                    attempt.latency_ms,
                    attempt.error,
                    attempt.response_body,
                ),
            )
            self._save_state(db, attempt.subscription_id, state)
            if position is not None:
                self._save_position(db, attempt.subscription_id, position)

    def _save_state(self, db: Any, subscription_id: str, state: RetryState) -> None:
        m = self.mark
        db.execute(
            f"INSERT INTO {STATE_TABLE} (subscription_id, {_RETRY_COLUMNS}) VALUES ({m}, {m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (subscription_id) DO UPDATE SET position = excluded.position, "
            "attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at, "
            "replay_next = excluded.replay_next, replay_until = excluded.replay_until",
            (
                subscription_id,
                state.position,
                state.attempts,
                _db_time(state.next_attempt_at),
                state.replay_next,
                state.replay_until,
            ),
        )

    def _save_position(self, db: Any, subscription_id: str, position: int) -> None:
        m = self.mark
        db.execute(
            f"INSERT INTO {STATE_TABLE} (subscription_id, delivered_position) VALUES ({m}, {m}) "
            "ON CONFLICT (subscription_id) DO UPDATE SET delivered_position = "
            f"{self.greatest}(COALESCE({STATE_TABLE}.delivered_position, 0), excluded.delivered_position)",
            (subscription_id, position),
        )

    def attempts(self, subscription_id: str, after: int | None, limit: int) -> list[Attempt]:
        m = self.mark
        with self._connection() as db:
            rows = db.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM {ATTEMPTS_TABLE} WHERE subscription_id = {m} AND attempt_id > {m} "
                f"ORDER BY attempt_id LIMIT {m}",
                (subscription_id, after or 0, limit),
            ).fetchall()
        return [_attempt(row) for row in rows]


class SqliteWebhookStore(_SqlWebhookStore):
    """The webhook tables in the event store's SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._connection() as db:
            self._create(db)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # one connection per thread, kept: opening one per statement costs more than the statement
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self._local.db = db
            with self._lock:
                self._opened.append(db)
        with db:
            yield db

    def close(self) -> None:
        with self._lock:
            for db in self._opened:
                db.close()
            self._opened.clear()
        self._local = threading.local()


class PostgresWebhookStore(_SqlWebhookStore):
    """The webhook tables in the event store's PostgreSQL database."""

    mark = "%s"
    serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    greatest = "GREATEST"

    def __init__(self, conninfo: str, timeout: float = 5.0, reconnect_timeout: float = 300.0) -> None:
        self._pool: ConnectionPool = open_pool(conninfo, "crm-webhooks", timeout, reconnect_timeout=reconnect_timeout)
        with self._pool.connection() as db, db.transaction():
            # one process creates the tables at a time; the others find them there
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SECRETS_TABLE,))
            self._create(db)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._pool.connection() as db, db.transaction():
            yield db

    def close(self) -> None:
        self._pool.close()
