"""The lead routes under /v1/leads: capture, read (now, at a version, as of a time, its audit
trail), the lead's commands, and the list of leads from the pipeline read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response

from domain.values import LeadSource, Stage
from projections.pipeline_queries import list_leads
from services.api.deps import (
    PAGE_SIZE,
    AsOf,
    AtVersion,
    Cursor,
    IdempotencyKeyHeader,
    IfMatch,
    Limit,
    MinPosition,
    OwnerFilter,
    Who,
    allowed,
    decode_cursor,
    next_cursor,
)
from services.api.problems import PROBLEM_RESPONSES
from services.api.read_models import BEHIND, ReadModelGate
from services.api.responses import accepted, created, etag, exact_version, trail, utc, with_key
from services.api.schemas import AuditTrail, CommandAccepted, LeadConverted, LeadPage, LeadPublic, LeadSummary
from services.app.application import CrmApplication
from services.app.commands import (
    AssignLead,
    CaptureLead,
    ChangeStage,
    ConvertLead,
    DisqualifyLead,
    LogInteraction,
    RescoreLead,
)
from services.app.errors import LeadNotFound
from services.auth.policy import Access, Action

_CAPTURE_EXAMPLES = {
    "web form": {
        "summary": "a lead from the web form",
        "value": {
            "name": "Ada Lovelace",
            "email": "ada@acme.example",
            "company": "Acme",
            "title": "CTO",
            "source": "web_form",
            "campaign": "spring-launch",
            "estimated_value": 1200000,
            "currency": "USD",
        },
    }
}


def lead_routes(crm: CrmApplication, access: Access, reads: ReadModelGate) -> APIRouter:
    """The router of /v1/leads over `crm`, with the role and object rules of `access`."""
    leads = APIRouter(prefix="/v1/leads", tags=["leads"], responses=PROBLEM_RESPONSES)
    queries, caught_up = reads.queries, reads.caught_up

    @leads.get(
        "",
        summary="List leads (filter, page through)",
        dependencies=[allowed(Action.READ_PIPELINE)],
        responses=BEHIND,
    )
    def list_leads_page(
        who: Who,
        stage: Annotated[Stage | None, Query(description="only leads in this stage now")] = None,
        owner: OwnerFilter = None,
        source: Annotated[LeadSource | None, Query(description="only leads from this source")] = None,
        min_score: Annotated[int | None, Query(ge=0, le=100, description="only leads scoring at least this")] = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> LeadPage:
        """Leads as they stand now, in lead id order, from the pipeline read model. A rep sees
        their own leads only; an analyst sees names masked."""
        owner = access.owner_filter(who, owner, Action.READ_PIPELINE)
        after = decode_cursor(cursor)
        caught_up(min_position)
        rows = list_leads(
            queries().store,
            stage=stage.value if stage else None,
            owner=owner,
            source=source.value if source else None,
            min_score=min_score,
            after=after,
            limit=limit + 1,
        )
        masked = who.principal.masks_personal_data
        return LeadPage(
            items=[LeadSummary.of(row, masked=masked) for row in rows[:limit]],
            next_cursor=next_cursor([row.lead_id for row in rows], limit),
        )

    @leads.post("", status_code=201, summary="Capture a lead", dependencies=[allowed(Action.CAPTURE_LEAD)])
    def capture_lead(
        body: Annotated[CaptureLead, Body(openapi_examples=_CAPTURE_EXAMPLES)],
        who: Who,
        response: Response,
        key: IdempotencyKeyHeader = None,
    ) -> CommandAccepted:
        result = crm.capture_lead(access.capture(who, with_key(body, key)), who.context())
        created(response, result, f"/v1/leads/{result.id}")
        return accepted(response, result)

    @leads.get("/{lead_id}", summary="A lead now, at a version, or as of a time", dependencies=[allowed(Action.READ)])
    def get_lead(
        lead_id: UUID, who: Who, response: Response, as_of: AsOf = None, version: AtVersion = None
    ) -> LeadPublic:
        access.lead(who, lead_id, Action.READ)
        lead = crm.get_lead(lead_id, version=version, as_of=utc(as_of))
        exact_version(lead, version, as_of, LeadNotFound(lead_id, f" at version {version}"))
        response.headers["ETag"] = etag(lead.version)
        return LeadPublic.of(lead, masked=who.principal.masks_personal_data)

    @leads.get("/{lead_id}/history", summary="A lead's audit trail", dependencies=[allowed(Action.READ)])
    def lead_history(lead_id: UUID, who: Who) -> AuditTrail:
        access.lead(who, lead_id, Action.READ)
        return trail(crm, lead_id, "lead", who)

    @leads.post(
        "/{lead_id}/interactions",
        summary="Log an interaction (and rescore)",
        dependencies=[allowed(Action.LOG_INTERACTION)],
    )
    def log_lead_interaction(
        lead_id: UUID, body: LogInteraction, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.LOG_INTERACTION, expected)
        return accepted(response, crm.log_lead_interaction(lead_id, body, who.context(), expected_version=version))

    @leads.post(
        "/{lead_id}/stage", summary="Move a lead to another open stage", dependencies=[allowed(Action.CHANGE_STAGE)]
    )
    def change_stage(
        lead_id: UUID, body: ChangeStage, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.CHANGE_STAGE, expected)
        return accepted(response, crm.change_stage(lead_id, body, who.context(), expected_version=version))

    @leads.post("/{lead_id}/assign", summary="Give a lead to a sales rep", dependencies=[allowed(Action.ASSIGN_LEAD)])
    def assign_lead(
        lead_id: UUID, body: AssignLead, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.ASSIGN_LEAD, expected)
        return accepted(response, crm.assign_lead(lead_id, body, who.context(), expected_version=version))

    @leads.post("/{lead_id}/disqualify", summary="Close a lead as lost", dependencies=[allowed(Action.DISQUALIFY_LEAD)])
    def disqualify_lead(
        lead_id: UUID, body: DisqualifyLead, who: Who, expected: IfMatch, response: Response
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.DISQUALIFY_LEAD, expected)
        return accepted(response, crm.disqualify_lead(lead_id, body, who.context(), expected_version=version))

    @leads.post(
        "/{lead_id}/convert",
        summary="Close a lead as won; it becomes a contact",
        dependencies=[allowed(Action.CONVERT_LEAD)],
    )
    def convert_lead(
        lead_id: UUID, body: ConvertLead, who: Who, expected: IfMatch, response: Response
    ) -> LeadConverted:
        version = access.lead(who, lead_id, Action.CONVERT_LEAD, expected)
        result = crm.convert_lead(lead_id, body, who.context(), expected_version=version)
        response.headers["ETag"] = etag(result.version)
        return LeadConverted.of(result)

    @leads.post(
        "/{lead_id}/rescore", summary="Apply score decay as of now", dependencies=[allowed(Action.RESCORE_LEAD)]
    )
    def rescore_lead(
        lead_id: UUID,
        who: Who,
        expected: IfMatch,
        response: Response,
        body: RescoreLead | None = None,
    ) -> CommandAccepted:
        version = access.lead(who, lead_id, Action.RESCORE_LEAD, expected)
        cmd = body or RescoreLead()
        return accepted(response, crm.rescore_lead(lead_id, cmd, who.context(), expected_version=version))

    return leads
