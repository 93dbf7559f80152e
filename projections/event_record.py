"""What a projection sees of an event: the public envelope fields plus the event's own data.

The same record is built from the notification log (in-process) or from a Kafka message, so a
projection never depends on how the event was delivered."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.catalogue import CrmEvent, aggregate_type_of, event_data, event_type_of
from domain.personal_data import PERSONAL_DETAILS, PERSONAL_EVENT_FIELDS, erased_value


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


def record_to_json(record: EventRecord) -> str:
    """The record as JSON that `record_from_json` turns back into an equal record: datetimes and
    ids are tagged, so that they come back as themselves, not as strings."""
    # a shallow dict: `asdict` would deep-copy the data first, which json.dumps walks anyway
    return json.dumps(
        {name: getattr(record, name) for name in _FIELDS}, default=_tagged, sort_keys=True, separators=(",", ":")
    )


_FIELDS = tuple(f.name for f in fields(EventRecord))


def record_from_json(text: str) -> EventRecord:
    """The record `record_to_json` wrote."""
    return EventRecord(**json.loads(text, object_hook=_untagged))


def _tagged(value: Any) -> dict[str, str]:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    raise TypeError(f"{type(value).__name__} is not an event record value")


def _untagged(value: dict[str, Any]) -> Any:
    if len(value) == 1:
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$uuid" in value:
            return UUID(value["$uuid"])
    return value


def without_personal_data(record: EventRecord) -> EventRecord:
    """The record with its personal fields as they read once their person is erased."""
    fields = PERSONAL_EVENT_FIELDS.get(record.event_type)
    if not fields:
        return record
    data = dict(record.data)
    for name in fields & data.keys():
        value = data[name]
        if name == "changes" and isinstance(value, dict):
            data[name] = {k: erased_value(k) if k in PERSONAL_DETAILS else v for k, v in value.items()}
        else:
            data[name] = erased_value(name)
    return replace(record, data=data)
