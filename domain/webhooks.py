"""The WebhookSubscription aggregate: an outside tool's wish to be sent the CRM's events over
HTTPS (Standard Webhooks), so that every change to what it is sent, and every time the CRM stops
sending, is an event with who, when and why, like any other.

The signing secret is never part of an event: the events name only the secret's key id, and the
secrets themselves are kept apart (`services.storage.webhooks`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, OccurredBeforeCreation
from domain.events import CrmAggregate, CrmEvent
from domain.values import Meta

SUBSCRIPTION_FIELDS = ("url", "event_types", "description", "active")
"""What a change to a subscription may change."""

ALL_EVENTS = "*"
"""The event-type filter that matches every event."""


class WebhookDeleted(DomainError):
    """A deleted subscription takes no more commands."""


def matches(patterns: Sequence[str], event_type: str) -> bool:
    """True when an event type passes a subscription's filter: `*` takes every event, `lead.*`
    every event of leads, and any other pattern exactly that event type."""
    for pattern in patterns:
        if pattern == ALL_EVENTS or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


class WebhookSubscription(CrmAggregate):
    """Where a tool wants the CRM's events, which of them, and whether they are sent now."""

    id: UUID

    class Event(CrmEvent):
        """A subscription's event: who did it, in which request, and when (see CrmEvent)."""

    class Subscribed(Event, Aggregate.Created):
        """A tool subscribed: the events of `event_types` are to be sent to `url`, signed with the
        secret named `key_id` (the secret itself is never in an event)."""

        class_version = 1
        url: str
        event_types: list[str]
        description: str | None
        active: bool
        key_id: str

    class Changed(Event):
        """Some of the subscription's fields changed (only those in `changes`)."""

        class_version = 1
        changes: dict[str, Any]

    class SecretRotated(Event):
        """A new signing secret (`key_id`) was issued; the one before (`previous_key_id`) still
        signs until `previous_valid_until`, so that the receiver can switch over."""

        class_version = 1
        key_id: str
        previous_key_id: str
        previous_valid_until: datetime

    class Disabled(Event):
        """The CRM stopped sending to the subscription by itself (the endpoint said 410 Gone, or
        kept failing through every retry); it is sent events again once made active."""

        class_version = 1
        reason: str

    class Deleted(Event):
        """The subscription was removed; nothing is sent to it any more."""

        class_version = 1

    @event(Subscribed)
    def __init__(
        self,
        *,
        url: str,
        event_types: list[str],
        description: str | None,
        active: bool,
        key_id: str,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.created_at = occurred_at
        self.url = url
        self.event_types = list(event_types)
        self.description = description
        self.active = active
        self.key_id = key_id
        self.previous_key_id: str | None = None
        self.previous_valid_until: datetime | None = None
        self.disabled_reason: str | None = None
        self.deleted = False

    # --- commands -------------------------------------------------------------------

    @classmethod
    def subscribe(
        cls,
        subscription_id: UUID,
        *,
        url: str,
        event_types: Sequence[str],
        description: str | None,
        active: bool,
        key_id: str,
        meta: Meta,
    ) -> WebhookSubscription:
        """A new subscription, signing with the secret named `key_id`."""
        return cls(  # type: ignore[call-arg]
            id=subscription_id,
            url=url,
            event_types=list(event_types),
            description=description,
            active=active,
            key_id=key_id,
            **meta.fields(),
        )

    def change(self, changes: Mapping[str, Any], meta: Meta) -> bool:
        """Change some fields; only real changes are recorded. Returns whether anything changed."""
        self.check_can_change(meta.occurred_at)
        unknown = set(changes) - set(SUBSCRIPTION_FIELDS)
        if unknown:
            raise ValueError(f"not changeable: {', '.join(sorted(unknown))}")
        effective = {name: value for name, value in changes.items() if _current(self, name) != value}
        if not effective:
            return False
        self._changed(changes=effective, **meta.fields())
        return True

    def rotate_secret(self, key_id: str, previous_valid_until: datetime, meta: Meta) -> None:
        """Sign with the secret `key_id` from now on, and with the current one too until
        `previous_valid_until`."""
        self.check_can_change(meta.occurred_at)
        self._secret_rotated(
            key_id=key_id, previous_key_id=self.key_id, previous_valid_until=previous_valid_until, **meta.fields()
        )

    def disable(self, reason: str, meta: Meta) -> bool:
        """Stop sending, for `reason`; a subscription already inactive records nothing."""
        self.check_can_change(meta.occurred_at)
        if not self.active:
            return False
        self._disabled(reason=reason, **meta.fields())
        return True

    def delete(self, meta: Meta) -> None:
        """Remove the subscription for good."""
        self.check_can_change(meta.occurred_at)
        self._deleted(**meta.fields())

    # --- guards ---------------------------------------------------------------------

    def check_can_change(self, occurred_at: datetime) -> None:
        """A deleted subscription takes no commands, nor does anything happen before it existed."""
        if self.deleted:
            raise WebhookDeleted(f"webhook subscription {self.id} was deleted")
        if occurred_at < self.created_at:
            raise OccurredBeforeCreation(
                f"occurred_at {occurred_at.isoformat()} is before the subscription was made "
                f"({self.created_at.isoformat()})"
            )

    def signing_key_ids(self, now: datetime) -> list[str]:
        """The key ids of the secrets that sign at `now`: the current one, and the one before it
        while its overlap lasts."""
        keys = [self.key_id]
        if (
            self.previous_key_id is not None
            and self.previous_valid_until is not None
            and now < self.previous_valid_until
        ):
            keys.append(self.previous_key_id)
        return keys

    # --- event application: deterministic, re-run on every load -----------------------

    @event(Changed)
    def _changed(self, *, changes: dict[str, Any], actor: str, correlation_id: str, occurred_at: datetime) -> None:
        for name, value in changes.items():
            setattr(self, name, list(value) if name == "event_types" else value)
        if changes.get("active") is True:
            self.disabled_reason = None

    @event(SecretRotated)
    def _secret_rotated(
        self,
        *,
        key_id: str,
        previous_key_id: str,
        previous_valid_until: datetime,
        actor: str,
        correlation_id: str,
        occurred_at: datetime,
    ) -> None:
        self.key_id = key_id
        self.previous_key_id = previous_key_id
        self.previous_valid_until = previous_valid_until

    @event(Disabled)
    def _disabled(self, *, reason: str, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.active = False
        self.disabled_reason = reason

    @event(Deleted)
    def _deleted(self, *, actor: str, correlation_id: str, occurred_at: datetime) -> None:
        self.active = False
        self.deleted = True


def _current(subscription: WebhookSubscription, name: str) -> Any:
    value = getattr(subscription, name)
    return list(value) if name == "event_types" else value
