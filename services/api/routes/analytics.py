"""The analytics routes under /v1/analytics: return on campaign spend as of a business time, and
rep performance over a period, from the read models."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from services.api.deps import KnownAt, MinPosition, OwnerFilter, Permit, ReadAsOf, ReadModelsDep, business_date
from services.api.problems import READ_MODEL_RESPONSES, InvalidQuery
from services.api.schemas_campaigns import CampaignAnalytics, CampaignAnalyticsRow, RepAnalytics, RepAnalyticsRow
from services.app.queries import KnownAtUnavailable
from services.auth.access import Caller
from services.auth.policy import Action

router = APIRouter(
    prefix="/v1/analytics",
    tags=["analytics"],
    responses={status: r for status, r in READ_MODEL_RESPONSES.items() if status != 404},
)

DEFAULT_PERIOD_DAYS = 30
"""The period of the rep table when `from` is not given: the 30 days ending with `to`."""

PeriodFrom = Annotated[
    date | None,
    Query(
        alias="from", description=f"first day of the period (UTC); {DEFAULT_PERIOD_DAYS} days before `to` by default"
    ),
    AfterValidator(lambda d: None if d is None else business_date(d)),
]
PeriodTo = Annotated[
    date | None,
    Query(alias="to", description="last day of the period (UTC), included; the day of `as_of` by default"),
    AfterValidator(lambda d: None if d is None else business_date(d)),
]


@router.get(
    "/campaigns",
    summary="Leads, conversions, won value, cost and ROI per source and campaign",
    dependencies=[Depends(Permit(Action.READ_INSIGHTS))],
)
def campaign_analytics(
    reads: ReadModelsDep, as_of: ReadAsOf = None, known_at: KnownAt = None, min_position: MinPosition = None
) -> CampaignAnalytics:
    """Per (source, campaign) as of `as_of` (now by default): leads captured, conversions, won value
    and cost per currency, ROI = (won - cost) / cost within one currency, cost per lead. With
    `known_at`, only what was recorded by then counts (leads' events and costs alike)."""
    when = as_of or datetime.now(UTC)
    queries = reads.caught_up(min_position)
    try:
        rows = queries.campaigns(when, known_at)
    except KnownAtUnavailable as error:
        raise InvalidQuery("known_at", str(error)) from None
    return CampaignAnalytics(as_of=when, known_at=known_at, items=[CampaignAnalyticsRow.of(r) for r in rows])


@router.get("/reps", summary="Leads worked, activities, win rate, won value and speed per rep over a period")
def rep_analytics(
    who: Annotated[Caller, Depends(Permit(Action.READ_PIPELINE))],
    reads: ReadModelsDep,
    from_day: PeriodFrom = None,
    to_day: PeriodTo = None,
    as_of: ReadAsOf = None,
    owner: OwnerFilter = None,
    min_position: MinPosition = None,
) -> RepAnalytics:
    """Per owner over the days `from`..`to` (UTC, both included) as the history stood at `as_of`
    (now by default; the period ends there at the latest): leads worked, activities, wins, losses,
    win rate, won value, median days to first touch and to close. A rep sees their own row only."""
    when = as_of or datetime.now(UTC)
    last = to_day or when.date()
    first = from_day or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise InvalidQuery("from", f"{first.isoformat()} is after `to` ({last.isoformat()})", "range")
    start = datetime.combine(first, time(0), tzinfo=UTC)
    end = min(datetime.combine(last, time(0), tzinfo=UTC) + timedelta(days=1), when + timedelta(microseconds=1))
    end = max(end, start)
    rows = reads.caught_up(min_position).reps(start, end, who.owner_filter(owner))
    items = [RepAnalyticsRow.of(r) for r in rows]
    return RepAnalytics.model_validate({"from": first, "to": last, "as_of": when, "items": items})
