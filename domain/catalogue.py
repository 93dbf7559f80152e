"""The event catalogue: every event class, its public type name and its fields."""

from __future__ import annotations

import dataclasses
import re
from functools import cache

from eventsourcing.domain import Aggregate, DomainEvent

from domain.campaign import Campaign
from domain.contact import Contact
from domain.events import CrmEvent
from domain.lead import Lead
from domain.webhooks import WebhookSubscription
from domain.workspace import Workspace

ENVELOPE_FIELDS = frozenset(f.name for f in dataclasses.fields(CrmEvent)) | {
    f.name for f in dataclasses.fields(Aggregate.Created)
}
"""Fields every event has (those of CrmEvent, and the aggregate topic of a creation event); the
rest of an event's fields are its `data`."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


AGGREGATE_TYPE_NAMES = {"WebhookSubscription": "webhook"}
"""Aggregates whose public type name is not their class name in snake case: a subscription's
events read `webhook.subscribed`, `webhook.disabled`, ..."""


def _aggregate_name(event_cls: type) -> str:
    outer = event_cls.__qualname__.split(".")[0]
    return AGGREGATE_TYPE_NAMES.get(outer) or _snake(outer)


EVENT_CLASSES: tuple[type[DomainEvent], ...] = (
    Lead.Captured,
    Lead.InteractionLogged,
    Lead.Scored,
    Lead.Assigned,
    Lead.StageChanged,
    Lead.Disqualified,
    Lead.Converted,
    Lead.ConsentChanged,
    Lead.Erased,
    Lead.TaskCreated,
    Lead.TaskCompleted,
    Lead.TaskRescheduled,
    Lead.NurtureEnrolled,
    Lead.NurtureEmailRequested,
    Lead.NurtureStepSkipped,
    Lead.NurtureTaskRequested,
    Lead.NurtureScoreChecked,
    Lead.NurtureExited,
    Lead.NurtureCompleted,
    Lead.MergedInto,
    Lead.Absorbed,
    Lead.Unmerged,
    Lead.Released,
    Contact.Created,
    Contact.DetailsUpdated,
    Contact.InteractionLogged,
    Contact.PurchaseRecorded,
    Contact.Reactivated,
    Contact.ConsentChanged,
    Contact.LeadLinked,
    Contact.Erased,
    Contact.TaskCreated,
    Contact.TaskCompleted,
    Contact.TaskRescheduled,
    Contact.MergedInto,
    Contact.Absorbed,
    Contact.Unmerged,
    Contact.Released,
    Workspace.Created,
    Workspace.UserAdded,
    Workspace.UserUpdated,
    Workspace.AssignmentRulesReplaced,
    Workspace.SequenceDefined,
    WebhookSubscription.Subscribed,
    WebhookSubscription.Changed,
    WebhookSubscription.SecretRotated,
    WebhookSubscription.Disabled,
    WebhookSubscription.Deleted,
    Campaign.Created,
    Campaign.CostRecorded,
)


def event_classes() -> dict[str, type[DomainEvent]]:
    """Every event class by public type name, e.g. `lead.scored`."""
    return {_type_name(cls): cls for cls in EVENT_CLASSES}


@cache
def _type_name(event_cls: type) -> str:
    return f"{_aggregate_name(event_cls)}.{_snake(event_cls.__name__)}"


def aggregate_type_of(event: CrmEvent) -> str:
    """`lead`, `contact`, `workspace` or `webhook`."""
    return _aggregate_type(type(event))


@cache
def _aggregate_type(event_cls: type) -> str:
    return _aggregate_name(event_cls)


def event_type_of(event: CrmEvent) -> str:
    """Public type name of an event, e.g. `contact.purchase_recorded`."""
    return _type_name(type(event))


def event_data(event: CrmEvent) -> dict[str, object]:
    """The event's own fields, without the envelope fields."""
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name not in ENVELOPE_FIELDS}  # type: ignore[arg-type]


def data_fields(event_cls: type[DomainEvent]) -> list[tuple[str, str]]:
    """(name, type) of an event class's own fields, in declaration order."""
    return [(f.name, str(f.type)) for f in dataclasses.fields(event_cls) if f.name not in ENVELOPE_FIELDS]  # type: ignore[arg-type]


def render_markdown() -> str:
    """docs/events.md: the catalogue as a reader wants it (a test keeps the file in step)."""
    lines = [
        "# Event catalogue",
        "",
        "Generated from `domain/catalogue.py`; `tests/unit/test_event_catalogue.py` fails when this file",
        "and the code disagree. Regenerate with `python -m domain.catalogue > docs/events.md`.",
        "",
        "Every event also carries:",
        "",
        "| field | meaning |",
        "|---|---|",
        "| `originator_id` | the aggregate's UUID |",
        "| `originator_version` | the aggregate's version after this event (1, 2, ...) |",
        "| `timestamp` | when the event was recorded (set by the application, stored with the event) |",
        "| `actor` | the user id, or `system`/`service:...`, that caused it |",
        "| `correlation_id` | the request it belongs to |",
        "| `occurred_at` | business time: when it happened (imports set it in the past) |",
        "| `cause` | for what automation did (actor `automation:<policy>`): the id of the event that caused it |",
        "| `traceparent` | the W3C trace context of the HTTP request that caused it, when it sent a valid one; "
        "published as a Kafka header, not in the envelope |",
        "",
        "Money is integer minor units (`amount`, `estimated_value`, `deal_value`) plus an ISO 4217 `currency`.",
        "",
    ]
    for type_name, cls in event_classes().items():
        lines += [
            f"## `{type_name}`",
            "",
            f"Python class `{cls.__module__}.{cls.__qualname__}`, class_version {getattr(cls, 'class_version', 1)}.",
            "",
            "| field | type |",
            "|---|---|",
        ]
        lines += [f"| `{name}` | `{hint.replace('|', chr(92) + '|')}` |" for name, hint in data_fields(cls)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown(), end="")
