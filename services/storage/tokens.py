"""Bearer tokens, stored hashed, mapped to a user and a role, each with an id, an expiry and
perhaps a revocation.

Tokens live in a small `crm_tokens` table in the same database as the event store (SQLite or
PostgreSQL), or in a dict for `memory://`. Only the SHA-256 of a token is stored; the token
itself is shown once, when it is issued. Each token also has an id (`tok_` and 12 hex digits),
which is no secret: it names the token in `crm token list` and `crm token revoke`.

Every lookup asks the table, so a token revoked (or expired) is refused by the very next
lookup, in every process (`services.auth.token_cache` keeps a server's lookups for a
moment, when `CRM_TOKEN_CACHE_SECONDS` says so). When a
token was last used is written at most once per `LAST_USED_RESOLUTION` per token, and only when
the stored time is older than that, so a burst of requests costs one write a minute, not one per
request.

A table made by an older version (without ids and expiry) gets the new columns when a store
opens it, and its tokens an id and an expiry `DEFAULT_LIFETIME` after they were issued.
`services.bootstrap.open_token_store` picks the store that sits beside the settings' event store."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from domain.time import parse_time, utc
from services.app.commands import UserId
from services.auth.policy import Principal, Refusal, Role
from services.storage.postgres_pool import open_pool

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

TOKEN_TABLE = "crm_tokens"
TOKEN_PREFIX = "crm_"
"""Issued tokens start with this, so that a leaked one is easy to recognise and scan for."""
TOKEN_ID_PREFIX = "tok_"
DEFAULT_LIFETIME = timedelta(days=90)
"""How long a token is valid unless it is issued for another time (and what tokens that an older
version issued, without an expiry, are given from when they were issued)."""
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""How old the stored last use may get before a request writes it again."""

Clock = Callable[[], datetime]

_USER = TypeAdapter(UserId)


def utc_now() -> datetime:
    """The time by the system clock, in UTC."""
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    """What is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_id() -> str:
    """A token's short, non-secret name."""
    return TOKEN_ID_PREFIX + secrets.token_hex(6)


