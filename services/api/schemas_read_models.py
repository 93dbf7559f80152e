"""What the read-model routes answer with: the API's own views of the pipeline, the forecast
and its accuracy, segments, contact features and the lead and contact lists. Each is built from
the projections' answer with `.of(...)`, so that a projection may change its models without
changing the HTTP contract by accident."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from projections.contact_features import ContactFeatures, Lifecycle
from projections.forecast import Category, Forecast, ForecastAccuracy
from projections.forecast_backtest import Backtest
from projections.pipeline_queries import LeadRow, PipelineSummary
from projections.segment_membership import SegmentMember
from projections.segment_queries import SegmentContact, SegmentSummary
from projections.segment_rules import Unit
from services.api.pagination import Page
from services.auth.masking import mask_name, mask_personal

_LEAD_ID = "0b6f7f0e-2a41-4b8e-9a57-0c1d9a3e5f21"
_CONTACT_ID = "7d4e2c1a-5b3f-4e8d-8c2a-9f1e0d3b6a47"
_WHEN = "2026-03-02T14:05:00Z"
_MINOR_UNITS = "minor units per currency"

_OPEN_STAGES = ("new", "contacted", "nurturing", "qualified", "proposal", "negotiation")
_PROBABILITY = {"new": 0.05, "contacted": 0.1, "nurturing": 0.15, "qualified": 0.3, "proposal": 0.5, "negotiation": 0.7}
_COUNT = {"new": 12, "contacted": 8, "nurturing": 5, "qualified": 4, "proposal": 2, "negotiation": 1}
PIPELINE_EXAMPLE: dict[str, Any] = {
    "as_of": _WHEN,
    "owner": None,
    "source": None,
    "stages": [
        *(
            {
                "stage": stage,
                "count": _COUNT[stage],
                "value": {"USD": _COUNT[stage] * 500000},
                "win_probability": _PROBABILITY[stage],
                "weighted_value": {"USD": round(_COUNT[stage] * 500000 * _PROBABILITY[stage])},
            }
            for stage in _OPEN_STAGES
        ),
        {"stage": "converted", "count": 6, "value": {"USD": 3100000}, "win_probability": None, "weighted_value": {}},
        {"stage": "disqualified", "count": 9, "value": {"USD": 900000}, "win_probability": None, "weighted_value": {}},
    ],
    "open_count": 32,
    "open_value": {"USD": 16000000},
    "weighted_value": {"USD": 2075000},
    "win_probabilities": _PROBABILITY,
    "conversions": [
        {"stage": stage, "entered": 40 - 5 * i, "advanced": 30 - 5 * i, "rate": round((30 - 5 * i) / (40 - 5 * i), 3)}
        for i, stage in enumerate(_OPEN_STAGES)
    ],
    "converted": 6,
    "disqualified": 9,
    "win_rate": 0.4,
    "time_in_stage": [
        {"stage": stage, "intervals": 30 - 5 * i, "mean_days": 6.5, "median_days": 5.0}
        for i, stage in enumerate(_OPEN_STAGES)
    ],
}
"""A pipeline as the examples of the OpenAPI document show it."""

FORECAST_EXAMPLE: dict[str, Any] = {
    "as_of": _WHEN,
    "months": ["2026-03-01", "2026-04-01", "2026-05-01"],
    "rows": [
        {
            "month": "2026-03-01",
            "currency": "USD",
            "closed": 1200000,
            "commit": 350000,
            "best_case": 600000,
            "pipeline": 750000,
            "new_business": 90000,
            "expected_total": 2040000,
        }
    ],
    "beyond_horizon": {"USD": 125000},
    "deals": [
        {
            "lead_id": _LEAD_ID,
            "stage": "negotiation",
            "owner": "rep-anna",
            "value": 500000,
            "currency": "USD",
            "probability": 0.7,
            "expected_value": 350000.0,
            "stage_entered_at": "2026-02-20T09:00:00Z",
            "expected_close": "2026-03-12T09:00:00Z",
            "category": "commit",
        }
    ],
    "win_probabilities": {
        "as_of": _WHEN,
        "min_sample": 20,
        "stages": [{"stage": "negotiation", "probability": 0.7, "sample_size": 24, "converted": 17, "learned": True}],
    },
    "days_to_close": {
        "as_of": _WHEN,
        "min_sample": 20,
        "stages": [{"stage": "negotiation", "days": 20.0, "sample_size": 24, "learned": True}],
    },
    "commit_threshold": 0.7,
    "best_case_threshold": 0.4,
    "model": "hazard_win",
    "win_model": "nb-1:2026-03-15T00:00:00Z:412",
    "win_model_reason": None,
}
"""A forecast as the examples of the OpenAPI document show it."""


class _View(BaseModel):
    """A view read off a projection's answer, attribute by attribute."""

    model_config = ConfigDict(from_attributes=True)


