"""What the webhook routes take and answer: the subscription's fields (the event-type filter
checked against the event catalogue), the subscription as read (never with its secret), the
answer of a create or a rotation (with the secret, shown that once), the delivery attempts, and
a replay request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from domain.catalogue import event_classes
from domain.webhooks import ALL_EVENTS, WebhookSubscription
from services.api.pagination import Page

Url = Annotated[str, Field(min_length=8, max_length=2000, description="where events are POSTed: an https URL")]
Description = Annotated[str, Field(max_length=500)]


def known_event_type_filter(value: str) -> str:
    """`*`, `<aggregate_type>.*` of a known aggregate type, or a known event type."""
    known = event_classes()
    if value == ALL_EVENTS or value in known:
        return value
    if value.endswith(".*") and any(name.startswith(value[:-1]) for name in known):
        return value
    raise ValueError(f"{value!r} is no event type of the catalogue (docs/events.md), nor `*` or `<aggregate>.*`")


EventTypeFilter = Annotated[str, Field(max_length=100), AfterValidator(known_event_type_filter)]
EventTypes = Annotated[
    list[EventTypeFilter],
    Field(min_length=1, max_length=100, description="which events are sent: `*`, `lead.*`, or exact event types"),
]

_EXAMPLE: dict[str, Any] = {
    "url": "https://billing.example.com/crm-events",
    "event_types": ["lead.converted", "contact.*"],
    "description": "billing: new customers and their purchases",
}


class WebhookCreate(BaseModel):
    """A new subscription."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    url: Url
    event_types: EventTypes = Field(default_factory=lambda: [ALL_EVENTS])
    description: Description | None = None
    active: Annotated[bool, Field(strict=True)] = True


class WebhookUpdate(BaseModel):
    """Change some of a subscription's fields; omitted ones stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"active": False}]})

    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    active: Annotated[bool, Field(strict=True)] | None = None

    @model_validator(mode="after")
    def _no_null_but_description(self) -> WebhookUpdate:
        for name in ("url", "event_types", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields sent, as the aggregate's change takes them."""
        return self.model_dump(exclude_unset=True)


class WebhookReplay(BaseModel):
    """Where to send history again from: a log position, or a recording time."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"from_position": 1200}, {"since": "2026-03-01T00:00:00Z"}]}
    )

    from_position: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    since: AwareDatetime | None = Field(default=None, description="the first event recorded at or after this time")

    @model_validator(mode="after")
    def _one_of(self) -> WebhookReplay:
        if (self.from_position is None) == (self.since is None):
            raise ValueError("give exactly one of from_position and since")
        return self


_WEBHOOK_ID = "0b7f6c7e-3c1a-4f57-9b2e-5d0c8a1e4f21"
_PUBLIC_EXAMPLE: dict[str, Any] = {
    "id": _WEBHOOK_ID,
    **_EXAMPLE,
    "active": True,
    "disabled_reason": None,
    "key_id": "key_3f9a1c0b7d2e",
    "previous_key_id": None,
    "previous_valid_until": None,
    "version": 1,
}
_ROTATED_EXAMPLE: dict[str, Any] = {
    **_PUBLIC_EXAMPLE,
    "key_id": "key_8e41d2a95c07",
    "previous_key_id": "key_3f9a1c0b7d2e",
    "previous_valid_until": "2026-03-03T09:15:00Z",
    "version": 2,
}
_DISABLED_EXAMPLE: dict[str, Any] = {
    **_PUBLIC_EXAMPLE,
    "active": False,
    "disabled_reason": (
        "event 5d1e8b52-8f0a-5c3e-9a43-2f1b7c6d9e10 (position 1207) failed 10 attempts over about 3 days; "
        "the last: HTTP 500"
    ),
    "version": 3,
}
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class WebhookPublic(BaseModel):
    """A subscription as read: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PUBLIC_EXAMPLE, _DISABLED_EXAMPLE]})

    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    disabled_reason: str | None = Field(description="why the CRM stopped sending by itself; null otherwise")
    key_id: str = Field(description="the id of the current signing secret (the secret is shown only when issued)")
    previous_key_id: str | None = Field(description="the secret before a rotation, still signing until the time below")
    previous_valid_until: datetime | None
    version: int

    @classmethod
    def of(cls, subscription: WebhookSubscription) -> WebhookPublic:
        """The subscription's public fields."""
        return cls(
            id=subscription.id,
            url=subscription.url,
            event_types=list(subscription.event_types),
            description=subscription.description,
            active=subscription.active,
            disabled_reason=subscription.disabled_reason,
            key_id=subscription.key_id,
            previous_key_id=subscription.previous_key_id,
            previous_valid_until=subscription.previous_valid_until,
            version=subscription.version,
        )


class WebhookWithSecret(WebhookPublic):
    """A subscription just made, or whose secret was just rotated, with the new secret: shown
    this once, never again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_PUBLIC_EXAMPLE, "secret": _SECRET}, {**_ROTATED_EXAMPLE, "secret": _SECRET}]
        }
    )

    secret: str = Field(description="`whsec_` + base64: verify the `webhook-signature` of deliveries with it")


class WebhookList(BaseModel):
    """Every subscription, in id order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_PUBLIC_EXAMPLE]}]})

    items: list[WebhookPublic]


_FAILED_ATTEMPT: dict[str, Any] = {
    "id": 311,
    "attempted_at": "2026-03-02T09:15:04Z",
    "event_id": "5d1e8b52-8f0a-5c3e-9a43-2f1b7c6d9e10",
    "position": 1207,
    "attempt": 1,
    "status_code": 503,
    "latency_ms": 182,
    "error": "HTTP 503",
    "response_body": "Service Unavailable",
}
_RETRY_ATTEMPT: dict[str, Any] = {
    "id": 312,
    "attempted_at": "2026-03-02T09:15:10Z",
    "event_id": "5d1e8b52-8f0a-5c3e-9a43-2f1b7c6d9e10",
    "position": 1207,
    "attempt": 2,
    "status_code": 204,
    "latency_ms": 95,
    "error": None,
    "response_body": None,
}


class DeliveryAttempt(BaseModel):
    """One attempt to deliver an event."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_FAILED_ATTEMPT, _RETRY_ATTEMPT]})

    id: int
    attempted_at: datetime
    event_id: str = Field(description="the event's id, sent as `webhook-id` (the same on every retry)")
    position: int
    attempt: int = Field(description="1 for the first attempt at this event, 2 for the first retry, ...")
    status_code: int | None = Field(description="the endpoint's HTTP status; null when no answer came")
    latency_ms: int
    error: str | None = Field(description="why it failed (timeout, connection, refused address, status); null: 2xx")
    response_body: str | None = Field(description="at most the first KiB of the answer")


class DeliveryAttemptPage(Page[DeliveryAttempt]):
    """One page of a subscription's delivery attempts, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_FAILED_ATTEMPT, _RETRY_ATTEMPT], "next_cursor": "MzEy"}]}
    )


class ReplayAccepted(BaseModel):
    """A replay was scheduled."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"from_position": 1200}]})

    from_position: int = Field(description="the first log position sent again")
