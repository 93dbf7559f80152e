"""The one base of the CRM's events and aggregates: what every event says besides its own facts,
the id each event is known by, and what an aggregate remembers of the automation that acted on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.timers import Timer

EVENT_ID_NAMESPACE = UUID("89c19dac-914d-5444-844a-217505c7d113")
"""uuid5(NAMESPACE_URL, "urn:crm-eventlog:event-id"), written out because it is fixed for ever:
changing it would give every event a new id and defeat deduplication."""


AUTOMATION_ACTOR_PREFIX = "automation:"
"""The actor of what automation did: `automation:<policy>`."""


def is_automatic(event: Any) -> bool:
    """Whether automation caused the event (its actor is `automation:<policy>`)."""
    return str(event.actor).startswith(AUTOMATION_ACTOR_PREFIX)


def event_id_of(aggregate_id: UUID, aggregate_version: int) -> UUID:
    """The id of the event that took an aggregate to a version: the same on every republication."""
    return uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}:{aggregate_version}")


class CrmEvent(Aggregate.Event):
    """An event of one of the CRM's aggregates. Besides the aggregate's id, its version and the
    recording time (`timestamp`), every event says who caused it (`actor`: a user id, `system`,
    `automation:<policy>`, ...), in which request (`correlation_id`), when it happened in business
    time (`occurred_at`), which imports set in the past and as-of queries follow, and, for what
    automation did, the id of the event that caused it (`cause`; None otherwise), and the W3C
    trace context of the HTTP request that caused it (`traceparent`; None otherwise)."""

    actor: str
    correlation_id: str
    occurred_at: datetime
    cause: str | None = field(default=None, kw_only=True)
    """Events stored before automation have no `cause`: the class attribute answers None."""
    traceparent: str | None = field(default=None, kw_only=True)
    """The request's well-formed `traceparent` header (see `domain.trace_context`), which the
    relay passes on to Kafka; events stored before it, like events of no request, answer None."""

    def mutate(self, aggregate: Any) -> Any:
        """Apply the event, and remember which automated action (actor, cause) it was, so that
        the same action is never taken twice on this aggregate."""
        mutated = super().mutate(aggregate)
        if self.cause is not None and isinstance(mutated, CrmAggregate):
            mutated.remember_cause(self.actor, self.cause)
        return mutated


_TRACEPARENT: ContextVar[str | None] = ContextVar("crm_traceparent", default=None)


@contextmanager
def traced(traceparent: str | None) -> Iterator[None]:
    """Within the block, every event any aggregate triggers (its creation included) carries
    `traceparent`: the request's trace context reaches its events without every command and
    event method passing it on. Only the recording of a new event reads it, never a replay."""
    token = _TRACEPARENT.set(traceparent)
    try:
        yield
    finally:
        _TRACEPARENT.reset(token)


class CrmAggregate(Aggregate):
    """What the CRM's aggregates share: the automated actions they have seen, the cause their
    next events carry, and the timers their commands asked for (written with their events)."""

    @classmethod
    def _create(cls, event_class: type[Any], **kwargs: Any) -> Any:
        """Create the aggregate; within `traced`, its first event carries the trace context."""
        traceparent = _TRACEPARENT.get()
        if traceparent is not None and "traceparent" not in kwargs:
            kwargs["traceparent"] = traceparent
        return super()._create(event_class, **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Trigger an event; while acting for a cause (`caused_by`), the event carries it, and
        within `traced`, the trace context."""
        cause = self.__dict__.get("_acting_cause")
        if cause is not None and "cause" not in kwargs:
            kwargs["cause"] = cause
        traceparent = _TRACEPARENT.get()
        if traceparent is not None and "traceparent" not in kwargs:
            kwargs["traceparent"] = traceparent
        super().trigger_event(event_class, **kwargs)

    @contextmanager
    def caused_by(self, cause: str | None) -> Iterator[None]:
        """Within the block, every event this aggregate triggers records `cause`."""
        self.__dict__["_acting_cause"] = cause
        try:
            yield
        finally:
            self.__dict__.pop("_acting_cause", None)

    def remember_cause(self, actor: str, cause: str) -> None:
        """Note an automated action (who acted, for which cause) this aggregate has taken."""
        self.__dict__.setdefault("_causes", set()).add((actor, cause))

    def has_acted_on(self, actor: str, cause: str) -> bool:
        """True when `actor` already acted on this aggregate for `cause`: a rerun does nothing."""
        return (actor, cause) in self.__dict__.get("_causes", ())

    def request_timer(self, timer: Timer) -> None:
        """Ask for a timer; it is written in the same transaction as this command's events."""
        self.__dict__.setdefault("_pending_timers", []).append(timer)

    def collect_timers(self) -> list[Timer]:
        """The timers asked for since the last save, once (saving the aggregate takes them)."""
        return self.__dict__.pop("_pending_timers", [])
