"""Bearer tokens, stored hashed, mapped to a user and a role.

Tokens live in a small `crm_tokens` table in the same database as the event store (SQLite or
PostgreSQL), or in a dict for `memory://`. Only the SHA-256 of a token is stored; the token
itself is shown once, when it is issued. `services.bootstrap.open_token_store` picks the store
that sits beside the settings' event store."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from services.app.commands import UserId
from services.auth.policy import Principal, Role

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

TOKEN_TABLE = "crm_tokens"
TOKEN_PREFIX = "crm_"
"""Issued tokens start with this, so that a leaked one is easy to recognise and scan for."""

_USER = TypeAdapter(UserId)


def hash_token(token: str) -> str:
    """What is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore(ABC):
    """Issues bearer tokens and resolves them to principals."""

    def issue(self, user: str, role: Role | str) -> str:
        """Issue a new token for a user; the token is returned once and stored only hashed."""
        name = _USER.validate_python(user)
        role = Role(role)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._insert(hash_token(token), name, role.value, datetime.now(UTC))
        return token

    def authenticate(self, token: str) -> Principal | None:
        """The principal the token belongs to, or None for an unknown token."""
        if not token or len(token) > 512:
            return None
        row = self._find(hash_token(token))
        if row is None:
            return None
        user, role = row
        return Principal(user=user, role=Role(role))

    def close(self) -> None:  # noqa: B027 - only stores holding connections override it
        """Release connections."""

    @abstractmethod
    def _insert(self, token_hash: str, user: str, role: str, issued_at: datetime) -> None: ...

    @abstractmethod
    def _find(self, token_hash: str) -> tuple[str, str] | None: ...


class MemoryTokenStore(TokenStore):
    """Tokens of a `memory://` store: gone when the process ends, like the events."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def _insert(self, token_hash: str, user: str, role: str, issued_at: datetime) -> None:
        with self._lock:
            self._tokens[token_hash] = (user, role)

    def _find(self, token_hash: str) -> tuple[str, str] | None:
        with self._lock:
            return self._tokens.get(token_hash)


_ROLES_SQL = ", ".join(f"'{r.value}'" for r in Role)


class SqliteTokenStore(TokenStore):
    """Tokens in a `crm_tokens` table of the event store's SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        with closing(self._connect()) as db, db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {TOKEN_TABLE} ("
                "token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
                f"role TEXT NOT NULL CHECK (role IN ({_ROLES_SQL})), issued_at TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _insert(self, token_hash: str, user: str, role: str, issued_at: datetime) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                f"INSERT INTO {TOKEN_TABLE} (token_hash, user_name, role, issued_at) VALUES (?, ?, ?, ?)",
                (token_hash, user, role, issued_at.isoformat()),
            )

    def _find(self, token_hash: str) -> tuple[str, str] | None:
        with closing(self._connect()) as db:
            row = db.execute(
                f"SELECT user_name, role FROM {TOKEN_TABLE} WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return (row[0], row[1]) if row else None


class PostgresTokenStore(TokenStore):
    """Tokens in a `crm_tokens` table of the event store's PostgreSQL database."""

    def __init__(self, conninfo: str, timeout: float = 5.0) -> None:
        from psycopg_pool import ConnectionPool

        # a request waits at most `timeout` for a connection, so an outage answers fast
        self._pool: ConnectionPool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=4,
            open=True,
            timeout=timeout,
            kwargs={"autocommit": True},
            name="crm-tokens",
        )
        with self._pool.connection() as db:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {TOKEN_TABLE} ("
                "token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
                f"role TEXT NOT NULL CHECK (role IN ({_ROLES_SQL})), issued_at TIMESTAMPTZ NOT NULL)"
            )

    def _insert(self, token_hash: str, user: str, role: str, issued_at: datetime) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"INSERT INTO {TOKEN_TABLE} (token_hash, user_name, role, issued_at) VALUES (%s, %s, %s, %s)",
                (token_hash, user, role, issued_at),
            )

    def _find(self, token_hash: str) -> tuple[str, str] | None:
        with self._pool.connection() as db:
            row = db.execute(
                f"SELECT user_name, role FROM {TOKEN_TABLE} WHERE token_hash = %s", (token_hash,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def close(self) -> None:
        self._pool.close()