@dataclass(frozen=True)
class TokenRecord:
    """What is stored about a token, apart from its hash; nothing here is secret."""

    id: str
    user: str
    role: Role
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def refusal(self, now: datetime) -> Refusal | None:
        """Why the token is refused at `now`; None while it is valid."""
        if self.revoked_at is not None:
            return Refusal.REVOKED
        if now >= self.expires_at:
            return Refusal.EXPIRED
        return None

    def as_json(self) -> dict[str, str | None]:
        """The record as JSON values (times in ISO 8601, UTC)."""
        return {
            "id": self.id,
            "user": self.user,
            "role": self.role.value,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: the token itself, shown this once, and what is stored about it."""

    token: str
    record: TokenRecord


class UnknownToken(LookupError):
    """No token has that id, or the user has no tokens."""


class TokenStore(ABC):
    """Issues bearer tokens, resolves them to principals, lists and revokes them."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        """What time it is (tests set one; expiry and last use are reckoned by it)."""
        self._on_revoke: list[Callable[[], None]] = []

    def issue(
        self,
        user: str,
        role: Role | str,
        *,
        expires_in: timedelta = DEFAULT_LIFETIME,
        expires_at: datetime | None = None,
    ) -> str:
        """Issue a new token for a user and return the token (see `issue_token` for its id)."""
        return self.issue_token(user, role, expires_in=expires_in, expires_at=expires_at).token

    def issue_token(
        self,
        user: str,
        role: Role | str,
        *,
        expires_in: timedelta = DEFAULT_LIFETIME,
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        """Issue a new token for a user, valid for `expires_in` (or until `expires_at`); the token
        is returned once and stored only hashed."""
        name = _USER.validate_python(user)
        now = self.clock()
        expiry = utc(expires_at) if expires_at is not None else now + expires_in
        record = TokenRecord(id=new_token_id(), user=name, role=Role(role), created_at=now, expires_at=expiry)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._insert(hash_token(token), record)
        return IssuedToken(token, record)

    def resolve(self, token: str) -> Principal | Refusal:
        """The principal a valid token belongs to, or why the token is refused. A use is
        recorded when the one stored is older than `LAST_USED_RESOLUTION`."""
        found = self.resolve_until(token)
        return found if isinstance(found, Refusal) else found[0]

    def resolve_until(self, token: str) -> tuple[Principal, datetime] | Refusal:
        """Like `resolve`, with the time the valid token expires (for a cache of lookups)."""
        if not token or len(token) > 512:
            return Refusal.UNKNOWN
        token_hash = hash_token(token)
        record = self._find(token_hash)
        if record is None:
            return Refusal.UNKNOWN
        now = self.clock()
        refusal = record.refusal(now)
        if refusal is not None:
            return refusal
        stale_before = now - LAST_USED_RESOLUTION
        if record.last_used_at is None or record.last_used_at <= stale_before:
            self._touch(token_hash, now, stale_before)
        return Principal(user=record.user, role=record.role), record.expires_at

    def authenticate(self, token: str) -> Principal | None:
        """The principal a valid token belongs to; None for an unknown, expired or revoked one."""
        found = self.resolve(token)
        return found if isinstance(found, Principal) else None

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Every token (or a user's), the oldest first."""
        return sorted(self._select(user=user), key=lambda record: (record.created_at, record.id))

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke a token by its id (one revoked already keeps its first revocation time);
        `UnknownToken` when no token has the id."""
        self._revoke(self.clock(), token_id=token_id)
        self._revoked()
        found = self._select(token_id=token_id)
        if not found:
            raise UnknownToken(f"no token has the id {token_id!r}")
        return found[0]

    def revoke_user(self, user: str) -> list[TokenRecord]:
        """Revoke every token of a user; returns the ones this revoked (not those revoked
        before). `UnknownToken` when the user has no tokens at all."""
        unrevoked = {record.id for record in self._select(user=user) if record.revoked_at is None}
        self._revoke(self.clock(), user=user)
        self._revoked()
        held = self.list_tokens(user)
        if not held:
            raise UnknownToken(f"user {user!r} has no tokens")
        return [record for record in held if record.id in unrevoked]

    def on_revoke(self, forget: Callable[[], None]) -> None:
        """Call `forget` whenever this store revokes tokens (a cache of its lookups empties itself)."""
        self._on_revoke.append(forget)

    def _revoked(self) -> None:
        for forget in self._on_revoke:
            forget()

    def close(self) -> None:  # noqa: B027 - only stores holding connections override it
        """Release connections."""

    @abstractmethod
    def _insert(self, token_hash: str, record: TokenRecord) -> None: ...

    @abstractmethod
    def _find(self, token_hash: str) -> TokenRecord | None: ...

    @abstractmethod
    def _select(self, *, token_id: str | None = None, user: str | None = None) -> list[TokenRecord]:
        """The tokens with that id or of that user (all of them without either)."""

    @abstractmethod
    def _touch(self, token_hash: str, now: datetime, stale_before: datetime) -> None:
        """Record a use at `now` unless a use after `stale_before` is recorded already."""

    @abstractmethod
    def _revoke(self, at: datetime, *, token_id: str | None = None, user: str | None = None) -> None:
        """Mark the token with that id, or every token of that user, revoked at `at` (unless revoked)."""


class MemoryTokenStore(TokenStore):
    """Tokens of a `memory://` store: gone when the process ends, like the events."""

    def __init__(self, clock: Clock = utc_now) -> None:
        super().__init__(clock)
        self._tokens: dict[str, TokenRecord] = {}
        self._lock = threading.Lock()

    def _insert(self, token_hash: str, record: TokenRecord) -> None:
        with self._lock:
            self._tokens[token_hash] = record

    def _find(self, token_hash: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(token_hash)

    def _select(self, *, token_id: str | None = None, user: str | None = None) -> list[TokenRecord]:
        with self._lock:
            return [r for r in self._tokens.values() if _matches(r, token_id, user)]

    def _touch(self, token_hash: str, now: datetime, stale_before: datetime) -> None:
        with self._lock:
            record = self._tokens[token_hash]
            if record.last_used_at is None or record.last_used_at <= stale_before:
                self._tokens[token_hash] = replace(record, last_used_at=now)

    def _revoke(self, at: datetime, *, token_id: str | None = None, user: str | None = None) -> None:
        with self._lock:
            for token_hash, record in self._tokens.items():
                if record.revoked_at is None and _matches(record, token_id, user):
                    self._tokens[token_hash] = replace(record, revoked_at=at)


def _matches(record: TokenRecord, token_id: str | None, user: str | None) -> bool:
    return (token_id is None or record.id == token_id) and (user is None or record.user == user)


def _iso(moment: datetime | None) -> str | None:
    """An instant as fixed-width ISO 8601 in UTC, so that texts sort as the instants do (SQLite)."""
    return None if moment is None else utc(moment).isoformat(timespec="microseconds")


_ROLES_SQL = ", ".join(f"'{r.value}'" for r in Role)
_COLUMNS = "token_id, user_name, role, issued_at, expires_at, revoked_at, last_used_at"
"""A record's columns, in `TokenRecord`'s order."""
_ADDED_COLUMNS = ("token_id", "expires_at", "revoked_at", "last_used_at")
"""The columns a table made by an older version lacks."""
_ID_INDEX = f"CREATE UNIQUE INDEX IF NOT EXISTS {TOKEN_TABLE}_token_id ON {TOKEN_TABLE} (token_id)"


def _record(row: Sequence[Any]) -> TokenRecord:
    token_id, user, role, created, expires, revoked, used = row
    return TokenRecord(
        id=token_id,
        user=user,
        role=Role(role),
        created_at=parse_time(created),
        expires_at=parse_time(expires),
        revoked_at=None if revoked is None else parse_time(revoked),
        last_used_at=None if used is None else parse_time(used),
    )


def _backfill(rows: Sequence[Sequence[Any]]) -> list[tuple[str, datetime, str]]:
    """For the tokens an older version issued, (token_hash, issued_at) rows: a new id and the
    expiry `DEFAULT_LIFETIME` after issue, as (id, expires_at, token_hash)."""
    return [(new_token_id(), parse_time(issued_at) + DEFAULT_LIFETIME, token_hash) for token_hash, issued_at in rows]


def _where(token_id: str | None, user: str | None, mark: str, *, unrevoked: bool = False) -> tuple[str, list[str]]:
    """The WHERE clause (with `mark` placeholders) choosing a token by id or a user's tokens
    (only those not revoked yet, if asked), and its values."""
    chosen = [(column, value) for column, value in (("token_id", token_id), ("user_name", user)) if value is not None]
    conditions = [f"{column} = {mark}" for column, _ in chosen] + (["revoked_at IS NULL"] if unrevoked else [])
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), [value for _, value in chosen]


class SqliteTokenStore(TokenStore):
    """Tokens in a `crm_tokens` table of the event store's SQLite file."""

    def __init__(self, path: str, clock: Clock = utc_now) -> None:
        super().__init__(clock)
        self.path = path
        with closing(sqlite3.connect(self.path, timeout=10, isolation_level=None)) as db:
            # one process migrates at a time; the others find the columns there
            db.execute("BEGIN IMMEDIATE")
            try:
                self._create_or_migrate(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _create_or_migrate(db: sqlite3.Connection) -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {TOKEN_TABLE} ("
            "token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
            f"role TEXT NOT NULL CHECK (role IN ({_ROLES_SQL})), issued_at TEXT NOT NULL, "
            "token_id TEXT, expires_at TEXT, revoked_at TEXT, last_used_at TEXT)"
        )
        present = {row[1] for row in db.execute(f"PRAGMA table_info({TOKEN_TABLE})")}
        for column in _ADDED_COLUMNS:
            if column not in present:
                db.execute(f"ALTER TABLE {TOKEN_TABLE} ADD COLUMN {column} TEXT")
        old = db.execute(f"SELECT token_hash, issued_at FROM {TOKEN_TABLE} WHERE token_id IS NULL").fetchall()
        db.executemany(
            f"UPDATE {TOKEN_TABLE} SET token_id = ?, expires_at = COALESCE(expires_at, ?) WHERE token_hash = ?",
            [(token_id, _iso(expires), token_hash) for token_id, expires, token_hash in _backfill(old)],
        )
        db.execute(_ID_INDEX)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def _insert(self, token_hash: str, record: TokenRecord) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                f"INSERT INTO {TOKEN_TABLE} (token_hash, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_hash,
                    record.id,
                    record.user,
                    record.role.value,
                    _iso(record.created_at),
                    _iso(record.expires_at),
                    None,
                    None,
                ),
            )

    def _find(self, token_hash: str) -> TokenRecord | None:
        with closing(self._connect()) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM {TOKEN_TABLE} WHERE token_hash = ?", (token_hash,)).fetchone()
        return _record(row) if row else None

    def _select(self, *, token_id: str | None = None, user: str | None = None) -> list[TokenRecord]:
        where, values = _where(token_id, user, "?")
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM {TOKEN_TABLE}{where}", values).fetchall()
        return [_record(row) for row in rows]

    def _touch(self, token_hash: str, now: datetime, stale_before: datetime) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                f"UPDATE {TOKEN_TABLE} SET last_used_at = ? "
                "WHERE token_hash = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                (_iso(now), token_hash, _iso(stale_before)),
            )

    def _revoke(self, at: datetime, *, token_id: str | None = None, user: str | None = None) -> None:
        where, values = _where(token_id, user, "?", unrevoked=True)
        with closing(self._connect()) as db, db:
            db.execute(f"UPDATE {TOKEN_TABLE} SET revoked_at = ?{where}", [_iso(at), *values])


