"""What a policy is: code that reacts to an event by issuing commands. The runner hands it each
event once, with the context its commands must carry: the actor `automation:<policy>`, the
request the event belonged to, and the event's id as the cause."""

from __future__ import annotations

from typing import Protocol

from projections.event_record import EventRecord
from services.app.application import Context, CrmApplication


class Policy(Protocol):
    """Reacts to events of the types it names, by commands on the application."""

    @property
    def name(self) -> str:
        """Stable name: its actor is `automation:<name>`, its position is kept under it."""
        ...

    @property
    def event_types(self) -> frozenset[str]:
        """The event types it reacts to (`lead.captured`, ...); it never sees the others."""
        ...

    def react(self, record: EventRecord, app: CrmApplication, ctx: Context) -> None:
        """Issue the commands this event calls for, each with `ctx`."""
        ...
