"""The console's contact routes: converting a lead from its page, a contact's page (its facts,
purchases, segments, consent and live timeline) and recording a purchase there.

They ask the same of the request as the lead's page does (`services.console.app`): the caller's
role permits the action, reads and commands run in the caller's owner scope (a rep: the contacts
of their own leads), an analyst sees what the API masks, and a form is validated by the API's
command model, its errors next to their fields and nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from domain.contact import Contact
from domain.errors import DomainError
from domain.values import ConsentChannel
from services.api.read_models import ReadModelGate
from services.api.schemas import AuditTrail, ContactPublic
from services.app.application import CrmApplication
from services.app.commands import RecordPurchase
from services.app.errors import ApplicationError, NotFound
from services.app.queries import ReadModelQueries
from services.auth.access import Caller
from services.auth.policy import Action
from services.console.pages import (
    POLL_SECONDS,
    PREFIX,
    SECURITY_HEADERS,
    Errors,
    Form,
    caller_of,
    check_csrf,
    crm_of,
    form_of,
    integer_field,
    redirect,
    refused,
    render,
    shown_name,
    timeline_of,
    validated,
    when,
)
from services.console.sessions import Session

CONSENT_CHANNELS = [c.value for c in ConsentChannel]


def contact_routes(console: FastAPI) -> None:
    """Add the contact routes to the console's app."""

    @console.get("/contacts/{contact_id}", response_class=HTMLResponse, name="contact")
    def contact_page(request: Request, contact_id: uuid.UUID, min_position: int | None = None) -> HTMLResponse:
        who, session = caller_of(request)
        return _contact_page(request, who, session, contact_id, min_position=min_position)

    @console.get("/contacts/{contact_id}/timeline", response_class=HTMLResponse, name="contact_timeline")
    def contact_timeline(request: Request, contact_id: uuid.UUID, since: int | None = None) -> Response:
        who, _ = caller_of(request)
        timeline = timeline_of(crm_of(request), who, contact_id, of=Contact)
        if since is not None and timeline and timeline[0]["version"] == since:
            # nothing happened: no swap, nothing shown, so no read logged
            return Response(status_code=204, headers=SECURITY_HEADERS)
        # the segments are left to a reload: the read models may still be applying the change
        view = contact_view(crm_of(request), None, who, contact_id, timeline)
        return render(request, "_contact_live.html", {**view, "poll": POLL_SECONDS, "oob": True})

    @console.post("/contacts/{contact_id}/purchases", name="purchase")
    async def record_purchase(request: Request, contact_id: uuid.UUID) -> Response:
        who, session = caller_of(request, Action.RECORD_PURCHASE)
        form = await form_of(request)
        check_csrf(request, form, session)
        values = {
            "order_id": form.get("order_id", ""),
            "amount": integer_field(form.get("amount", "")),
            "currency": form.get("currency", ""),
            "quantity": integer_field(form.get("quantity", "")),
        }
        done, errors, status = await run_in_threadpool(_record, crm_of(request), who, contact_id, values)
        if errors:
            return await run_in_threadpool(
                _contact_page, request, who, session, contact_id, {"purchase": errors}, {"purchase": form}, status
            )
        return redirect(request, contact_url(*done))


def contact_url(contact_id: uuid.UUID, position: int | None) -> str:
    """The contact's page, asked once the read models have applied the change (read your writes)."""
    after = f"?min_position={position}" if position else ""
    return f"{PREFIX}/contacts/{contact_id}{after}"


def _record(
    crm: CrmApplication, who: Caller, contact_id: uuid.UUID, values: Mapping[str, Any]
) -> tuple[tuple[uuid.UUID, int | None], Errors, int]:
    """Record a purchase as the API's route does: the contact and the log position, or the form's
    errors and status (nothing stored)."""
    cmd, errors = validated(RecordPurchase, values)
    if cmd is None:
        return (contact_id, None), errors, 422
    try:
        result = crm.record_purchase(contact_id, cmd, who.context())
    except NotFound:
        raise
    except (DomainError, ApplicationError) as error:
        return (contact_id, None), *refused(error)
    return (contact_id, result.position), {}, 200