# --- the pipeline ----------------------------------------------------------------------------


class StageTotalsPublic(_View):
    """Leads in one stage at `as_of`."""

    stage: str
    count: int
    value: dict[str, int] = Field(description=_MINOR_UNITS)
    win_probability: float | None = Field(description="null for the closed stages")
    weighted_value: dict[str, int] = Field(description="value x win probability (empty for the closed stages)")


class StageConversionPublic(_View):
    """Of the leads that entered `stage` by `as_of`, how many had by then reached a later stage."""

    stage: str
    entered: int
    advanced: int
    rate: float | None = Field(description="advanced / entered; null when no lead entered the stage")


class StageDurationPublic(_View):
    """Days spent in a stage, over the stays that had ended by `as_of`."""

    stage: str
    intervals: int
    mean_days: float | None
    median_days: float | None


class PipelineSummaryPublic(_View):
    """The pipeline at one business time, optionally for one owner and/or source (as of then)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [PIPELINE_EXAMPLE]})

    as_of: datetime
    owner: str | None
    source: str | None
    stages: list[StageTotalsPublic] = Field(description="all eight stages: pipeline order, then disqualified")
    open_count: int
    open_value: dict[str, int] = Field(description=_MINOR_UNITS)
    weighted_value: dict[str, int] = Field(description=_MINOR_UNITS)
    win_probabilities: dict[str, float]
    conversions: list[StageConversionPublic] = Field(description="one per open stage, in pipeline order")
    converted: int
    disqualified: int
    win_rate: float | None = Field(
        description="converted / (converted + disqualified), over leads closed by `as_of`; null if none closed"
    )
    time_in_stage: list[StageDurationPublic] = Field(description="one per open stage, in pipeline order")

    @classmethod
    def of(cls, summary: PipelineSummary) -> PipelineSummaryPublic:
        return cls.model_validate(summary)


# --- the forecast ----------------------------------------------------------------------------


class StageProbabilityPublic(_View):
    """Win probability of an open stage: learned from `sample_size` closed leads, or the default."""

    stage: str
    probability: float
    sample_size: int
    converted: int
    learned: bool


class WinProbabilitiesPublic(_View):
    as_of: datetime
    min_sample: int
    stages: list[StageProbabilityPublic]


class StageDaysToClosePublic(_View):
    """Median days from entering an open stage to conversion, learned or the default."""

    stage: str
    days: float
    sample_size: int
    learned: bool


class DaysToClosePublic(_View):
    as_of: datetime
    min_sample: int
    stages: list[StageDaysToClosePublic]


class OpenDealPublic(_View):
    """An open lead at the forecast date, with its chance and expected close."""

    lead_id: str
    stage: str
    owner: str | None
    value: int | None = Field(description="minor units")
    currency: str | None
    probability: float
    expected_value: float = Field(description="value x probability, unrounded (0 without a value)")
    stage_entered_at: datetime
    expected_close: datetime
    category: Category


class ForecastMonthPublic(_View):
    """One calendar month of the forecast in one currency (minor units): `closed` already
    converted; `commit` <= `best_case` <= `pipeline` the expected value the open leads bring in
    the month, by their chance of converting; `new_business` what leads not yet open bring."""

    month: date
    currency: str
    closed: int
    commit: int
    best_case: int
    pipeline: int
    new_business: int = Field(description="expected value converted in the month from leads captured after `as_of`")
    expected_total: int = Field(description="closed + pipeline + new_business")


class ForecastPublic(_View):
    """The open pipeline's expected value per month (expected deal value x chance of converting in
    the month) plus the expected new business, by month and currency."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [FORECAST_EXAMPLE]})

    as_of: datetime
    months: list[date] = Field(description="first day of each month, starting with the month of `as_of`")
    rows: list[ForecastMonthPublic] = Field(description="by month, then currency")
    beyond_horizon: dict[str, int] = Field(description="expected value closing after the last month, per currency")
    deals: list[OpenDealPublic]
    win_probabilities: WinProbabilitiesPublic
    days_to_close: DaysToClosePublic
    commit_threshold: float
    best_case_threshold: float
    model: Literal["hazard_win", "hazard", "stage", "stage_and_age"] = Field(
        description="the model the forecast was made with: `hazard_win`, the hazard model's chances moved by the"
        " learned win probability (docs/read-models.md, Forecast)"
    )
    win_model: str | None = Field(
        description="the learned win probability's version (`nb-1:<trained as of>:<leads>`, trained as of the start"
        " (UTC) of the forecast's day) that moved the deals' chances; null when none did"
    )
    win_model_reason: str | None = Field(description="why there is no learned win probability, when there is none")

    @classmethod
    def of(cls, forecast: Forecast) -> ForecastPublic:
        return cls.model_validate(forecast)


