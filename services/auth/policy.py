"""Who may do what: bearer tokens (stored hashed) mapped to a user and a role, the role rules,
and the object-level rule that a sales rep works on their own leads only.

Tokens live in a small `crm_tokens` table in the same database as the event store (SQLite or
PostgreSQL), or in a dict for `memory://`. Only the SHA-256 of a token is stored; the token
itself is shown once, when it is issued. Every denial is logged as one JSON line on the
`crm.auth` logger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import TypeAdapter

from services.app.application import Context, CrmApplication
from services.app.commands import CaptureLead, ReactivateContact, UserId
from services.app.errors import ContactNotFound, LeadNotFound
from services.settings import Settings

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

TOKEN_TABLE = "crm_tokens"
TOKEN_PREFIX = "crm_"
"""Issued tokens start with this, so that a leaked one is easy to recognise and scan for."""

log = logging.getLogger("crm.auth")

_USER = TypeAdapter(UserId)


class Role(StrEnum):
    """What kind of user a token belongs to."""

    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"
    ANALYST = "analyst"
    SERVICE = "service"


class Action(StrEnum):
    """Everything the API lets a caller do, one name per kind of request."""

    READ = "read"
    CAPTURE_LEAD = "capture_lead"
    LOG_INTERACTION = "log_interaction"
    CHANGE_STAGE = "change_stage"
    ASSIGN_LEAD = "assign_lead"
    DISQUALIFY_LEAD = "disqualify_lead"
    CONVERT_LEAD = "convert_lead"
    RESCORE_LEAD = "rescore_lead"
    CREATE_CONTACT = "create_contact"
    UPDATE_CONTACT = "update_contact"
    RECORD_PURCHASE = "record_purchase"
    CHANGE_CONSENT = "change_consent"
    REACTIVATE_CONTACT = "reactivate_contact"
    READ_PIPELINE = "read_pipeline"
    """The pipeline summary and the lead list (a rep: their own leads only)."""
    READ_INSIGHTS = "read_insights"
    """Forecast, segments, contact features and the contact list."""


PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.MANAGER: frozenset(Action),
    # A rep works their own leads (checked per object) but does not hand leads around or
    # create contacts that belong to no lead; of the read models they see their own pipeline.
    Role.REP: frozenset(Action) - {Action.ASSIGN_LEAD, Action.CREATE_CONTACT, Action.READ_INSIGHTS},
    Role.ANALYST: frozenset({Action.READ, Action.READ_PIPELINE, Action.READ_INSIGHTS}),
    Role.SERVICE: frozenset({Action.LOG_INTERACTION, Action.RECORD_PURCHASE, Action.CREATE_CONTACT}),
}
"""The role rules, in one table."""


class AuthError(Exception):
    """A request was refused by authentication or authorization."""


class Unauthenticated(AuthError):
    """No bearer token, or one the store does not know."""


class Forbidden(AuthError):
    """The caller's role may not do this."""


@dataclass(frozen=True)
class Principal:
    """The user a token belongs to, and their role."""

    user: str
    role: Role

    def may(self, action: Action) -> bool:
        """True when the role allows the action (object-level rules come on top)."""
        return action in PERMISSIONS[self.role]

    @property
    def scoped_to_own_leads(self) -> bool:
        """Reps see and change only the leads (and the contacts of the leads) they own."""
        return self.role is Role.REP

    @property
    def masks_personal_data(self) -> bool:
        """Analysts see names, emails and phone numbers masked."""
        return self.role is Role.ANALYST


@dataclass(frozen=True)
class Caller:
    """An authenticated principal making one request."""

    principal: Principal
    request_id: str
    method: str = ""
    path: str = ""

    @property
    def user(self) -> str:
        return self.principal.user

    def context(self) -> Context:
        """The command context: the user is the actor, the request id the correlation id."""
        return Context(actor=self.principal.user, correlation_id=self.request_id)

    def require(self, action: Action) -> None:
        """Raise `Forbidden` (and log it) unless the role allows the action."""
        if not self.principal.may(action):
            self.deny("role_forbids", action)
            raise Forbidden(f"role {self.principal.role.value!r} may not {action.value.replace('_', ' ')}")

    def deny(self, reason: str, action: Action | None = None, resource: UUID | None = None) -> None:
        """Log a denial of this caller."""
        log_denial(
            reason,
            method=self.method,
            path=self.path,
            request_id=self.request_id,
            user=self.principal.user,
            role=self.principal.role.value,
            action=action.value if action else None,
            resource=str(resource) if resource else None,
        )


