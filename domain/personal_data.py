"""Which facts of the CRM's events are personal data, and what they read as once the person
has been erased.

Personal data is what identifies or describes a person: their name, email address, phone
number and job title, and free text written about them (interaction details, the titles and
notes of follow-up tasks, and the new values of those details when they change). The company,
the source, amounts and times are not: they stay readable after an erasure, so that the
pipeline, segments and forecasts keep their numbers.

A lead's country is not personal data either: on its own it names no one (millions share each
value, as they share a company's name or a source), and assignment rules and reports must keep
filtering on it after the person is erased. It is recorded plain and stays readable.

The team's users (`workspace.*` events) are the CRM's own staff, not the people whose data it
keeps: their names are a directory entry, recorded plain and not sealed per person, because a
lead's owner must stay resolvable in every replay. Remove a leaver by deactivating them.
"""

from __future__ import annotations

from typing import Any

ERASED_NAME = "[erased]"
"""What a name reads as after erasure (a name is required, so it cannot simply be absent)."""

PERSONAL_DETAILS = frozenset({"name", "email", "phone", "title"})
"""The personal details of a lead or contact."""

FREE_TEXT = frozenset({"detail"})
"""Free-text facts written about a person."""

TASK_TEXT = frozenset({"title", "note"})
"""What a follow-up task says is to be done about a person, and its note: free text too (a task's
title reads null once its person is erased, like a job title)."""

PERSONAL_EVENT_FIELDS: dict[str, frozenset[str]] = {
    "lead.captured": PERSONAL_DETAILS,
    "lead.interaction_logged": FREE_TEXT,
    "contact.created": PERSONAL_DETAILS,
    "contact.details_updated": frozenset({"changes"}),
    "contact.interaction_logged": FREE_TEXT,
    "lead.task_created": TASK_TEXT,
    "contact.task_created": TASK_TEXT,
}
"""The fields of each event type that hold personal data (`changes` holds personal details
among others: only those are personal)."""


def erased_value(field: str) -> Any:
    """What a personal field reads as once its person is erased."""
    return ERASED_NAME if field == "name" else None


def is_personal(event_type: str, field: str) -> bool:
    """True when a field of an event type holds personal data."""
    return field in PERSONAL_EVENT_FIELDS.get(event_type, ())


def erased_details() -> dict[str, Any]:
    """Every personal detail as it reads after erasure."""
    return {field: erased_value(field) for field in sorted(PERSONAL_DETAILS)}