class AccuracyMonthPublic(_View):
    """What the forecast predicted for one month and currency, and what actually closed."""

    month: date
    currency: str
    closed_at_forecast: int = Field(description="already converted in the month when the forecast was made")
    predicted_commit: int
    predicted_best_case: int
    predicted_pipeline: int
    predicted_new_business: int = Field(description="expected value from leads captured after the forecast date")
    predicted_total: int = Field(description="closed_at_forecast + predicted_pipeline + predicted_new_business")
    actual: int = Field(description="deal value converted in the month (up to `actual_as_of`)")
    actual_from_forecast_deals: int = Field(description="the part of `actual` from leads open at the forecast")
    error: int = Field(description="actual - predicted_total")


class ForecastAccuracyPublic(_View):
    """A past forecast, month by month against the deal value actually converted."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "made_as_of": _WHEN,
                    "horizon_months": 3,
                    "actual_as_of": None,
                    "months": [
                        {
                            "month": "2026-03-01",
                            "currency": "USD",
                            "closed_at_forecast": 1200000,
                            "predicted_commit": 350000,
                            "predicted_best_case": 600000,
                            "predicted_pipeline": 750000,
                            "predicted_new_business": 90000,
                            "predicted_total": 2040000,
                            "actual": 1700000,
                            "actual_from_forecast_deals": 500000,
                            "error": -340000,
                        }
                    ],
                    "forecast": FORECAST_EXAMPLE,
                }
            ]
        },
    )

    made_as_of: datetime
    horizon_months: int
    actual_as_of: datetime | None = Field(description="conversions counted up to then; null: all recorded so far")
    months: list[AccuracyMonthPublic] = Field(description="by month, then currency")
    forecast: ForecastPublic

    @classmethod
    def of(cls, accuracy: ForecastAccuracy) -> ForecastAccuracyPublic:
        return cls.model_validate(accuracy)


class BacktestMonthPublic(_View):
    """One target month in one currency: the forecast made before it, the baselines, what converted."""

    month: date
    currency: str
    made_as_of: date = Field(description="the forecast and the baselines as of this date's first instant (UTC)")
    forecast: int = Field(description="expected total for the month: converted by then + expected value")
    last_month: int = Field(description="naive baseline: deal value converted in the month before `made_as_of`")
    mean_three: int = Field(description="naive baseline: mean monthly deal value of the three months before")
    actual: int = Field(description="deal value converted in the month, as recorded now")
    win_model: str | None = Field(
        description="the learned win probability's version the forecast used (trained as of `made_as_of`); null: none"
    )


class BacktestSummaryPublic(_View):
    """Mean absolute errors over the range in one currency (minor units)."""

    currency: str
    months: int
    forecast_mae: float
    last_month_mae: float
    mean_three_mae: float
    best_baseline: Literal["last_month", "mean_three"]
    ratio: float | None = Field(description="forecast_mae / the best baseline's MAE; null when that MAE is 0")


class BacktestPublic(_View):
    """The forecast backtest: per month, the forecast made before it against what converted,
    next to the naive baselines, and the mean absolute errors per currency."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "from_month": "2026-01-01",
                    "to_month": "2026-02-01",
                    "horizon_months": 1,
                    "rows": [
                        {
                            "month": "2026-01-01",
                            "currency": "USD",
                            "made_as_of": "2026-01-01",
                            "forecast": 7100000,
                            "last_month": 6500000,
                            "mean_three": 6900000,
                            "actual": 7400000,
                            "win_model": "nb-1:2026-01-01T00:00:00Z:388",
                        },
                        {
                            "month": "2026-02-01",
                            "currency": "USD",
                            "made_as_of": "2026-02-01",
                            "forecast": 7000000,
                            "last_month": 7400000,
                            "mean_three": 6933333,
                            "actual": 6600000,
                            "win_model": "nb-1:2026-02-01T00:00:00Z:401",
                        },
                    ],
                    "summaries": [
                        {
                            "currency": "USD",
                            "months": 2,
                            "forecast_mae": 350000.0,
                            "last_month_mae": 850000.0,
                            "mean_three_mae": 483333.5,
                            "best_baseline": "mean_three",
                            "ratio": 0.72,
                        }
                    ],
                }
            ]
        },
    )

    from_month: date
    to_month: date
    horizon_months: int
    rows: list[BacktestMonthPublic] = Field(description="by month, then currency")
    summaries: list[BacktestSummaryPublic] = Field(description="one per currency, by currency")

    @classmethod
    def of(cls, result: Backtest) -> BacktestPublic:
        """The public view of a backtest."""
        return cls.model_validate(result)


