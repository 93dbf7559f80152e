"""Which events end a lead's nurture enrolments, and with which reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from projections.event_record import EventRecord
from services.automation.nurture import NurtureEnrolment, NurtureExits, exit_reason


def record(event_type: str, **data: Any) -> EventRecord:
    """A lead event at position 1 with the given data."""
    now = datetime(2026, 3, 5, tzinfo=UTC)
    return EventRecord(1, event_type, "lead", uuid4(), 2, now, now, "alice", "req", data)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (record("lead.interaction_logged", kind="email_reply", detail=None), "reply"),
        (record("lead.interaction_logged", kind="meeting", detail=None), "meeting"),
        (record("lead.interaction_logged", kind="demo", detail="the product"), "demo"),
        (record("lead.converted", contact_id=uuid4()), "converted"),
        (record("lead.disqualified", reason="no budget"), "disqualified"),
        (record("lead.consent_changed", channel="email", granted=False, carried_from=None), "consent_withdrawn"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.event_type,
)
def test_these_events_end_the_enrolments_with_their_reason(event: EventRecord, reason: str) -> None:
    assert exit_reason(event) == reason
    assert event.event_type in NurtureExits().event_types


@pytest.mark.parametrize(
    "event",
    [
        record("lead.interaction_logged", kind="email_open", detail=None),
        record("lead.interaction_logged", kind="web_visit", detail=None),
        record("lead.consent_changed", channel="email", granted=True, carried_from=None),
        record("lead.consent_changed", channel="sms", granted=False, carried_from=None),
    ],
    ids=["email opened", "web visit", "consent granted", "sms consent withdrawn"],
)
def test_lighter_engagement_and_other_consent_leave_the_enrolments_alone(event: EventRecord) -> None:
    assert exit_reason(event) is None


def test_the_policies_have_names_of_their_own_and_react_to_different_events() -> None:
    exits, enrolment = NurtureExits(), NurtureEnrolment()

    assert exits.name != enrolment.name
    assert enrolment.event_types == {"lead.captured", "lead.scored"}
    assert not exits.event_types & enrolment.event_types
