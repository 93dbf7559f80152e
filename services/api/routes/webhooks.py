"""The webhook routes under /v1/webhooks (admins only): subscribe a tool to the CRM's events,
read, change and delete subscriptions, rotate a subscription's signing secret, list its delivery
attempts, and send history again. The secret is in the answer of a create and of a rotation,
and nowhere else. See docs/webhooks.md for what the tool receives."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import AttemptPageQuery, Permit, WebhookPath, WebhooksDep
from services.api.pagination import Page, keyset_page
from services.api.problems import PROBLEM_RESPONSES
from services.api.schemas_webhooks import (
    DeliveryAttempt,
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

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)

Admin = Annotated[Caller, Depends(Permit(Action.MANAGE_WEBHOOKS))]


def _with_secret(public: WebhookPublic, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**public.model_dump(), secret=secret)


@router.post("", status_code=201, summary="Subscribe a tool to the CRM's events")
def subscribe(
    who: Admin, desk: WebhooksDep, body: Annotated[WebhookCreate, Body()], response: Response
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


@router.get("/{webhook_id}", summary="A webhook subscription")
def get_webhook(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> WebhookPublic:
    """The subscription, without its secret."""
    return WebhookPublic.of(desk.get(webhook_id))


@router.patch("/{webhook_id}", summary="Change some of a subscription's fields")
def change_webhook(
    webhook_id: WebhookPath, who: Admin, desk: WebhooksDep, body: Annotated[WebhookUpdate, Body()]
) -> WebhookPublic:
    """Only the fields sent change; `active: true` sends again to a subscription the CRM disabled
    (from the event it stopped at)."""
    return WebhookPublic.of(desk.change(webhook_id, body.changes(), who.context()))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a subscription")
def delete_webhook(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> Response:
    """Nothing is sent to it any more; its history stays in the log."""
    desk.delete(webhook_id, who.context())
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", summary="Issue a new signing secret")
def rotate_secret(webhook_id: WebhookPath, who: Admin, desk: WebhooksDep) -> WebhookWithSecret:
    """A new secret, shown this once; for 24 hours deliveries carry a signature with each of the
    old and the new secret, so that the receiver can switch over."""
    issued = desk.rotate_secret(webhook_id, who.context())
    return _with_secret(WebhookPublic.of(issued.subscription), issued.secret)


@router.get("/{webhook_id}/deliveries", summary="A subscription's delivery attempts")
def list_deliveries(
    webhook_id: WebhookPath, who: Admin, desk: WebhooksDep, page: AttemptPageQuery
) -> Page[DeliveryAttempt]:
    """Every attempt, oldest first: when, which event, which attempt, the status, the latency
    and the error."""
    rows, cursor = keyset_page(
        lambda after, n: desk.attempts(webhook_id, None if after is None else int(after), n),
        page,
        key=lambda attempt: str(attempt.id),
    )
    return Page[DeliveryAttempt](items=[DeliveryAttempt.model_validate(row) for row in rows], next_cursor=cursor)


@router.post("/{webhook_id}/replay", status_code=202, summary="Send history again")
def replay(
    webhook_id: WebhookPath, who: Admin, desk: WebhooksDep, body: Annotated[WebhookReplay, Body()]
) -> ReplayAccepted:
    """The subscription's events from a log position (or from a recording time) are sent again,
    in order, before live deliveries go on; each keeps its `webhook-id`."""
    return ReplayAccepted(from_position=desk.replay(webhook_id, body.from_position, body.since))