def _queries_caught_up(request: Request, min_position: int | None) -> ReadModelQueries | None:
    """The read models (None when this server does not serve them), once they applied
    `min_position` when one is given (503 when they do not get there in time, as in the API)."""
    gate: ReadModelGate = request.app.state.read_models
    if gate.read_models is None:
        return None
    return gate.caught_up(min_position)


def _owner(crm: CrmApplication, contact: Contact) -> str | None:
    """Who owns the contact: the owner of the lead it was converted from (as the owner scope says)."""
    if contact.lead_id is None:
        return None
    try:
        return crm.get_lead(contact.lead_id).owner
    except NotFound:
        return None


def _money(amounts: Mapping[str, int]) -> str:
    """Amounts per currency in minor units, as the API gives them: `259800 USD · 1200 EUR`."""
    return " · ".join(f"{amount} {currency}" for currency, amount in sorted(amounts.items())) or "nothing yet"


def purchases_of(crm: CrmApplication, who: Caller, contact_id: uuid.UUID) -> list[dict[str, Any]]:
    """The contact's purchases, newest first, from its audit trail (masked for an analyst)."""
    entries = crm.history(contact_id, of=Contact, owner_scope=who.owner_scope)
    trail = AuditTrail.of(contact_id, entries, masked=who.principal.masks_personal_data)
    return [
        {
            "when": when(e.occurred_at),
            "when_iso": e.occurred_at.isoformat(),
            "amount": e.data.get("amount"),
            "currency": e.data.get("currency"),
            "item": e.data.get("order_id"),
            "quantity": e.data.get("quantity"),
        }
        for e in reversed(trail.entries)
        if e.event_type == "contact.purchase_recorded"
    ]


def contact_view(
    crm: CrmApplication,
    queries: ReadModelQueries | None,
    who: Caller,
    contact_id: uuid.UUID,
    timeline: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A contact as its page shows it: the API's `ContactPublic` (masked for an analyst), its
    owner, purchases, the segments it is in now (None without read models, or before they hold
    it), consent per channel, its timeline, and whether the caller may record a purchase."""
    contact = crm.get_contact(contact_id, owner_scope=who.owner_scope)
    public = ContactPublic.of(contact, masked=who.principal.masks_personal_data)
    segments = None if queries is None else queries.contact_segments(contact_id)
    who.read([contact_id])
    return {
        "contact": public,
        "contact_id": contact_id,
        "name": shown_name(who, public.name),
        "owner": _owner(crm, contact),
        "lifetime_value": _money(public.lifetime_value),
        "purchases": purchases_of(crm, who, contact_id),
        "read_models": queries is not None,
        "segments": [{"name": s.name, "description": s.description, "since": when(s.entered_at)} for s in segments]
        if segments is not None
        else None,
        "consent": [(channel, public.consents.get(channel)) for channel in CONSENT_CHANNELS],
        "timeline": timeline if timeline is not None else timeline_of(crm, who, contact_id, of=Contact),
        "timeline_path": f"{PREFIX}/contacts/{contact_id}/timeline",
        "created": when(public.created_at),
        "may": {"purchase": who.principal.may(Action.RECORD_PURCHASE) and public.merged_into is None},
    }


def _contact_page(
    request: Request,
    who: Caller,
    session: Session,
    contact_id: uuid.UUID,
    errors: dict[str, Errors] | None = None,
    values: dict[str, Form] | None = None,
    status: int = 200,
    min_position: int | None = None,
) -> HTMLResponse:
    queries = _queries_caught_up(request, min_position)
    view = contact_view(crm_of(request), queries, who, contact_id)
    context = {
        **view,
        "who": who.principal,
        "csrf": session.csrf_token,
        "errors": errors or {},
        "values": values or {},
        "poll": POLL_SECONDS,
    }
    return render(request, "contact.html", context, status)
