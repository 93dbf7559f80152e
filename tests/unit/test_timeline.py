"""A record's timeline in business time (domain.timeline), in memory: the fold applies events in
occurred_at order whatever their versions, and a back-dated event is placed or refused."""

from __future__ import annotations

from typing import Any

import pytest

from domain.catalogue import EVENT_CLASSES
from domain.contact import Contact
from domain.errors import TimelineConflict
from domain.lead import Lead
from domain.money import Money
from domain.timeline import GUARDS, check_placement, check_timeline, fold
from domain.values import Stage
from tests.unit.factories import T0, a_lead, at, meta


def recorded(lead: Lead) -> list[Any]:
    """The lead's pending events, as the store would hand them back."""
    return list(lead.collect_events())


def acting_as_of(events: list[Any], when: Any) -> Lead:
    """The lead as of `when`, at its newest version: what a back-dated command acts on."""
    lead: Lead = fold(events, as_of=when)
    lead.version = events[-1].originator_version
    return lead


def a_timeline() -> list[Any]:
    """Captured at T0, contacted on day 1, qualified on day 3."""
    lead = a_lead()
    lead.change_stage(Stage.CONTACTED, meta(at(days=1)))
    lead.change_stage(Stage.QUALIFIED, meta(at(days=3)))
    return recorded(lead)


def test_the_fold_applies_a_back_dated_event_at_its_business_time_not_as_the_last_version() -> None:
    events = a_timeline()
    late = acting_as_of(events, at(days=2))
    late.change_stage(Stage.NURTURING, meta(at(days=2)))
    events += recorded(late)

    assert fold(events).stage == Stage.QUALIFIED
    assert fold(events).version == events[-1].originator_version
    assert fold(events, as_of=at(days=2, hours=1)).stage == Stage.NURTURING
    assert fold(events, as_of=at(days=1, hours=1)).stage == Stage.CONTACTED
    assert fold(events, as_of=at(days=-1)) is None


def test_known_at_leaves_out_the_events_recorded_after_it() -> None:
    events = a_timeline()
    late = acting_as_of(events, at(days=2))
    late.change_stage(Stage.NURTURING, meta(at(days=2)))
    events += recorded(late)

    before_the_late_one = events[-2].timestamp
    assert fold(events, as_of=at(days=2, hours=1), known_at=before_the_late_one).stage == Stage.CONTACTED
    assert fold(events, known_at=events[0].timestamp).stage == Stage.NEW


def test_a_back_dated_conversion_before_a_later_stage_change_is_refused_naming_it() -> None:
    events = a_timeline()
    late = acting_as_of(events, at(days=2))
    late.convert(late.id, Money(100_00, "USD"), meta(at(days=2)))

    with pytest.raises(TimelineConflict) as refused:
        check_placement(events, late.pending_events)

    later = events[-1]
    assert refused.value.event_type == "lead.stage_changed"
    assert (refused.value.version, refused.value.occurred_at) == (later.originator_version, at(days=3).isoformat())


def test_a_stage_change_dated_before_a_conversion_is_placed_before_it() -> None:
    lead = a_lead()
    lead.convert(lead.id, Money(100_00, "USD"), meta(at(days=3)))
    events = recorded(lead)
    late = acting_as_of(events, at(days=1))
    late.change_stage(Stage.PROPOSAL, meta(at(days=1)))

    check_placement(events, late.pending_events)
    events += recorded(late)

    check_timeline(events)
    assert fold(events).stage == Stage.CONVERTED
    assert fold(events, as_of=at(days=2)).stage == Stage.PROPOSAL


def test_an_event_appended_after_every_business_time_needs_no_placement() -> None:
    events = a_timeline()
    lead: Lead = fold(events)
    lead.convert(lead.id, Money(100_00, "USD"), meta(at(days=4)))

    check_placement(events, lead.pending_events)
    assert fold([*events, *recorded(lead)]).stage == Stage.CONVERTED
    assert events[0].occurred_at == T0


def test_every_event_of_a_lead_or_a_contact_but_its_creation_has_a_placement_guard() -> None:
    of_records = {c for c in EVENT_CLASSES if issubclass(c, Lead.Event | Contact.Event)}
    unguarded = {c.__qualname__ for c in of_records - set(GUARDS)}

    assert unguarded == {"Lead.Captured", "Contact.Created"}, "a new event needs its guard in domain.timeline.GUARDS"
