"""The campaign and analytics DTOs of the HTTP API: a recorded campaign cost, and the campaign and
rep analytics tables."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from domain.campaign import Cost
from projections.analytics_queries import CampaignRow, RepActivityRow
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


class CampaignAnalyticsRow(BaseModel):
    """One source and campaign: its leads, conversions, won value, cost and return as of a time."""

    source: str | None = Field(description="the leads' source then; null for a campaign with costs and no lead")
    campaign: str | None = Field(description="the campaign; null for the leads of no campaign")
    leads: int = Field(description="leads captured by `as_of`")
    converted: int = Field(description="of them, converted (won) by `as_of`")
    conversion_rate: float | None = Field(description="converted / leads; null without leads")
    won_value: dict[str, int] = Field(description="deal value of the converted ones, minor units per currency")
    cost: dict[str, int] = Field(
        description="what the campaign cost by `as_of`, minor units per currency (its share in proportion to "
        "leads when its leads came from several sources)"
    )
    roi: float | None = Field(
        description="(won_value - cost) / cost, when the cost is in one currency, more than 0, and nothing was "
        "won in another currency; else null"
    )
    cost_per_lead: dict[str, int] = Field(description="cost / leads per currency, whole minor units; {} without leads")

    @classmethod
    def of(cls, row: CampaignRow) -> CampaignAnalyticsRow:
        """A row of `analytics_queries.campaign_table` with costs."""
        return cls(
            source=row.source,
            campaign=row.campaign,
            leads=row.leads,
            converted=row.converted,
            conversion_rate=row.conversion_rate,
            won_value=row.won_value,
            cost=row.cost or {},
            roi=row.roi,
            cost_per_lead=row.cost_per_lead or {},
        )


class CampaignAnalytics(BaseModel):
    """Return on campaign spend as of a business time (as known at a transaction time)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": "2026-06-01T00:00:00Z",
                    "known_at": None,
                    "items": [
                        {
                            "source": "web_form",
                            "campaign": "spring-launch",
                            "leads": 40,
                            "converted": 6,
                            "conversion_rate": 0.15,
                            "won_value": {"USD": 7200000},
                            "cost": {"USD": 1800000},
                            "roi": 3.0,
                            "cost_per_lead": {"USD": 45000},
                        }
                    ],
                }
            ]
        }
    )

    as_of: datetime
    known_at: datetime | None
    items: list[CampaignAnalyticsRow]


class RepAnalyticsRow(BaseModel):
    """What one owner did in the period."""

    owner: str | None = Field(description="the owner; null for the leads nobody owned")
    leads_worked: int = Field(description="leads they owned at some moment of the period")
    activities: int = Field(description="interactions logged in the period on leads they owned at that moment")
    won: int = Field(description="leads converted in the period while theirs")
    lost: int = Field(description="leads disqualified in the period while theirs")
    win_rate: float | None = Field(description="won / (won + lost); null when none closed")
    won_value: dict[str, int] = Field(description="deal value of those won, minor units per currency")
    median_days_to_first_touch: float | None = Field(
        description="median days from capture to first interaction, over the leads first touched in the period "
        "while theirs; null when none"
    )
    median_days_to_close: float | None = Field(
        description="median days from capture to close (won or lost), over those closed in the period; null when none"
    )
    open_leads: int = Field(description="their leads in an open stage at the end of the period")

    @classmethod
    def of(cls, row: RepActivityRow) -> RepAnalyticsRow:
        """A row of `analytics_queries.rep_activity`."""
        return cls(**row._asdict())


class RepAnalytics(BaseModel):
    """Rep performance over a period of business time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-03-01",
                    "to": "2026-03-31",
                    "as_of": "2026-06-01T00:00:00Z",
                    "items": [
                        {
                            "owner": "rep-anna",
                            "leads_worked": 31,
                            "activities": 87,
                            "won": 4,
                            "lost": 6,
                            "win_rate": 0.4,
                            "won_value": {"USD": 4800000},
                            "median_days_to_first_touch": 0.8,
                            "median_days_to_close": 23.5,
                            "open_leads": 19,
                        }
                    ],
                }
            ]
        },
        populate_by_name=True,
    )

    from_day: date = Field(alias="from", description="first day of the period (UTC)")
    to_day: date = Field(alias="to", description="last day of the period (UTC), included")
    as_of: datetime = Field(description="the business time the history is read as of")
    items: list[RepAnalyticsRow]
