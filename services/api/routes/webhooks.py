"""The webhook routes under /v1/webhooks (admins only): subscribe a tool to the CRM's events,
read, change and delete subscriptions, rotate a subscription's signing secret, list its delivery
attempts, and send history again. The secret is in the answer of a create and of a rotation,
and nowhere else. See docs/webhooks.md for what the tool receives."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import AttemptPageQuery, Permit, WebhookPath, WebhooksDep
from services.api.pagination import keyset_page
from services.api.problems import PROBLEM_RESPONSES, documented_problem
from services.api.responses import created_at
from services.api.schemas_webhooks import (
    DeliveryAttempt,
    DeliveryAttemptPage,
    ReplayAccepted,
    WebhookCreate,
    WebhookList,
    WebhookPublic,
    WebhookReplay,
    WebhookUpdate,
    WebhookWithSecret,
)
from services.auth.access import Caller
from services.auth.policy import Action

WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: answer for status, answer in PROBLEM_RESPONSES.items() if status not in (404, 409, 503)},
    503: documented_problem(
        "The database does not answer (try again after `Retry-After` seconds), or this server does not "
        "manage webhook subscriptions"
    ),
}
"""The problems every webhook route may answer with; the 404 and 409 of the routes that can meet them."""
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: documented_problem("No such webhook subscription, or it was deleted")
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: documented_problem("The subscription was changed or deleted at the same time; read it and try again")
}

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=WEBHOOK_RESPONSES)

Admin = Annotated[Caller, Depends(Permit(Action.MANAGE_WEBHOOKS))]


_CREATE_EXAMPLES = {
    "some events": {
        "summary": "new customers and their purchases, for a billing tool",
        "value": {
            "url": "https://billing.example.com/crm-events",
            "event_types": ["lead.converted", "contact.*"],
            "description": "billing: new customers and their purchases",
        },
    },
    "every event": {
        "summary": "every event, from a subscription that starts inactive",
        "value": {"url": "https://warehouse.example.com/hooks/crm", "event_types": ["*"], "active": False},
    },
}
_CHANGE_EXAMPLES = {
    "pause": {"summary": "stop sending for now", "value": {"active": False}},
    "resume": {"summary": "send again, from the event it stopped at", "value": {"active": True}},
    "filter": {
        "summary": "take other events and clear the description",
        "value": {"event_types": ["lead.*"], "description": None},
    },
}
_REPLAY_EXAMPLES = {
    "from a position": {"summary": "send again from a log position", "value": {"from_position": 1200}},
    "since a time": {
        "summary": "send again from the first event recorded at or after a time",
        "value": {"since": "2026-03-01T00:00:00Z"},
    },
}


def _with_secret(public: WebhookPublic, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**public.model_dump(), secret=secret)


@router.post(
    "",
    status_code=201,
    summary="Subscribe a tool to the CRM's events",
    responses=created_at("the new subscription"),
)
def subscribe(
    who: Admin,
    desk: WebhooksDep,
    body: Annotated[WebhookCreate, Body(openapi_examples=_CREATE_EXAMPLES)],
    response: Response,
) -> WebhookWithSecret:
    """A new subscription, sent the events recorded from now on that its `event_types` take. The
    answer carries the signing secret, shown this once; 422 naming `url` for a URL the CRM does
    not send to (not https, or resolving to a private address)."""
    issued = desk.subscribe(body.url, body.event_types, body.description, body.active, who.context())
    response.headers["Location"] = f"/v1/webhooks/{issued.subscription.id}"
    return _with_secret(WebhookPublic.of(issued.subscription), issued.secret)


@router.get("", summary="Every webhook subscription")
def list_webhooks(who: Admin, desk: WebhooksDep) -> WebhookList:
    """The subscriptions not deleted, in id order, without their secrets."""
    return WebhookList(items=[WebhookPublic.of(s) for s in desk.subscriptions()])


@router.get("/{webhook_id}", summary="A webhook subscription", responses=NOT_FOUND)
def get_webhook(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> WebhookPublic:
    """The subscription, without its secret."""
    return WebhookPublic.of(desk.get(webhook_id))


@router.patch("/{webhook_id}", summary="Change some of a subscription's fields", responses={**NOT_FOUND, **CONFLICT})
def change_webhook(
    webhook_id: WebhookPath,
    who: Admin,
    desk: WebhooksDep,
    body: Annotated[WebhookUpdate, Body(openapi_examples=_CHANGE_EXAMPLES)],
) -> WebhookPublic:
    """Only the fields sent change; `active: true` sends again to a subscription the CRM disabled
    (from the event it stopped at)."""
    return WebhookPublic.of(desk.change(webhook_id, body.changes(), who.context()))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a subscription", responses={**NOT_FOUND, **CONFLICT})
def delete_webhook(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> Response:
    """Nothing is sent to it any more; its history stays in the log."""
    desk.delete(webhook_id, who.context())
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", summary="Issue a new signing secret", responses={**NOT_FOUND, **CONFLICT})
def rotate_secret(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> WebhookWithSecret:
    """A new secret, shown this once; for 24 hours deliveries carry a signature with each of the
    old and the new secret, so that the receiver can switch over."""
    issued = desk.rotate_secret(webhook_id, who.context())
    return _with_secret(WebhookPublic.of(issued.subscription), issued.secret)


@router.get("/{webhook_id}/deliveries", summary="A subscription's delivery attempts", responses=NOT_FOUND)
def list_deliveries(
    webhook_id: WebhookPath, who: Admin, desk: WebhooksDep, page: AttemptPageQuery
) -> DeliveryAttemptPage:
    """Every attempt, oldest first: when, which event, which attempt, the status, the latency
    and the error."""
    rows, cursor = keyset_page(
        lambda after, n: desk.attempts(webhook_id, None if after is None else int(after), n),
        page,
        key=lambda attempt: str(attempt.id),
    )
    return DeliveryAttemptPage(items=[DeliveryAttempt.model_validate(row) for row in rows], next_cursor=cursor)


@router.post("/{webhook_id}/replay", status_code=202, summary="Send history again", responses=NOT_FOUND)
def replay(
    webhook_id: WebhookPath,
    who: Admin,
    desk: WebhooksDep,
    body: Annotated[WebhookReplay, Body(openapi_examples=_REPLAY_EXAMPLES)],
) -> ReplayAccepted:
    """The subscription's events from a log position (or from a recording time) are sent again,
    in order, before live deliveries go on; each keeps its `webhook-id`."""
    return ReplayAccepted(from_position=desk.replay(webhook_id, body.from_position, body.since))
