"""A record's timeline in business time (valid time): its state as of any business time, as known
at any recording time, is the fold of its events in occurred_at order (ties by version), built from
scratch, whatever order they were recorded in. A back-dated event is placed at its business time
only when every later event is still allowed after it, by the same guards the commands obey;
what automation did later refuses nothing, as it acted on what was known when it ran."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.catalogue import event_type_of
from domain.consent import check_consent_changes, check_outbound_allowed
from domain.contact import Contact
from domain.errors import (
    AlreadyAssigned,
    ConsentUnchanged,
    DomainError,
    DuplicatePurchase,
    InvalidStageTransition,
    LeadAlreadyLinked,
    NoDetailsChanged,
    TimelineConflict,
)
from domain.events import CrmEvent, event_id_of, is_automatic
from domain.lead import Lead
from domain.values import ConsentChannel, InteractionKind, Stage

Guard = Callable[[Any, Any], None]
"""Refuses (raises a DomainError) when an event is not allowed on the state before it."""


def business_key(event: CrmEvent) -> tuple[bool, datetime, int]:
    """Where an event stands in business order: its creation first, then by occurred_at, then by
    version (an event recorded later, at the same business time, comes after)."""
    return (not isinstance(event, Aggregate.Created), event.occurred_at, event.originator_version)


def business_order(events: Iterable[CrmEvent]) -> list[CrmEvent]:
    """The events in business order (see `business_key`)."""
    return sorted(events, key=business_key)


def known(
    events: Iterable[CrmEvent], as_of: datetime | None = None, known_at: datetime | None = None
) -> list[CrmEvent]:
    """The events that happened by `as_of` (business time) and were recorded by `known_at`
    (transaction time); None means no bound."""
    return [
        e for e in events if (as_of is None or e.occurred_at <= as_of) and (known_at is None or e.timestamp <= known_at)
    ]


def fold(events: Iterable[CrmEvent], as_of: datetime | None = None, known_at: datetime | None = None) -> Any:
    """The record as of `as_of`, as known at `known_at`: its known events applied from scratch in
    business order; None when it did not exist then. Its version is the newest version folded."""
    chosen = business_order(known(events, as_of, known_at))
    if not chosen or not isinstance(chosen[0], Aggregate.Created):
        return None
    aggregate = chosen[0].mutate(None)
    for event in chosen[1:]:
        apply_at_business_time(aggregate, event)
    aggregate.version = max(e.originator_version for e in chosen)
    aggregate.modified_on = max(e.timestamp for e in chosen)
    return aggregate


def apply_at_business_time(aggregate: Any, event: CrmEvent) -> None:
    """Apply one event to the state before it in business order. The library's mutate checks
    that each event is the next version; in business order it need not be, so the aggregate is
    told the version before this event's first."""
    aggregate.version = event.originator_version - 1
    event.mutate(aggregate)


def check_placement(stored: Sequence[CrmEvent], new: Sequence[CrmEvent]) -> None:
    """TimelineConflict when a stored event dated after the first new one would not be allowed
    once the new events are placed at their business times; the new events were checked by their
    command, on the state as of their time."""
    if not stored or not new:
        return
    start = min(e.occurred_at for e in new)
    if all(e.occurred_at <= start for e in stored):
        return  # nothing later: an ordinary append
    fresh = {e.originator_version for e in new}
    ordered = business_order([*stored, *new])
    aggregate = ordered[0].mutate(None)
    placed = False
    for event in ordered[1:]:
        placed = placed or event.originator_version in fresh
        if placed and event.originator_version not in fresh:
            _check_allowed(aggregate, event)
        apply_at_business_time(aggregate, event)


def check_timeline(events: Iterable[CrmEvent]) -> None:
    """TimelineConflict naming the first event (in business order) that its record's guards would
    not allow on the state before it: a record whose every accepted command was placed by
    `check_placement` passes."""
    ordered = business_order(events)
    if not ordered:
        return
    aggregate = ordered[0].mutate(None)
    for event in ordered[1:]:
        _check_allowed(aggregate, event)
        apply_at_business_time(aggregate, event)


def _check_allowed(aggregate: Any, event: CrmEvent) -> None:
    guard = GUARDS.get(type(event))
    if guard is None or is_automatic(event):
        # What automation did (a decay score, a nurture step) acted on what was known when it ran;
        # a fact placed before it supersedes its premise rather than being refused by it.
        return
    try:
        guard(aggregate, event)
    except DomainError as refused:
        raise TimelineConflict(
            event_type_of(event),
            event.originator_version,
            str(event_id_of(event.originator_id, event.originator_version)),
            event.occurred_at.isoformat(),
            str(refused),
        ) from None


# --- the guards, per event: what its command checked before emitting it -------------------------


def _lead_open(lead: Lead, _: Any) -> None:
    lead.check_is_open()


def _lead_not_erased(lead: Lead, _: Any) -> None:
    lead.check_not_erased()


