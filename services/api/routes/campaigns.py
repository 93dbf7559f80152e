"""The campaign routes under /v1/campaigns: record what was spent on a campaign, and list its costs."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Response

from domain.campaign import MAX_CAMPAIGN_NAME, campaign_id_of
from services.api.deps import CrmDep, IdempotencyKeyHeader, Permit
from services.api.problems import PROBLEM_RESPONSES, documented_problem
from services.api.responses import created, created_or_replayed, etag, with_key
from services.api.schemas_campaigns import CampaignCostList, CampaignCostPublic
from services.app.commands import RecordCampaignCost
from services.auth.access import Caller
from services.auth.masking import mask_free_text
from services.auth.policy import Action

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaigns"],
    responses={
        **PROBLEM_RESPONSES,
        404: documented_problem("No cost was ever recorded for the campaign (a first cost sets a campaign up)"),
    },
)

CampaignName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_CAMPAIGN_NAME,
        pattern=r"^\S(.*\S)?$",
        description="the campaign's name, as leads' `campaign` holds it, e.g. spring-launch",
    ),
]

_COST_EXAMPLES = {
    "booth": {
        "summary": "2,500.00 USD for a trade fair booth (amounts in minor units)",
        "value": {"amount": 250000, "currency": "USD", "note": "trade fair booth"},
    },
    "back-dated": {
        "summary": "an invoice booked after the fact (business time)",
        "value": {"amount": 90000, "currency": "EUR", "occurred_at": "2026-03-02T00:00:00Z", "note": "invoice 4711"},
    },
}


@router.post(
    "/{name}/costs",
    status_code=201,
    summary="Record money spent on a campaign",
    responses=created_or_replayed(CampaignCostPublic, "the campaign's costs"),
)
def record_campaign_cost(
    name: CampaignName,
    who: Annotated[Caller, Depends(Permit(Action.RECORD_CAMPAIGN_COST))],
    crm: CrmDep,
    body: Annotated[RecordCampaignCost, Body(openapi_examples=_COST_EXAMPLES)],
    response: Response,
    key: IdempotencyKeyHeader = None,
) -> CampaignCostPublic:
    """A cost of the campaign, at `occurred_at` (business time, now by default); the campaign is set
    up by its first cost. 201 with the cost, `Location` (the campaign's costs) and the campaign's
    `ETag`. A retry with the same `Idempotency-Key` (header or body) answers 200 with the same
    cost and appends nothing; the same key with other values is a 409."""
    recorded = crm.record_campaign_cost(name, with_key(body, key), who.context())
    created(response, recorded.result, f"/v1/campaigns/{quote(name, safe='')}/costs")
    response.headers["ETag"] = etag(recorded.result.version)
    return CampaignCostPublic.of(recorded)


@router.get("/{name}/costs", summary="Every cost recorded for a campaign")
def list_campaign_costs(
    name: CampaignName, who: Annotated[Caller, Depends(Permit(Action.READ_INSIGHTS))], crm: CrmDep
) -> CampaignCostList:
    """The campaign's costs in the order they were recorded; 404 for a campaign without costs. An
    analyst sees emails and phones in notes masked, like all free text."""
    campaign_id = campaign_id_of(name)
    costs = crm.campaign_costs(name)
    items = [CampaignCostPublic.listed(name, campaign_id, cost) for cost in costs]
    if who.principal.masks_personal_data:
        items = [item.model_copy(update={"note": mask_free_text(item.note)}) for item in items]
    return CampaignCostList(campaign=name, items=items)
