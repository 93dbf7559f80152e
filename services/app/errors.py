"""Errors of the application layer (the domain's own rules raise `domain.errors.DomainError`)."""

from __future__ import annotations

from uuid import UUID

from domain.errors import DomainError, InvalidField


class ApplicationError(Exception):
    """A command could not be carried out; nothing was recorded."""


class NotFound(ApplicationError):
    """No aggregate of that kind has that id (at that time or version).

    `withheld` marks one that exists but that the caller may not know of: outside their owner
    scope (`reason` "not_owner"), or refused for its state to a caller who may not read it
    ("may_not_read"). It is answered exactly like a missing one, so that nobody can probe for
    what is not theirs, and the entry point that answers it logs the denial with the reason."""

    kind = "aggregate"

    def __init__(
        self, aggregate_id: UUID, detail: str = "", *, withheld: bool = False, reason: str = "not_owner"
    ) -> None:
        self.aggregate_id = aggregate_id
        self.withheld = withheld
        self.reason = reason
        super().__init__(f"{self.kind} {aggregate_id} not found{detail}")


class LeadNotFound(NotFound):
    kind = "lead"


class ContactNotFound(NotFound):
    kind = "contact"


class CampaignNotFound(NotFound):
    """No cost was ever recorded for a campaign of that name."""

    kind = "campaign"


class ConcurrencyConflict(ApplicationError):
    """The aggregate changed since the version the caller expected (or a concurrent writer won)."""

    def __init__(self, aggregate_id: UUID, expected: int | None, actual: int | None) -> None:
        self.aggregate_id = aggregate_id
        self.expected = expected
        self.actual = actual
        if expected is None:
            message = f"{aggregate_id} was changed concurrently; reload and retry"
        else:
            message = f"{aggregate_id} is at version {actual}, not the expected {expected}"
        super().__init__(message)


class IdempotencyKeyReused(ApplicationError):
    """An idempotency key already created something different from what this command asks for.

    Only the one who created it is told what and how it differs (`aggregate_id`, `fields`); to
    anyone else the key is just taken (both None)."""

    def __init__(self, key: str, aggregate_id: UUID | None = None, fields: list[str] | None = None) -> None:
        self.key = key
        self.aggregate_id = aggregate_id
        self.fields = fields
        if aggregate_id is None or fields is None:
            message = f"idempotency key {key!r} is already used; send another key"
        else:
            differing = ", ".join(fields)
            message = f"idempotency key {key!r} already created {aggregate_id} with other values for: {differing}"
        super().__init__(message)


class ReactivationInProgress(ApplicationError):
    """The contact already has an open lead from an earlier reactivation."""


class TaskNotFound(NotFound):
    """No lead or contact has a task with that id (or, withheld, it is not the caller's task)."""

    kind = "task"


class UserNotFound(ApplicationError):
    """No user of the team has that id."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        super().__init__(f"user {user_id!r} not found")


class SequenceNotFound(ApplicationError):
    """No nurture sequence has that name (the one a route's path names)."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"nurture sequence {name!r} not found")


class MergeTargetNotFound(InvalidField):
    """The survivor a merge names is no record of the duplicate's kind (or one the caller may not
    see): invalid input naming `into`."""

    kind = "unknown_record"


class IdentityBusy(ApplicationError):
    """Another submission for the same person held their lock for too long; try again."""


class UnknownEmail(ApplicationError):
    """No lead or contact has that email address (compared normalised)."""


class HistoryStepRefused(ApplicationError):
    """A step of an imported history broke a business rule: `step` is its index in the history,
    `error` the rule it broke. Nothing of that history was appended."""

    def __init__(self, step: int, error: DomainError) -> None:
        super().__init__(str(error))
        self.step = step
        self.error = error
