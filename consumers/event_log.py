"""Reading the event store's notification log as event records: the one place where stored
notifications become the `EventRecord`s that projections, the relay and the consumers see.

It uses eventsourcing's public API only: `Application.notification_log.select`, the
application's `mapper`, and its recorder's `max_notification_id`."""

from __future__ import annotations

from typing import Any, cast

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from domain.catalogue import CrmEvent
from projections.event_record import EventRecord, record_of


def head_position(app: Application[Any]) -> int:
    """The position of the newest event in the log (0 when the log is empty)."""
    return app.recorder.max_notification_id() or 0


def read_records(
    app: Application[Any], start: int, limit: int, stop: int | None = None, mapper: Mapper[Any] | None = None
) -> list[EventRecord]:
    """Up to `limit` events from position `start` (inclusive) to `stop` (inclusive, if given),
    turned into events by the application's mapper (or by `mapper`, e.g. one that leaves
    personal fields sealed for publishing)."""
    notifications = app.notification_log.select(start=start, limit=limit, stop=stop)
    to_event = (mapper or app.mapper).to_domain_event
    return [record_of(cast(CrmEvent, to_event(n)), n.id) for n in notifications]


def record_at(app: Application[Any], position: int) -> EventRecord | None:
    """The event at one position, or None when there is none."""
    found = read_records(app, position, 1, stop=position)
    return found[0] if found else None