# --- segments and contacts -------------------------------------------------------------------


class ContactFeaturesPublic(_View):
    """A contact's features as of one moment, RFM in the Fader-Hardie convention."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "as_of": _WHEN,
                    "unit": "days",
                    "created_at": "2025-06-01T10:00:00Z",
                    "purchase_count": 3,
                    "first_purchase_at": "2025-06-01T10:00:00Z",
                    "last_purchase_at": "2026-01-15T16:30:00Z",
                    "currency": "USD",
                    "total_value": 45000,
                    "average_value": 15000.0,
                    "totals_by_currency": {"USD": 45000},
                    "last_interaction_at": "2026-02-20T09:00:00Z",
                    "consent": {"email": True},
                    "reactivations": 0,
                    "lifecycle": "active",
                    "frequency": 2,
                    "recency": 228.0,
                    "T": 274.0,
                    "monetary": 15000.0,
                    "days_since_created": 274.2,
                    "days_since_first_purchase": 274.2,
                    "days_since_last_purchase": 45.9,
                    "days_since_last_interaction": 10.2,
                }
            ]
        },
    )

    as_of: datetime
    unit: Unit = Field(description="unit of recency and T")
    created_at: datetime | None
    purchase_count: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    currency: str | None = Field(description="the main currency (most purchases); null without purchases")
    total_value: int = Field(description="minor units spent in the main currency")
    average_value: float = Field(description="mean purchase in the main currency, minor units (0 without any)")
    totals_by_currency: dict[str, int]
    last_interaction_at: datetime | None
    consent: dict[str, bool] = Field(description="channel -> granted, for the channels ever decided on")
    reactivations: int
    lifecycle: Lifecycle
    frequency: int = Field(description="distinct purchase days - 1")
    recency: float | None = Field(description="from the first to the last purchase day; null without purchases")
    T: float | None = Field(description="from the first purchase day to the observation day; null without purchases")
    monetary: float = Field(description="mean value of the repeat purchase days, minor units (0 without repeats)")
    days_since_created: float | None
    days_since_first_purchase: float | None
    days_since_last_purchase: float | None
    days_since_last_interaction: float | None

    @classmethod
    def of(cls, features: ContactFeatures) -> ContactFeaturesPublic:
        return cls.model_validate(features)


class SegmentSummaryPublic(_View):
    """A segment and how many members it has as of a date."""

    name: str
    description: str
    members: int


class SegmentList(BaseModel):
    """Every segment with its number of members as of a time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "as_of": _WHEN,
                    "segments": [{"name": "repeat_buyers", "description": "bought on two days or more", "members": 42}],
                }
            ]
        }
    )

    as_of: datetime
    segments: list[SegmentSummaryPublic]

    @classmethod
    def of(cls, as_of: datetime, summaries: list[SegmentSummary]) -> SegmentList:
        return cls(as_of=as_of, segments=[SegmentSummaryPublic.model_validate(s) for s in summaries])


class SegmentMemberPublic(BaseModel):
    """A member of a segment, and since when (the start of its current stay)."""

    contact_id: UUID
    name: str | None
    entered_at: datetime

    @classmethod
    def of(cls, member: SegmentMember, *, masked: bool = False) -> SegmentMemberPublic:
        name = mask_name(member.name) if masked else member.name
        return cls(contact_id=UUID(member.contact_id), name=name, entered_at=member.entered_at)