class PostgresTokenStore(TokenStore):
    """Tokens in a `crm_tokens` table of the event store's PostgreSQL database."""

    def __init__(
        self, conninfo: str, timeout: float = 5.0, clock: Clock = utc_now, reconnect_timeout: float = 300.0
    ) -> None:
        super().__init__(clock)
        self._pool: ConnectionPool = open_pool(conninfo, "crm-tokens", timeout, reconnect_timeout=reconnect_timeout)
        with self._pool.connection() as db, db.transaction():
            # one process migrates at a time; the others find the columns there
            db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TOKEN_TABLE,))
            self._create_or_migrate(db)

    @staticmethod
    def _create_or_migrate(db: Connection[Any]) -> None:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {TOKEN_TABLE} ("
            "token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, "
            f"role TEXT NOT NULL CHECK (role IN ({_ROLES_SQL})), issued_at TIMESTAMPTZ NOT NULL, "
            "token_id TEXT, expires_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ, last_used_at TIMESTAMPTZ)"
        )
        present = {
            row[0]
            for row in db.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s",
                (TOKEN_TABLE,),
            )
        }
        for column in _ADDED_COLUMNS:
            if column not in present:
                kind = "TEXT" if column == "token_id" else "TIMESTAMPTZ"
                db.execute(f"ALTER TABLE {TOKEN_TABLE} ADD COLUMN IF NOT EXISTS {column} {kind}")
        old = db.execute(f"SELECT token_hash, issued_at FROM {TOKEN_TABLE} WHERE token_id IS NULL").fetchall()
        with db.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {TOKEN_TABLE} SET token_id = %s, expires_at = COALESCE(expires_at, %s) WHERE token_hash = %s",
                _backfill(old),
            )
        db.execute(_ID_INDEX)

    def _insert(self, token_hash: str, record: TokenRecord) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"INSERT INTO {TOKEN_TABLE} (token_hash, {_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, NULL, NULL)",
                (token_hash, record.id, record.user, record.role.value, record.created_at, record.expires_at),
            )

    def _find(self, token_hash: str) -> TokenRecord | None:
        with self._pool.connection() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM {TOKEN_TABLE} WHERE token_hash = %s", (token_hash,)).fetchone()
        return _record(row) if row else None

    def _select(self, *, token_id: str | None = None, user: str | None = None) -> list[TokenRecord]:
        where, values = _where(token_id, user, "%s")
        with self._pool.connection() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM {TOKEN_TABLE}{where}", values).fetchall()
        return [_record(row) for row in rows]

    def _touch(self, token_hash: str, now: datetime, stale_before: datetime) -> None:
        with self._pool.connection() as db:
            db.execute(
                f"UPDATE {TOKEN_TABLE} SET last_used_at = %s "
                "WHERE token_hash = %s AND (last_used_at IS NULL OR last_used_at <= %s)",
                (now, token_hash, stale_before),
            )

    def _revoke(self, at: datetime, *, token_id: str | None = None, user: str | None = None) -> None:
        where, values = _where(token_id, user, "%s", unrevoked=True)
        with self._pool.connection() as db:
            db.execute(f"UPDATE {TOKEN_TABLE} SET revoked_at = %s{where}", [at, *values])

    def close(self) -> None:
        self._pool.close()
