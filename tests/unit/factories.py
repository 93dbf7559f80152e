"""Small builders for unit tests: metadata, leads, contacts, and a look at pending events.

Every builder works in memory only: no application, no recorder, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, CanMutateAggregate

from domain.contact import Contact
from domain.lead import Lead
from domain.money import Money
from domain.values import Meta, Stage

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
"""The business time every builder uses unless told otherwise."""

E = TypeVar("E")


def at(*, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0) -> datetime:
    """A business time relative to T0 (negative values go back in time)."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def meta(at: datetime | None = None, actor: str = "alice", correlation_id: str | None = None) -> Meta:
    """Metadata for one command: who, which request, and when (T0 by default)."""
    return Meta(
        actor=actor,
        correlation_id=correlation_id if correlation_id is not None else f"req-{uuid4().hex[:8]}",
        occurred_at=at if at is not None else T0,
    )


# --- leads -------------------------------------------------------------------------------

LEAD_DEFAULTS: dict[str, Any] = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "company": "Analytical Engines Ltd",
    "phone": None,
    "title": "Head of Research",
    "source": "web_form",
    "campaign": None,
    "estimated_value": 250_000,
    "currency": "USD",
    "owner": None,
    "contact_id": None,
    "interest": None,
    "country": None,
}


def a_lead(**overrides: Any) -> Lead:
    """A freshly captured lead, its Captured and Scored events still pending.

    Any capture argument can be overridden, including `lead_id`, `meta` and `model`.
    """
    lead_id: UUID = overrides.pop("lead_id", None) or uuid4()
    the_meta: Meta = overrides.pop("meta", None) or meta()
    extra: dict[str, Any] = {}
    if "model" in overrides:
        extra["model"] = overrides.pop("model")
    unknown = set(overrides) - set(LEAD_DEFAULTS)
    if unknown:
        raise TypeError(f"a_lead() got unknown overrides: {sorted(unknown)}")
    return Lead.capture(lead_id=lead_id, meta=the_meta, **extra, **{**LEAD_DEFAULTS, **overrides})


def a_settled_lead(**overrides: Any) -> Lead:
    """A captured lead whose capture events were already collected (as if saved)."""
    lead = a_lead(**overrides)
    lead.collect_events()
    return lead


def a_converted_lead(**overrides: Any) -> Lead:
    """A lead that was converted into a contact, with no pending events."""
    lead = a_settled_lead(**overrides)
    lead.convert(uuid4(), Money(100_000, "USD"), meta(at=at(days=1)))
    lead.collect_events()
    assert lead.stage == Stage.CONVERTED
    return lead


def a_disqualified_lead(**overrides: Any) -> Lead:
    """A lead that was disqualified, with no pending events."""
    lead = a_settled_lead(**overrides)
    lead.disqualify("no budget", meta(at=at(days=1)))
    lead.collect_events()
    assert lead.stage == Stage.DISQUALIFIED
    return lead


# --- contacts ----------------------------------------------------------------------------

CONTACT_DEFAULTS: dict[str, Any] = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "phone": "+1 555 010 0000",
    "company": "Remington Rand",
    "title": "Director of Programming",
    "external_id": None,
    "lead_id": None,
}


def a_contact(**overrides: Any) -> Contact:
    """A freshly created contact, its Created event still pending.

    Any create argument can be overridden, including `contact_id` and `meta`.
    """
    contact_id: UUID = overrides.pop("contact_id", None) or uuid4()
    the_meta: Meta = overrides.pop("meta", None) or meta()
    unknown = set(overrides) - set(CONTACT_DEFAULTS)
    if unknown:
        raise TypeError(f"a_contact() got unknown overrides: {sorted(unknown)}")
    return Contact.create(contact_id=contact_id, meta=the_meta, **{**CONTACT_DEFAULTS, **overrides})


def a_settled_contact(**overrides: Any) -> Contact:
    """A created contact whose Created event was already collected (as if saved)."""
    contact = a_contact(**overrides)
    contact.collect_events()
    return contact


# --- pending events ----------------------------------------------------------------------


def pending(aggregate: Aggregate) -> list[Any]:
    """Take the aggregate's pending events. This clears them: call it once per step."""
    return list(aggregate.collect_events())


def kinds(events: Sequence[object]) -> list[str]:
    """The class names of the events, in order, e.g. ["Captured", "Scored"]."""
    return [type(e).__name__ for e in events]


def of_type(events: Sequence[object], event_class: type[E]) -> list[E]:
    """Only the events of one class."""
    return [e for e in events if isinstance(e, event_class)]


def the_only(events: Sequence[object], event_class: type[E]) -> E:
    """The single event of that class; fails the test if there is none or more than one."""
    found = of_type(events, event_class)
    assert len(found) == 1, f"expected one {event_class.__name__}, got {kinds(events)}"
    return found[0]


def replay(events: Sequence[Any]) -> Any:
    """Rebuild an aggregate from its events alone, as loading it from the store would."""
    aggregate: Any = None
    for e in events:
        assert isinstance(e, CanMutateAggregate)
        aggregate = e.mutate(aggregate)
    return aggregate