class SegmentMembersPage(Page[SegmentMemberPublic]):
    """One page of a segment's members as of a time, in contact id order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "segment": "repeat_buyers",
                    "as_of": _WHEN,
                    "total": 1,
                    "items": [{"contact_id": _CONTACT_ID, "name": "Ada Lovelace", "entered_at": _WHEN}],
                    "next_cursor": None,
                }
            ]
        }
    )

    segment: str
    as_of: datetime
    total: int = Field(description="members as of `as_of`, over all pages")


# --- the lists -------------------------------------------------------------------------------


class LeadSummary(BaseModel):
    """A lead as the pipeline read model holds it now (one item of the lead list)."""

    id: UUID
    version: int
    name: str | None
    owner: str | None
    source: str | None
    campaign: str | None
    stage: str
    value: int | None = Field(description="minor units: the estimate while open, the deal value once converted")
    currency: str | None
    score: int = Field(description="its own score, or the highest of the duplicates merged into it")
    captured_at: datetime
    stage_entered_at: datetime
    last_interaction_at: datetime | None = Field(description="its own latest interaction or a merged duplicate's")
    closed_at: datetime | None
    deal_value: int | None = Field(description="minor units")
    contact_id: UUID | None = Field(description="the contact it became, or the contact a reactivation lead came from")
    disqualified_reason: str | None
    absorbed_interactions: int = Field(default=0, description="the interactions of the duplicates merged into it")

    @classmethod
    def of(cls, row: LeadRow, *, masked: bool = False) -> LeadSummary:
        values = row.model_dump(exclude={"lead_id"})
        if masked:
            values = mask_personal(values)
        return cls(id=UUID(row.lead_id), **values)

    @classmethod
    def minimal(cls, row: LeadRow) -> LeadSummary:
        """What a lookup by email shows a caller who may not read leads (a service): the id, the
        version and where the lead stands; no personal data, no free text, no owner or money."""
        values = row.model_dump(exclude={"lead_id", *_LEAD_WITHHELD})
        return cls.model_validate({"id": UUID(row.lead_id), **values, **dict.fromkeys(_LEAD_WITHHELD)})


_LEAD_WITHHELD = (
    "name",
    "owner",
    "source",
    "campaign",
    "value",
    "currency",
    "last_interaction_at",
    "deal_value",
    "disqualified_reason",
)
"""What `LeadSummary.minimal` leaves out (null)."""


_LEAD_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": _LEAD_ID,
    "version": 5,
    "name": "Ada Lovelace",
    "owner": "alice",
    "source": "web_form",
    "campaign": None,
    "stage": "qualified",
    "value": 1200000,
    "currency": "USD",
    "score": 57,
    "captured_at": "2026-02-20T09:00:00Z",
    "stage_entered_at": _WHEN,
    "last_interaction_at": _WHEN,
    "closed_at": None,
    "deal_value": None,
    "contact_id": None,
    "disqualified_reason": None,
    "absorbed_interactions": 0,
}


class LeadPage(Page[LeadSummary]):
    """One page of leads, in lead id order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_LEAD_SUMMARY_EXAMPLE],
                    "next_cursor": "MGI2ZjdmMGUtMmE0MS00YjhlLTlhNTctMGMxZDlhM2U1ZjIx",
                }
            ]
        }
    )


class ContactSummary(BaseModel):
    """A contact's current details as the segments read model holds them (one item of the list)."""

    id: UUID
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    title: str | None
    external_id: str | None
    created_at: datetime
    lead_id: UUID | None = Field(description="the lead the contact was converted from")
    updated_position: int = Field(description="log position of the contact's latest event")

    @classmethod
    def of(cls, row: SegmentContact, *, masked: bool = False) -> ContactSummary:
        values = row.model_dump(exclude={"contact_id", "lead_id"})
        if masked:
            values = mask_personal(values)
        return cls(id=UUID(row.contact_id), lead_id=UUID(row.lead_id) if row.lead_id else None, **values)

    @classmethod
    def minimal(cls, row: SegmentContact) -> ContactSummary:
        """What a lookup by email shows a caller who may not read contacts (a service): the ids
        and times; name, email, phone, company and title are null."""
        values = row.model_dump(exclude={"contact_id", "lead_id", *_CONTACT_WITHHELD})
        lead_id = UUID(row.lead_id) if row.lead_id else None
        return cls.model_validate(
            {"id": UUID(row.contact_id), "lead_id": lead_id, **values, **dict.fromkeys(_CONTACT_WITHHELD)}
        )


_CONTACT_WITHHELD = ("name", "email", "phone", "company", "title")
"""What `ContactSummary.minimal` leaves out (null)."""


class ContactPage(Page[ContactSummary]):
    """One page of contacts, in contact id order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": _CONTACT_ID,
                            "name": "Ada Lovelace",
                            "email": "ada@acme.example",
                            "phone": None,
                            "company": "Acme",
                            "title": "CTO",
                            "external_id": None,
                            "created_at": _WHEN,
                            "lead_id": _LEAD_ID,
                            "updated_position": 1290,
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )
