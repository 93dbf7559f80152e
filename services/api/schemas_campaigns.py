"""The campaign and analytics DTOs of the HTTP API: a recorded campaign cost, and the campaign and
rep analytics tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from domain.campaign import Cost
from services.app.application import RecordedCost

_COST_EXAMPLE: dict[str, JsonValue] = {
    "campaign": "spring-launch",
    "campaign_id": "dd0c2a19-7553-5cae-be9f-830caeb21df8",
    "cost_id": "7d1f6b0e-2f6a-4b54-8a1e-0c1d2e3f4a5b",
    "amount": 250000,
    "currency": "USD",
    "occurred_at": "2026-03-02T00:00:00Z",
    "note": "trade fair booth",
    "recorded_by": "manager-mia",
    "version": 3,
    "position": 1207,
}


class CampaignCostPublic(BaseModel):
    """One recorded cost of a campaign."""

    model_config = ConfigDict(json_schema_extra={"examples": [_COST_EXAMPLE]})

    campaign: str = Field(description="the campaign's name, as a lead's `campaign` holds it")
    campaign_id: UUID = Field(description="the campaign's id (derived from its name)")
    cost_id: UUID = Field(description="the cost's id; the same for a retry with the same `Idempotency-Key`")
    amount: int = Field(description="integer minor units of `currency`")
    currency: str = Field(description="ISO 4217")
    occurred_at: datetime = Field(description="when the money was spent (business time)")
    note: str | None = Field(description="free text about the spend, e.g. the invoice")
    recorded_by: str = Field(description="who recorded it")
    version: int | None = Field(description="the campaign's version after the cost; null in a list of costs")
    position: int | None = Field(
        description="log position of the cost's event; null when nothing was appended (a retry) or in a list"
    )

    @classmethod
    def of(cls, recorded: RecordedCost) -> CampaignCostPublic:
        """The answer to recording a cost."""
        result = recorded.result
        return cls.listed(recorded.campaign, result.id, recorded.cost, result.version, result.position)

    @classmethod
    def listed(
        cls, campaign: str, campaign_id: UUID, cost: Cost, version: int | None = None, position: int | None = None
    ) -> CampaignCostPublic:
        """One cost of a campaign."""
        return cls(
            campaign=campaign,
            campaign_id=campaign_id,
            cost_id=UUID(cost.cost_id),
            amount=cost.money.amount,
            currency=cost.money.currency,
            occurred_at=cost.occurred_at,
            note=cost.note,
            recorded_by=cost.recorded_by,
            version=version,
            position=position,
        )


class CampaignCostList(BaseModel):
    """Every cost recorded for one campaign, in recording order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"campaign": "spring-launch", "items": [{**_COST_EXAMPLE, "version": None, "position": None}]}]
        }
    )

    campaign: str
    items: list[CampaignCostPublic]