def log_denial(reason: str, **fields: Any) -> None:
    """One structured JSON line per denial; never contains a token."""
    record = {"event": "auth.denied", "reason": reason, **{k: v for k, v in fields.items() if v is not None}}
    log.warning(json.dumps(record, sort_keys=True, separators=(",", ":")))


class Access:
    """Object-level rules on top of the role rules: a rep acts only on leads they own, and on
    contacts whose originating lead they own. Anything else answers as if it did not exist, so
    that a rep cannot probe for other reps' leads."""

    def __init__(self, crm: CrmApplication) -> None:
        self.crm = crm

    def lead(self, caller: Caller, lead_id: UUID, action: Action, if_match: int | None = None) -> int | None:
        """Check the caller may act on the lead; returns the version a change must expect.

        For a rep the change is pinned to the version whose owner was checked, so a lead
        reassigned in between is not changed by its former owner."""
        caller.require(action)
        if not caller.principal.scoped_to_own_leads:
            return if_match
        lead = self.crm.get_lead(lead_id)
        if lead.owner != caller.user:
            caller.deny("not_owner", action, lead_id)
            raise LeadNotFound(lead_id)
        return lead.version if if_match is None else if_match

    def contact(self, caller: Caller, contact_id: UUID, action: Action, if_match: int | None = None) -> int | None:
        """Check the caller may act on the contact; returns the version a change must expect."""
        caller.require(action)
        if not caller.principal.scoped_to_own_leads:
            return if_match
        contact = self.crm.get_contact(contact_id)
        if contact.lead_id is None or self.crm.get_lead(contact.lead_id).owner != caller.user:
            caller.deny("not_owner", action, contact_id)
            raise ContactNotFound(contact_id)
        return contact.version if if_match is None else if_match

    def capture(self, caller: Caller, cmd: CaptureLead) -> CaptureLead:
        """A rep captures leads for themselves: the owner defaults to them and may not be another."""
        caller.require(Action.CAPTURE_LEAD)
        return self._own(caller, cmd, Action.CAPTURE_LEAD)

    def owner_filter(self, caller: Caller, owner: str | None, action: Action) -> str | None:
        """The owner a read-model query is filtered to: for a rep always themselves (asking for
        another rep's is refused), for everyone else the filter as given."""
        caller.require(action)
        if not caller.principal.scoped_to_own_leads:
            return owner
        if owner not in (None, caller.user):
            caller.deny("owner_not_self", action)
            raise Forbidden("a rep sees only their own leads")
        return caller.user

    def reactivation(self, caller: Caller, cmd: ReactivateContact) -> ReactivateContact:
        """The lead a rep's reactivation opens is theirs."""
        return self._own(caller, cmd, Action.REACTIVATE_CONTACT)

    def _own(self, caller: Caller, cmd: Any, action: Action) -> Any:
        if not caller.principal.scoped_to_own_leads:
            return cmd
        if cmd.owner is None:
            return cmd.model_copy(update={"owner": caller.user})
        if cmd.owner != caller.user:
            caller.deny("owner_not_self", action)
            raise Forbidden("a rep can only open leads they own themselves")
        return cmd


# --- token storage -----------------------------------------------------------------------


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

    def __init__(self, conninfo: str) -> None:
        from psycopg_pool import ConnectionPool

        self._pool: ConnectionPool = ConnectionPool(
            conninfo, min_size=1, max_size=4, open=True, kwargs={"autocommit": True}, name="crm-tokens"
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


def open_token_store(settings: Settings) -> TokenStore:
    """The token store next to the settings' event store."""
    env = settings.eventsourcing_env()
    if settings.backend == "sqlite" and env["SQLITE_DBNAME"] != ":memory:":
        return SqliteTokenStore(env["SQLITE_DBNAME"])
    if settings.backend == "postgres":
        from psycopg.conninfo import make_conninfo

        return PostgresTokenStore(
            make_conninfo(
                dbname=env["POSTGRES_DBNAME"],
                host=env["POSTGRES_HOST"],
                port=env["POSTGRES_PORT"],
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                connect_timeout=env["POSTGRES_CONNECT_TIMEOUT"],
            )
        )
    return MemoryTokenStore()
