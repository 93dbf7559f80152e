"""The caller of one request: the principal behind its token, permitted one action, and the
object-level rule as it reaches the application. A rep acts only on leads they own and on the
contacts whose originating lead they own; `Caller.context()` hands the application that owner
scope, and the application checks it on the aggregate a command changes, in the same load.
Anything outside it answers as if it did not exist, so that a rep cannot probe for other reps'
leads. Every denial is logged as one JSON line on the `crm.auth` logger, and every read of a
person's data is handed to the access log (`Caller.read`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from services.app.application import Context
from services.app.commands import AddTask, CaptureLead, ReactivateContact
from services.app.errors import NotFound
from services.auth.policy import Action, Forbidden, Principal

log = logging.getLogger("crm.auth")

OpensLead = TypeVar("OpensLead", CaptureLead, ReactivateContact, AddTask)
"""A command that opens a lead, or adds a task, with an owner."""


@dataclass(frozen=True)
class PersonalDataRead:
    """One request showed a caller the personal data of these leads or contacts."""

    user: str
    role: str
    method: str
    route: str
    """The route template, e.g. `/v1/leads/{lead_id}`."""
    request_id: str
    subject_ids: tuple[str, ...]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class AccessEntry:
    """One lead or contact whose data one request showed to one caller: a line of the access log."""

    entry_id: str
    """A time-ordered UUID (version 7): the log's order, and its page cursor."""
    read_at: datetime
    user: str
    role: str
    method: str
    route: str
    request_id: str
    subject_id: str
    """The lead or contact whose data was shown."""


class AccessRecorder(Protocol):
    """The access log as the API uses it (`services.storage.access_log` keeps it)."""

    def record(self, read: PersonalDataRead) -> None:
        """Keep the read; never makes the request wait for a database."""
        ...

    def flush(self) -> None:
        """Write what is still buffered."""
        ...

    def entries(
        self, *, subject: str | None = None, user: str | None = None, before: str | None = None, limit: int = 50
    ) -> list[AccessEntry]:
        """Written entries, newest first, older than the entry `before`."""
        ...


@dataclass(frozen=True)
class Caller:
    """An authenticated principal making one request."""

    principal: Principal
    request_id: str
    method: str = ""
    path: str = ""
    action: Action | None = None
    """What the request does, once `permit` allowed it."""
    route: str = ""
    """The route template the request matched, e.g. `/v1/leads/{lead_id}`."""
    access_log: AccessRecorder | None = None
    """Where this caller's reads of personal data are logged."""

    @property
    def user(self) -> str:
        return self.principal.user

    @property
    def owner_scope(self) -> str | None:
        """The owner whose leads (and their contacts) are all this caller may see and change:
        a rep's own user; None (no limit) for every other role."""
        return self.principal.user if self.principal.scoped_to_own_leads else None

    def context(self) -> Context:
        """The command context: the user is the actor, the request id the correlation id, a
        rep's commands are confined to their own leads, and a caller whose role may not read
        leads and contacts (a service) is told nothing of a record's state when refused."""
        return Context(
            actor=self.principal.user,
            correlation_id=self.request_id,
            owner_scope=self.owner_scope,
            may_read=self.principal.may(Action.READ),
        )

    def permit(self, action: Action) -> Caller:
        """This caller, doing `action`; `Forbidden` (and logged) unless the role allows it."""
        permitted = replace(self, action=action)
        if not self.principal.may(action):
            permitted.deny("role_forbids")
            raise Forbidden(f"role {self.principal.role.value!r} may not {action.value.replace('_', ' ')}")
        return permitted

    @property
    def looks_up_only(self) -> bool:
        """True for a caller let through to a list to look people up by email only (a service):
        they must name the email, and they see ids and minimal fields, no personal data."""
        return self.action is Action.LOOKUP_BY_EMAIL

    def lookup(self, email: str | None) -> None:
        """A caller who may only look people up must name the email (`Forbidden` otherwise)."""
        if self.looks_up_only and email is None:
            self.deny("lookup_without_email")
            raise Forbidden(f"role {self.principal.role.value!r} may only look leads and contacts up by `email`")

    def owner_filter(self, owner: str | None) -> str | None:
        """The owner a read-model query is filtered to: for a rep always themselves (asking for
        another rep's is refused), for everyone else the filter as given."""
        if self.owner_scope is None:
            return owner
        if owner not in (None, self.owner_scope):
            self.deny("owner_not_self")
            raise Forbidden("a rep sees only their own leads")
        return self.owner_scope

    def as_owner(self, cmd: OpensLead) -> OpensLead:
        """A rep opens leads and adds tasks for themselves: the owner defaults to them and may not
        be another."""
        if self.owner_scope is None:
            return cmd
        if cmd.owner is None:
            return cmd.model_copy(update={"owner": self.owner_scope})
        if cmd.owner != self.owner_scope:
            self.deny("owner_not_self")
            what = "add tasks for themselves" if isinstance(cmd, AddTask) else "open leads they own themselves"
            raise Forbidden(f"a rep can only {what}")
        return cmd

    def withheld(self, error: NotFound) -> None:
        """Log that the application answered an aggregate this caller may not know of as not found."""
        self.deny(error.reason, error.aggregate_id)

    def read(self, subject_ids: Iterable[UUID | str]) -> None:
        """Log that this request shows the caller the personal data of these leads or contacts."""
        subjects = tuple(str(s) for s in subject_ids)
        if self.access_log is not None and subjects:
            role = self.principal.role.value
            self.access_log.record(
                PersonalDataRead(self.user, role, self.method, self.route or self.path, self.request_id, subjects)
            )

    def deny(self, reason: str, resource: UUID | None = None) -> None:
        """Log a denial of this caller."""
        log_denial(
            reason,
            method=self.method,
            path=self.path,
            request_id=self.request_id,
            user=self.principal.user,
            role=self.principal.role.value,
            action=self.action.value if self.action else None,
            resource=str(resource) if resource else None,
        )


def log_denial(reason: str, **fields: Any) -> None:
    """One structured JSON line per denial; never contains a token."""
    record = {"event": "auth.denied", "reason": reason, **{k: v for k, v in fields.items() if v is not None}}
    log.warning(json.dumps(record, sort_keys=True, separators=(",", ":")))