def _lead_interaction(lead: Lead, e: Lead.InteractionLogged) -> None:
    lead.check_is_open()
    check_outbound_allowed(f"lead {lead.id}", InteractionKind(e.kind), lead.consents)


def _lead_assigned(lead: Lead, e: Lead.Assigned) -> None:
    lead.check_is_open()
    if e.owner == lead.owner:
        raise AlreadyAssigned(f"lead {lead.id} would already be assigned to {e.owner!r}")


def _lead_stage_changed(lead: Lead, e: Lead.StageChanged) -> None:
    lead.check_is_open()
    if Stage(e.stage) == lead.stage:
        raise InvalidStageTransition(f"lead {lead.id} would already be in stage {e.stage!r}")


def _lead_consent(lead: Lead, e: Lead.ConsentChanged) -> None:
    lead.check_is_open()
    if e.carried_from is None:
        check_consent_changes(f"lead {lead.id}", ConsentChannel(e.channel), e.granted, lead.consents)


def _new_tasks(record: Lead | Contact, e: Any) -> None:
    record.check_takes_new_tasks(e.occurred_at)


def _task_completion(record: Lead | Contact, e: Any) -> None:
    record.check_takes_task_completion(e.occurred_at)


def _contact_open(contact: Contact, e: Any) -> None:
    contact.check_not_before_creation(e.occurred_at)


def _contact_not_erased(contact: Contact, _: Any) -> None:
    contact.check_not_erased()


def _contact_details(contact: Contact, e: Contact.DetailsUpdated) -> None:
    contact.check_not_before_creation(e.occurred_at)
    if all(getattr(contact, k) == v for k, v in e.changes.items()):
        raise NoDetailsChanged(f"contact {contact.id}: the update would change nothing")


def _contact_interaction(contact: Contact, e: Contact.InteractionLogged) -> None:
    contact.check_not_before_creation(e.occurred_at)
    check_outbound_allowed(f"contact {contact.id}", InteractionKind(e.kind), contact.consents)


def _contact_purchase(contact: Contact, e: Contact.PurchaseRecorded) -> None:
    contact.check_not_before_creation(e.occurred_at)
    if e.order_id in contact.order_ids:
        raise DuplicatePurchase(f"order {e.order_id!r} would already be recorded on contact {contact.id}")


def _contact_consent(contact: Contact, e: Contact.ConsentChanged) -> None:
    contact.check_not_before_creation(e.occurred_at)
    if contact.consents.get(e.channel) is e.granted:
        raise ConsentUnchanged(f"contact {contact.id}: consent for {e.channel} would already be so")


def _contact_linked(contact: Contact, e: Contact.LeadLinked) -> None:
    contact.check_not_before_creation(e.occurred_at)
    if e.lead_id == contact.lead_id or e.lead_id in contact.linked_lead_ids:
        raise LeadAlreadyLinked(f"lead {e.lead_id} would already be linked to contact {contact.id}")


GUARDS: dict[type, Guard] = {
    Lead.InteractionLogged: _lead_interaction,
    Lead.Scored: _lead_open,
    Lead.Assigned: _lead_assigned,
    Lead.StageChanged: _lead_stage_changed,
    Lead.Disqualified: _lead_open,
    Lead.Converted: _lead_open,
    Lead.ConsentChanged: _lead_consent,
    Lead.Erased: _lead_not_erased,
    Lead.TaskCreated: _new_tasks,
    Lead.TaskRescheduled: _new_tasks,
    Lead.TaskCompleted: _task_completion,
    Lead.NurtureEnrolled: _lead_open,
    Lead.NurtureEmailRequested: _lead_open,
    Lead.NurtureStepSkipped: _lead_open,
    Lead.NurtureTaskRequested: _lead_open,
    Lead.NurtureScoreChecked: _lead_open,
    Lead.NurtureExited: _lead_not_erased,
    Lead.NurtureCompleted: _lead_not_erased,
    Lead.MergedInto: _lead_open,
    Lead.Absorbed: _lead_open,
    Lead.Unmerged: _lead_not_erased,
    Lead.Released: _lead_not_erased,
    Contact.DetailsUpdated: _contact_details,
    Contact.InteractionLogged: _contact_interaction,
    Contact.PurchaseRecorded: _contact_purchase,
    Contact.ConsentChanged: _contact_consent,
    Contact.Reactivated: _contact_open,
    Contact.LeadLinked: _contact_linked,
    Contact.Erased: _contact_not_erased,
    Contact.TaskCreated: _new_tasks,
    Contact.TaskRescheduled: _new_tasks,
    Contact.TaskCompleted: _task_completion,
    Contact.MergedInto: _contact_open,
    Contact.Absorbed: _contact_open,
    Contact.Unmerged: _contact_not_erased,
    Contact.Released: _contact_not_erased,
}
"""Every event of a lead or a contact that a command guards, with the guard (the aggregates' own
checks); an event not listed is allowed wherever it falls."""
