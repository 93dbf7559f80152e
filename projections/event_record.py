"""What a projection sees of an event: the public envelope fields plus the event's own data.

The same record is built from the notification log (in-process) or from a Kafka message, so a
projection never depends on how the event was delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.catalogue import CrmEvent, aggregate_type_of, event_data, event_type_of


@dataclass(frozen=True)
class EventRecord:
    """One event at one position of the log."""

    position: int
    event_type: str
    aggregate_type: str
    aggregate_id: UUID
    aggregate_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    correlation_id: str
    data: dict[str, Any]
    cause: str | None = None
    """The event id of what caused an automated action (see `CrmEvent.cause`), else None."""
    traceparent: str | None = None
    """The trace context of the request that caused the event (`CrmEvent.traceparent`); it is
    not part of the envelope: the relay publishes it as a Kafka header."""


def record_of(event: CrmEvent, position: int) -> EventRecord:
    """The record of a domain event stored at `position` of the notification log."""
    return EventRecord(
        position=position,
        event_type=event_type_of(event),
        aggregate_type=aggregate_type_of(event),
        aggregate_id=event.originator_id,
        aggregate_version=event.originator_version,
        occurred_at=event.occurred_at,
        recorded_at=event.timestamp,
        actor=event.actor,
        correlation_id=event.correlation_id,
        data=event_data(event),
        cause=event.cause,
        traceparent=event.traceparent,
    )
