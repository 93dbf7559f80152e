"""The event store's mapper with personal fields sealed: events are stored with every personal
value sealed by its person's key, and read back with them opened (or erased, once the key is
destroyed). Aggregates and projections see plain values; the database never holds them.

eventsourcing's `Mapper` turns a domain event into a stored event and back; this subclass seals
the event's state before that and opens it after, through public API only (`vars` of the event
and the `__dict__` the base class itself sets)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from domain.catalogue import event_classes
from services.privacy.fields import PersonalFields

_TYPE_OF: dict[type, str] = {cls: name for name, cls in event_classes().items()}


def _with_state(event: DomainEventProtocol[Any], state: dict[str, Any]) -> DomainEventProtocol[Any]:
    copy = object.__new__(type(event))
    object.__setattr__(copy, "__dict__", state)
    return copy


class SealingMapper(Mapper[UUID]):
    """Seals personal fields on the way into the store and opens them on the way out."""

    def __init__(self, base: Mapper[UUID], fields: PersonalFields, open_on_read: bool = True) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self.fields = fields
        self.open_on_read = open_on_read

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event_type = _TYPE_OF.get(type(domain_event))
        if event_type is None or not self.fields.carries_personal_data(event_type):
            return super().to_stored_event(domain_event)
        state = self.fields.seal(event_type, str(domain_event.originator_id), vars(domain_event))
        return super().to_stored_event(_with_state(domain_event, state))

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        event = super().to_domain_event(stored_event)
        event_type = _TYPE_OF.get(type(event))
        if not self.open_on_read or event_type is None or not self.fields.carries_personal_data(event_type):
            return event
        return _with_state(event, self.fields.open(event_type, vars(event)))

    def sealed(self) -> SealingMapper:
        """The same mapper, leaving personal fields sealed on read (what the relay publishes)."""
        return SealingMapper(self, self.fields, open_on_read=False)
