"""The read-model routes under /v1: the pipeline, the forecast and its accuracy, and segments
with their members, each as of a business time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator

from domain.values import LeadSource
from projections.forecast import Forecast, ForecastAccuracy
from projections.pipeline_queries import PipelineSummary
from services.api.deps import (
    PAGE_SIZE,
    Cursor,
    Limit,
    MinPosition,
    Months,
    OwnerFilter,
    ReadAsOf,
    Who,
    allowed,
    business_time,
    decode_cursor,
    next_cursor,
)
from services.api.problems import READ_MODEL_RESPONSES
from services.api.read_models import ReadModelGate
from services.api.schemas import SegmentList, SegmentMemberPublic, SegmentMembersPage
from services.auth.policy import Access, Action


def read_model_routes(access: Access, reads: ReadModelGate) -> APIRouter:
    """The router of the read models under /v1, with the role rules of `access`."""
    insights = APIRouter(prefix="/v1", tags=["read models"], responses=READ_MODEL_RESPONSES)
    queries, caught_up = reads.queries, reads.caught_up

    @insights.get("/pipeline", summary="The sales pipeline as of a time", dependencies=[allowed(Action.READ_PIPELINE)])
    def pipeline(
        who: Who,
        as_of: ReadAsOf = None,
        owner: OwnerFilter = None,
        source: Annotated[LeadSource | None, Query(description="only leads from this source (as of then)")] = None,
        min_position: MinPosition = None,
    ) -> PipelineSummary:
        """Count, value and weighted value per stage, conversion rates, win rate and time in
        stage. A rep sees their own pipeline only."""
        owner = access.owner_filter(who, owner, Action.READ_PIPELINE)
        caught_up(min_position)
        return queries().pipeline(as_of, owner, source.value if source else None)

    @insights.get("/forecast", summary="Expected revenue per month", dependencies=[allowed(Action.READ_INSIGHTS)])
    def forecast(as_of: ReadAsOf = None, months: Months = 3, min_position: MinPosition = None) -> Forecast:
        """Open pipeline x win probability by month of expected close, in the categories closed,
        commit, best case and pipeline, per currency."""
        caught_up(min_position)
        return queries().forecast(as_of, months)

    @insights.get(
        "/forecast/accuracy",
        summary="A past forecast against what actually closed",
        dependencies=[allowed(Action.READ_INSIGHTS)],
    )
    def forecast_accuracy(
        made_as_of: Annotated[
            datetime,
            Query(description="when the forecast would have been made (ISO 8601; UTC if no offset)"),
            AfterValidator(business_time),
        ],
        months: Months = 3,
        min_position: MinPosition = None,
    ) -> ForecastAccuracy:
        """The forecast as made at `made_as_of`, month by month against the deal value converted."""
        caught_up(min_position)
        return queries().forecast_accuracy(made_as_of, months)

    @insights.get(
        "/segments", summary="Every segment and its size as of a time", dependencies=[allowed(Action.READ_INSIGHTS)]
    )
    def segments(as_of: ReadAsOf = None, min_position: MinPosition = None) -> SegmentList:
        caught_up(min_position)
        when = as_of or datetime.now(UTC)
        return SegmentList(as_of=when, segments=queries().segments(when))

    @insights.get(
        "/segments/{name}/members",
        summary="A segment's members as of a time",
        dependencies=[allowed(Action.READ_INSIGHTS)],
    )
    def segment_members(
        name: Annotated[str, Path(min_length=1, max_length=100, description="the segment, e.g. repeat_buyers")],
        who: Who,
        as_of: ReadAsOf = None,
        cursor: Cursor = None,
        limit: Limit = PAGE_SIZE,
        min_position: MinPosition = None,
    ) -> SegmentMembersPage:
        """The members with when they entered, in contact id order; names masked for an analyst."""
        after = decode_cursor(cursor)
        caught_up(min_position)
        when = as_of or datetime.now(UTC)
        members = sorted(queries().segment_members(name, when), key=lambda m: m.contact_id)
        following = [m for m in members if after is None or m.contact_id > after]
        masked = who.principal.masks_personal_data
        return SegmentMembersPage(
            segment=name,
            as_of=when,
            total=len(members),
            items=[SegmentMemberPublic.of(m, masked=masked) for m in following[:limit]],
            next_cursor=next_cursor([m.contact_id for m in following[: limit + 1]], limit),
        )

    return insights
