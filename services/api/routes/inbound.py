"""The inbound routes under /v1/inbound, for form tools and email tools (the service role): a
form's lead, deduplicated against the people the CRM knows (`services.app.inbound`), and an
email opened or clicked, matched by address."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Body, Depends, Response

from services.api.deps import IdempotencyKeyHeader, InboundDep, Permit
from services.api.problems import PROBLEM_RESPONSES
from services.api.read_models import BEHIND
from services.api.responses import ETAG_HEADER, REPLAYED_HEADER, created, etag, location_header, with_etag, with_key
from services.api.schemas_inbound import InboundAccepted
from services.app.commands import InboundEmailEvent, InboundLead
from services.app.inbound import InboundOutcome
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(prefix="/v1/inbound", tags=["inbound"], responses={**PROBLEM_RESPONSES, **BEHIND})

_LEAD_EXAMPLES = {
    "web form": {
        "summary": "a web form's submission",
        "value": {
            "name": "Ada Lovelace",
            "email": "Ada@Acme.example",
            "company": "Acme",
            "country": "GB",
            "phone": "020 7946 0018",
            "campaign": "spring-launch",
            "interest": "analytics add-on",
            "message": "Please call me about pricing",
        },
    },
}

_EMAIL_EXAMPLES = {
    "opened": {"summary": "an email was opened", "value": {"email": "ada@acme.example", "kind": "email_open"}},
    "clicked": {
        "summary": "a link was clicked",
        "value": {"email": "ada@acme.example", "kind": "email_click", "detail": "spring-launch: pricing link"},
    },
}


@router.post(
    "/leads",
    status_code=201,
    summary="Take a form's lead: an interaction on the person's lead or contact, or a new lead",
    responses={
        201: {"description": "a new lead", "headers": {**location_header("the new lead"), **ETAG_HEADER}},
        200: {
            "model": InboundAccepted,
            "description": "the person is known: the submission landed on their lead or contact (`Location`); "
            "or a retry with the same `Idempotency-Key`, which appended nothing",
            "headers": {**location_header("the lead or contact it landed on"), **ETAG_HEADER, **REPLAYED_HEADER},
        },
    },
)
def inbound_lead(
    who: Annotated[Caller, Depends(Permit(Action.CAPTURE_INBOUND))],
    inbound: InboundDep,
    body: Annotated[InboundLead, Body(openapi_examples=_LEAD_EXAMPLES)],
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> InboundAccepted:
    """The person is looked for by email (case and surrounding spaces do not count), then by
    phone (E.164; read in `country`, else in the configured default region): an open lead of
    theirs gets a `form_submit` interaction (200); else a contact of theirs gets one, and a
    reactivation (a new lead) when the form states an `interest` (200); else a new lead is
    captured (201, `Location`). Submissions for the same person are taken one at a time, so two
    at once make one lead. With `Idempotency-Key`, a retry of a submission that made a lead
    answers that lead again (200)."""
    landed = inbound.submit(cast(InboundLead, with_key(body, key)), who.context())
    if landed.outcome is InboundOutcome.CREATED:
        created(response, landed.result, f"/v1/leads/{landed.result.id}")
    else:
        response.status_code = 200
        response.headers["Location"] = f"/v1/{landed.kind}s/{landed.result.id}"
        response.headers["Idempotent-Replayed"] = "true" if landed.result.position is None else "false"
    response.headers["ETag"] = etag(landed.result.version)
    return InboundAccepted.of(landed)


@router.post(
    "/interactions", summary="Record an email opened or clicked, by the person's address", responses=with_etag()
)
def inbound_interaction(
    who: Annotated[Caller, Depends(Permit(Action.CAPTURE_INBOUND))],
    inbound: InboundDep,
    body: Annotated[InboundEmailEvent, Body(openapi_examples=_EMAIL_EXAMPLES)],
    response: Response,
) -> InboundAccepted:
    """Logs `email_open` or `email_click` on the open lead with that email address (compared
    normalised), else on the contact with it; 404 (`unknown-email`) when nobody has it."""
    landed = inbound.email_event(body, who.context())
    response.headers["ETag"] = etag(landed.result.version)
    return InboundAccepted.of(landed)
